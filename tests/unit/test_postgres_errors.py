"""psycopg's errors translated by their class at the PostgreSQL adapter's edge: conflicts and
the server away are transient, refused data is ``RejectedData`` with its SQLSTATE, the rest is
terminal; and no message quotes the data."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

from deleton.errors import RejectedData, TerminalError, TransientError
from deleton.postgres.connection import Database, translate
from deleton.postgres.figures import WINDOW_SETTING

errors = psycopg.errors


@pytest.mark.parametrize(
    ("error", "kind", "says"),
    [
        (errors.SerializationFailure, TransientError, "conflict"),
        (errors.DeadlockDetected, TransientError, "conflict"),
        (errors.LockNotAvailable, TransientError, "conflict"),
        (errors.AdminShutdown, TransientError, "unavailable"),
        (errors.QueryCanceled, TransientError, "unavailable"),  # the statement timeout
        (errors.TooManyConnections, TransientError, "unavailable"),
        (psycopg.OperationalError, TransientError, "unavailable"),  # the connection lost
        (errors.UniqueViolation, RejectedData, "23505"),
        (errors.CheckViolation, RejectedData, "23514"),
        (errors.NumericValueOutOfRange, RejectedData, "22003"),
        (errors.DatetimeFieldOverflow, RejectedData, "22008"),
        (errors.UndefinedTable, TerminalError, "42P01"),
        (errors.InsufficientPrivilege, TerminalError, "42501"),
    ],
)
def test_errors_are_translated_by_their_class(
    error: type[psycopg.Error], kind: type[Exception], says: str
) -> None:
    got = translate(error("value 'sam@x.com' is bad"), "writing")
    assert type(got) is kind and says in str(got) and str(got).startswith("writing: ")
    if kind is RejectedData:
        assert isinstance(got, RejectedData) and got.sqlstate == says
    if kind is not TransientError or says == "conflict":
        assert "sam@x.com" not in str(got)  # the server's text may quote the data


def test_every_connection_sets_the_reading_window_beside_its_own_options() -> None:
    database = Database(
        "postgresql://nowhere", {"options": "-c statement_timeout=30000"}, dt.timedelta(hours=2)
    )
    options = database.connection_options({"autocommit": True})
    assert options["autocommit"] is True
    assert options["options"] == f"-c statement_timeout=30000 -c {WINDOW_SETTING}=7200.000000s"
