"""The ``deleton`` command: parses arguments, reads settings, configures logging once, and
dispatches to the command of the room that does the work. Nothing is wired here."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from . import logs
from .core.simulation import MAX_BIKES
from .errors import DeletonError
from .settings import Settings, load_settings

log = logging.getLogger(__name__)

# Each command runs with the parsed arguments and the settings; rooms are imported only when
# their command runs, so that ``deleton parse`` need not load Dash or librdkafka.
Command = Callable[[argparse.Namespace, Settings], int]


def _parse(args: argparse.Namespace, settings: Settings) -> int:
    from .ingest.command import parse

    return parse()


def _simulate(args: argparse.Namespace, settings: Settings) -> int:
    from .simulator.command import simulate

    if not 0 <= args.faulty <= args.bikes:
        print("deleton simulate: --faulty must be between 0 and --bikes", file=sys.stderr)
        return 2
    return simulate(
        settings,
        bikes=args.bikes,
        seed=args.seed,
        speed=None if args.fast else args.speed,
        duration=args.duration,
        start=args.start,
        to=args.to,
        partitions=args.partitions,
        workers=args.workers,
        faulty=args.faulty,
    )


def _db(args: argparse.Namespace, settings: Settings) -> int:
    from .admin.db import db

    return db(settings, args.action, args.yes)


def _compress(args: argparse.Namespace, settings: Settings) -> int:
    from .compress.command import command

    return command(settings, args.now, args.dry_run)


def _report(args: argparse.Namespace, settings: Settings) -> int:
    from .report.command import report

    day = dt.date.fromisoformat(args.date) if args.date else None
    return report(settings, day, Path(args.out) if args.out else None, args.send, args.force)


def _day(text: str) -> str:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a date, YYYY-MM-DD") from None
    return text


def _ingest(args: argparse.Namespace, settings: Settings) -> int:
    from .ingest.command import ingest

    return ingest(settings, Path(args.from_file) if args.from_file else None, args.metrics_port)


def _dashboard(args: argparse.Namespace, settings: Settings) -> int:
    from .dashboard.command import dashboard

    return dashboard(settings, args.port)


def _api(args: argparse.Namespace, settings: Settings) -> int:
    from .api.command import api

    return api(settings, args.port, args.workers)


def _api_key(args: argparse.Namespace, settings: Settings) -> int:
    from .api.keys import command

    return command(settings, args.action, getattr(args, "name", None),
                   getattr(args, "scope", None))  # fmt: skip


def _jobs(args: argparse.Namespace, settings: Settings) -> int:
    from .jobs import jobs

    return jobs(settings, args.metrics_port)


def _up(args: argparse.Namespace, settings: Settings) -> int:
    from .up import up

    if args.faulty < 0:
        print("deleton up: --faulty must be 0 or more", file=sys.stderr)
        return 2
    return up(settings, args.bikes, args.seed, args.speed, args.faulty)


# --- who may use the dashboard (README: Access) ---


def _users(args: argparse.Namespace, settings: Settings) -> int:
    from .access.command import users

    return users(
        settings,
        args.action,
        getattr(args, "name", None),
        getattr(args, "role", None),
        getattr(args, "password_stdin", False),
    )


def _login_link(args: argparse.Namespace, settings: Settings) -> int:
    from .access.command import login_link

    return login_link(settings, args.name)


def _screen_link(args: argparse.Namespace, settings: Settings) -> int:
    from .access.command import screen_link

    return screen_link(settings, args.serial, args.leaderboard, args.revoke)


def _add_access_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("users", help="dashboard accounts: add, password, remove, list")
    actions = p.add_subparsers(dest="action", required=True)
    a = actions.add_parser("add", help="a new account; without a password it signs in by link")
    a.add_argument("name")
    a.add_argument("--role", choices=("staff", "admin"), required=True)
    a.add_argument("--password-stdin", action="store_true", help="read its password from stdin")
    w = actions.add_parser(
        "password", help="a new password (or none: link only); the account's sessions end"
    )
    w.add_argument("name")
    w.add_argument("--password-stdin", action="store_true", help="read it from stdin")
    r = actions.add_parser("remove", help="remove an account; every session of its name ends")
    r.add_argument("name")
    actions.add_parser("list", help="every account, its role and how it signs in")
    p.set_defaults(func=_users)

    p = sub.add_parser("login-link", help="print a one-time sign-in link, valid for 10 minutes")
    p.add_argument("name")
    p.set_defaults(func=_login_link)

    p = sub.add_parser("screen-link", help="print the link of a bike's screen, or revoke it")
    p.add_argument("serial", nargs="?", help="the bike's serial (with --leaderboard: its name)")
    p.add_argument("--leaderboard", action="store_true", help="a gym's leaderboard screen")
    p.add_argument("--revoke", action="store_true", help="end every link of it made so far")
    p.set_defaults(func=_screen_link)


def _bikes(text: str) -> int:
    count = int(text)
    if not 1 <= count <= MAX_BIKES:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_BIKES:,}")
    return count


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deleton", description="Deleton's data platform")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("parse", help="parse JSON-lines messages on stdin into JSON records")
    p.set_defaults(func=_parse)

    p = sub.add_parser("simulate", help="run a simulated fleet of bikes")
    p.add_argument("--bikes", type=_bikes, default=10, help=f"1 to {MAX_BIKES:,} (default 10)")
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
    p.add_argument("--faulty", type=int, default=0, metavar="N",
                   help="N bikes carry one fault each, of the fleet-health kinds")  # fmt: skip
    p.set_defaults(func=_simulate)

    p = sub.add_parser("db", help="create or reset the database schemas")
    p.add_argument("action", choices=("init", "reset"))
    p.add_argument("--yes", action="store_true", help="reset without asking")
    p.set_defaults(func=_db)

    p = sub.add_parser("ingest", help="consume the topic into PostgreSQL until stopped")
    p.add_argument("--from-file", metavar="PATH", help="replay a JSON-lines dump and exit")
    p.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port")
    p.set_defaults(func=_ingest)

    p = sub.add_parser(
        "compress", help="summarise ended rides into historical and remove old detail"
    )
    p.add_argument("--now", help="judge as of this ISO-8601 time (default: now)")
    p.add_argument("--dry-run", action="store_true", help="say what would be done, do nothing")
    p.set_defaults(func=_compress)

    p = sub.add_parser("report", help="make the daily PDF report, and email it with --send")
    p.add_argument("--date", type=_day, help="that calendar day in DELETON_REPORT_TZ"
                   " (default: the 24 hours to now)")  # fmt: skip
    p.add_argument("--out", metavar="PATH", help="default: DELETON_HOME/reports/")
    p.add_argument("--send", action="store_true", help="email it to DELETON_REPORT_RECIPIENTS")
    p.add_argument("--force", action="store_true", help="send even if this period was sent")
    p.set_defaults(func=_report)

    p = sub.add_parser("dashboard", help="serve the live dashboard until stopped")
    p.add_argument("--port", type=int, help="default: DELETON_DASHBOARD_PORT or 8050")
    p.set_defaults(func=_dashboard)

    p = sub.add_parser("api", help="serve the REST API until stopped")
    p.add_argument("--port", type=int, help="default: DELETON_API_PORT or 8000")
    p.add_argument(
        "--workers",
        type=int,
        help="processes, each with its own pool (default: DELETON_API_WORKERS or 1)",
    )
    p.set_defaults(func=_api)

    p = sub.add_parser("api-key", help="make, list and revoke the API's keys")
    keys = p.add_subparsers(dest="action", required=True)
    k = keys.add_parser("create", help="print a new key once; only its hash is kept")
    k.add_argument("name", help="who holds it, e.g. reporting or crm-sync")
    k.add_argument("--scope", required=True, metavar="read[,personal][,erase]",
                   help="personal adds riders' contact details, erase the deletes;"
                   " both include read")  # fmt: skip
    keys.add_parser("list", help="every key, live and revoked, without the keys themselves")
    k = keys.add_parser("revoke", help="refuse a key from now on (within seconds)")
    k.add_argument("name")
    p.set_defaults(func=_api_key)

    p = sub.add_parser("jobs", help="run the scheduled compression and report until stopped")
    p.add_argument("--metrics-port", type=int,
                   help="serve compression's Prometheus metrics on this port")  # fmt: skip
    p.set_defaults(func=_jobs)

    p = sub.add_parser("up", help="run the whole platform on the embedded default")
    p.add_argument("--bikes", type=_bikes, default=20)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--speed", type=float, default=1.0, help="N times real time")
    p.add_argument("--faulty", type=int, default=3, metavar="N",
                   help="N bikes carry a fault, for the maintenance page to find")  # fmt: skip
    p.set_defaults(func=_up)

    _add_access_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except DeletonError as exc:
        print(f"deleton: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level)
    func: Command = args.func
    try:
        return func(args, settings)
    except KeyboardInterrupt:
        return 130
    except DeletonError as exc:
        log.error("%s", exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
