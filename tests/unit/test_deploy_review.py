"""Findings of the deployment's review (review-deploy), each a test that fails on the code as
reviewed and passes once the finding is fixed. Read from the Terraform as written, as
tests/unit/test_deploy.py does; tests/deploy/test_review_*.py show the same with the real
tools.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hcl2

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "deploy" / "terraform"


def unquote(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    if isinstance(value, list):
        return [unquote(item) for item in value]
    if isinstance(value, dict):
        return {unquote(k): unquote(v) for k, v in value.items() if k != "__is_block__"}
    return value


def resources(kind: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(TERRAFORM.glob("*.tf")):
        with path.open() as text:
            for block in unquote(hcl2.load(text)).get("resource", []):
                found.update(block.get(kind, {}))
    return found


def test_cognito_sign_in_asks_for_a_scope_whose_user_info_carries_custom_groups() -> None:
    """The load balancer signs the claims it gets from the user pool's userInfo endpoint into
    x-amzn-oidc-data. Cognito's userInfo answers with every attribute the client may read only
    for the scope ``openid`` alone, or with ``profile`` (custom attributes included); for
    ``openid email`` it gives sub, email and email_verified, so ``custom:groups``
    (DELETON_OIDC_ROLE_CLAIM) never reaches the app, role_from_groups(None) is None and every
    member of staff is refused with 403."""
    cognito = _authenticate_cognito(resources("aws_lb_listener_rule")["dashboard"])
    scopes = cognito["scope"].split()
    assert scopes == ["openid"] or "profile" in scopes, (
        f"scope {cognito['scope']!r}: Cognito's userInfo leaves custom:groups out"
    )
    (client,) = resources("aws_cognito_user_pool_client").values()
    assert set(scopes) <= set(client["allowed_oauth_scopes"])


def _authenticate_cognito(rule: dict[str, Any]) -> dict[str, Any]:
    for dynamic in rule["dynamic"]:
        action = dynamic.get("action")
        if action and "authenticate_cognito" in action["content"][0]:
            found: dict[str, Any] = action["content"][0]["authenticate_cognito"][0]
            return found
    raise AssertionError("no authenticate_cognito action on the dashboard's rule")


def test_raising_secret_generation_runs_the_migration_again() -> None:
    """README: "raise secret_generation to generate new ones". That writes new login passwords
    into their secrets, but terraform_data.migrate is replaced only when the migrate task
    definition's ARN changes, and no task definition mentions the generation; so
    ``deleton db init`` does not run, the database keeps the old passwords, and every task
    started afterwards (a scale-out, a replaced task) is refused by PostgreSQL. Nor does any
    running service roll, so a rotated API key or session secret stays in force in every
    running task."""
    ecs = (TERRAFORM / "ecs.tf").read_text()
    start = ecs.index('resource "terraform_data" "migrate"')
    migrate = ecs[start : ecs.index("provisioner", start)]
    task_definition = ecs[ecs.index('resource "aws_ecs_task_definition" "service"') :]
    task_definition = task_definition[: task_definition.index("\n}\n")]
    assert "secret_generation" in migrate or "secret_generation" in task_definition


def test_postgres_error_details_stay_out_of_cloudwatch() -> None:
    """log_parameter_max_length(_on_error) = 0 hides bind values, but not an error's DETAIL:
    a rider row that fails a constraint is logged as "Failing row contains (... email, house,
    street, city, postcode, date of birth ...)", a unique violation as "Key (...)=(...)", and a
    text COPY's CONTEXT quotes its line (dead letters hold whole [SYSTEM] lines). The
    parameter group exports the postgresql log to CloudWatch; log_error_verbosity = terse
    drops DETAIL, HINT, QUERY and CONTEXT from it."""
    (group,) = resources("aws_db_parameter_group").values()
    parameters = {p["name"]: p["value"] for p in group["parameter"]}
    assert parameters.get("log_error_verbosity") == "terse"
