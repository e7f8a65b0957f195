"""Typed records of the bike stream.

Every time is an ``int`` of microseconds since the Unix epoch, UTC: it is what the wire carries
(microsecond timestamps without a zone), it is exact, and it is what binary COPY wants. The
records are named tuples because the ingest hot path builds one per message.

A ``RiderLine`` keeps the payload fields exactly as the bike sent them (so formatting gives back the
same bytes) and derives the analyst-facing parts (title, names, address parts, dates) from them.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
TITLES = frozenset({"Mr", "Mrs", "Miss", "Ms", "Dr"})


def to_datetime(micros: int) -> dt.datetime:
    """The aware UTC datetime of ``micros`` since the epoch."""
    return EPOCH + dt.timedelta(microseconds=micros)


def from_datetime(moment: dt.datetime) -> int:
    """Microseconds since the epoch of an aware datetime."""
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def date_of_millis(millis: int) -> dt.date:
    """The UTC calendar date of an epoch-milliseconds instant (negative before 1970)."""
    return (EPOCH + dt.timedelta(milliseconds=millis)).date()


def age_on(born: dt.date, day: dt.date) -> int:
    """Whole years from ``born`` to ``day``."""
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


class NameParts(NamedTuple):
    title: str | None
    first_name: str
    last_name: str


class AddressParts(NamedTuple):
    house: str
    street: str
    city: str
    postcode: str


def split_name(name: str) -> NameParts | None:
    """Title (without its dot, in its usual case), first name and last name, or None when the
    name lacks either.

    Everything after the first name is the last name, so "Anne-Marie O'Neil Smith" keeps
    "O'Neil Smith" whole rather than guessing at middle names. Feeds vary in case and spacing:
    "MRS.  Jo Bloggs" is Mrs Jo Bloggs.
    """
    words = name.split()
    title = None
    if words and words[0].count(".") <= 1 and words[0].rstrip(".").capitalize() in TITLES:
        title = words[0].rstrip(".").capitalize()
        words = words[1:]
    if len(words) < 2:
        return None
    return NameParts(title, words[0], " ".join(words[1:]))


def split_address(address: str) -> AddressParts | None:
    """House, street, city and postcode of the two shapes the bikes send, or None.

    ``"<no> <street>,<town>,<postcode>"`` or ``"<flat or studio>,<street>,<town>,<postcode>"``,
    with or without spaces around the commas.
    """
    parts = [part.strip() for part in address.split(",")]
    if any(not p for p in parts):
        return None
    if len(parts) == 4:
        return AddressParts(parts[0], parts[1], parts[2], parts[3])
    if len(parts) == 3:
        house, _, street = parts[0].partition(" ")
        if not house[:1].isdigit() or not street:
            return None
        return AddressParts(house, street, parts[1], parts[2])
    return None


class RiderLine(NamedTuple):
    """A ``[SYSTEM] data = {...}`` line: who rides, on which bike, from ``at``."""

    at: int
    host: str
    user_id: int
    name: str
    gender: str
    address: str
    date_of_birth_ms: int
    email: str
    height_cm: int
    weight_kg: int
    account_created_ms: int
    bike_serial: str
    original_source: str

    @property
    def names(self) -> NameParts:
        parts = split_name(self.name)
        assert parts is not None, "the parser only builds riders with a valid name"
        return parts

    @property
    def address_parts(self) -> AddressParts:
        parts = split_address(self.address)
        assert parts is not None, "the parser only builds riders with a valid address"
        return parts

    @property
    def gender_kind(self) -> str:
        """``male``, ``female`` or ``other``, whatever the case and spacing the bike sent: the
        strings seen beyond the first two are rare."""
        kind = self.gender.strip().casefold()
        return kind if kind in ("male", "female") else "other"

    @property
    def date_of_birth(self) -> dt.date:
        return date_of_millis(self.date_of_birth_ms)

    @property
    def account_created(self) -> dt.date:
        return date_of_millis(self.account_created_ms)

    def age_at(self, micros: int) -> int:
        return age_on(self.date_of_birth, to_datetime(micros).date())


class RideLine(NamedTuple):
    """A ``[INFO]: Ride - duration = ...; resistance = ...`` line: the first half of a reading.

    One log line, not a ride: a ride is everything from a ``[SYSTEM]`` line to its end."""

    at: int
    host: str
    duration: float
    resistance: int


class TelemetryLine(NamedTuple):
    """A ``[INFO]: Telemetry - hrt = ...; rpm = ...; power = ...`` line: the second half.

    ``heart_rate`` 0 means no sensor contact, not a heart rate.
    """

    at: int
    host: str
    heart_rate: int
    rpm: int
    power: float


class Marker(NamedTuple):
    """A line that carries no reading: ``--------- beginning of ...`` (no time, no host) or
    ``Getting user data from server..`` (with both)."""

    text: str
    at: int | None = None
    host: str | None = None


class Invalid(NamedTuple):
    """Input that is not exactly the wire format, and why."""

    reason: str


Record = RiderLine | RideLine | TelemetryLine | Marker
Parsed = Record | Invalid
