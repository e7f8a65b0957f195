"""Schemathesis against the API's own OpenAPI document, over a copy of the world: whatever it
sends, no server error and no answer outside the document (status, content type, schema,
headers), without a key and with a key of each scope. Bounded: a fixed number of examples per
operation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from pydantic import SecretStr
from schemathesis.checks import CheckFunction
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from deleton.api.app import create_app
from deleton.api.data import ApiData
from tests.harness.postgres import database

from .conftest import IDLE, KEY, KEYS, SECOND, World, as_key, data_over


def _unset() -> Any:
    raise AssertionError("the fixture gives the app its data")


# The document is read at collection, from the app itself; the data it serves is the world's,
# given by the fixture below before each test.
APP = create_app(ApiData.over(_unset, SecretStr(KEY), "Europe/London", int(IDLE) * SECOND))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module")
def fuzzed(world: World, pg_url: str) -> Iterator[ApiData]:
    yield from data_over(database(pg_url, "api_fuzzed", world.template), KEY)


@pytest.fixture(autouse=True)
def _over_the_world(fuzzed: ApiData) -> None:
    APP.state.data = fuzzed


@schema.parametrize()
@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,  # the same cases every run: a failure here is a failure every time
    suppress_health_check=list(HealthCheck),
)
def test_no_request_makes_a_server_error_or_breaks_the_schema(case: schemathesis.Case[Any]) -> None:
    excluded: list[CheckFunction] = []
    if case.operation.path == "/daily":
        # a pattern cannot say that 31-02-2026 is no day: such a date, though it has the
        # promised shape, is rightly a 400, which this one check would call a failure
        excluded.append(positive_data_acceptance)
    case.call_and_validate(excluded_checks=excluded)
    keyed = list(excluded)
    if case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER):
        # the invalid part was the key's header, which a key of ours then replaces: the
        # request that reaches the API is a valid one
        keyed.append(negative_data_rejection)
    for scope in KEYS:
        case.call_and_validate(headers=as_key(scope), excluded_checks=keyed)
