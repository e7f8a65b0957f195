"""AWS Lambda entry points for the container-image functions of ``deploy/terraform/lambda.tf``:
the scheduled compression and report, run through the CLI, so that settings, logging and
exit codes are those of ``deleton compress`` and ``deleton report --send`` on ECS. The image's
entry point becomes ``python -m awslambdaric`` and its command ``deleton.lambdas.compress``
or ``deleton.lambdas.report``; ``DELETON_HOME`` must lie under ``/tmp``, Lambda's only
writable folder."""

from __future__ import annotations

import os
from typing import Any

import orjson

from .cli import main

COMPRESS = ["compress"]
REPORT = ["report", "--send"]


def compress(event: Any, context: Any) -> dict[str, Any]:
    return _run(COMPRESS)


def report(event: Any, context: Any) -> dict[str, Any]:
    return _run(REPORT)


def load_secrets(environ: dict[str, str] | Any = os.environ, client: Any = None) -> None:
    """Lambda has no secrets injection: ``DELETON_SECRET_ARNS`` maps variable names to
    Secrets Manager ARNs, and each secret's value becomes that variable, for this process
    only, before the settings are read."""
    wanted: dict[str, str] = orjson.loads(environ.get("DELETON_SECRET_ARNS", "{}"))
    if not wanted:
        return
    if client is None:
        import boto3

        client = boto3.client("secretsmanager")
    for name, arn in wanted.items():
        environ[name] = client.get_secret_value(SecretId=arn)["SecretString"]


def _run(argv: list[str]) -> dict[str, Any]:
    load_secrets()
    code = main(argv)
    if code != 0:
        # raised, so that Lambda counts a failure and the scheduler's retry policy applies
        raise RuntimeError(f"deleton {' '.join(argv)} exited with {code}")
    return {"command": " ".join(argv), "exit_code": code}
