"""The AWS that tests/deploy plans, applies and destroys against: moto's server, on a loopback
port, with AWS's managed policies loaded, plus the one API that the Terraform needs and moto
5.2 does not have.

Application Auto Scaling's tags (TagResource, UntagResource, ListTagsForResource): moto
answers them with a server error, on which the provider retries until its time runs out, so
that ingest's scalable target never finishes. They are kept here in a dictionary by ARN, which
is all that tagging is; registering a target and its scaling policy is moto's own.

    python tests/deploy/emulator.py PORT
"""

from __future__ import annotations

import json
import os
import sys

from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse
from moto.server import main

TAGS: dict[str, dict[str, str]] = {}
_register = ApplicationAutoScalingResponse.register_scalable_target


def _register_with_tags(self: ApplicationAutoScalingResponse) -> str:
    answer = _register(self)
    arn = json.loads(answer)["ScalableTargetARN"]
    TAGS.setdefault(arn, {}).update(self._get_param("Tags") or {})
    return answer


def _tag_resource(self: ApplicationAutoScalingResponse) -> str:
    TAGS.setdefault(self._get_param("ResourceARN"), {}).update(self._get_param("Tags") or {})
    return "{}"


def _untag_resource(self: ApplicationAutoScalingResponse) -> str:
    tags = TAGS.get(self._get_param("ResourceARN"), {})
    for key in self._get_param("TagKeys") or []:
        tags.pop(key, None)
    return "{}"


def _list_tags_for_resource(self: ApplicationAutoScalingResponse) -> str:
    return json.dumps({"Tags": TAGS.get(self._get_param("ResourceARN"), {})})


def serve(port: int) -> None:
    """Run the server until killed."""
    # every AWS-managed policy (AmazonECSTaskExecutionRolePolicy, ...) exists, as in an account
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    patched = ApplicationAutoScalingResponse
    patched.register_scalable_target = _register_with_tags  # type: ignore[method-assign]
    patched.tag_resource = _tag_resource  # type: ignore[attr-defined]
    patched.untag_resource = _untag_resource  # type: ignore[attr-defined]
    patched.list_tags_for_resource = _list_tags_for_resource  # type: ignore[attr-defined]
    main(["--host", "127.0.0.1", "--port", str(port)])


if __name__ == "__main__":
    serve(int(sys.argv[1]))
