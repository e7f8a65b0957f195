"""Every PostgreSQL advisory lock Deleton takes, in one registry: an id is taken by one kind
of work only, and a new one is added here, never written inline.

Advisory locks share one keyspace per database with anything else that uses it; ours are
74_221_0NN. A session lock (``pg_try_advisory_lock``) is released when its connection ends,
so a process killed mid-run never holds one; a transaction lock (``pg_advisory_xact_lock``)
when its transaction ends. No migration in use takes one (0001's partition lock went with its
function in 0002).
"""

from __future__ import annotations

from typing import Any

import psycopg

MIGRATIONS = 74_221_001  # transaction: one process migrates at a time (``schema``)
COMPRESSION = 74_221_002  # session: one compression run at a time, across every process
REPORT_DELIVERY = 74_221_003  # transaction: one sender of a period's report at a time

ALL = {"migrations": MIGRATIONS, "compression": COMPRESSION, "report delivery": REPORT_DELIVERY}


def hold_for_transaction(conn: psycopg.Connection[Any], lock: int) -> None:
    """Wait for ``lock`` and hold it until the transaction ``conn`` is in ends."""
    # bigint, as pg_catalog has it: an int4 argument would let a pg_advisory_xact_lock(integer)
    # in a schema on the search_path match more exactly (schema.init pins that path too)
    conn.execute("SELECT pg_advisory_xact_lock(%s::bigint)", [lock])
