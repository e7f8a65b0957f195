"""``deleton dashboard``: a connection pool, the shared views, who may come in, and the app
served on its own threads until stopped."""

from __future__ import annotations

import logging

from ..credentials import keys
from ..errors import TransientError
from ..postgres.connection import Connect, migrated, open_database
from ..runtime import Phase, Runtime, favour_latency, run_until_signal
from ..settings import Settings
from .alb import AlbIdentity
from .app import create_app
from .gate import Gate
from .serving import Server
from .views import DashboardData

log = logging.getLogger(__name__)


def gate_for(settings: Settings, connect: Connect) -> tuple[Gate, AlbIdentity | None]:
    """Who may come in: the secrets (configured, or kept in ``DELETON_HOME`` by ``deleton
    up``), and the load balancer whose identity header stands in for signing in."""
    config = settings.access()
    session_secret = keys.required_secret(
        config.session_secret, config.home, keys.SESSION, "DELETON_SESSION_SECRET"
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
    return Gate(config, session_secret, screen_secret, connect, pepper, recheck=config.recheck), alb


def start(runtime: Runtime, settings: Settings, port: int | None = None) -> str:
    """The dashboard, served on threads of its own until ``runtime`` stops it: it stops
    accepting, answers what it was asked, then its views and pool close. Its address."""
    config = settings.dashboard()
    favour_latency()
    # a screen waits at most config.db_wait (5 s) for a connection, then says why it cannot
    # update
    database = open_database(settings.database("reader"))
    pool = database.pool("dashboard", 1, 8, config.db_wait)
    runtime.on_stop(Phase.RESOURCES, "the dashboard's pool", pool.close)
    gate, alb = gate_for(settings, pool.connection)
    data = DashboardData.over(
        pool.connection,
        settings.riding().idle_timeout_us,
        reading_window=database.reading_window,
        day_zone=config.day_zone,
    )
    runtime.on_stop(Phase.RESOURCES, "the dashboard's views", data.close)  # before the pool
    data.warm()
    port = port or config.port
    try:
        server = Server(create_app(data, gate, alb).server, config.host, port).start()
    except OSError as exc:
        raise TransientError(f"the dashboard could not listen on {config.host}:{port}: "
                             f"{exc.strerror}") from None  # fmt: skip
    runtime.on_stop(Phase.ACCEPTING, "the dashboard", server.stop_accepting)
    runtime.on_stop(Phase.IN_FLIGHT, "the dashboard's requests", server.drain)
    return f"http://{config.host}:{server.port}/"


def dashboard(settings: Settings, port: int | None) -> int:
    """Serve the dashboard alone, over the configured database, until a signal."""
    migrated(settings.database("reader"))

    def begin(runtime: Runtime) -> None:
        address = start(runtime, settings, port)
        print(f"Deleton dashboard on {address}  (Ctrl-C stops it)", flush=True)

    run_until_signal(begin)
    return 0
