"""``deleton dashboard``: a connection pool, the shared snapshots, and the app served on its own
threads until stopped."""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..lifecycle import stop_on_signals
from ..postgres.connection import migrated, open_database
from ..settings import Settings
from .app import create_app, serve
from .views import DashboardData


def start(settings: Settings, port: int | None = None) -> tuple[Callable[[], None], str]:
    """The dashboard, served on a thread of its own; returns how to stop it, and its address."""
    config = settings.dashboard()
    # a screen waits at most 5 s for a connection, then says why it cannot update
    pool = open_database(settings.database("reader")).pool("dashboard", 1, 8, 5.0)
    data = DashboardData.over(pool.connection, config.idle_timeout_us)
    data.warm()
    app = create_app(data)
    stop = threading.Event()
    port = port or config.port
    thread = threading.Thread(
        target=serve, args=(app, config.host, port, stop), name="dashboard", daemon=True
    )
    thread.start()

    def close() -> None:
        stop.set()
        thread.join(timeout=5)
        pool.close()

    return close, f"http://{config.host}:{port}/"


def dashboard(settings: Settings, port: int | None) -> int:
    """Serve the dashboard alone, over the configured database, until a signal."""
    migrated(settings.database("reader"))
    done = threading.Event()
    stop_on_signals(done.set)
    close, address = start(settings, port)
    print(f"Deleton dashboard on {address}  (Ctrl-C stops it)", flush=True)
    try:
        done.wait()
    finally:
        close()
    return 0
