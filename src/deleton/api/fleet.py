"""The fleet right now (scope ``read``), and the API's own health: to anyone, whether it can
serve; to a key, also how fresh the data is and where ingestion stands."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi import Response as Reply
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ..core import bike_health
from ..core.fleet_status import SORT_KEYS, FleetStatus
from ..errors import TransientError
from ..postgres import health as health_db
from ..postgres import rides as rides_db
from ..postgres.connection import reachable
from .access import KEY_OPTIONAL, KEYED
from .data import Asking, Read
from .models import (
    MAX_BIKES_PAGE,
    MAX_OFFSET,
    Bike,
    BikeFinding,
    BikeHealth,
    Fleet,
    Health,
    PartitionLag,
)
from .rides import BAD_REQUEST, PRIVATE, REFUSALS, UNAVAILABLE

router = APIRouter(tags=["fleet"])
MAX_RENDERED = 64  # pages of one view kept rendered: the usual few, not every offset asked

Sort = Literal["zone", "duration", "heart_rate", "hr_zone", "effort_points", "bike", "rider"]
assert set(Sort.__args__) == set(SORT_KEYS)  # type: ignore[attr-defined]  # the core's orders


@router.get(
    "/bikes",
    response_model=Fleet,
    responses={**BAD_REQUEST, **REFUSALS, **UNAVAILABLE},
    openapi_extra=KEYED,
)
async def bikes(
    granted: Read,
    sort: Annotated[Sort, Query(description="zone: most urgent first")] = "zone",
    descending: bool = True,
    limit: Annotated[int, Query(ge=1, le=MAX_BIKES_PAGE)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Response:
    """The bikes riding now, each with its rider's first name, ride time, latest heart rate,
    zone, training zone and effort points so far: the dashboard's fleet page, from the same
    shared view (at most half a second old while the database answers). Scope ``read``."""
    # Served on the event loop from the shared view: a page is rendered once per view and
    # order, however many ask, and only the very first view is waited for on a thread.
    data = granted.data
    fleet = data.fleet.get() if data.fleet.ready() else await run_in_threadpool(data.fleet.get)
    key = (sort, descending, limit, offset)
    pages = data.pages
    if pages.view is not fleet:
        pages.view, pages.rendered = fleet, {}
    body = pages.rendered.get(key)
    if body is None:
        body = _render(fleet, sort, descending, limit, offset)
        if len(pages.rendered) < MAX_RENDERED:  # odd pages are rendered, not all kept
            pages.rendered[key] = body
    return Response(body, media_type="application/json", headers=PRIVATE)


def _render(fleet: FleetStatus, sort: str, descending: bool, limit: int, offset: int) -> bytes:
    ordered = fleet.ordered(sort, descending)
    page = ordered[offset : offset + limit]
    return (
        Fleet(
            as_of=dt.datetime.fromtimestamp(fleet.now / 1_000_000, dt.UTC),
            riding=fleet.riding,
            alerting=fleet.counts,
            limit=limit,
            offset=offset,
            next_offset=offset + limit if offset + limit < len(ordered) else None,
            bikes=[
                Bike(
                    bike_serial=bike.serial,
                    rider=bike.rider,
                    ride_id=bike.ride_id,
                    ride_seconds=round(bike.seconds, 1),
                    heart_rate=bike.heart_rate,
                    zone=bike.zone,
                    hr_zone=bike.hr_zone,
                    effort_points=bike.effort_points,
                )
                for bike in page
            ],
        )
        .model_dump_json()
        .encode()
    )


Kind = Literal["silent", "resistance_stuck", "cadence_stuck", "heart_strap", "power_drift",
               "offline"]  # fmt: skip
assert Kind.__args__ == bike_health.KINDS  # type: ignore[attr-defined]  # the core's kinds


@router.get(
    "/bikes/health",
    response_model=list[BikeHealth],
    responses={**BAD_REQUEST, **REFUSALS, **UNAVAILABLE},
    openapi_extra=KEYED,
)
def bikes_health(
    granted: Read,
    response: Reply,
    kind: Annotated[Kind | None, Query(description="only findings of this kind")] = None,
) -> list[BikeHealth]:
    """The bikes with open findings of compression's health checks (of ``kind``, or any), by
    serial, each with those findings: kind, first and last seen, and the evidence. A bike with
    none is not listed. Scope ``read``."""
    response.headers.update(PRIVATE)
    found = granted.data.read("bike health", lambda conn: health_db.flagged(conn, kind))
    return [
        BikeHealth(
            bike_serial=bike.bike_serial,
            findings=[
                BikeFinding(kind=kind_, first_seen=first, last_seen=last, detail=detail)
                for kind_, first, last, detail in bike.findings
            ],
        )
        for bike in found
    ]


@router.get(
    "/health",
    response_model=Health,
    response_model_exclude_unset=True,
    responses={
        401: REFUSALS[401],
        429: REFUSALS[429],
        503: {"model": Health, "description": "the database is not answering"},
    },
    openapi_extra=KEY_OPTIONAL,
)
def health(asking: Asking) -> Response:
    """Whether the database answers (503 when it does not). With a key, also the age of the
    newest reading and each ingest partition's position with the time since it last
    committed; without one, the status alone."""
    data, caller = asking
    if caller is None:
        try:
            data.read("health", reachable)
        except TransientError:
            return _health(Health(status="unavailable", database="unreachable"), 503)
        return _health(Health(status="ok", database="reachable"))
    now = data.now()
    try:
        partitions, ended = data.read(
            "health", lambda conn: (rides_db.ingestion(conn), rides_db.newest_ride_end(conn))
        )
    except TransientError:
        down = Health(status="unavailable", database="unreachable", newest_reading_age_s=None,
                      ingestion=[])  # fmt: skip
        return _health(down, 503)
    newest = ended.timestamp() if ended is not None else None
    try:
        fleet = data.fleet.get()
    except TransientError:
        fleet = None
    if fleet is not None and len(fleet.rides):
        seen = int(fleet.rides.last_seen().max()) / 1_000_000
        newest = max(newest or seen, seen)
    return _health(
        Health(
            status="ok",
            database="reachable",
            newest_reading_age_s=None if newest is None else round(now.timestamp() - newest, 3),
            ingestion=[
                PartitionLag(
                    source=p.source,
                    partition=p.partition,
                    next_position=p.next_position,
                    seconds_since_commit=round((now - p.committed_at).total_seconds(), 3),
                )
                for p in partitions
            ],
        )
    )


def _health(health: Health, status: int = 200) -> Response:
    """Only the fields set: a caller without a key is told the status alone."""
    return Response(
        health.model_dump_json(exclude_unset=True), status_code=status,
        media_type="application/json", headers={"Cache-Control": "no-store"},
    )  # fmt: skip
