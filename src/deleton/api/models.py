"""What the API answers, as pydantic models: they make the OpenAPI document's schemas and
examples, and every response is validated against them on the way out.

A ride's figures carry the names of the ``historical.ride`` columns. Personal data has a model
of its own, ``Contact``, filled only for callers whose key has the ``personal`` scope.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

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
        zone="high",
    )  # fmt: skip
    bike_serial: str
    rider: str = Field(description="first name only, or 'unknown'")
    ride_id: int
    ride_seconds: float
    heart_rate: int | None = Field(description="the latest, bpm; null before any contact")
    zone: str = Field(
        description="'too low', 'safe', 'high', 'dangerously high', 'no contact' or '–'"
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
