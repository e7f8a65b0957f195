"""What the API answers, as pydantic models: they make the OpenAPI document's schemas and
examples, and every response is validated against them on the way out.

A ride's figures carry the names of the ``historical.ride`` columns. Personal data has a model
of its own, ``Contact``, filled only for callers whose key has the ``personal`` scope.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..core import bike_health

MAX_PAGE = 100  # the most items one page of a list holds
MAX_BIKES_PAGE = 1000  # the fleet's page: a wall screen asks for every bike at once
MAX_OFFSET = 1_000_000  # deeper than any list goes; PostgreSQL's bigint stays far away


def _example(**values: Any) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [values]})


class Problem(BaseModel):
    """Every error: its status and what went wrong, in words a caller can act on."""

    model_config = _example(status=404, detail="no ride 123456")
    status: int = Field(description="the HTTP status, repeated")
    detail: str = Field(description="what went wrong")


class RiderName(BaseModel):
    model_config = _example(user_id=3771, first_name="Ada", last_name="Lovelace")
    user_id: int
    first_name: str
    last_name: str


class Ride(BaseModel):
    """A ride and its figures, open or ended, wherever it is kept. Averages and maxima are
    ``null`` when the ride has no reading of that kind; heart-rate figures count readings with
    sensor contact only."""

    model_config = _example(
        ride_id=123456,
        bike_serial="SN00042",
        rider={"user_id": 3771, "first_name": "Ada", "last_name": "Lovelace"},
        started_at="2026-11-28T08:00:03Z",
        ended_at="2026-11-28T08:31:45Z",
        in_progress=False,
        duration_s=1902.0,
        readings=1902,
        heart_rate_avg=131.4,
        heart_rate_min=92,
        heart_rate_max=171,
        power_avg=142.7,
        power_max=311.0,
        energy_kj=271.4,
        rpm_avg=71.2,
        rpm_max=98,
        resistance_avg=44.0,
        resistance_max=70,
        alerts=1,
        alerts_high=1,
        alerts_low=0,
        seconds_in_hr_zone=[240, 610, 702, 310, 40],
        effort_points=86.5,
        normalized_power_w=158.2,
        variability_index=1.109,
        efficiency_factor=1.204,
        aerobic_decoupling_pct=4.3,
    )
    ride_id: int
    bike_serial: str = Field(description="the bike's serial number ('' for an unkeyed stream)")
    rider: RiderName | None = Field(description="null when no rider details were received")
    started_at: dt.datetime
    ended_at: dt.datetime | None = Field(description="its last line; null while in progress")
    in_progress: bool
    duration_s: float = Field(description="seconds from start to end (to now, if in progress)")
    readings: int = Field(description="readings received, one a second")
    heart_rate_avg: float | None = Field(description="bpm, readings with sensor contact only")
    heart_rate_min: int | None = Field(description="bpm, readings with sensor contact only")
    heart_rate_max: int | None = Field(description="bpm")
    power_avg: float | None = Field(description="W")
    power_max: float | None = Field(description="W")
    energy_kj: float | None = Field(description="kJ: each reading's power for one second")
    rpm_avg: float | None
    rpm_max: int | None
    resistance_avg: float | None
    resistance_max: int | None
    alerts: int = Field(description="heart-rate alerts raised during the ride")
    alerts_high: int
    alerts_low: int
    # The training figures (Issue 20; the definitions in full: core/training.py and the
    # README). Null, never a guess: also for rides summarised before they were kept, whose
    # readings had already gone.
    seconds_in_hr_zone: list[int] | None = Field(
        description="s in heart-rate zones 1 to 5: readings with contact below 60%, 60-70%,"
        " 70-80%, 80-90% and from 90% of the rider's maximum (220 - age at ride start), one a"
        " second; null without the rider's age, or where the ride's readings were gone before"
        " the figure was kept",
        min_length=5,
        max_length=5,
    )
    effort_points: float | None = Field(
        description="Σ minutes in zone k × k over zones 1 to 5, to 0.1 (half up); null when"
        " seconds_in_hr_zone is"
    )
    normalized_power_w: float | None = Field(
        description="W, to 0.1: the fourth root of the mean fourth power of the 30-reading"
        " rolling mean of power, from the 30th reading on; null under 30 readings with power"
    )
    variability_index: float | None = Field(
        description="normalized power over average power, to 0.001; null without both"
    )
    efficiency_factor: float | None = Field(
        description="W per bpm, to 0.001: normalized power over the average heart rate of"
        " readings with contact; null without both"
    )
    aerobic_decoupling_pct: float | None = Field(
        description="%, to 0.1: (P1/H1 - P2/H2) / (P1/H1) × 100, halves of the readings in"
        " order (the first ⌊n/2⌋, then the rest), P a half's average power, H its average"
        " heart rate with contact; positive when the heart drifted up for the same power;"
        " null when a half has no contact or no power"
    )


class Page(BaseModel):
    """Where a page of a list sits; ``next_offset`` is ``null`` on the last page."""

    limit: int
    offset: int
    next_offset: int | None


class RideList(Page):
    model_config = _example(limit=20, offset=0, next_offset=None, rides=[])
    rides: list[Ride]


class DailyRides(RideList):
    """The rides that started on ``date``, a calendar day in ``zone``, oldest first."""

    model_config = _example(
        date="2026-11-28", zone="Europe/London", limit=20, offset=0, next_offset=None, rides=[]
    )
    date: dt.date
    zone: str


class RideLink(BaseModel):
    ride_id: int
    started_at: dt.datetime


class Address(BaseModel):
    house: str
    street: str
    city: str
    postcode: str


class Contact(BaseModel):
    """Personal data: shown only to a caller whose key has the ``personal`` scope."""

    model_config = _example(
        email="ada@example.com",
        address={
            "house": "12",
            "street": "St James's Square",
            "city": "London",
            "postcode": "SW1Y 4JH",
        },
        date_of_birth="1985-12-10",
    )
    email: str
    address: Address
    date_of_birth: dt.date


class Rider(BaseModel):
    """A rider and their figures over every ride kept. ``contact`` is ``null`` unless the
    request's key has the ``personal`` scope."""

    model_config = _example(
        user_id=3771,
        title="Ms",
        first_name="Ada",
        last_name="Lovelace",
        gender="female",
        age=40,
        rides=12,
        heart_rate_avg=128.2,
        energy_kj=3120.5,
        first_ride={"ride_id": 1001, "started_at": "2026-11-20T07:12:00Z"},
        latest_ride={"ride_id": 123456, "started_at": "2026-11-28T08:00:03Z"},
        contact=None,
    )
    user_id: int
    title: str | None
    first_name: str
    last_name: str
    gender: str = Field(description="female, male or other")
    age: int = Field(description="years, today")
    rides: int = Field(description="rides kept, in progress included")
    heart_rate_avg: float | None = Field(description="bpm over every reading with contact")
    energy_kj: float | None = Field(description="kJ over every ride")
    first_ride: RideLink | None
    latest_ride: RideLink | None
    contact: Contact | None = None


class Bike(BaseModel):
    model_config = _example(
        bike_serial="SN00042", rider="Ada", ride_id=123456, ride_seconds=754.0, heart_rate=171,
        zone="high", hr_zone=5, effort_points=31.4,
    )  # fmt: skip
    bike_serial: str
    rider: str = Field(description="first name only, or 'unknown'")
    ride_id: int
    ride_seconds: float
    heart_rate: int | None = Field(description="the latest, bpm; null before any contact")
    zone: str = Field(
        description="'too low', 'safe', 'high', 'dangerously high', 'no contact' or '–'"
    )
    hr_zone: int | None = Field(
        description="the training zone, 1-5, of the latest heart rate (README: Rider "
        "figures); null without contact or the rider's age"
    )
    effort_points: float | None = Field(
        description="the ride's effort points so far: Σ minutes in zone × zone (1-5), to 0.1; "
        "null when the rider's age or the ride's zones are not known"
    )


class Fleet(Page):
    """The bikes riding now (heard from within the idle timeout), most urgent first by
    default, as the dashboard's fleet page shows them."""

    model_config = _example(
        as_of="2026-11-28T08:12:37Z", riding=1, alerting={"dangerously high": 0, "too low": 0,
        "high": 1}, limit=100, offset=0, next_offset=None, bikes=[],
    )  # fmt: skip
    as_of: dt.datetime = Field(description="when this view of the fleet was taken")
    riding: int
    alerting: dict[str, int] = Field(description="riding bikes in each alerting zone")
    bikes: list[Bike]


class Standing(BaseModel):
    """A place on the leaderboard. Riding now: a ride, its bike, its time so far, the zone
    of its newest heart rate and its effort points so far. Today: a rider and the rides
    they started today."""

    model_config = _example(
        place=12, rider="Ada L.", user_id=None, bike_serial="SN00042", ride_id=123456,
        ride_seconds=754.0, rides=1, energy_kj=98.4, hr_zone=3, effort_points=21.7,
    )  # fmt: skip
    place: int | None = Field(
        description="by energy, descending, as shown (to 0.1 kJ); ties share a place (1, 2, 2,"
        " 4); null: not ranked (no rider known, or the ride's energy not known whole)"
    )
    rider: str = Field(description="first name and last initial, or 'unknown'")
    unranked: str | None = Field(
        None,
        description="riding now: why a ride is not ranked though its energy is known, as"
        " 'unranked: this bike is being checked' (its bike has an open health finding)",
    )
    user_id: int | None = Field(description="today's board: the rider; riding now: null")
    bike_serial: str | None = Field(description="riding now: the bike; today's board: null")
    ride_id: int | None = Field(description="riding now: the ride; today's board: null")
    ride_seconds: float = Field(description="s ridden: this ride, or today's rides")
    rides: int = Field(description="rides counted: 1 riding now; today, those started today")
    energy_kj: float | None = Field(description="kJ to 0.1: this ride so far, or today's")
    hr_zone: int | None = Field(
        description="riding now: the heart-rate zone (1-5) of the newest reading; null"
        " without contact, without the rider's age, and on today's board"
    )
    effort_points: float | None = Field(
        description="riding now: effort points so far (as a ride's); null when not known"
    )


class Leaderboard(Page):
    """Everyone riding now ranked by energy this ride (``period=now``), or every rider ranked
    by energy over the rides they started today in the report's time zone
    (``period=today``)."""

    model_config = _example(
        period="now", as_of="2026-11-28T08:12:37Z", zone=None, ranked=340, standings=[],
        limit=20, offset=0, next_offset=20,
    )  # fmt: skip
    period: str = Field(description="'now' or 'today'")
    as_of: dt.datetime = Field(description="when this board was made")
    zone: str | None = Field(description="today's board: the day's time zone (IANA)")
    ranked: int = Field(description="riders with a place: '12th of 340'")
    standings: list[Standing]


class PartitionLag(BaseModel):
    source: str
    partition: int
    next_position: int | None
    seconds_since_commit: float


class Health(BaseModel):
    """Whether the API can serve: the database answers. What the data says about ingestion
    is given beside it, for a person or a monitor to judge."""

    model_config = _example(
        status="ok", database="reachable", newest_reading_age_s=0.8, ingestion=[]
    )
    status: str = Field(description="'ok', or 'unavailable' (with status 503)")
    database: str = Field(description="'reachable' or 'unreachable'")
    newest_reading_age_s: float | None = Field(
        None,
        description="seconds since the newest reading; null when no ride is known."
        " Only for a caller with a key",
    )
    ingestion: list[PartitionLag] | None = Field(
        None,
        description="each source partition's position and seconds since it last committed."
        " Only for a caller with a key",
    )


class BikeFinding(BaseModel):
    kind: str = Field(description=", ".join(bike_health.KINDS))
    first_seen: dt.datetime = Field(description="when first seen: a ride's start, or the data's")
    last_seen: dt.datetime = Field(description="when last seen")
    detail: dict[str, Any] = Field(
        description="the evidence: rides, figures (power_drift: drift_pct, readings)"
    )


class BikeHealth(BaseModel):
    """A bike with open findings: what needs a mechanic, or reads power wrong."""

    model_config = _example(
        bike_serial="SN00042",
        findings=[{"kind": "power_drift", "first_seen": "2026-11-28T08:12:37Z",
                   "last_seen": "2026-11-29T18:02:11Z",
                   "detail": {"drift_pct": 14.8, "readings": 1494}}],
    )  # fmt: skip
    bike_serial: str
    findings: list[BikeFinding]
