"""The deployment, read statically: the image, the compose file, the lock files and the
Terraform say what the platform needs, every command they run exists in the CLI, every setting
they pass exists, and no secret travels as a plain variable. checkov reads the Terraform,
and Terraform itself plans, applies and destroys it, in tests/deploy (make deploy-test), which
builds and runs the image too (make deploy-check)."""

from __future__ import annotations

import functools
import json
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml

import deleton.lambdas as entry
from deleton.cli import build_parser
from deleton.cloudwatch.emf import NAMESPACE
from deleton.settings import Settings
from tests.deploy.conftest import refused_by_deploy_sh, unavailable

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "deploy" / "terraform"
FILES = tuple(sorted(path.name for path in TERRAFORM.glob("*.tf")))
# read by deleton.lambdas before the settings exist: Lambda's stand-in for ECS's secrets
NOT_SETTINGS = {"DELETON_SECRET_ARNS"}
SECRET_WORDS = ("PASSWORD", "URL", "KEY", "SECRET")


def unquote(value: Any) -> Any:
    """python-hcl2 keeps HCL's quotes around strings and keys; without them."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    if isinstance(value, list):
        return [unquote(item) for item in value]
    if isinstance(value, dict):
        return {unquote(k): unquote(v) for k, v in value.items() if k != "__is_block__"}
    return value


@functools.cache  # python-hcl2 takes a second or more a file: each is parsed once
def terraform(name: str) -> dict[str, Any]:
    """``name``'s blocks, unquoted; shared between tests, which only read them."""
    with (TERRAFORM / name).open() as text:
        parsed: dict[str, Any] = unquote(hcl2.load(text))
        return parsed


def resources(kind: str) -> dict[str, dict[str, Any]]:
    """Every resource of ``kind`` in the module, by name."""
    found: dict[str, dict[str, Any]] = {}
    for name in FILES:
        for block in terraform(name).get("resource", []):
            found.update(block.get(kind, {}))
    return found


def settings_names() -> set[str]:
    return {f"DELETON_{field.upper()}" for field in Settings.model_fields}


def deleton_names(text: str) -> set[str]:
    return set(re.findall(r"\bDELETON_[A-Z0-9_]*[A-Z0-9]\b", text))


def parses(command: list[str]) -> bool:
    try:
        build_parser().parse_args(command)
    except SystemExit:
        return False
    return True


# --- Terraform ------------------------------------------------------------------------------


def test_every_file_parses_and_every_variable_is_described_and_typed() -> None:
    for name in FILES:
        assert terraform(name) is not None, name
    variables = {k: v for block in terraform("variables.tf")["variable"] for k, v in block.items()}
    assert len(variables) >= 25
    for name, spec in variables.items():
        assert spec.get("description"), f"{name} has no description"
        assert spec.get("type"), f"{name} has no type"


def test_providers_are_pinned_and_locked_and_random_is_gone() -> None:
    (providers,) = terraform("versions.tf")["terraform"][0]["required_providers"]
    assert set(providers) == {"aws"}  # no random provider: Secrets Manager generates secrets
    assert re.fullmatch(r"~> \d+\.\d+", providers["aws"]["version"])
    lock = (TERRAFORM / ".terraform.lock.hcl").read_text()
    assert 'provider "registry.terraform.io/hashicorp/aws"' in lock and "h1:" in lock
    # the registry's checksum of every platform's package, so that init verifies the provider
    # on a Mac or Windows too, not only on the linux_amd64 whose h1: this machine computed
    assert len(set(re.findall(r'"zh:[0-9a-f]{64}"', lock))) >= 14
    deploy = (ROOT / "deploy" / "deploy.sh").read_text()
    assert "providers lock -platform=linux_amd64" in deploy  # said where init fails on them


def test_the_database_is_private_encrypted_backed_up_and_protected() -> None:
    db = resources("aws_db_instance")["main"]
    assert db["publicly_accessible"] is False
    assert db["storage_encrypted"] is True
    assert db["deletion_protection"] == "${var.deletion_protection}"
    variables = {k: v for block in terraform("variables.tf")["variable"] for k, v in block.items()}
    assert variables["deletion_protection"]["default"] is True
    assert db["skip_final_snapshot"] is False and db["final_snapshot_identifier"]
    assert db["backup_retention_period"] == "${var.db_backup_retention_days}"
    # generated and kept by RDS, never typed and never in the state
    assert db["manage_master_user_password"] is True and "password" not in db
    assert "aws_iam_role_policy_attachment.rds_monitoring" in db["depends_on"][0]
    (group,) = resources("aws_db_parameter_group").values()
    parameters = {p["name"]: p["value"] for p in group["parameter"]}
    assert parameters["log_parameter_max_length"] == "0"  # no bind values in the logs
    assert parameters["log_parameter_max_length_on_error"] == "0"
    assert parameters["log_error_verbosity"] == "terse"  # nor an error's DETAIL (a failing row)
    # only the services' security groups reach it
    rules = resources("aws_vpc_security_group_ingress_rule")
    into_db = [r for r in rules.values() if r["security_group_id"] == "${aws_security_group.db.id}"]
    assert into_db and all("referenced_security_group_id" in r for r in into_db)
    assert all("cidr_ipv4" not in r for r in into_db)


def authenticate(rule: dict[str, Any], kind: str) -> dict[str, Any]:
    """The ``authenticate_<kind>`` block of a listener rule's dynamic actions."""
    for dynamic in rule["dynamic"]:
        action = dynamic.get("action")
        if action and kind in action["content"][0]:
            found: dict[str, Any] = action["content"][0][kind][0]
            return found
    raise AssertionError(f"no {kind} action on the rule")


def test_cognito_sign_in_asks_for_a_scope_whose_user_info_carries_the_role() -> None:
    """The load balancer signs into x-amzn-oidc-data the claims it gets from the user pool's
    userInfo endpoint. Cognito's answers with every attribute the client may read only for
    the scope ``openid`` alone, or with ``profile`` (custom attributes included); for
    ``openid email`` it gives sub, email and email_verified, so ``custom:groups``
    (DELETON_OIDC_ROLE_CLAIM) would never reach the app and every member of staff would be
    refused."""
    rule = resources("aws_lb_listener_rule")["dashboard"]
    scopes = authenticate(rule, "authenticate_cognito")["scope"].split()
    assert scopes == ["openid"] or "profile" in scopes, scopes
    (client,) = resources("aws_cognito_user_pool_client").values()
    assert set(scopes) <= set(client["allowed_oauth_scopes"])
    assert "custom:groups" in client["read_attributes"]
    assert "custom:groups" not in client["write_attributes"]  # only an administrator grants it
    # your own provider: its scope is yours to set, as its userinfo needs for the role claim
    assert authenticate(rule, "authenticate_oidc")["scope"] == "${action.value.scope}"


def test_a_sign_in_ends_at_the_load_balancer_and_in_the_app_together() -> None:
    """The load balancer keeps its sign-in session ``session_timeout``; Dash's requests
    (``/_dash-*``) pass it unauthenticated and are authorised by the app's own session alone,
    which must end then too, not after the app's default 12 hours whatever the variable says."""
    rule = resources("aws_lb_listener_rule")["dashboard"]
    lasts = "${var.sign_in_session_hours * 3600}"
    for kind in ("authenticate_cognito", "authenticate_oidc"):
        assert authenticate(rule, kind)["session_timeout"] == lasts, kind
    ecs = (TERRAFORM / "ecs.tf").read_text()
    dashboard = ecs[ecs.index("    dashboard = [") : ecs.index("    api = [")]
    assert (
        '{ name = "DELETON_SESSION_LIFETIME", value = tostring(var.sign_in_session_hours * 3600) }'
        in dashboard
    )
    variables = {k: v for block in terraform("variables.tf")["variable"] for k, v in block.items()}
    hours = variables["sign_in_session_hours"]
    assert hours["default"] * 3600 == Settings.model_fields["session_lifetime"].default
    # the load balancer's session_timeout is 1 second to 7 days
    (validation,) = hours["validation"]
    assert "var.sign_in_session_hours <= 168" in validation["condition"]


def test_images_are_scanned_and_expire() -> None:
    (repository,) = resources("aws_ecr_repository").values()
    assert repository["image_scanning_configuration"][0]["scan_on_push"] is True
    assert repository["image_tag_mutability"] == "IMMUTABLE"
    assert resources("aws_ecr_lifecycle_policy")
    # untagged layers go; deployed commits (tagged) stay, generously many: a count over
    # "any" image would also count layers and could expire a running task's image
    ecr = (TERRAFORM / "ecr.tf").read_text()
    statuses = re.findall(r'tagStatus += "(\w+)"', ecr)
    assert sorted(statuses) == ["tagged", "untagged"]
    counted = ecr[ecr.index('tagStatus      = "tagged"') :]
    (kept,) = re.findall(r"countNumber += (\d+)", counted.split("action")[0])
    assert int(kept) >= 100


def ecs_locals() -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for block in terraform("ecs.tf")["locals"]:
        merged.update(block)
    return merged


def test_every_task_runs_a_command_the_cli_has_with_a_health_check_where_it_serves() -> None:
    services = ecs_locals()["services"]
    assert set(services) == {"ingest", "dashboard", "api", "compress", "report", "migrate"}
    for name, spec in services.items():
        assert parses(spec["command"]), f"{name}: deleton {' '.join(spec['command'])}"
    health = {name: spec["health"] for name, spec in services.items() if spec["health"]}
    assert health == {
        "ingest": "http://127.0.0.1:9100/healthz",  # --metrics-port 9100
        "dashboard": "http://127.0.0.1:8050/healthz",
        "api": "http://127.0.0.1:8000/health",
    }


def test_every_setting_passed_exists_and_no_secret_is_a_plain_variable() -> None:
    known = settings_names() | NOT_SETTINGS
    text = "\n".join((TERRAFORM / name).read_text() for name in FILES)
    passed = deleton_names(text)
    assert passed - known == set()
    # the migration's login passwords are named by a template, one per group
    assert "DELETON_DB_${upper(login)}_PASSWORD" in text
    assert {f"DELETON_DB_{g}_PASSWORD" for g in ("WRITER", "READER", "API", "OPERATOR")} <= known
    ecs = (TERRAFORM / "ecs.tf").read_text()
    plain = set(re.findall(r'name = "(\w+)", value = ', ecs))  # environment, not secrets
    assert len(plain) >= 10
    # the address people type (a URL, and no secret); which generation of secrets is in force
    public = {"DELETON_PUBLIC_URL", "SECRET_GENERATION"}
    assert not [n for n in plain - public if any(word in n for word in SECRET_WORDS)]
    from_secrets = set(re.findall(r'name = "(\w+)", valueFrom = ', ecs))
    assert {
        "DELETON_DATABASE_URL",
        "DELETON_API_KEY",
        "DELETON_KAFKA_SASL_PASSWORD",
    } <= from_secrets
    secrets = ecs_locals()["secrets"]
    assert secrets["api"][2]["name"] == "DELETON_API_KEY"
    # each service gets only its own login
    assert [s["name"] for s in secrets["dashboard"]] == [
        "DELETON_READER_DATABASE_URL", "PGPASSWORD", "DELETON_SESSION_SECRET",
        "DELETON_SCREEN_SECRET"]  # fmt: skip
    assert [s["name"] for s in secrets["report"]] == ["DELETON_READER_DATABASE_URL", "PGPASSWORD"]
    # with its password, from the same login's secret
    for service, login in (("compress", "writer"), ("report", "reader"), ("api", "api")):
        url, password = secrets[service][:2]
        assert url["valueFrom"].endswith(f'["{login}"]}}')
        assert password == {
            "name": "PGPASSWORD",
            "valueFrom": f'${{local.password_secret["{login}"]}}',
        }


def test_raising_secret_generation_migrates_again_and_rolls_every_task() -> None:
    """New values in the secrets are not enough: the logins get their new passwords only when
    ``deleton db init`` runs again (else the next task to start is refused by PostgreSQL), and
    a running task keeps the old API key and session secret until it is replaced."""
    ecs = (TERRAFORM / "ecs.tf").read_text()
    start = ecs.index('resource "terraform_data" "migrate"')
    migrate = ecs[start : ecs.index("provisioner", start)]
    assert "var.secret_generation" in migrate.split("triggers_replace")[1].split("\n")[0]
    # every task definition and Lambda function is told the generation, so each is replaced
    environment = ecs[ecs.index("environment = concat(") : ecs.index("service_environment =")]
    assert '{ name = "SECRET_GENERATION", value = tostring(var.secret_generation) }' in environment
    for task_definition in resources("aws_ecs_task_definition").values():  # services, admin
        assert "local.environment" in task_definition["container_definitions"]
    (function,) = resources("aws_lambda_function").values()
    assert "local.environment" in function["environment"][0]["variables"]
    # and the secrets themselves are written anew with it
    for kind in ("db_password", "app"):
        version = resources("aws_secretsmanager_secret_version")[kind]
        assert version["secret_string_wo_version"] == "${var.secret_generation}"


def test_least_privilege_in_iam_and_the_network() -> None:
    """Each task starts with a role of its own (its repository, its log group, its secrets
    only: the master's password for the migration alone), not AWS's managed execution policy;
    the key decrypts only through Secrets Manager; roles are passed only to ECS; the roles
    AWS services assume trust them only for this account; only the workers reach Kafka."""
    ecs = (TERRAFORM / "ecs.tf").read_text()
    assert "AmazonECSTaskExecutionRolePolicy" not in ecs
    assert not resources("aws_iam_role_policy_attachment").get("execution")
    role = resources("aws_iam_role")["execution"]
    assert role["for_each"] == "${local.secrets}"
    task_definition = resources("aws_ecs_task_definition")["service"]
    assert task_definition["execution_role_arn"] == "${aws_iam_role.execution[each.key].arn}"
    policy = ecs[ecs.index('resource "aws_iam_role_policy" "execution"') :]
    policy = policy[: policy.index("\n}\n")]
    assert "Resource = local.secret_arns[each.key]" in policy
    assert "aws_cloudwatch_log_group.service[each.key].arn" in policy
    assert "Resource = [aws_ecr_repository.deleton.arn]" in policy
    assert '"kms:ViaService" = "secretsmanager.${var.region}.amazonaws.com"' in policy
    rds = (TERRAFORM / "rds.tf").read_text()
    assert '{ admin = "${aws_db_instance.main.master_user_secret[0].secret_arn}' in rds
    given = ecs[ecs.index("  secrets = {") : ecs.index("# the secrets themselves")]
    assert given.count('local.password_secret["admin"]') == 1  # the master's password...
    assert given.index("\n    migrate = ") < given.index('password_secret["admin"]')  # ...here
    # the scheduler passes the jobs' roles to ECS, and to nothing else
    assert '"iam:PassedToService" = "ecs-tasks.amazonaws.com"' in ecs
    # trust only on this account's behalf
    setup = (TERRAFORM / "setup.tf").read_text()
    assume = setup[setup.index('data "aws_iam_policy_document" "assume"') :]
    assume = assume[: assume.index("\n}\n")]
    assert all(f'"{s}"' in assume for s in ("vpc-flow-logs", "monitoring.rds", "lambda"))
    assert 'variable = "aws:SourceAccount"' in assume and 'variable = "aws:SourceArn"' in assume
    lambda_tf = (TERRAFORM / "lambda.tf").read_text()
    assert '"kms:ViaService"' in lambda_tf
    # Kafka from the workers alone
    kafka = resources("aws_vpc_security_group_egress_rule")["out_kafka"]
    assert kafka["security_group_id"] == "${aws_security_group.workers.id}"
    assert "for_each" not in kafka
    (db,) = resources("aws_db_instance").values()
    assert db["iam_database_authentication_enabled"] is False


def test_the_admin_task_prints_credentials_to_the_operator_alone() -> None:
    """`deleton screen-link`, `login-link`, `users` and `api-key` print credentials: on AWS
    they run in the admin task through ECS Exec, which logs nothing: no log configuration in
    the task, no session logging on the cluster."""
    admin = resources("aws_ecs_task_definition")["admin"]
    container = admin["container_definitions"]
    assert "logConfiguration" not in container and "awslogs" not in container
    assert "enableExecuteCommand" not in container  # given by the operator's run-task
    ecs = (TERRAFORM / "ecs.tf").read_text()
    block = ecs[ecs.index('resource "aws_ecs_task_definition" "admin"') :]
    block = block[: block.index("\n}\n")]
    assert (
        'entryPoint             = ["sleep"]' in block
        and 'command                = ["3600"]' in block
    )
    assert "initProcessEnabled = true" in block
    (cluster,) = resources("aws_ecs_cluster").values()
    logging = cluster["configuration"][0]["execute_command_configuration"][0]["logging"]
    assert logging == "NONE"
    # the operator's login (keys, accounts, links, screens: migrations 0019, 0020) and the
    # screen secret, as its commands need; no other secret, the writer's least of all
    given = ecs[ecs.index("    admin = [") : ecs.index("    migrate = concat(")]
    assert set(re.findall(r'name = "(\w+)"', given)) == {
        "DELETON_OPERATOR_DATABASE_URL", "PGPASSWORD", "DELETON_SCREEN_SECRET"}  # fmt: skip
    assert 'local.db_url["operator"]' in given and 'local.password_secret["operator"]' in given
    assert "writer" not in given
    assert admin["execution_role_arn"] == '${aws_iam_role.execution["admin"].arn}'
    # its own role may open ECS Exec's channels, and do nothing else
    policy = resources("aws_iam_role_policy")["admin"]["policy"]
    assert set(re.findall(r'"(\w+:\w+)"', policy)) == {
        f"ssmmessages:{a}{c}Channel" for a in ("Create", "Open") for c in ("Control", "Data")}  # fmt: skip
    for command in (
        ["screen-link", "SN0001"],
        ["users", "add", "a@example.com", "--role", "staff"],
    ):
        assert parses(command)


# The command each task runs, the database login its code opens (read from the code below, so
# that a service moved to another login fails here), and what else it cannot do without.
NEEDS = {
    "ingest": ("ingest/command.py", {"DELETON_KAFKA_BOOTSTRAP_SERVERS", "DELETON_MAIL_FROM"}),
    "compress": ("compress/command.py", set()),
    "dashboard": (
        "dashboard/command.py",
        {
            "DELETON_SESSION_SECRET",
            "DELETON_SCREEN_SECRET",
            "DELETON_PUBLIC_URL",
            "DELETON_ALB_ARN",
        },
    ),
    "api": ("api/command.py", {"DELETON_API_KEY"}),
    "report": ("report/command.py", {"DELETON_REPORT_RECIPIENTS", "DELETON_MAIL_FROM"}),
    "migrate": (
        "admin/db.py",
        {f"DELETON_DB_{g}_PASSWORD" for g in ("WRITER", "READER", "API", "OPERATOR")},
    ),
}
URLS = {"writer": "DELETON_DATABASE_URL", "reader": "DELETON_READER_DATABASE_URL",
        "api": "DELETON_API_DATABASE_URL",
        "operator": "DELETON_OPERATOR_DATABASE_URL"}  # fmt: skip


def login_of(module: str) -> str:
    text = (ROOT / "src" / "deleton" / module).read_text()
    (login,) = set(re.findall(r"settings\.database\((?:\"(\w+)\")?\)", text)) or {""}
    return login or "writer"


def task_settings(task: str) -> set[str]:
    """The ``DELETON_*`` names a task definition gives its container: environment and secrets."""
    ecs = (TERRAFORM / "ecs.tf").read_text()
    environment = ecs[ecs.index("environment = concat(") : ecs.index("service_environment =")]
    given = set(re.findall(r'name = "(DELETON_\w+)"', environment))
    for section, end in (("service_environment = {", "kafka_secret ="),
                         ("secrets = {", "# the secrets themselves")):  # fmt: skip
        block = ecs[ecs.index(section) : ecs.index(end)]
        own = re.search(rf"\n    {task} +=(.*?)(?=\n    \w+ +=|\n  }})", block, re.S)
        if own:
            given |= set(re.findall(r'name = "(DELETON_\w+)"', own.group(1)))
            if "local.kafka_secret" in own.group(1):
                given.add("DELETON_KAFKA_SASL_PASSWORD")
            if "DELETON_DB_${upper(login)}_PASSWORD" in own.group(1):
                given |= {
                    f"DELETON_DB_{g}_PASSWORD" for g in ("WRITER", "READER", "API", "OPERATOR")
                }
        else:
            assert section.startswith("service_environment"), task
    return given


@pytest.mark.parametrize("task", sorted(NEEDS))
def test_every_task_is_given_every_setting_its_command_needs(task: str) -> None:
    module, others = NEEDS[task]
    login = login_of(module)
    given = task_settings(task)
    # its own login, or else it would start an embedded PostgreSQL inside the container
    assert URLS[login] in given or "DELETON_DATABASE_URL" in given, (task, login)
    assert others <= given, others - given
    assert "DELETON_MAIL_BACKEND" in given and "DELETON_HOME" in given


def test_jobs_are_scheduled_on_ecs_or_lambda() -> None:
    variables = {k: v for block in terraform("variables.tf")["variable"] for k, v in block.items()}
    assert variables["compress_schedule"]["default"] == "rate(1 hour)"
    assert variables["report_schedule"]["default"].startswith("cron(0 17 ")
    assert variables["jobs_on_lambda"]["type"] == "bool"
    (lambdas,) = resources("aws_lambda_function").values()
    assert lambdas["package_type"] == "Image"
    handlers = re.findall(r'handler = "([\w.]+)"', (TERRAFORM / "lambda.tf").read_text())
    assert {h.rsplit(".", 1)[1] for h in handlers} == {"compress", "report"}
    assert all(callable(getattr(entry, h.rsplit(".", 1)[1])) for h in handlers)
    assert set(resources("aws_scheduler_schedule")) == {"job"}
    # each function reads its own login's URL from Secrets Manager as it starts
    text = (TERRAFORM / "lambda.tf").read_text()
    for job, module in (("compress", "compress/command.py"), ("report", "report/command.py")):
        block = text[text.index(f"    {job} = {{") :]
        assert f"secrets = {{ {URLS[login_of(module)]} = " in block.split("\n    }")[0], job


def test_a_job_failing_on_lambda_is_kept_and_alarmed() -> None:
    """The scheduler invokes Lambda asynchronously, so its retry policy ends once Lambda has
    the event: a run that fails is retried by Lambda, then goes to an encrypted queue, and
    alarms watch the queue and each function's errors."""
    (config,) = resources("aws_lambda_function_event_invoke_config").values()
    assert config["for_each"] == "${local.lambda_jobs}"
    on_failure = config["destination_config"][0]["on_failure"][0]
    assert on_failure["destination"] == "${aws_sqs_queue.job_failures[0].arn}"
    (queue,) = resources("aws_sqs_queue").values()
    assert queue["kms_master_key_id"] == "${aws_kms_key.main.arn}"
    alarms = resources("aws_cloudwatch_metric_alarm")
    assert alarms["job_failures"]["dimensions"] == {
        "QueueName": "${aws_sqs_queue.job_failures[0].name}"
    }
    assert alarms["job_errors"]["metric_name"] == "Errors"
    assert alarms["job_errors"]["for_each"] == "${local.lambda_jobs}"
    assert all(a["alarm_actions"] == "${local.alarm_actions}" for a in alarms.values())
    # the functions may send there, through the key
    lambda_tf = (TERRAFORM / "lambda.tf").read_text()
    assert '"sqs:SendMessage"' in lambda_tf and '"sqs.${var.region}.amazonaws.com"' in lambda_tf


def test_ingest_scales_on_the_lag_it_publishes() -> None:
    (policy,) = resources("aws_appautoscaling_policy").values()
    metric = policy["target_tracking_scaling_policy_configuration"][0][
        "customized_metric_specification"
    ][0]
    assert (metric["namespace"], metric["metric_name"]) == (NAMESPACE, "ConsumerLag")


def test_a_lambda_reads_its_secrets_before_its_settings_and_fails_loudly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Secrets:
        def get_secret_value(self, SecretId: str) -> dict[str, str]:
            return {"SecretString": f"value of {SecretId}"}

    environ = {"DELETON_SECRET_ARNS": json.dumps({"DELETON_DATABASE_URL": "arn:db"})}
    entry.load_secrets(environ, Secrets())
    assert environ["DELETON_DATABASE_URL"] == "value of arn:db"
    asked: list[list[str]] = []

    def exits_with(code: int) -> Any:
        def main(argv: list[str]) -> int:
            asked.append(argv)
            return code

        return main

    monkeypatch.setattr(entry, "main", exits_with(1))
    monkeypatch.setattr(entry, "load_secrets", lambda: None)
    with pytest.raises(RuntimeError, match="deleton report --send exited with 1"):
        entry.report({}, None)
    monkeypatch.setattr(entry, "main", exits_with(0))
    assert entry.compress({}, None) == {"command": "compress", "exit_code": 0}
    assert asked == [["report", "--send"], ["compress"]]


# --- the image and the compose file ---------------------------------------------------------


def test_the_image_is_pinned_multi_stage_slim_and_not_root() -> None:
    lines = [line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.strip()]
    (base,) = [line for line in lines if line.startswith("ARG BASE_IMAGE=")]
    assert re.fullmatch(r"ARG BASE_IMAGE=python:3\.11-slim-bookworm@sha256:[0-9a-f]{64}", base)
    stages = [line for line in lines if line.startswith("FROM ")]
    assert len(stages) >= 2 and all(line.startswith("FROM ${BASE_IMAGE}") for line in stages)
    installs = [line for line in lines if "pip install" in line]
    assert installs[0].endswith("pip install --require-hashes -r image.lock")
    assert all("--no-deps" in line for line in installs[1:])  # the project alone, after
    final = lines[lines.index(stages[-1]) :]
    users = [line.split()[1] for line in final if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    # a fresh volume (Fargate's bind mount too) starts as the image's folder, owned by 10001
    assert "VOLUME /var/lib/deleton" in final
    assert 'ENTRYPOINT ["deleton"]' in final
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignored[ignored.index("*")] == "*"  # nothing unless allowed...
    allowed = {line[1:] for line in ignored if line.startswith("!")}
    assert allowed == {"pyproject.toml", "README.md", "src/", "requirements/image.lock",
                       "deploy/ca/"}  # ...and no tests, no .env, no state  # fmt: skip
    assert "**/.env" in ignored


def locked(name: str) -> dict[str, str]:
    """``{package: version}`` of a lock file, each entry checked to carry hashes."""
    text = (ROOT / "requirements" / name).read_text()
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+) \\$", text, re.M))
    assert len(pins) == text.count("==") and text.count("--hash=sha256:") >= len(pins)
    return {canonical(k): v for k, v in pins.items()}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_dependency_is_locked_with_hashes_and_the_image_matches() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    for extra in ("dev", "ses", "aws"):
        wanted += project["optional-dependencies"][extra]
    dev = locked("dev.lock")
    missing = {r for r in wanted if canonical(re.split(r"[\[<>=!~; ]", r)[0]) not in dev}
    assert not missing, f"not in requirements/dev.lock, run make lock: {sorted(missing)}"
    assert "setuptools" in dev  # the build backend: the project installs without isolation
    image = locked("image.lock")
    assert {k: dev[k] for k in image} == image  # the same versions, fewer packages
    assert "pytest" not in image and "awslambdaric" in image
    for own in ("checkov.lock", "awscli.lock", "tools.lock"):
        assert locked(own)


def test_git_ignores_what_deploying_leaves_behind() -> None:
    paths = ["deploy/terraform/production.tfvars", "deploy/terraform/.terraform/x",
             "deploy/terraform/terraform.tfstate", "deploy/terraform/deleton.plan",
             "deploy/ca/rds-ca-bundle.pem"]  # fmt: skip
    ignored = subprocess.run(["git", "check-ignore", *paths], cwd=ROOT, capture_output=True,
                             text=True).stdout.split()  # fmt: skip
    assert ignored == paths
    kept = ["deploy/terraform/example.tfvars", "deploy/terraform/.terraform.lock.hcl"]
    assert subprocess.run(["git", "check-ignore", *kept], cwd=ROOT).returncode == 1


# what holds data, or its record: deploy.sh refuses a plan that destroys or replaces any of it
STATEFUL = {"aws_db_instance", "aws_kms_key", "aws_secretsmanager_secret", "aws_ecr_repository",
            "aws_s3_bucket", "aws_cognito_user_pool", "aws_cloudwatch_log_group", "aws_sqs_queue",
            "aws_vpc"}  # fmt: skip


def test_deploy_sh_refuses_to_destroy_what_holds_data_or_its_record() -> None:
    """The log groups keep the services' and the WAF's records (the audit trail of who reached
    what), the failed jobs' queue the events still to be run again: a plan that replaces one
    loses them, as one that replaces the database loses riders."""
    refused = refused_by_deploy_sh()
    declared = {kind for name in FILES for block in terraform(name).get("resource", [])
                for kind in block}  # fmt: skip
    assert declared >= STATEFUL
    for kind in declared:
        line = f'  # {kind}.x["ingest"] must be replaced'
        assert bool(refused.search(line)) == (kind in STATEFUL), kind
        assert bool(refused.search(f"  # {kind}.x will be destroyed")) == bool(refused.search(line))
    # a release replaces task definitions and updates services in place, a rotation replaces
    # the secrets' versions: never refused
    assert not refused.search('  # aws_ecs_task_definition.service["api"] must be replaced')
    assert not refused.search(
        '  # aws_secretsmanager_secret_version.app["api-key"] must be replaced'
    )
    assert not refused.search("  # aws_db_instance.main will be updated in-place")


def test_a_missing_deployment_tool_skips_here_but_fails_under_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """tests/deploy skip, saying why, where Terraform, its provider mirror, the aws CLI or
    Debian's PostgreSQL is missing; CI (which make test equips with all of them) must never
    pass with the Terraform unchecked."""
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="terraform is not on PATH"):
        unavailable("terraform is not on PATH")
    for value in ("true", "1"):
        monkeypatch.setenv("CI", value)
        with pytest.raises(pytest.fail.Exception, match="terraform is not on PATH"):
            unavailable("terraform is not on PATH")
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception):
        unavailable("terraform is not on PATH")
    run = (ROOT / ".ci" / "run").read_text()
    assert run.index("\nexport CI=true\n") < run.index("\nmake test\n")


def test_every_aws_call_names_its_region_and_the_build_its_platform() -> None:
    for script in ("deploy.sh", "migrate.sh"):
        text = (ROOT / "deploy" / script).read_text().replace("\\\n", " ")
        calls = re.findall(r"(?:^|[|(]\s*|\$\()\s*(aws [^\n]*)", text, re.M)
        assert calls, script
        assert all("--region" in call for call in calls), [c for c in calls if "--region" not in c]
    deploy = (ROOT / "deploy" / "deploy.sh").read_text()
    assert "docker build --platform linux/amd64" in deploy and "--provenance=false" in deploy
    assert "-auto-approve" not in deploy  # only saved plans, each checked, are applied


def test_the_fixes_terraform_itself_cannot_see() -> None:
    (web,) = [v for k, v in resources("aws_ecs_service").items() if k == "web"]
    assert web["health_check_grace_period_seconds"] >= 60
    assert "aws_lb_listener.https" in web["depends_on"][0]
    (function,) = resources("aws_lambda_function").values()
    assert "reserved_concurrent_executions" not in function
    assert function["tracing_config"][0]["mode"] == "Active"
    lambda_tf = (TERRAFORM / "lambda.tf").read_text()
    assert '"xray:PutTraceSegments", "xray:PutTelemetryRecords"' in lambda_tf
    ecs_tf = (TERRAFORM / "ecs.tf").read_text()
    assert '.arn_without_revision}:*"' in ecs_tf  # RunTask names a revision
    setup = (TERRAFORM / "setup.tf").read_text()
    for group in ("/deleton/${var.environment}/*", "/aws/lambda/${local.name}-*",
                  "/aws/rds/instance/${local.name}/*"):  # fmt: skip
        assert f'"{group}"' in setup


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_compose_runs_only_commands_the_cli_has_on_loopback_ports() -> None:
    services = compose()["services"]
    ours = {n: s for n, s in services.items() if s.get("image", "").startswith("deleton")}
    assert set(ours) == {"migrate", "simulator", "ingest", "dashboard", "api", "jobs"}
    for name, service in ours.items():
        command = service["command"]
        assert parses(command if isinstance(command, list) else shlex.split(command)), name
    for service in services.values():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), port
    assert services["kafka"]["image"].startswith("apache/kafka:4")
    assert "controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]
    assert services["postgres"]["image"].startswith("postgres:")
    text = (ROOT / "docker-compose.yml").read_text()
    assert deleton_names(text) - settings_names() == set()
    for name in ("ingest", "dashboard", "api", "jobs", "simulator"):
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
