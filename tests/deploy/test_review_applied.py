"""Review (review-deploy), with Terraform against the emulated AWS, on an applied
environment of its own (``rotation``, so that it shares the emulator with test_terraform.py's
apply without touching it).

Finding: the README's way to rotate the generated secrets, "raise secret_generation", writes
new passwords into their secrets but neither runs ``deleton db init`` again (which gives the
logins their new passwords) nor rolls a task. The database keeps the old passwords, so the
next task to start is refused; and the running tasks keep the old API key and session secret
in force. That test fails on the code as reviewed.

Also checked (passes): deploy.sh's destroy check on a real plan's text.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import ROOT, client, run, tfvars

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]


@pytest.fixture(scope="module")
def applied(
    workdir: Path, aws_env: dict[str, str], certificate_arn: str, real_aws: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Path, dict[str, str]]]:  # fmt: skip
    # the whole deploy/ folder: terraform_data.migrate runs ../migrate.sh
    deploy = tmp_path_factory.mktemp("rotation") / "deploy"
    shutil.copytree(workdir.parent, deploy, symlinks=True,
                    ignore=shutil.ignore_patterns("*.tfstate*", "*.plan", "*.tfvars", "aws.log"))  # fmt: skip
    copy = deploy / "terraform"
    (copy / "rotation.tfvars").write_text(
        tfvars(certificate_arn, image_tag="test", environment="rotation")
    )
    env = {**aws_env, "DELETON_REAL_AWS": real_aws, "DELETON_AWS_LOG": str(copy / "aws.log")}
    run(["terraform", "init", "-input=false", "-lockfile=readonly"], copy, env)
    run(["terraform", "apply", "-input=false", "-no-color", "-auto-approve",
         "-var-file=rotation.tfvars"], copy, env)  # fmt: skip
    yield copy, env
    run(["terraform", "destroy", "-input=false", "-no-color", "-auto-approve",
         "-var-file=rotation.tfvars"], copy, env)  # fmt: skip


def test_raising_secret_generation_migrates_again_and_rolls_the_services(
    applied: tuple[Path, dict[str, str]],
) -> None:
    copy, env = applied
    run(["terraform", "plan", "-input=false", "-no-color", "-var-file=rotation.tfvars",
         "-var=secret_generation=2", "-out=rotate.plan"], copy, env)  # fmt: skip
    shown: dict[str, Any] = json.loads(
        run(["terraform", "show", "-json", "rotate.plan"], copy, env)
    )
    changed = {
        c["address"]: c["change"]["actions"]
        for c in shown["resource_changes"]
        if c["change"]["actions"] not in (["no-op"], ["read"])
    }
    # the new values are written...
    assert any(a.startswith("aws_secretsmanager_secret_version.db_password") for a in changed)
    # ...but the logins get them only if db init runs again, and the running tasks only if
    # they are replaced
    assert "terraform_data.migrate" in changed, sorted(changed)
    assert any(a.startswith("aws_ecs_task_definition.service") for a in changed), sorted(changed)


def test_deploy_sh_refuses_a_plan_that_replaces_the_network(
    applied: tuple[Path, dict[str, str]],
) -> None:
    """Not a finding: deploy.sh's destroy check, run on a real plan's text (it is otherwise
    exercised only on plans that destroy nothing)."""
    copy, env = applied
    script = (ROOT / "deploy" / "deploy.sh").read_text()
    found = re.search(r"^stateful='([^']*)'", script, re.M)
    assert found is not None
    refused = re.compile(
        rf"# ({found.group(1)})[^ ]* (will be destroyed|must be replaced|will be replaced)"
    )
    run(["terraform", "plan", "-input=false", "-no-color", "-var-file=rotation.tfvars",
         "-var=vpc_cidr=10.41.0.0/16", "-out=network.plan"], copy, env)  # fmt: skip
    text = run(["terraform", "show", "-no-color", "network.plan"], copy, env)
    assert refused.search(text), "deploy.sh would apply a plan that replaces the VPC"
    run(["terraform", "plan", "-input=false", "-no-color", "-var-file=rotation.tfvars",
         "-var=image_tag=next", "-out=release.plan"], copy, env)  # fmt: skip
    text = run(["terraform", "show", "-no-color", "release.plan"], copy, env)
    assert not refused.search(text), "deploy.sh would refuse an ordinary release"


def test_the_load_balancer_may_reach_the_identity_provider(
    applied: tuple[Path, dict[str, str]], aws_env: dict[str, str]
) -> None:
    """authenticate-cognito and authenticate-oidc make the load balancer itself call the
    identity provider's token and userInfo endpoints over HTTPS. Terraform removes a new
    security group's allow-all egress, and alb.tf adds back only the tasks' ports 8050 and
    8000: every sign-in ends in the load balancer's HTTP 500 (AWS's troubleshooting for
    ALB authentication: "add an outbound rule to allow traffic to the IdP endpoints over
    HTTPS (port 443)")."""
    ec2 = client(aws_env, "ec2")
    (group,) = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["deleton-rotation-alb"]}]
    )["SecurityGroups"]
    out = [
        (rule.get("FromPort"), [r["CidrIp"] for r in rule.get("IpRanges", [])])
        for rule in group["IpPermissionsEgress"]
    ]
    assert any(port in (443, None) and cidrs for port, cidrs in out), out
