"""``deleton api``: a connection pool, the shared fleet view and the app, served by uvicorn:
on a thread of its own (inside ``deleton up``, or alone), or as ``--workers`` processes, each
with its own pool and view, when one process's interpreter is the limit."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import uvicorn
from fastapi import FastAPI

from .. import logs
from ..errors import TransientError
from ..postgres.connection import migrated, open_database
from ..runtime import Phase, Runtime, favour_latency, run_until_signal
from ..settings import Settings, load_settings
from .app import create_app, with_closing
from .data import ApiData

log = logging.getLogger(__name__)

POOL_SIZE = 8  # PostgreSQL on a small machine answers best to a few busy connections
POOL_WAIT = 5.0  # seconds a request waits for a connection before it is told 503
START_WAIT = 10.0  # seconds to wait for the server to listen
UVICORN: dict[str, Any] = {
    "log_config": None,  # our logging, configured once by the CLI
    "access_log": False,
    "server_header": False,
    # uvicorn believes X-Forwarded-For from 127.0.0.1 by default: anyone on the API's host
    # would write the audit's client address. Which proxies to believe is ours to say
    # (access.client_address, DELETON_TRUSTED_PROXIES).
    "proxy_headers": False,
    "timeout_graceful_shutdown": 5,
}


def _served(settings: Settings) -> tuple[FastAPI, Callable[[], None]]:
    """The app over a pool of the API's own login, with its first view of the fleet; and how
    to close them (the view first: it reads the pool)."""
    config = settings.api()
    database = open_database(settings.database("api"))
    pool = database.pool("api", 2, POOL_SIZE, POOL_WAIT)
    idle, limit = settings.riding().idle_timeout_us, config.rate_limit
    data = ApiData.over(pool.connection, config.key, config.zone, idle, rate_limit=limit,
                        proxy_hops=config.proxy_hops, reading_window=database.reading_window,
                        leaderboard_zone=config.leaderboard_zone)  # fmt: skip

    def close() -> None:
        data.today.close()
        data.fleet.close()
        pool.close()

    try:
        data.fleet.get()  # the first view is built while we wait; later ones beside requests
    except TransientError as exc:
        log.warning("the fleet is not read yet: %s", exc)
    return create_app(data), close


def start(runtime: Runtime, settings: Settings, port: int | None = None) -> str:
    """The API, served on a thread of its own until ``runtime`` stops it: it stops accepting,
    answers what it was asked (for up to ``timeout_graceful_shutdown`` seconds), then its view
    and pool close. Its address."""
    config = settings.api()
    favour_latency()
    app, close = _served(settings)
    runtime.on_stop(Phase.RESOURCES, "the API's pool", close)
    port = port or config.port
    server = uvicorn.Server(
        uvicorn.Config(app, host=config.host, port=port, lifespan="off", **UVICORN)
    )
    thread = threading.Thread(target=server.run, name="api", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_WAIT
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    if not server.started:
        raise TransientError(f"the API could not listen on {config.host}:{port}")

    def stop_accepting() -> None:
        server.should_exit = True  # uvicorn closes its sockets, then waits for its requests

    runtime.on_stop(Phase.ACCEPTING, "the API", stop_accepting)
    drained = UVICORN["timeout_graceful_shutdown"] + START_WAIT
    runtime.on_stop(Phase.IN_FLIGHT, "the API's requests", lambda: thread.join(drained))
    return f"http://{config.host}:{port}/"


def worker_app() -> FastAPI:
    """The app of one ``--workers`` process, which uvicorn starts afresh: settings from the
    environment, as the parent's were, and a pool of its own closed as the worker stops."""
    settings = load_settings()
    logs.configure(settings.log_level)
    app, close = _served(settings)
    return with_closing(app, close)


def api(settings: Settings, port: int | None, workers: int | None = None) -> int:
    """Serve the API alone, over the configured database, until a signal."""
    migrated(settings.database("api"))
    config = settings.api()
    port = port or config.port
    workers = workers or config.workers
    address = f"http://{config.host}:{port}/"
    keyed = ("keys from `deleton api-key` and DELETON_API_KEY" if config.key
             else "keys from `deleton api-key`")  # fmt: skip
    print(f"Deleton API on {address}  (docs: {address}docs; {keyed}; {workers} process"
          f"{'es' if workers > 1 else ''}; Ctrl-C stops it)", flush=True)  # fmt: skip
    if workers > 1:
        # uvicorn's supervisor starts the workers, restarts one that dies, and passes SIGTERM
        worker = f"{__name__}:worker_app"
        uvicorn.run(worker, host=config.host, port=port, factory=True, workers=workers, **UVICORN)
        return 0
    run_until_signal(lambda runtime: start(runtime, settings, port))
    return 0
