"""Rides: one by id, its deletion, and the rides of a calendar day. Reading needs a key with
the ``read`` scope, deleting one with ``erase`` (and is audited)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response

from ..core.periods import day_bounds, day_of
from ..postgres import access
from ..postgres import rides as rides_db
from .access import HEADER, KEYED, audit_entry
from .data import Erase, Read
from .models import MAX_OFFSET, MAX_PAGE, DailyRides, Problem, Ride, RiderName

router = APIRouter(tags=["rides"])

BIGINT = 2**63 - 1
RideId = Annotated[
    int,
    Path(ge=1, le=BIGINT, description="the ride's id", openapi_examples={"a ride": {"value": 1}}),
]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"at most {MAX_PAGE}")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="items to skip")]
Responses = dict[int | str, dict[str, Any]]  # FastAPI's ``responses``: documented answers
NOT_FOUND: Responses = {404: {"model": Problem, "description": "no such ride"}}
BAD_REQUEST: Responses = {400: {"model": Problem, "description": "a parameter is malformed"}}
UNAVAILABLE: Responses = {503: {"model": Problem, "description": "the database is not answering"}}
# Every route that takes a key: what a missing, unknown, short-scoped or too busy key gets.
REFUSALS: Responses = {
    401: {"model": Problem, "description": f"no {HEADER} header, or not a live key"},
    403: {"model": Problem, "description": "the key lacks the scope this needs"},
    429: {
        "model": Problem,
        "description": "too many requests a second with this key",
        "headers": {
            "Retry-After": {"description": "seconds to wait", "schema": {"type": "string"}}
        },
    },
}
# Answers differ by key: no shared cache may keep one, nor give it to another caller.
PRIVATE = {"Cache-Control": "private, no-store", "Vary": HEADER}
# Either order of day and month, as the original API took DD-MM-YYYY and ISO is what all else
# speaks; anything else is refused, not guessed at. ASCII digits only: ``\d`` would take
# Arabic-Indic ones too, and ``int`` would read them.
_DAY_FIRST = re.compile(r"([0-9]{2})-([0-9]{2})-([0-9]{4})")
_ISO = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
DATE_SHAPE = f"^(?:{_DAY_FIRST.pattern}|{_ISO.pattern})$"  # the two, as documented
FIRST_DAY, LAST_DAY = dt.date(1970, 1, 1), dt.date(9998, 12, 31)


# the figures a ride shows: those of the model (sums stay behind, for figures over many rides)
FIGURES_SHOWN = frozenset(Ride.model_fields)


def ride_model(record: rides_db.RideRecord) -> Ride:
    rider = None
    if record.user_id is not None and record.first_name is not None:
        rider = RiderName(
            user_id=record.user_id,
            first_name=record.first_name,
            last_name=record.last_name or "",
        )
    return Ride(
        ride_id=record.ride_id,
        bike_serial=record.bike_serial,
        rider=rider,
        started_at=record.started_at,
        ended_at=record.ended_at,
        in_progress=record.ended_at is None,
        **{name: value for name, value in record.figures.items() if name in FIGURES_SHOWN},
    )


def next_offset(count: int, limit: int, offset: int) -> int | None:
    """The next page's offset when this page came back full (it may be empty)."""
    return offset + limit if count == limit else None


@router.get(
    "/ride/{ride_id}",
    response_model=Ride,
    responses={**NOT_FOUND, **BAD_REQUEST, **REFUSALS, **UNAVAILABLE},
    openapi_extra=KEYED,
)
def get_ride(ride_id: RideId, granted: Read) -> Response:
    """A ride with its bike, rider, start, end and figures, whether ended or in progress.
    Scope ``read``."""
    data = granted.data
    record = data.read(
        f"ride {ride_id}", lambda conn: rides_db.ride(conn, ride_id, data.reading_window)
    )
    if record is None:
        raise HTTPException(404, f"no ride {ride_id}")
    # built by the model, so it is what the document says; not validated a second time
    return Response(
        ride_model(record).model_dump_json(), media_type="application/json", headers=PRIVATE
    )


DELETION_STATUS = {
    rides_db.Deletion.DELETED: 204,
    rides_db.Deletion.NOT_FOUND: 404,
    rides_db.Deletion.IN_PROGRESS: 409,
}


@router.delete(
    "/ride/{ride_id}",
    status_code=204,
    responses={
        204: {"description": "deleted: readings, alerts and summary, from both schemas"},
        409: {"model": Problem, "description": "the ride is in progress"},
        **NOT_FOUND,
        **BAD_REQUEST,
        **REFUSALS,
        **UNAVAILABLE,
    },
    openapi_extra=KEYED,
)
def delete_ride(ride_id: RideId, granted: Erase, request: Request) -> Response:
    """Delete a ride everywhere it is kept, readings of any time included, in one transaction.
    Scope ``erase``; audited. A ride in progress cannot be deleted until it ends."""

    def delete(conn: rides_db.Connection) -> rides_db.Deletion:
        with conn.transaction():
            outcome = rides_db.delete_ride(conn, ride_id)
            status = DELETION_STATUS[outcome]
            access.audit(conn, audit_entry(request, granted.caller, status, ride_id=ride_id))
        return outcome

    outcome = granted.data.read(f"ride {ride_id}", delete)
    if outcome is rides_db.Deletion.NOT_FOUND:
        raise HTTPException(404, f"no ride {ride_id}")
    if outcome is rides_db.Deletion.IN_PROGRESS:
        raise HTTPException(409, f"ride {ride_id} is in progress; delete it once it has ended")
    return Response(status_code=204)


def parse_day(text: str) -> dt.date:
    """``DD-MM-YYYY`` or ``YYYY-MM-DD``; a 400 naming both for anything else."""
    try:
        if match := _DAY_FIRST.fullmatch(text):
            day, month, year = (int(part) for part in match.groups())
        elif match := _ISO.fullmatch(text):
            year, month, day = (int(part) for part in match.groups())
        else:
            raise ValueError
        date = dt.date(year, month, day)
    except ValueError:
        raise HTTPException(400, "date: expected DD-MM-YYYY or YYYY-MM-DD") from None
    if not FIRST_DAY <= date <= LAST_DAY:
        raise HTTPException(400, f"date: must be between {FIRST_DAY} and {LAST_DAY}")
    return date


@router.get("/daily", responses={**BAD_REQUEST, **REFUSALS, **UNAVAILABLE}, openapi_extra=KEYED)
def daily(
    granted: Read,
    response: Response,
    date: Annotated[
        str | None,
        Query(
            description="DD-MM-YYYY or YYYY-MM-DD; default: today",
            openapi_examples={"ISO": {"value": "2026-11-28"}, "day first": {"value": "28-11-2026"}},
            pattern=DATE_SHAPE,
        ),
    ] = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> DailyRides:
    """The rides that started on a calendar day in the API's time zone (midnight to midnight
    there: 23 or 25 hours when the clocks change), oldest first. Scope ``read``."""
    response.headers.update(PRIVATE)
    data = granted.data
    day = parse_day(date) if date is not None else day_of(data.now(), data.zone)
    start, end = day_bounds(day, data.zone)
    records = data.read(
        f"rides of {day}", lambda conn: rides_db.rides_started(conn, start, end, limit, offset)
    )
    return DailyRides(
        date=day,
        zone=data.zone.key,
        limit=limit,
        offset=offset,
        next_offset=next_offset(len(records), limit, offset),
        rides=[ride_model(record) for record in records],
    )
