"""The checkpoint's format: every format ever written reads back to the same bikes, values
are taken by name, a ride is forgotten without touching anything else, and a format this
version does not know is refused rather than misread."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from deleton.core.checkpoint import (
    FIELDS,
    FORMAT,
    BikeState,
    UnreadableCheckpoint,
    dumps,
    forget_rides,
    loads,
)

T0 = 1_667_500_920_000_000  # 3 November 2022, 18:42 UTC (tests.harness.fleet.START)
SECOND = 1_000_000

# Written by main's tracker at 39b2c4d (format 2): bike SN0001 in ride 17 of rider 7, a Ride
# line waiting for its Telemetry line; SN0002 in ride 18 of a rider never seen.
FORMAT_2 = (
    b'{"format":2,"bikes":[["SN0001",17,7,"mendoza v9",1667500922000000,168,'
    b'[1667500922000000,2.0,35],0,0,0,1667500923000000],["SN0002",18,null,"mendoza v9",'
    b"1667500923000000,null,null,0,0,0,1667500924000000]]}"
)
# The same two bikes as this version writes them (no broker time of the rider's line: a
# format 2 checkpoint never kept it).
FORMAT_3 = (
    b'{"format":3,"fields":["ride_id","user_id","host","last_at","limit","pending","high_run",'
    b'"low_run","fired","heard","named_at"],"bikes":{"SN0001":[17,7,"mendoza v9",'
    b"1667500922000000,168,[1667500922000000,2.0,35],0,0,0,1667500923000000,null],"
    b'"SN0002":[18,null,"mendoza v9",1667500923000000,null,null,0,0,0,1667500924000000,null]}}'
)
# As main wrote them at 50c9eb7, before ``named_at`` (the same format: fields go by name).
FORMAT_3_BEFORE_NAMED_AT = (
    b'{"format":3,"fields":["ride_id","user_id","host","last_at","limit","pending","high_run",'
    b'"low_run","fired","heard"],"bikes":{"SN0001":[17,7,"mendoza v9",1667500922000000,168,'
    b'[1667500922000000,2.0,35],0,0,0,1667500923000000],"SN0002":[18,null,"mendoza v9",'
    b"1667500923000000,null,null,0,0,0,1667500924000000]}}"
)
# Before format 2: no "format", the rider's email 7th; the oldest also without ``heard``, and
# with a watermark beside the bikes.
UNVERSIONED = (
    b'{"bikes":[["SN0001",17,7,"mendoza v9",1667500922000000,168,"sam@x.com",'
    b'[1667500922000000,2.0,35],0,0,0,1667500923000000],["SN0002",18,null,"mendoza v9",'
    b'1667500923000000,null,"",null,0,0,0,1667500924000000]]}'
)
OLDEST = (
    b'{"watermark":1667500923000000,"bikes":[["SN0001",17,7,"mendoza v9",1667500922000000,'
    b'168,"sam@x.com",[1667500922000000,2.0,35],0,0,0],["SN0002",18,null,"mendoza v9",'
    b'1667500923000000,null,"",null,0,0,0]]}'
)


def fields(bikes: dict[bytes, BikeState]) -> dict[bytes, dict[str, Any]]:
    return {key: {name: getattr(bike, name) for name in FIELDS} for key, bike in bikes.items()}


EXPECTED: dict[bytes, dict[str, Any]] = {
    b"SN0001": {
        "ride_id": 17, "user_id": 7, "host": "mendoza v9", "last_at": T0 + 2 * SECOND,
        "limit": 168, "pending": (T0 + 2 * SECOND, 2.0, 35), "high_run": 0, "low_run": 0,
        "fired": 0, "heard": T0 + 3 * SECOND, "named_at": None,
    },
    b"SN0002": {
        "ride_id": 18, "user_id": None, "host": "mendoza v9", "last_at": T0 + 3 * SECOND,
        "limit": None, "pending": None, "high_run": 0, "low_run": 0, "fired": 0,
        "heard": T0 + 4 * SECOND, "named_at": None,
    },
}  # fmt: skip


def test_a_checkpoint_of_todays_format_as_main_writes_it_loads() -> None:
    assert fields(loads(FORMAT_2)) == EXPECTED


def test_this_versions_checkpoint_is_written_and_read_by_name() -> None:
    bikes = loads(FORMAT_2)
    assert dumps(bikes) == FORMAT_3  # byte for byte, so that the literal above is the format
    assert orjson.loads(FORMAT_3)["format"] == FORMAT
    assert fields(loads(FORMAT_3)) == EXPECTED


def test_values_are_taken_by_their_names_never_their_places() -> None:
    doc = orjson.loads(FORMAT_3)
    order = [*reversed(doc["fields"]), "a_field_of_a_later_version"]
    doc["fields"] = order
    doc["bikes"] = {
        key: [*(dict(zip(FIELDS, row, strict=True))[name] for name in order[:-1]), "ignored"]
        for key, row in doc["bikes"].items()
    }
    assert fields(loads(orjson.dumps(doc))) == EXPECTED


def test_a_field_added_later_takes_its_default_in_an_older_checkpoint() -> None:
    assert fields(loads(FORMAT_3_BEFORE_NAMED_AT)) == EXPECTED  # named_at: None
    doc = orjson.loads(FORMAT_3_BEFORE_NAMED_AT)
    doc["fields"] = doc["fields"][:-1]  # written before ``heard``
    doc["bikes"] = {key: row[:-1] for key, row in doc["bikes"].items()}
    loaded = fields(loads(orjson.dumps(doc)))
    assert {key: bike["heard"] for key, bike in loaded.items()} == {
        key: bike["last_at"] for key, bike in EXPECTED.items()
    }  # the bike's own time stands in


@pytest.mark.parametrize("data", [UNVERSIONED, OLDEST], ids=["unversioned", "oldest"])
def test_checkpoints_from_before_format_2_load_without_the_email(data: bytes) -> None:
    loaded = fields(loads(data))
    if data is OLDEST:  # before ``heard`` was kept: the bike's own time stands in
        want = {key: {**bike, "heard": bike["last_at"]} for key, bike in EXPECTED.items()}
    else:
        want = EXPECTED
    assert loaded == want
    assert b"sam@x.com" not in dumps(loads(data))


def test_the_broker_time_of_the_riders_line_is_carried() -> None:
    """Ingestion judges an erasure by it (L1), on every later batch of the ride."""
    bikes = loads(FORMAT_2)
    bikes[b"SN0001"].named_at = T0 - SECOND
    assert loads(dumps(bikes))[b"SN0001"].named_at == T0 - SECOND


def test_nothing_to_carry_is_an_empty_checkpoint_and_no_checkpoint_is_no_bike() -> None:
    quiet = BikeState()  # a bike with nothing open
    assert orjson.loads(dumps({b"SN0003": quiet}))["bikes"] == {}
    assert loads(None) == {} and loads(b"") == {}


@pytest.mark.parametrize(
    "data", [FORMAT_3, FORMAT_2, UNVERSIONED, OLDEST], ids=["3", "2", "unversioned", "oldest"]
)
def test_forgetting_a_ride_keeps_the_format_and_every_other_bike(data: bytes) -> None:
    assert forget_rides(data, {99}) is data  # not held: the very same bytes
    kept = forget_rides(data, {17})
    doc, before = orjson.loads(kept), orjson.loads(data)
    assert doc.get("format") == before.get("format")  # the member that wrote it reads it
    assert {k: v for k, v in doc.items() if k != "bikes"} == {
        k: v for k, v in before.items() if k != "bikes"
    }
    assert set(loads(kept)) == {b"SN0002"}
    assert fields(loads(kept))[b"SN0002"] == fields(loads(data))[b"SN0002"]


@pytest.mark.parametrize(
    "data",
    [b'{"format":4,"bikes":{}}', b'{"format":"3","bikes":[]}', b"[1,2]", b"not json"],
    ids=["newer", "a string", "not an object", "not json"],
)
def test_a_checkpoint_this_version_cannot_read_is_refused(data: bytes) -> None:
    with pytest.raises(UnreadableCheckpoint):
        loads(data)
    with pytest.raises(UnreadableCheckpoint):
        forget_rides(data, {17})
