"""Riders: who they are and what they have done; their personal data only with the key."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Response

from ..postgres import rides as store
from .access import HEADER, GivenKey, holds_key
from .data import Data
from .models import Address, Contact, Problem, RideLink, RideList, Rider
from .rides import BAD_REQUEST, UNAVAILABLE, Limit, Offset, Responses, next_offset, ride_model

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
WRONG_KEY: Responses = {401: {"model": Problem, "description": "a key that is not the API key"}}
# Answers differ by key: no shared cache may keep one, nor give it to another caller.
PRIVATE = {"Cache-Control": "private, no-store", "Vary": HEADER}


@router.get(
    "/rider/{user_id}",
    responses={**NOT_FOUND, **WRONG_KEY, **BAD_REQUEST, **UNAVAILABLE},
    # the key is optional here: FastAPI's entry and this one, none at all, are either-or
    openapi_extra={"security": [{}]},
)
def get_rider(user_id: UserId, data: Data, key: GivenKey, response: Response) -> Rider:
    """A rider with their figures over every ride kept; with the API key, also their email,
    address and date of birth."""
    contact = holds_key(data.key, key)
    today = data.now().astimezone(data.zone).date()
    record = data.read(f"rider {user_id}", lambda conn: store.rider(conn, user_id, today, contact))
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


def _link(ride: tuple[int, dt.datetime] | None) -> RideLink | None:
    return None if ride is None else RideLink(ride_id=ride[0], started_at=ride[1])


@router.get("/rider/{user_id}/rides", responses={**NOT_FOUND, **BAD_REQUEST, **UNAVAILABLE})
def rider_rides(user_id: UserId, data: Data, limit: Limit = 20, offset: Offset = 0) -> RideList:
    """A rider's rides, newest first."""

    def read(conn: store.Connection) -> list[store.RideRecord] | None:
        if not store.rider_exists(conn, user_id):
            return None
        return store.rider_rides(conn, user_id, limit, offset)

    records = data.read(f"rides of rider {user_id}", read)
    if records is None:
        raise HTTPException(404, f"no rider {user_id}")
    return RideList(
        limit=limit,
        offset=offset,
        next_offset=next_offset(len(records), limit, offset),
        rides=[ride_model(record) for record in records],
    )
