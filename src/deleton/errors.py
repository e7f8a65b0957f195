"""The errors Deleton raises, split by what the caller should do about them.

Adapters translate library errors at their edge into one of these, so that entry points decide
retry or stop without knowing psycopg, confluent-kafka or smtplib.
"""


class DeletonError(Exception):
    """Base of every error Deleton raises on purpose."""


class TransientError(DeletonError):
    """Worth retrying with backoff: a server away, a connection dropped, a lock lost."""


class TerminalError(DeletonError):
    """Retrying cannot help: bad configuration, a refused login, a missing topic."""


class ConfigError(TerminalError):
    """A setting is missing or invalid; the message says which and why."""


class FencedError(TransientError):
    """Another ingest process moved a source position we were about to move: our in-memory
    state is stale and must be reloaded from the database before going on."""


class RejectedData(TerminalError):
    """PostgreSQL refused the data itself (SQLSTATE class 22, data exception, or 23, integrity
    constraint): retrying the same rows cannot help, but leaving out the message that made
    them can. ``sqlstate`` names the refusal without quoting the data."""

    def __init__(self, message: str, sqlstate: str | None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


class Stopped(DeletonError):
    """The process was asked to stop while it waited to retry: unwind, storing nothing more."""
