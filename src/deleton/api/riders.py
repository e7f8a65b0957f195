"""Riders: who they are and what they have done, with scope ``read``; their email, address and
birth date too with ``personal`` (audited); and their erasure with ``erase`` (audited)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, Response

from ..core.periods import day_of
from ..postgres import access
from ..postgres import rides as rides_db
from .access import KEYED, PERSONAL, audit_entry
from .data import Erase, Read
from .models import Address, Contact, Problem, RideLink, RideList, Rider
from .rides import (
    BAD_REQUEST,
    PRIVATE,
    REFUSALS,
    UNAVAILABLE,
    Limit,
    Offset,
    Responses,
    next_offset,
    ride_model,
)

router = APIRouter(tags=["riders"])

UserId = Annotated[
    int,
    Path(
        ge=-(2**63),
        le=2**63 - 1,
        description="the rider's user id",
        openapi_examples={"a rider": {"value": 1}},
    ),
]
NOT_FOUND: Responses = {404: {"model": Problem, "description": "no such rider"}}


@router.get(
    "/rider/{user_id}",
    responses={**NOT_FOUND, **BAD_REQUEST, **REFUSALS, **UNAVAILABLE},
    openapi_extra=KEYED,
)
def get_rider(user_id: UserId, granted: Read, request: Request, response: Response) -> Rider:
    """A rider with their figures over every ride kept. Scope ``read``; with ``personal``,
    also their email, address and date of birth, and the request is audited."""
    data, caller = granted
    contact = PERSONAL in caller.scopes
    today = day_of(data.now(), data.zone)  # riders' ages are as of this day

    def read(conn: rides_db.Connection) -> rides_db.RiderRecord | None:
        if not contact:
            return rides_db.rider(conn, user_id, today)
        with conn.transaction():  # shown only if recorded as shown
            record = rides_db.rider(conn, user_id, today, contact=True)
            access.audit(
                conn, audit_entry(request, caller, 200 if record else 404, user_id=user_id)
            )
        return record

    record = data.read(f"rider {user_id}", read)
    if record is None:
        raise HTTPException(404, f"no rider {user_id}")
    response.headers.update(PRIVATE)
    private = None
    if record.contact is not None:
        c = record.contact
        private = Contact(
            email=c.email,
            address=Address(house=c.house, street=c.street, city=c.city, postcode=c.postcode),
            date_of_birth=c.date_of_birth,
        )
    return Rider(
        user_id=record.user_id,
        title=record.title,
        first_name=record.first_name,
        last_name=record.last_name,
        gender=record.gender,
        age=record.age,
        rides=record.rides,
        heart_rate_avg=record.heart_rate_avg,
        energy_kj=record.energy_kj,
        first_ride=_link(record.first_ride),
        latest_ride=_link(record.latest_ride),
        contact=private,
    )


ERASURE_STATUS = {
    rides_db.Erasure.ERASED: 204,
    rides_db.Erasure.UNKNOWN: 404,
    rides_db.Erasure.RIDING: 409,
}


@router.delete(
    "/rider/{user_id}",
    status_code=204,
    responses={
        204: {"description": "erased: the rider's identity and contact details are gone"},
        409: {"model": Problem, "description": "the rider is riding now"},
        **NOT_FOUND,
        **BAD_REQUEST,
        **REFUSALS,
        **UNAVAILABLE,
    },
    openapi_extra=KEYED,
)
def erase_rider(user_id: UserId, granted: Erase, request: Request) -> Response:
    """Erase a rider: their name, title, email, address, birth date and account details
    leave every table of both schemas, with any refused line that carries them. Their rides
    stay as anonymous figures under a tombstone id, with gender and age band at the ride, so
    the report's totals do not change. Scope ``erase``; audited. Refused while they ride."""

    def erase(conn: rides_db.Connection) -> rides_db.Erasure:
        with conn.transaction():
            # the bands an erased rider's ages are cut to are the database's (migration 0015)
            outcome = rides_db.erase_rider(conn, user_id)
            status = ERASURE_STATUS[outcome]
            access.audit(conn, audit_entry(request, granted.caller, status, user_id=user_id))
        return outcome

    outcome = granted.data.read(f"rider {user_id}", erase)
    if outcome is rides_db.Erasure.UNKNOWN:
        raise HTTPException(404, f"no rider {user_id}")
    if outcome is rides_db.Erasure.RIDING:
        raise HTTPException(409, f"rider {user_id} is riding; erase them once the ride ends")
    return Response(status_code=204)


def _link(ride: tuple[int, dt.datetime] | None) -> RideLink | None:
    return None if ride is None else RideLink(ride_id=ride[0], started_at=ride[1])


@router.get(
    "/rider/{user_id}/rides",
    responses={**NOT_FOUND, **BAD_REQUEST, **REFUSALS, **UNAVAILABLE},
    openapi_extra=KEYED,
)
def rider_rides(
    user_id: UserId,
    granted: Read,
    response: Response,
    limit: Limit = 20,
    offset: Offset = 0,
) -> RideList:
    """A rider's rides, newest first. Scope ``read``."""
    response.headers.update(PRIVATE)

    def read(conn: rides_db.Connection) -> list[rides_db.RideRecord] | None:
        if not rides_db.rider_exists(conn, user_id):
            return None
        return rides_db.rider_rides(conn, user_id, limit, offset)

    records = granted.data.read(f"rides of rider {user_id}", read)
    if records is None:
        raise HTTPException(404, f"no rider {user_id}")
    return RideList(
        limit=limit,
        offset=offset,
        next_offset=next_offset(len(records), limit, offset),
        rides=[ride_model(record) for record in records],
    )
