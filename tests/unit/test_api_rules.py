"""The API's rules that need no database: keys and scopes, the rate limit, the day a date
names, the next page."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi import HTTPException
from pydantic import SecretStr

from deleton.api.access import (
    BOOTSTRAP,
    MAX_CACHED,
    Caller,
    Keys,
    RateLimit,
    digest,
    granted,
    new_key,
)
from deleton.api.keys import parse_scopes
from deleton.api.rides import next_offset, parse_day
from deleton.errors import ConfigError
from deleton.settings import load_settings

KEY = SecretStr("s3cret-key-of-at-least-16")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def keys_over(table: dict[bytes, Caller]) -> tuple[Keys, Clock, list[bytes]]:
    """Keys over ``table`` (by SHA-256) with a clock of our own, and the lookups made."""
    clock, asked = Clock(), []

    def lookup(sha: bytes) -> Caller | None:
        asked.append(sha)
        return table.get(sha)

    return Keys(KEY, lookup, ttl=5.0, clock=clock), clock, asked


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("s3cret-key-of-at-least-16", True),
        ("s3cret-key-of-at-least-1", False),  # a prefix, which a substring test would pass
        ("s3cret-key-of-at-least-16 ", False),
        ("xs3cret-key-of-at-least-16", False),  # containing it is not being it
        ("", False),
        ("s3cret-key-of-at-least-16\udcff", False),  # not UTF-8: compared, not raised
    ],
)
def test_only_the_bootstrap_key_itself_holds_every_scope(given: str, expected: bool) -> None:
    keys, _, _ = keys_over({})
    caller = keys.verify(given)
    assert (caller is not None) is expected
    if caller is not None:
        assert caller.name == BOOTSTRAP and caller.scopes == {"read", "personal", "erase"}


def test_a_key_is_looked_up_once_then_believed_for_its_time_and_a_revoke_follows() -> None:
    made = new_key()
    table = {digest(made): Caller("reporting", frozenset({"read"}))}
    keys, clock, asked = keys_over(table)
    assert keys.remembered(made) == (False, None)  # never seen: to be looked up
    assert keys.verify(made) == Caller("reporting", frozenset({"read"}))
    for _ in range(1000):
        assert keys.remembered(made) == (True, Caller("reporting", frozenset({"read"})))
    assert len(asked) == 1  # one query, however many requests
    table.clear()  # revoked
    clock.now += 4.9
    assert keys.remembered(made)[0]  # still believed, within the cache's time
    clock.now += 0.2
    assert keys.remembered(made) == (False, None)
    assert keys.verify(made) is None and len(asked) == 2
    assert keys.remembered(made) == (True, None)  # an unknown key is remembered too


def test_a_flood_of_unknown_keys_does_not_evict_the_live_ones() -> None:
    """Review finding: any caller, with no key at all, sends distinct made-up keys. Each costs
    a query (a pooled connection, for up to its statement timeout), and the 10,000th empties
    the whole memory, live keys included: from then on every request of every client is a
    query again, and the pool of 8 is the whole API's limit. A live key must stay remembered
    however many unknown keys are tried."""
    made = new_key()
    table = {digest(made): Caller("reporting", frozenset({"read"}))}
    keys, _, _ = keys_over(table)
    assert keys.verify(made) is not None
    for n in range(MAX_CACHED):
        keys.verify(f"made-up-{n:05d}-{'x' * 30}")
    assert keys.remembered(made) == (True, Caller("reporting", frozenset({"read"}))), (
        "a flood of unknown keys emptied the memory of the live ones"
    )


def test_a_new_key_is_32_random_bytes_as_url_safe_text_stored_as_its_sha256() -> None:
    made = {new_key() for _ in range(100)}
    assert len(made) == 100
    for key in made:
        assert len(key) == 43 and key.replace("-", "").replace("_", "").isalnum()
        assert len(digest(key)) == 32 and digest(key) != key.encode()


@pytest.mark.parametrize(
    ("text", "scopes"),
    [
        ("read", ("read",)),
        ("personal", ("read", "personal")),  # personal and erase include read
        ("erase", ("read", "erase")),
        ("erase,personal", ("read", "personal", "erase")),
        (" read , erase ", ("read", "erase")),
        ("", ()),
    ],
)
def test_scopes_include_read(text: str, scopes: tuple[str, ...]) -> None:
    assert parse_scopes(text) == scopes


def test_only_the_three_scopes_exist() -> None:
    with pytest.raises(ValueError, match="not a scope: admin"):
        granted(["read", "admin"])


def test_the_rate_limit_is_a_bucket_per_key_with_the_wait_it_needs() -> None:
    clock = Clock()  # steps of 1/16 s, exact in binary
    limit = RateLimit(16, clock)
    assert [limit.wait("a") for _ in range(16)] == [0.0] * 16  # a second's worth at once
    assert limit.wait("a") == 1 / 16  # the next one in 1/16 s
    assert limit.wait("b") == 0.0  # another key has its own
    clock.now += 1 / 16
    assert limit.wait("a") == 0.0
    assert limit.wait("a") > 0
    clock.now += 10
    assert [limit.wait("a") for _ in range(16)] == [0.0] * 16  # never more than the burst
    assert limit.wait("a") > 0
    slow = RateLimit(0.5, clock)
    assert slow.wait("a") == 0.0 and slow.wait("a") == 2.0


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("03-11-2022", dt.date(2022, 11, 3)),  # the original API's order
        ("2022-11-03", dt.date(2022, 11, 3)),
        ("29-02-2024", dt.date(2024, 2, 29)),
        ("1970-01-01", dt.date(1970, 1, 1)),
        ("9998-12-31", dt.date(9998, 12, 31)),
    ],
)
def test_a_day_in_either_order(text: str, day: dt.date) -> None:
    assert parse_day(text) == day


@pytest.mark.parametrize(
    "text",
    ["29-02-2023", "2022-13-01", "31-04-2022", "11-03-22", "2022/11/03", "", "0000-00-00",
     "1969-12-31", "9999-12-31", "03-11-2022 ", "٠٣-١١-٢٠٢٢"],
)  # fmt: skip
def test_anything_else_is_a_400_naming_the_date(text: str) -> None:
    with pytest.raises(HTTPException) as refusal:
        parse_day(text)
    assert refusal.value.status_code == 400
    assert str(refusal.value.detail).startswith("date:")


def test_a_next_page_only_after_a_full_one() -> None:
    assert next_offset(20, 20, 0) == 20
    assert next_offset(20, 20, 40) == 60
    assert next_offset(19, 20, 40) is None
    assert next_offset(0, 20, 0) is None


def test_the_key_is_strong_or_absent_and_never_shown(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]
    monkeypatch.setenv("DELETON_API_KEY", "")
    assert load_settings().api().key is None  # empty: no bootstrap key, not an open door
    monkeypatch.setenv("DELETON_API_KEY", "short-secret")
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert "DELETON_API_KEY" in str(error.value).upper()
    assert "short-secret" not in str(error.value)
    monkeypatch.setenv("DELETON_API_KEY", KEY.get_secret_value())
    api = load_settings().api()
    assert api.key == KEY
    assert (api.host, api.port, api.rate_limit) == ("127.0.0.1", 8000, 20.0)
    assert KEY.get_secret_value() not in repr(api)


@pytest.mark.parametrize(
    ("hops", "forwarded", "expected"),
    [
        (0, [b"203.0.113.9"], "10.0.0.5"),  # no proxy believed: the connection's address
        (1, [b"203.0.113.9"], "203.0.113.9"),  # the load balancer's hop
        (1, [b"198.51.100.1, 203.0.113.9"], "203.0.113.9"),  # what the client wrote is not
        (1, [b"198.51.100.1", b"203.0.113.9"], "203.0.113.9"),  # two headers are one list
        (2, [b"198.51.100.1, 203.0.113.9"], "198.51.100.1"),
        (2, [b"203.0.113.9"], "10.0.0.5"),  # fewer hops than proxies: not the proxies' header
        (1, [], "10.0.0.5"),
    ],
)
def test_the_client_is_the_hop_the_trusted_proxies_appended(
    hops: int, forwarded: list[bytes], expected: str
) -> None:
    from starlette.requests import Request

    from deleton.api.access import client_address

    headers = [(b"x-forwarded-for", value) for value in forwarded]
    request = Request({"type": "http", "headers": headers, "client": ("10.0.0.5", 1234)})
    assert client_address(request, hops) == expected


def test_the_proxies_believed_are_the_load_balancers_one_unless_told(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]
    for name in ("DELETON_ALB_ARN", "DELETON_TRUSTED_PROXIES"):
        monkeypatch.delenv(name, raising=False)
    assert load_settings().proxy_hops == 0  # the connection's address
    arn = "arn:aws:elasticloadbalancing:eu-west-2:123456789012:loadbalancer/app/web/abc"
    monkeypatch.setenv("DELETON_ALB_ARN", arn)
    assert load_settings().access().proxy_hops == 1  # the dashboard's, as before
    assert load_settings().api().proxy_hops == 1
    monkeypatch.setenv("DELETON_TRUSTED_PROXIES", "0")
    assert load_settings().api().proxy_hops == 0
    monkeypatch.delenv("DELETON_ALB_ARN")
    monkeypatch.setenv("DELETON_TRUSTED_PROXIES", "2")
    assert load_settings().api().proxy_hops == 2
