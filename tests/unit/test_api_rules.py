"""The API's rules that need no database: the key, the day a date names, the next page."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi import HTTPException
from pydantic import SecretStr

from deleton.api.access import holds_key, matches, require_key
from deleton.api.rides import next_offset, parse_day
from deleton.errors import ConfigError
from deleton.settings import load_settings

KEY = SecretStr("s3cret-key-of-at-least-16")


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
def test_only_the_key_itself_matches(given: str, expected: bool) -> None:
    assert matches(KEY, given) is expected


def test_with_no_key_configured_nothing_matches() -> None:
    assert not matches(None, "")
    assert not matches(None, "anything")


def status_of(check: Any, *args: Any) -> int | None:
    try:
        check(*args)
    except HTTPException as refusal:
        return refusal.status_code
    return None


def test_deletes_need_the_key_and_are_refused_outright_without_one_configured() -> None:
    assert status_of(require_key, KEY, KEY.get_secret_value()) is None
    assert status_of(require_key, KEY, None) == 401
    assert status_of(require_key, KEY, "wrong") == 401
    assert status_of(require_key, None, None) == 403
    assert status_of(require_key, None, KEY.get_secret_value()) == 403


def test_reads_show_more_with_the_key_and_refuse_a_wrong_one() -> None:
    assert holds_key(KEY, KEY.get_secret_value()) is True
    assert holds_key(KEY, None) is False
    assert status_of(holds_key, KEY, "wrong") == 401
    assert holds_key(None, None) is False
    assert status_of(holds_key, None, "anything") == 401


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
    assert load_settings().api().key is None  # empty: deletes refused, not open
    monkeypatch.setenv("DELETON_API_KEY", "short-secret")
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert "DELETON_API_KEY" in str(error.value).upper()
    assert "short-secret" not in str(error.value)
    monkeypatch.setenv("DELETON_API_KEY", KEY.get_secret_value())
    api = load_settings().api()
    assert api.key == KEY
    assert (api.host, api.port) == ("127.0.0.1", 8000)
    assert KEY.get_secret_value() not in repr(api)
