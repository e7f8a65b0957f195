"""``deleton api``: a connection pool, the shared fleet view and the app, served by uvicorn
on a thread of its own until stopped (alone, or inside ``deleton up``)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import uvicorn
from psycopg_pool import ConnectionPool

from ..errors import TransientError
from ..lifecycle import stop_on_signals
from ..postgres.connection import migrated, open_database
from ..settings import Settings
from .app import create_app
from .data import ApiData

log = logging.getLogger(__name__)

POOL_SIZE = 8  # PostgreSQL on a small machine answers best to a few busy connections
POOL_WAIT = 5.0  # seconds a request waits for a connection before it is told 503
START_WAIT = 10.0  # seconds to wait for the server to listen


def start(settings: Settings, port: int | None = None) -> tuple[Callable[[], None], str]:
    """The API, served on a thread of its own; returns how to stop it, and its address."""
    config = settings.api()
    database = open_database(settings.database("api"))
    pool = ConnectionPool(
        database.url,
        min_size=2,
        max_size=POOL_SIZE,
        kwargs={**database.options, "autocommit": True},
        name="api",
        open=True,
        timeout=POOL_WAIT,
    )
    data = ApiData.over(pool.connection, config.key, config.zone, config.idle_timeout_us)
    try:
        data.fleet.get()  # the first view is built while we wait; later ones beside requests
    except TransientError as exc:
        log.warning("the fleet is not read yet: %s", exc)
    port = port or config.port
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(data),
            host=config.host,
            port=port,
            log_config=None,  # our logging, configured once by the CLI
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=5,
            lifespan="off",
        )
    )
    thread = threading.Thread(target=server.run, name="api", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_WAIT
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    if not server.started:
        pool.close()
        raise TransientError(f"the API could not listen on {config.host}:{port}")

    def close() -> None:
        server.should_exit = True
        thread.join(timeout=10)
        pool.close()

    return close, f"http://{config.host}:{port}/"


def api(settings: Settings, port: int | None) -> int:
    """Serve the API alone, over the configured database, until a signal."""
    migrated(settings.database("api"))
    done = threading.Event()
    stop_on_signals(done.set)
    close, address = start(settings, port)
    keyed = "deletes and personal data with X-API-Key" if settings.api_key else "no key: read-only"
    print(f"Deleton API on {address}  (docs: {address}docs; {keyed}; Ctrl-C stops it)", flush=True)
    try:
        done.wait()
    finally:
        close()
    return 0
