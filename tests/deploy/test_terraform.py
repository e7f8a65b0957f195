"""The Terraform, checked by Terraform: formatted, valid, planned for each documented variant,
and applied then destroyed against an emulated AWS (moto's server), after which no generated
secret is found in the state or the saved plan.

What the emulator cannot check is named here and asserted in the plan instead:
- every name's length against AWS's own limit (moto accepts any length);
- the HTTPS listener's HSTS header and the WAF's rules (moto stores them, enforces nothing);
- ingest's scaling on ConsumerLag (moto has no Application Auto Scaling tags: the emulator adds
  them, tests/deploy/emulator.py, so that the target applies; the metric it tracks is here).
The figures (resources planned, created and destroyed) go to build/deploy/terraform.md.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest

from deleton.postgres import schema

from .conftest import (
    DOMAIN,
    ROOT,
    DebianPostgres,
    client,
    debian_postgres,
    refused_by_deploy_sh,
    run,
    tfvars,
    unavailable,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

LONGEST = "longest-name14"  # 14 characters, the most variables.tf allows
# one variant per way of deploying that the README documents
VARIANTS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "jobs_on_lambda": {"jobs_on_lambda": True, "environment": LONGEST},
    "existing_vpc": {
        "vpc_id": "vpc-0a1b2c3d4e5f60718",
        "public_subnet_ids": ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"],
        "private_subnet_ids": ["subnet-0a1b2c3d4e5f60003", "subnet-0a1b2c3d4e5f60004"],
        "environment": "staging",
        # the other way of signing in: your own identity provider
        "oidc": None,
    },
}
OIDC = """oidc = {
  issuer                 = "https://idp.deleton.example.com"
  authorization_endpoint = "https://idp.deleton.example.com/authorize"
  token_endpoint         = "https://idp.deleton.example.com/token"
  user_info_endpoint     = "https://idp.deleton.example.com/userinfo"
  client_id              = "deleton"
}
"""
# AWS's limits on the names the module makes (moto enforces none of them)
NAME_LIMITS = {
    ("aws_lb", "name"): 32,
    ("aws_lb_target_group", "name"): 32,
    ("aws_iam_role", "name"): 64,
    ("aws_lambda_function", "function_name"): 64,
    ("aws_db_instance", "identifier"): 63,
    ("aws_db_subnet_group", "name"): 255,
    ("aws_s3_bucket", "bucket"): 63,
    ("aws_cognito_user_pool_domain", "domain"): 63,
    ("aws_scheduler_schedule", "name"): 64,
    ("aws_wafv2_web_acl", "name"): 128,
    ("aws_ecs_cluster", "name"): 255,
    ("aws_ecr_repository", "name"): 256,
    ("aws_appautoscaling_policy", "name"): 256,
    ("aws_cloudwatch_log_group", "name"): 512,
    ("aws_sqs_queue", "name"): 80,
    ("aws_cloudwatch_metric_alarm", "alarm_name"): 255,
}
REPORT = ROOT / "build" / "deploy" / "terraform.md"
# the secrets each task's execution role may read (the migration also RDS's own, the master's)
EXECUTION_READS = {
    "ingest": ("database-url/writer", "database-password/writer"),
    "compress": ("database-url/writer", "database-password/writer"),
    "dashboard": ("database-url/reader", "database-password/reader", "session-secret",
                  "screen-secret"),
    "report": ("database-url/reader", "database-password/reader"),
    "api": ("database-url/api", "database-password/api", "api-key"),
    "migrate": ("database-url/admin", "database-password/writer", "database-password/reader",
                "database-password/api", "database-password/operator"),
    "admin": ("database-url/operator", "database-password/operator", "screen-secret"),
}  # fmt: skip


def write_report(line: str) -> None:
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    with REPORT.open("a") as report:
        report.write(line + "\n")


@pytest.fixture(scope="session")
def plans(workdir: Path, aws_env: dict[str, str], certificate_arn: str) -> dict[str, Any]:
    """Each variant planned against the emulator, side by side: ``{variant: plan JSON}``; each
    saved plan is ``VARIANT.plan`` in the working copy."""
    REPORT.unlink(missing_ok=True)
    for variant, values in VARIANTS.items():
        values = {k: v for k, v in values.items() if v is not None}
        text = tfvars(certificate_arn, image_tag="test", **values)
        if "oidc" in VARIANTS[variant]:
            text += OIDC
        (workdir / f"{variant}.tfvars").write_text(text)
    env = {**aws_env, "TF_VAR_oidc_client_secret": "client-secret-of-the-test-idp"}

    def plan(variant: str) -> dict[str, Any]:
        run(["terraform", "plan", "-input=false", "-lock=false", f"-var-file={variant}.tfvars",
             f"-out={variant}.plan"], workdir, env)  # fmt: skip
        shown = run(["terraform", "show", "-json", f"{variant}.plan"], workdir, env)
        loaded: dict[str, Any] = json.loads(shown)
        return loaded

    with ThreadPoolExecutor(len(VARIANTS)) as pool:
        done = dict(zip(VARIANTS, pool.map(plan, VARIANTS), strict=True))
    for variant, shown in done.items():
        write_report(f"- plan `{variant}`: {len(creates(shown))} resources to create")
    return done


def creates(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in plan["resource_changes"] if c["change"]["actions"] == ["create"]]


def planned(plan: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """The planned values of every resource of ``kind``."""
    return [c["change"]["after"] for c in creates(plan) if c["type"] == kind]


def test_terraform_is_formatted(terraform_tools: dict[str, str]) -> None:
    done = subprocess.run(["terraform", "fmt", "-check", "-recursive", "-diff"],
                          cwd=ROOT / "deploy", capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_terraform_validates(workdir: Path, aws_env: dict[str, str]) -> None:
    assert "Success" in run(["terraform", "validate", "-no-color"], workdir, aws_env)


def test_each_variant_plans_only_creations(plans: dict[str, Any]) -> None:
    for variant, plan in plans.items():
        actions = {tuple(c["change"]["actions"]) for c in plan["resource_changes"]}
        assert actions <= {("create",), ("read",)}, (variant, actions)
    counts = {variant: len(creates(plan)) for variant, plan in plans.items()}
    # the Lambda variant adds two functions with their roles, two policies, log groups, failure
    # destinations and error alarms, and the failures' queue with its alarm; it drops no ECS
    # task definition (migrate, ingest, ... stay); an existing VPC makes no network
    assert counts["jobs_on_lambda"] == counts["defaults"] + 2 * 7 + 2
    assert counts["existing_vpc"] < counts["defaults"] - 15
    lambdas = planned(plans["jobs_on_lambda"], "aws_lambda_function")
    assert sorted(f["function_name"] for f in lambdas) == [
        f"deleton-{LONGEST}-compress",
        f"deleton-{LONGEST}-report",
    ]
    assert not planned(plans["defaults"], "aws_lambda_function")
    assert not planned(plans["existing_vpc"], "aws_vpc")


def test_every_name_fits_aws_limits_with_the_longest_environment(plans: dict[str, Any]) -> None:
    plan = plans["jobs_on_lambda"]
    checked = 0
    for (kind, attribute), limit in NAME_LIMITS.items():
        for values in planned(plan, kind):
            name = values[attribute]
            assert LONGEST in name, (kind, name)
            assert len(name) <= limit, f"{kind}.{attribute} {name!r} is longer than {limit}"
            checked += 1
    assert checked >= 30


def test_an_environment_name_one_longer_is_refused(workdir: Path, aws_env: dict[str, str]) -> None:
    done = subprocess.run(
        ["terraform", "plan", "-input=false", "-lock=false", "-var-file=defaults.tfvars",
         f"-var=environment={LONGEST}x", "-no-color"],
        cwd=workdir, env=aws_env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode != 0
    assert "environment: 2 to 14" in done.stderr


def test_https_only_routed_by_host_with_the_dashboard_signed_in(plans: dict[str, Any]) -> None:
    for variant, plan in plans.items():
        listeners = {item["port"]: item for item in planned(plan, "aws_lb_listener")}
        assert set(listeners) == {80, 443}, variant
        http = listeners[80]["default_action"]
        assert [a["type"] for a in http] == ["redirect"]
        assert http[0]["redirect"][0]["protocol"] == "HTTPS"
        https = listeners[443]
        assert https["routing_http_response_strict_transport_security_header_value"].startswith(
            "max-age=31536000"
        )
        assert https["default_action"][0]["type"] == "fixed-response"
        rules = planned(plan, "aws_lb_listener_rule")
        by_host: dict[str, list[dict[str, Any]]] = {}
        for rule in rules:
            (host,) = [c["host_header"][0]["values"] for c in rule["condition"] if c["host_header"]]
            by_host.setdefault(host[0], []).append(rule)
        assert set(by_host) == {DOMAIN, f"api.{DOMAIN}"}
        (api,) = by_host[f"api.{DOMAIN}"]
        assert [a["type"] for a in api["action"]] == ["forward"]  # keys alone
        public: list[tuple[list[str], list[str]]] = []
        signed: list[tuple[None, list[str]]] = []
        for rule in by_host[DOMAIN]:
            paths = [c["path_pattern"][0]["values"] for c in rule["condition"] if c["path_pattern"]]
            types = sorted(a["type"] for a in rule["action"])
            if paths:
                public.append((paths[0], types))
            else:
                signed.append((None, types))
            assert sum(len(c[k][0]["values"]) for c in rule["condition"] for k in
                       ("host_header", "path_pattern") if c[k]) <= 5  # fmt: skip
        assert sorted(p for paths, _ in public for p in paths) == sorted(
            ["/healthz", "/screen", "/screen/*", "/assets/*", "/_dash-*", "/_favicon.ico"]
        )
        assert all(types == ["forward"] for _, types in public)
        auth = "authenticate-oidc" if variant == "existing_vpc" else "authenticate-cognito"
        assert signed == [(None, [auth, "forward"])], variant


def test_what_the_emulator_does_not_enforce_is_in_the_plan(plans: dict[str, Any]) -> None:
    plan = plans["defaults"]
    (acl,) = planned(plan, "aws_wafv2_web_acl")
    (rate,) = [r for r in acl["rule"] if r["statement"][0]["rate_based_statement"]]
    assert (
        rate["action"][0]["block"]
        and rate["statement"][0]["rate_based_statement"][0]["aggregate_key_type"] == "IP"
    )
    assert planned(plan, "aws_wafv2_web_acl_association")
    # AWS's known-bad inputs (Log4j) and anonymisers, the hosting providers' list only counted
    groups = {r["name"]: r["statement"][0]["managed_rule_group_statement"][0] for r in acl["rule"]
              if r["statement"][0]["managed_rule_group_statement"]}  # fmt: skip
    assert {g["name"] for g in groups.values()} == {
        "AWSManagedRulesKnownBadInputsRuleSet", "AWSManagedRulesAnonymousIpList"}  # fmt: skip
    (override,) = groups["anonymous-addresses"]["rule_action_override"]
    assert override["name"] == "HostingProviderIPList" and override["action_to_use"][0]["count"]
    # a screen link's request is labelled, and its log record dropped by that label
    (label,) = [r for r in acl["rule"] if r["rule_label"]]
    assert label["action"][0]["count"] and label["statement"][0]["byte_match_statement"][0][
        "search_string"] == "/screen/"  # fmt: skip
    # no sampled requests anywhere (a sample would show a screen link's path)
    assert not acl["visibility_config"][0]["sampled_requests_enabled"]
    assert not any(r["visibility_config"][0]["sampled_requests_enabled"] for r in acl["rule"])
    (logging,) = planned(plan, "aws_wafv2_web_acl_logging_configuration")
    redacted = {f["single_header"][0]["name"] for f in logging["redacted_fields"]}
    assert redacted == {"x-api-key", "cookie", "authorization"}
    (kept,) = logging["logging_filter"]
    assert kept["default_behavior"] == "KEEP"
    (dropped,) = kept["filter"]
    assert dropped["behavior"] == "DROP"
    (condition,) = dropped["condition"]
    name = condition["label_name_condition"][0]["label_name"]
    assert name.startswith("awswaf:") and name.endswith(
        f":webacl:deleton-production:{label['rule_label'][0]['name']}"
    )
    (target,) = planned(plan, "aws_appautoscaling_target")
    assert target["scalable_dimension"] == "ecs:service:DesiredCount"
    (policy,) = planned(plan, "aws_appautoscaling_policy")
    metric = policy["target_tracking_scaling_policy_configuration"][0][
        "customized_metric_specification"
    ][0]
    assert (metric["namespace"], metric["metric_name"]) == ("Deleton", "ConsumerLag")
    (group,) = planned(plan, "aws_db_parameter_group")
    parameters = {p["name"]: p["value"] for p in group["parameter"]}
    assert parameters["log_parameter_max_length"] == "0"
    assert parameters["log_error_verbosity"] == "terse"
    assert parameters["rds.force_ssl"] == "1"
    rds_logs = [g for g in planned(plan, "aws_cloudwatch_log_group")
                if g["name"].startswith("/aws/rds/instance/")]  # fmt: skip
    assert len(rds_logs) == 2 and all(g["retention_in_days"] for g in rds_logs)


def test_every_variant_alarms_on_what_ingestion_and_compression_publish(
    plans: dict[str, Any],
) -> None:
    """monitoring.tf's alarms as planned, names and dimensions resolved: the same six whether
    compression runs on ECS or Lambda (each run writes its figures under Job = compress), on
    the consumer group ingest is given (kafka_group_id's default here)."""
    ingest, compress = {"ConsumerGroup": "deleton-ingest"}, {"Job": "compress"}
    expected = {
        "ingest-lag": ("ConsumerLag", ingest),
        "outbox-backlog": ("OutboxBacklog", ingest),
        "dead-letters": ("DeadLetters", ingest),
        "compression-failing": ("CompressionFailures", compress),
        "compression-not-run": ("CompressionRuns", compress),
        "bikes-flagged": ("BikesFlagged", compress),
    }
    for variant, plan in plans.items():
        prefix = f"deleton-{VARIANTS[variant].get('environment', 'production')}-"
        alarms = {a["alarm_name"].removeprefix(prefix): a
                  for a in planned(plan, "aws_cloudwatch_metric_alarm")
                  if a["namespace"] == "Deleton"}  # fmt: skip
        assert {name: (a["metric_name"], a["dimensions"]) for name, a in alarms.items()} == (
            expected
        ), variant
        assert alarms["ingest-lag"]["threshold"] == 100000
        assert alarms["compression-not-run"]["treat_missing_data"] == "breaching"


# --- the database's log and statistics, on PostgreSQL set up as the plan sets up RDS ---------


@pytest.fixture(scope="module")
def rds_postgres(plans: dict[str, Any]) -> Iterator[DebianPostgres]:
    """Debian's PostgreSQL with the planned parameter group (less RDS's own ``rds.*``) and
    what RDS's default parameters add that matters here: pg_stat_statements preloaded
    (Performance Insights, which rds.tf turns on, reads its SQL statistics). Logins other than
    the administrator sign in with their passwords (SCRAM), as on RDS; migrated."""
    servers = sorted(Path("/usr/lib/postgresql").glob("*/lib/pg_stat_statements.so"))
    if not servers:
        unavailable("no pg_stat_statements beside Debian's PostgreSQL (make deploy-test)")
    (group,) = planned(plans["defaults"], "aws_db_parameter_group")
    settings = {p["name"]: p["value"] for p in group["parameter"] if "." not in p["name"]}
    settings |= {"shared_preload_libraries": "pg_stat_statements",
                 "log_destination": "stderr", "logging_collector": "off"}  # fmt: skip
    with debian_postgres(settings, login_auth="scram-sha-256") as server:
        with psycopg.connect(server.url()) as conn:
            schema.init(conn)
            conn.execute("CREATE EXTENSION pg_stat_statements")
        yield server


def test_db_init_gives_the_logins_their_passwords_and_keeps_them_out_of_statistics(
    rds_postgres: DebianPostgres,
) -> None:
    """The password travels as its SCRAM verifier, never as SQL text that pg_stat_statements
    (and Performance Insights) keep, or a failing statement's log line; each login then signs
    in with its password, a made one (CREATE) and a rotated one (ALTER) alike."""
    for generation in (1, 2):
        passwords = {g: f"{g}-{generation}-{uuid.uuid4().hex}" for g in schema.LOGINS}
        with psycopg.connect(rds_postgres.url()) as conn:
            schema.ensure_logins(conn, passwords)
        with psycopg.connect(rds_postgres.url()) as conn:
            kept = "\n".join(r[0] for r in conn.execute("SELECT query FROM pg_stat_statements"))
        assert "ROLE" in kept  # the statements are there, but not the passwords
        leaked = [g for g, password in passwords.items() if password in kept]
        assert not leaked, f"pg_stat_statements keeps the {leaked} logins' passwords"
        assert not any(p in rds_postgres.log.read_text() for p in passwords.values())
        for group, login in schema.LOGINS.items():
            url = rds_postgres.url(user=login)
            with psycopg.connect(url, password=passwords[group], connect_timeout=5) as conn:
                assert conn.execute("SELECT current_user").fetchone() == (login,)
            with pytest.raises(psycopg.OperationalError, match="password authentication"):
                psycopg.connect(url, password=f"{group}-wrong", connect_timeout=5)


def test_a_rider_row_refused_by_a_constraint_leaves_no_contact_details_in_the_log(
    rds_postgres: DebianPostgres,
) -> None:
    """RDS exports this log to CloudWatch. Bind values are hidden (log_parameter_max_length =
    0), but an error's DETAIL would quote the failing row: log_error_verbosity = terse."""
    email = f"rider-{uuid.uuid4().hex[:8]}@example.com"
    street = "Secret Garden Lane"
    row = (900_001, "Ms", "Ada", "Lovelace", "unknown", "?", "1815-12-10", email, "12", street,
           "London", "W1 1AA", 170, 60, "2020-01-01", "review", "2026-01-01T00:00:00Z")  # fmt: skip
    with psycopg.connect(rds_postgres.url()) as conn, pytest.raises(psycopg.errors.CheckViolation):
        # store.py's rider upsert, with a gender its CHECK refuses
        conn.execute(
            "INSERT INTO daily.rider (user_id, title, first_name, last_name, gender,"
            " gender_as_given, date_of_birth, email, house, street, city, postcode,"
            " height_cm, weight_kg, account_created, original_source, seen_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            row,
        )
    deadline = time.monotonic() + 10
    while "violates check constraint" not in rds_postgres.log.read_text():
        assert time.monotonic() < deadline, "the refusal never reached the log"
        time.sleep(0.1)
    text = rds_postgres.log.read_text()
    assert email not in text and street not in text, "the log carries the rider's contact details"
    assert "Failing row contains" not in text


def secret_values(aws_env: dict[str, str]) -> dict[str, str]:
    """Every secret value in the emulated Secrets Manager, by secret name; the master
    password out of RDS's own JSON secret."""
    secrets = client(aws_env, "secretsmanager")
    values = {}
    for page in secrets.get_paginator("list_secrets").paginate():
        for secret in page["SecretList"]:
            value = secrets.get_secret_value(SecretId=secret["ARN"])["SecretString"]
            if secret["Name"].startswith("rds!"):
                value = json.loads(value)["password"]
            values[secret["Name"]] = value
    return values


def plan_members(path: Path) -> bytes:
    with zipfile.ZipFile(path) as saved:
        return b"".join(saved.read(name) for name in saved.namelist())


def replans(workdir: Path, env: dict[str, str]) -> None:
    """Changes planned on the applied environment, each read as deploy.sh reads a plan before
    it applies any: raising secret_generation migrates again and rolls every task, and is let
    through; an ordinary release is let through; a plan that replaces the network or a log
    group is refused."""
    refused = refused_by_deploy_sh()
    changes = {
        "rotation": ["-var=secret_generation=2"],
        "release": ["-var=image_tag=next"],
        "network": ["-var=vpc_cidr=10.41.0.0/16"],
        "log": ['-replace=aws_cloudwatch_log_group.service["api"]'],
    }

    def replan(name: str) -> tuple[dict[str, list[str]], str]:
        run(["terraform", "plan", "-input=false", "-lock=false", "-no-color",
             "-var-file=defaults.tfvars", *changes[name], f"-out={name}.plan"], workdir, env)  # fmt: skip
        shown = json.loads(run(["terraform", "show", "-json", f"{name}.plan"], workdir, env))
        changed = {c["address"]: c["change"]["actions"] for c in shown["resource_changes"]
                   if c["change"]["actions"] not in (["no-op"], ["read"])}  # fmt: skip
        return changed, run(["terraform", "show", "-no-color", f"{name}.plan"], workdir, env)

    with ThreadPoolExecutor(len(changes)) as pool:
        planned_ = dict(zip(changes, pool.map(replan, changes), strict=True))

    # the new passwords are written, db init runs again (so the logins get them) and every
    # task definition is replaced (so no running task keeps the old API key or session secret)
    rotation, text = planned_["rotation"]
    assert {a for a in rotation if a.startswith("aws_secretsmanager_secret_version.")} >= {
        f'aws_secretsmanager_secret_version.{kind}["{name}"]'
        for kind, names in (("db_password", ("writer", "reader", "api", "operator")),
                            ("app", ("api-key", "session-secret", "screen-secret")))
        for name in names}, sorted(rotation)  # fmt: skip
    assert "delete" in rotation["terraform_data.migrate"], rotation.get("terraform_data.migrate")
    families = {a for a, actions in rotation.items()
                if a.startswith("aws_ecs_task_definition.") and "create" in actions}  # fmt: skip
    assert families == {"aws_ecs_task_definition.admin"} | {
        f'aws_ecs_task_definition.service["{t}"]'
        for t in ("ingest", "dashboard", "api", "compress", "report", "migrate")}  # fmt: skip
    assert not refused.search(text), refused.search(text)
    release, text = planned_["release"]
    assert release and not refused.search(text), refused.search(text)
    for name, what in (("network", "aws_vpc.main[0]"),
                       ("log", 'aws_cloudwatch_log_group.service["api"]')):  # fmt: skip
        changed, text = planned_[name]
        assert "delete" in changed[what], (name, changed.get(what))
        assert refused.search(text), f"deploy.sh would apply the {name} plan, which replaces {what}"


def test_apply_then_destroy_against_the_emulator_with_no_secret_in_state(
    plans: dict[str, Any], workdir: Path, aws_env: dict[str, str], real_aws: str
) -> None:
    env = {**aws_env, "DELETON_REAL_AWS": real_aws, "DELETON_AWS_LOG": str(workdir / "aws.log")}
    out = run(["terraform", "apply", "-input=false", "-no-color", "defaults.plan"], workdir, env)
    (created,) = map(int, re.findall(r"Apply complete! Resources: (\d+) added", out))
    assert created == len(creates(plans["defaults"]))
    # the migration ran as a task before the services (bin/aws stubs its exit code)
    calls = (workdir / "aws.log").read_text()
    assert "ecs run-task" in calls and "--started-by deleton-migrate" in calls

    # the dashboard is told how sign-in works on AWS; the API its rate limit
    ecs = client(aws_env, "ecs")
    for service, plain, secret in (
        ("dashboard", {"DELETON_PUBLIC_URL", "DELETON_ALB_ARN", "DELETON_OIDC_ROLE_CLAIM"},
         {"DELETON_SESSION_SECRET", "DELETON_SCREEN_SECRET", "DELETON_READER_DATABASE_URL"}),
        ("api", {"DELETON_API_RATE_LIMIT"}, {"DELETON_API_KEY", "DELETON_API_DATABASE_URL"}),
    ):  # fmt: skip
        family = f"deleton-production-{service}"
        (container,) = ecs.describe_task_definition(taskDefinition=family)["taskDefinition"][
            "containerDefinitions"
        ]
        told = {e["name"]: e["value"] for e in container["environment"]}
        assert plain <= set(told), service
        assert secret | {"PGPASSWORD"} <= {s["name"] for s in container["secrets"]}, service
        if service == "dashboard":
            assert told["DELETON_PUBLIC_URL"] == f"https://{DOMAIN}"
            assert told["DELETON_ALB_ARN"].startswith("arn:aws:elasticloadbalancing:")
            assert told["DELETON_OIDC_ROLE_CLAIM"] == "custom:groups"  # Cognito's
            # its own session ends with the load balancer's (sign_in_session_hours)
            assert told["DELETON_SESSION_LIFETIME"] == "43200"

    # the load balancer's sign-in calls the identity provider's token and userinfo endpoints
    # itself: its security group lets it out over HTTPS (AWS's troubleshooting for ALB
    # authentication: without it, every sign-in ends in the load balancer's HTTP 500)
    (alb_group,) = client(aws_env, "ec2").describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["deleton-production-alb"]}]
    )["SecurityGroups"]
    egress = [(rule.get("FromPort"), [r["CidrIp"] for r in rule.get("IpRanges", [])])
              for rule in alb_group["IpPermissionsEgress"]]  # fmt: skip
    assert (443, ["0.0.0.0/0"]) in egress, egress

    # each task starts with a role that reads its own secrets and no other's
    names = {
        s["ARN"]: s["Name"] for s in client(aws_env, "secretsmanager").list_secrets()["SecretList"]
    }
    iam = client(aws_env, "iam")
    read = {}
    for task in EXECUTION_READS:
        document = iam.get_role_policy(RoleName=f"deleton-production-{task}-execution",
                                       PolicyName="start")["PolicyDocument"]  # fmt: skip
        (statement,) = [s for s in document["Statement"] if s.get("Sid") == "ReadOwnSecrets"]
        read[task] = {
            names[arn].removeprefix("deleton-production/") for arn in statement["Resource"]
        }
    master = {name for name in read["migrate"] if name.startswith("rds!")}
    assert len(master) == 1
    assert read == {task: set(own) | (master if task == "migrate" else set())
                    for task, own in EXECUTION_READS.items()}  # fmt: skip

    # the admin task, where operators make credentials through ECS Exec, logs nothing
    admin = ecs.describe_task_definition(taskDefinition="deleton-production-admin")
    (container,) = admin["taskDefinition"]["containerDefinitions"]
    assert "logConfiguration" not in container
    (cluster,) = ecs.describe_clusters(clusters=["deleton-production"])["clusters"]
    assert cluster["configuration"]["executeCommandConfiguration"]["logging"] == "NONE"

    replans(workdir, env)

    raw = (workdir / "terraform.tfstate").read_text()
    # as written (Terraform escapes & < > in JSON) and as read
    state = raw + json.dumps(json.loads(raw), ensure_ascii=False)
    saved = plan_members(workdir / "defaults.plan")
    values = secret_values(aws_env)
    generated = {name: v for name, v in values.items() if "/database-url/" not in name}
    # the logins' four passwords (the operator's since 0019), the API key, the session and
    # screen secrets, the master's
    assert len(generated) == 8, sorted(values)
    for name, value in generated.items():
        # ours are 40 to 64 characters; the emulator's RDS gives every master one fixed password
        assert len(value) >= (8 if name.startswith("rds!") else 40), name
        assert value not in state, f"{name} is in the state"
        assert value.encode() not in saved, f"{name} is in the saved plan"
    # the search can find a secret's value: the URLs' (no password in them) are in the state
    urls = [v for name, v in values.items() if "/database-url/" in name]
    assert len(urls) == 5 and all(url in state for url in urls)  # admin's, four logins'
    assert all("sslmode=verify-full&sslrootcert=" in url and ":@" not in url for url in urls)

    out = run(["terraform", "destroy", "-input=false", "-auto-approve", "-no-color",
               "-var-file=defaults.tfvars"], workdir, env)  # fmt: skip
    (destroyed,) = map(int, re.findall(r"Destroy complete! Resources: (\d+) destroyed", out))
    assert destroyed == created
    assert not json.loads((workdir / "terraform.tfstate").read_text())["resources"]
    write_report(f"- emulator apply: {created} created, then {destroyed} destroyed")
