"""Where the API's answers come from: a connection pool, the shared view of the fleet, the
keys and their rate limit, the time zone of ``/daily`` and the clock. Built once by
``command`` and handed to every route as a dependency, so that tests can build it over
anything."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, NamedTuple, TypeVar
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from pydantic import SecretStr

from ..cached import SharedView
from ..core.fleet_status import FleetStatus
from ..core.leaderboard import Board
from ..postgres import access, queries
from ..postgres.connection import Connect, run_query
from ..postgres.figures import WINDOW
from ..postgres.recent import shared_today
from .access import ERASE, READ, Caller, Keys, RateLimit, admit, identify

T = TypeVar("T")


@dataclass
class RenderedPages:
    """``/bikes`` pages as JSON, of one view of the fleet (cleared when the view changes)."""

    view: FleetStatus | None = None
    rendered: dict[tuple[Any, ...], bytes] = field(default_factory=dict)


@dataclass
class ApiData:
    connect: Connect
    fleet: SharedView[FleetStatus]
    keys: Keys
    limit: RateLimit
    zone: ZoneInfo
    today: SharedView[Board]  # today's leaderboard: the calendar day in day_zone
    day_zone: ZoneInfo  # the report's
    wall: Callable[[], float] = field(default=time.time)
    pages: RenderedPages = field(default_factory=RenderedPages)
    # how long before its start a ride's readings may lie (Database.reading_window)
    reading_window: dt.timedelta = WINDOW
    proxy_hops: int = 0  # proxies whose X-Forwarded-For hop names the client (the audit's)

    @classmethod
    def over(
        cls,
        connect: Connect,
        key: SecretStr | None,
        zone: str,
        idle_timeout_us: int,
        wall: Callable[[], float] = time.time,
        rate_limit: float = 20.0,
        proxy_hops: int = 0,
        reading_window: dt.timedelta = WINDOW,
        leaderboard_zone: str | None = None,
    ) -> ApiData:
        """Over the pool ``connect``, with ``key`` as the bootstrap key (every scope),
        ``rate_limit`` requests a second per key, clients' addresses taken behind
        ``proxy_hops`` proxies (``access.client_address``), ``reading_window`` as the
        database's, and today's leaderboard over the day in ``leaderboard_zone`` (None:
        ``zone``)."""
        fleet = queries.shared_fleet(connect, idle_timeout_us, wall)
        day_zone = ZoneInfo(leaderboard_zone or zone)
        today = shared_today(connect, day_zone, wall, reading_window)

        def lookup(sha256: bytes) -> Caller | None:
            found = run_query(connect, "an API key", lambda conn: access.key_scopes(conn, sha256))
            return None if found is None else Caller(found[0], frozenset(found[1]))

        return cls(
            connect,
            fleet,
            Keys(key, lookup),
            RateLimit(rate_limit),
            ZoneInfo(zone),
            today,
            day_zone,
            wall,
            reading_window=reading_window,
            proxy_hops=proxy_hops,
        )

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.wall(), dt.UTC)

    def read(self, what: str, query: Callable[[queries.Connection], T]) -> T:
        """``query`` on a pooled connection; the database away is a ``TransientError``."""
        return run_query(self.connect, what, query)


class Granted(NamedTuple):
    """What a keyed route is given: where its answers come from, and who asks."""

    data: ApiData
    caller: Caller


def _granting(scope: str) -> Callable[[Request], Granted]:
    def grant(request: Request) -> Granted:
        return Granted(request.app.state.data, admit(identify(request), scope))

    return grant


def _asking(request: Request) -> tuple[ApiData, Caller | None]:
    return request.app.state.data, identify(request)


# The dependencies of the routes: the data, with a caller holding the scope (401, 403, 429
# otherwise), or with whoever asks (``None``: no key). Plain functions, which FastAPI runs on
# a worker thread, as it did the data alone before keys: the key costs a few microseconds
# there. (Async, the fleet's /bikes answered 1.8 times as many requests a second on this
# machine, but 200 connections in a closed loop then saw p99 latencies of seconds: a change
# for the Scale issue to weigh, not for the keys.)
Read = Annotated[Granted, Depends(_granting(READ))]
Erase = Annotated[Granted, Depends(_granting(ERASE))]
Asking = Annotated[tuple[ApiData, Caller | None], Depends(_asking)]
