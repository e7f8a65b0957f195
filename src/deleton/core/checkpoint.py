"""The ingest checkpoint: what one source partition carries across a restart beside its
position (each bike's open ride, a Ride line still waiting for its Telemetry line, alert
streaks), and the one definition of how it is stored. The tracker writes and reads it through
here; compression, which makes a checkpoint forget a ride gone stale, goes through here too.

Pure: bytes in, bytes out. A checkpoint of ``FORMAT`` 3 is JSON::

    {"format": 3,
     "fields": ["ride_id", "user_id", "host", "last_at", "limit", "pending",
                "high_run", "low_run", "fired", "heard"],
     "bikes": {"SN0001": [17, 7, "mendoza v9", 1667491200000000, 168, null, 0, 0, 0,
                          1667491200500000]}}

- ``bikes`` holds an entry for each bike with something open, keyed by the bike's message key
  (its bytes read as latin-1: any key, losslessly). Entries are independent of one another: one
  can be written, replaced or forgotten alone.
- ``fields`` names an entry's values, in the order they are written. A reader takes each value
  by its name, never by its place: a field it does not know is ignored, and a field added
  later is missing from older checkpoints and takes its default (``BikeState`` says which).
- ``format`` moves when a field's meaning changes; a checkpoint of a format newer than this
  module knows is refused (``UnreadableCheckpoint``), never guessed at.

The rider is named by id only: the address alerts go to is read from ``daily.rider`` when they
are sent. Every earlier format is still read (``loads``): format 2 (``{"format": 2, "bikes":
[row, ...]}``, positional rows), and before it no ``format`` at all, rows with the rider's email
as their 7th field (dropped on reading; migration 0008 blanked it in the database), the oldest
also without ``heard`` and with a ``watermark`` beside the bikes (ignored).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from operator import attrgetter
from typing import Any

import orjson

from ..errors import TerminalError

FORMAT = 3
# an entry's values, in the order this version writes them (readers go by the names)
FIELDS = (
    "ride_id", "user_id", "host", "last_at", "limit", "pending", "high_run", "low_run", "fired",
    "heard",
)  # fmt: skip
# The formats before names were written, and the field at each place of their rows (the key
# first). Rows of the oldest end before ``heard``.
_POSITIONAL: dict[int | None, tuple[str, ...]] = {
    None: ("key", "ride_id", "user_id", "host", "last_at", "limit", "email", "pending",
           "high_run", "low_run", "fired", "heard"),
    2: ("key", "ride_id", "user_id", "host", "last_at", "limit", "pending", "high_run",
        "low_run", "fired", "heard"),
}  # fmt: skip
_VALUES = attrgetter(*FIELDS)


class UnreadableCheckpoint(TerminalError):
    """A checkpoint this version cannot read (a newer format, or not a checkpoint at all):
    going on would lose or misread open rides, so ingestion of that partition stops."""


class BikeState:
    """The open ride of one bike, if any, and what it carries across messages and across a
    checkpoint. Every field is written to the checkpoint under its own name."""

    __slots__ = FIELDS

    def __init__(self) -> None:
        self.ride_id: int | None = None  # the open ride
        self.user_id: int | None = None  # its rider; None when the [SYSTEM] line was not seen
        self.host = ""
        self.last_at = 0  # the time of the bike's last line (µs)
        self.limit: int | None = None  # high heart-rate limit; None when the rider is unknown
        # a Ride line awaiting its Telemetry line: (at µs, duration s, resistance)
        self.pending: tuple[int, float, int] | None = None
        self.high_run = 0  # readings in a row above the limit
        self.low_run = 0  # readings in a row below the low limit while pedalling
        self.fired = 0  # the alert kinds already sent this ride (bits)
        # when its last message was received, by the receiver's clock (µs); a checkpoint from
        # before it was kept has the bike's own ``last_at`` stand in
        self.heard = 0


def dumps(bikes: Mapping[bytes, BikeState]) -> bytes:
    """The checkpoint of ``bikes``: an entry for each bike with something open (a bike with
    nothing open is carried as if it had gone quiet)."""
    return orjson.dumps(
        {
            "format": FORMAT,
            "fields": FIELDS,
            "bikes": {
                key.decode("latin-1"): _VALUES(bike)
                for key, bike in bikes.items()
                if bike.ride_id is not None or bike.pending is not None
            },
        }
    )


def loads(data: bytes | None) -> dict[bytes, BikeState]:
    """The bikes of a checkpoint of any format written so far (none: no bike)."""
    if not data:
        return {}
    doc = _document(data)
    bikes = {}
    for key, fields in _entries(doc):
        bike = BikeState()
        for name in FIELDS:
            if name in fields:
                setattr(bike, name, fields[name])
        if "heard" not in fields:
            bike.heard = bike.last_at
        pending = bike.pending
        bike.pending = (pending[0], pending[1], pending[2]) if pending else None
        bikes[key.encode("latin-1")] = bike
    return bikes


def forget_rides(data: bytes, ride_ids: Collection[int]) -> bytes:
    """``data`` without the bikes holding any of ``ride_ids``, so that each one's next line
    starts a new ride (for rides closed and removed elsewhere: compression of a ride gone
    stale). Written back in the format it was read in, as the member that wrote it may not
    read another; the very same bytes when no bike holds one."""
    doc = _document(data)
    version = doc.get("format")
    bikes: Any = doc.get("bikes") or ()
    if version == FORMAT:
        at = doc["fields"].index("ride_id")
        kept: Any = {key: row for key, row in bikes.items() if row[at] not in ride_ids}
    else:
        at = _POSITIONAL[version].index("ride_id")
        kept = [row for row in bikes if row[at] not in ride_ids]
    if len(kept) == len(bikes):
        return data
    return orjson.dumps({**doc, "bikes": kept})


def _document(data: bytes) -> dict[str, Any]:
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise UnreadableCheckpoint("a checkpoint that is not JSON") from None
    version = doc.get("format") if isinstance(doc, dict) else "none"
    if version != FORMAT and version not in _POSITIONAL:
        raise UnreadableCheckpoint(
            f"a checkpoint of format {version!r}: this version reads formats up to {FORMAT}"
        )
    return doc  # type: ignore[no-any-return]


def _entries(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Each bike's key and its fields by name."""
    version = doc.get("format")
    if version == FORMAT:
        names = doc["fields"]
        bikes = doc.get("bikes") or {}
        return [(key, dict(zip(names, row, strict=False))) for key, row in bikes.items()]
    names = _POSITIONAL[version]
    entries = []
    for row in doc.get("bikes") or ():
        fields = dict(zip(names, row, strict=False))
        entries.append((fields.pop("key"), fields))
    return entries
