"""deploy/deploy.sh, end to end against the emulated AWS, from a fresh checkout, twice.

The aws CLI is the real one pointed at the emulator; ``docker`` is a stub on PATH that records
its arguments (and, on push, puts a manifest in the emulated ECR, as a push would). The
emulator runs no containers, so the migration task's exit code and ``services-stable`` are
answered by tests/deploy/bin/aws. The second run must change nothing and not refuse. What
each run printed is summarised in build/deploy/deploy-sh.md.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import ROOT, client, tfvars

pytestmark = [pytest.mark.deploy_check, pytest.mark.slow, pytest.mark.timeout(1800)]

ENVIRONMENT = "emulated"
BUCKET = "deleton-terraform-state"
DOCKER_STUB = """#!/usr/bin/env bash
# docker, as deploy.sh uses it, recorded; a push puts a manifest in the emulated ECR
printf '%s\\n' "$*" >> "$DOCKER_LOG"
case "$1" in
    login) cat > /dev/null ;;
    push)
        reference="$2"
        repository="${reference#*/}"
        aws ecr put-image --region eu-west-2 --repository-name "${repository%%:*}" \\
            --image-tag "${reference##*:}" --image-manifest \\
            '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":7023,"digest":"sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7"},"layers":[]}' \\
            > /dev/null ;;
esac
"""
REPORT = ROOT / "build" / "deploy" / "deploy-sh.md"
# What the emulator does not keep, so that every plan after an apply wants to set it again:
# attributes it accepts and forgets, or never returns. Nothing else may differ on a second run.
EMULATOR_FORGETS = {
    "aws_db_instance": {"performance_insights_enabled", "performance_insights_kms_key_id"},
    "aws_db_parameter_group": {"parameter"},
    "aws_ecs_service": {"availability_zone_rebalancing", "health_check_grace_period_seconds"},
    "aws_sesv2_email_identity": {"tags_all"},
    "aws_vpc_security_group_egress_rule": {"description"},
    "aws_vpc_security_group_ingress_rule": {"description"},
}


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory, certificate_arn: str) -> Path:
    """A fresh checkout of the repository's files, with the operator's tfvars beside it (which
    git ignores)."""
    repo = tmp_path_factory.mktemp("checkout")
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    for name in listed:
        if (ROOT / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@deleton.example.com"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "a release"], cwd=repo, check=True)
    (repo / "deploy" / "terraform" / f"{ENVIRONMENT}.tfvars").write_text(
        tfvars(certificate_arn, region="eu-west-2", state_bucket=BUCKET)
    )
    return repo


@pytest.fixture(scope="module")
def deploy_env(aws_env: dict[str, str], real_aws: str, checkout: Path,
               tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:  # fmt: skip
    stubs = tmp_path_factory.mktemp("stubs")
    (stubs / "docker").write_text(DOCKER_STUB)
    (stubs / "docker").chmod(0o755)
    bundle = stubs / "rds-ca-bundle.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\nstand-in\n-----END CERTIFICATE-----\n")
    # the state's bucket exists before a deploy, as the README says
    client(aws_env, "s3").create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"}
    )
    backend = stubs / "backend.hcl"
    endpoint = aws_env["AWS_ENDPOINT_URL"]
    backend.write_text(f'use_path_style = true\nendpoints = {{ s3 = "{endpoint}" }}\n')
    return {
        **aws_env,
        "PATH": f"{stubs}:{aws_env['PATH']}",
        "DELETON_REAL_AWS": real_aws,
        "DELETON_AWS_LOG": str(stubs / "aws.log"),
        "DOCKER_LOG": str(stubs / "docker.log"),
        "DELETON_RDS_CA_BUNDLE": str(bundle),
        "DELETON_BACKEND_CONFIG": str(backend),
    }


def deploy(checkout: Path, env: dict[str, str], run: str) -> str:
    """One run of deploy.sh; what it printed is kept in build/deploy/deploy-sh-RUN.log."""
    done = subprocess.run(["deploy/deploy.sh", ENVIRONMENT], cwd=checkout,
                          env={**env, "TF_CLI_ARGS": "-no-color"}, capture_output=True,
                          text=True, timeout=1800)  # fmt: skip
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    (REPORT.parent / f"deploy-sh-{run}.log").write_text(done.stdout + done.stderr)
    assert done.returncode == 0, f"{done.stdout[-8000:]}\n{done.stderr[-8000:]}"
    return done.stdout


def calls(path: str) -> list[str]:
    """The recorded calls, less deploy.sh's look at what its docker build can do."""
    file = Path(path)
    lines = file.read_text().splitlines() if file.exists() else []
    return [line for line in lines if line != "build --help"]


def summary(run: str, output: str, docker: list[str], aws: list[str]) -> str:
    plans = re.findall(r"^(Plan: .*|No changes\..*)$", output, re.M)
    applies = re.findall(r"^(Apply complete! .*)$", output, re.M)
    migrations = [c for c in aws if c.startswith("ecs run-task")]
    return (f"- {run} run: plans {plans}; applies {applies}; docker {[c.split()[0] for c in docker]};"
            f" migration tasks {len(migrations)}; last line: {output.strip().splitlines()[-1]}")  # fmt: skip


def forgotten(checkout: Path, env: dict[str, str], tag: str, scratch: Path) -> list[str]:
    """The resources a plan after the second run still changes (some the emulator keeps once
    they are set again), each checked to differ only in what it forgets (EMULATOR_FORGETS)."""
    terraform = ["terraform", f"-chdir={checkout / 'deploy' / 'terraform'}"]
    plan = scratch / "again.plan"
    subprocess.run([*terraform, "plan", "-input=false", "-no-color", f"-out={plan}",
                    f"-var-file={ENVIRONMENT}.tfvars", f"-var=environment={ENVIRONMENT}",
                    f"-var=image_tag={tag}"], env=env, check=True, capture_output=True)  # fmt: skip
    shown = subprocess.run([*terraform, "show", "-json", str(plan)], env=env, check=True,
                           capture_output=True, text=True).stdout  # fmt: skip
    changes = []
    for change in json.loads(shown)["resource_changes"]:
        actions = change["change"]["actions"]
        if actions in (["no-op"], ["read"]):
            continue
        assert actions == ["update"], (change["address"], actions)
        before, after = change["change"]["before"], change["change"]["after"]
        differ = {k for k in after.keys() | before.keys() if before.get(k) != after.get(k)}
        assert differ <= EMULATOR_FORGETS.get(change["type"], set()), (change["address"], differ)
        changes.append(change["address"])
    return changes


def test_deploy_from_a_fresh_checkout_then_again_changing_nothing(
    checkout: Path, deploy_env: dict[str, str], tmp_path: Path
) -> None:
    tag = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=checkout,
                         capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    first = deploy(checkout, deploy_env, "first")
    docker_first = calls(deploy_env["DOCKER_LOG"])
    aws_first = calls(deploy_env["DELETON_AWS_LOG"])
    assert f"deployed {tag} to {ENVIRONMENT}: https://deleton.example.com/" in first
    # the repository first, then the image, then everything with the migration inside
    assert [c.split()[0] for c in docker_first] == ["login", "build", "push"]
    assert docker_first[1].startswith("build --platform linux/amd64 -t ")
    assert docker_first[2].endswith(f"/deleton-{ENVIRONMENT}:{tag}")
    assert sum(c.startswith("ecs run-task") for c in aws_first) == 1
    assert any(c.startswith("ecs wait services-stable") for c in aws_first)
    assert all("--region eu-west-2" in c for c in aws_first)
    # the state is the environment's own, in the bucket
    keys = [o["Key"] for o in client(deploy_env, "s3").list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert f"deleton/{ENVIRONMENT}/terraform.tfstate" in keys
    # nothing left in the checkout that git would show (plans live outside it)
    status = subprocess.run(["git", "status", "--porcelain"], cwd=checkout,
                            capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert status == ""

    second = deploy(checkout, deploy_env, "second")
    docker_second = calls(deploy_env["DOCKER_LOG"])[len(docker_first) :]
    aws_second = calls(deploy_env["DELETON_AWS_LOG"])[len(aws_first) :]
    # nothing added, replaced or destroyed; only what the emulator forgets is set again
    (changed,) = map(
        int, re.findall(r"^Plan: 0 to add, (\d+) to change, 0 to destroy", second, re.M)
    )
    assert f"Apply complete! Resources: 0 added, {changed} changed, 0 destroyed" in second
    listed = re.findall(r"^  # (\S+) will be (.+)$", second, re.M)
    assert len(listed) == changed
    for address, action in listed:
        assert action == "updated in-place", (address, action)
        assert address.split(".")[0] in EMULATOR_FORGETS, address
    # a plan now: whatever still differs is only what the emulator forgets
    assert {a for a, _ in listed} >= set(forgotten(checkout, deploy_env, tag, tmp_path))
    assert "is already pushed" in second
    assert docker_second == []  # no build, no push
    assert not any(c.startswith("ecs run-task") for c in aws_second)  # no new migration
    assert f"deployed {tag} to {ENVIRONMENT}" in second

    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(summary("first", first, docker_first, aws_first) + "\n"
                      + summary("second", second, docker_second, aws_second) + "\n")  # fmt: skip
