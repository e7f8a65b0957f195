"""The live leaderboard (scope ``read``): everyone riding now ranked by energy this ride, or
every rider ranked by energy over the rides they started today. Both come from shared views
rebuilt in the background (the fleet's, at most half a second old; today's, at most five
seconds), so a wall of screens costs the database what one does."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ..core import leaderboard
from ..postgres import queries
from .access import KEYED
from .data import ApiData, Read
from .models import MAX_OFFSET, MAX_PAGE, Leaderboard, Standing
from .rides import BAD_REQUEST, PRIVATE, REFUSALS, UNAVAILABLE

router = APIRouter(tags=["leaderboard"])

Period = Literal["now", "today"]
assert set(Period.__args__) == set(leaderboard.PERIODS)  # type: ignore[attr-defined]


@router.get(
    "/leaderboard",
    response_model=Leaderboard,
    responses={**BAD_REQUEST, **REFUSALS, **UNAVAILABLE},
    openapi_extra=KEYED,
)
async def get_leaderboard(
    granted: Read,
    period: Annotated[Period, Query(description="now: this ride; today: the day's rides")] = "now",
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"at most {MAX_PAGE}")] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="places to skip")] = 0,
) -> Response:
    """The leaderboard's page from ``offset``: places by energy, descending, ties sharing a
    place; riders not ranked (no rider known) after the ranked. Riders are named by first
    name and last initial. Scope ``read``."""
    data = granted.data
    if period == leaderboard.NOW:
        fleet = data.fleet.get() if data.fleet.ready() else await run_in_threadpool(data.fleet.get)
        board = leaderboard.riding_now(fleet)
        rows = board[offset : offset + limit]
    else:
        board = await run_in_threadpool(data.today.get)
        rows = await run_in_threadpool(_named, data, board[offset : offset + limit])
    body = Leaderboard(
        period=period,
        as_of=dt.datetime.fromtimestamp(board.as_of / 1_000_000, dt.UTC),
        zone=data.day_zone.key if period == leaderboard.TODAY else None,
        ranked=board.ranked,
        limit=limit,
        offset=offset,
        next_offset=offset + limit if offset + limit < len(board) else None,
        standings=[_standing(row) for row in rows],
    )
    return Response(body.model_dump_json(), media_type="application/json", headers=PRIVATE)


def _named(data: ApiData, rows: list[leaderboard.Standing]) -> list[leaderboard.Standing]:
    ids = [row.user_id for row in rows if row.user_id is not None]
    names = data.read("riders' names", lambda conn: queries.rider_names(conn, ids))
    return leaderboard.named(rows, names)


def _standing(row: leaderboard.Standing) -> Standing:
    return Standing(
        place=row.place,
        rider=row.rider,
        unranked=row.unranked,
        user_id=row.user_id,
        bike_serial=row.bike_serial,
        ride_id=row.ride_id,
        ride_seconds=round(row.seconds, 1),
        rides=row.rides,
        energy_kj=row.energy_kj,
        hr_zone=row.hr_zone,
        effort_points=row.effort_points,
    )
