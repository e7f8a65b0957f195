"""``deleton dashboard``: a connection pool, the shared snapshots, who may come in, and the app
served on its own threads until stopped."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ..credentials import keys
from ..errors import ConfigError
from ..lifecycle import stop_on_signals
from ..postgres.connection import Connect, migrated, open_database
from ..settings import Settings
from .alb import AlbIdentity
from .app import create_app, serve
from .gate import Gate
from .views import DashboardData

log = logging.getLogger(__name__)


def gate_for(settings: Settings, connect: Connect) -> tuple[Gate, AlbIdentity | None]:
    """Who may come in: the secrets (configured, or kept in ``DELETON_HOME`` by ``deleton
    up``), and the load balancer whose identity header stands in for signing in."""
    config = settings.access()
    session_secret = keys.stored_secret(config.session_secret, config.home, keys.SESSION)
    if session_secret is None:
        raise ConfigError(
            "DELETON_SESSION_SECRET is not set (and DELETON_HOME keeps none): set it to 32"
            " random characters or more, or run deleton up once to make one"
        )
    screen_secret = keys.stored_secret(config.screen_secret, config.home, keys.SCREEN)
    if screen_secret is None:
        log.warning("DELETON_SCREEN_SECRET is not set: screen links are refused")
    alb = None
    if config.alb_arn is not None and config.alb_keys is not None:
        alb = AlbIdentity(config.alb_arn, config.alb_keys, config.role_claim)
    pepper = None
    if alb is None:  # behind the load balancer, nobody signs in by password
        pepper = keys.stored_secret(config.password_pepper, config.home, keys.PEPPER)
        if pepper is None:
            log.warning("DELETON_PASSWORD_PEPPER is not set: passwords are off, links work")
    return Gate(config, session_secret, screen_secret, connect, pepper), alb


def start(settings: Settings, port: int | None = None) -> tuple[Callable[[], None], str]:
    """The dashboard, served on a thread of its own; returns how to stop it, and its address."""
    config = settings.dashboard()
    # a screen waits at most 5 s for a connection, then says why it cannot update
    database = open_database(settings.database("reader"))
    pool = database.pool("dashboard", 1, 8, 5.0)
    try:
        gate, alb = gate_for(settings, pool.connection)
    except ConfigError:
        pool.close()
        raise
    data = DashboardData.over(
        pool.connection, config.idle_timeout_us, reading_window=database.reading_window
    )
    data.warm()
    app = create_app(data, gate, alb)
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
