"""The Deloton wire format, both ways: message values and log lines to records and back.

``parse_value`` is on the ingest hot path (every message), so it avoids JSON decoding for the
common envelope and converts timestamps with a per-minute cache. It never raises on bad input:
anything that is not exactly the format comes back as ``Invalid`` with the reason.

Every value is checked against the column that will hold it (``integer``, ``bigint``, a finite
``double precision``, ``text`` without NUL) and every size is bounded, so that what parses can
always be stored. Reasons name the field and the rule, never the value: values may be a
rider's name, address or email.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

import orjson

from .records import (
    Invalid,
    Marker,
    Parsed,
    Record,
    RideLine,
    RiderLine,
    TelemetryLine,
    split_address,
    split_name,
    to_datetime,
)

_ENVELOPE_HEAD = b'{"log": "'
_ENVELOPE_TAIL = b'\\n"}'
_GETTING_USER_DATA = "Getting user data from server.."
_RIDER_FIELDS: tuple[tuple[str, type], ...] = (
    ("user_id", int),
    ("name", str),
    ("gender", str),
    ("address", str),
    ("date_of_birth", int),
    ("email_address", str),
    ("height_cm", int),
    ("weight_kg", int),
    ("account_create_date", int),
    ("bike_serial", str),
    ("original_source", str),
)
_RIDER_KEYS = frozenset(name for name, _ in _RIDER_FIELDS)

INT4_MAX = 2**31 - 1  # PostgreSQL integer
INT8_MAX = 2**63 - 1  # PostgreSQL bigint
MAX_VALUE_BYTES = 16 * 1024  # a [SYSTEM] line, the longest a bike sends, is about 400 bytes
MAX_HOST = 128  # "host firmware"
# longest text each rider field may hold: generous for real people, bounded for everything else
_RIDER_TEXT_LIMITS = {
    "name": 200,
    "gender": 64,
    "address": 400,
    "email_address": 254,  # RFC 5321's limit on a path
    "bike_serial": 64,
    "original_source": 100,
}
_EMAIL = re.compile(r"[^\s@<>()\[\],;:\\\"]+@[^\s@<>()\[\],;:\\\"]+\.[^\s@<>()\[\],;:\\\"]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

_FLOAT = r"[0-9]+\.[0-9]+(?:e[-+][0-9]+)?|[0-9]+e[-+][0-9]+"
_LINE = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}):([0-9]{2})\.([0-9]{6}) (\S+ \S+): "
    r"(?:\[INFO\]: (?:"
    r"Ride - duration = ([0-9]+\.[0-9]+); resistance = ([0-9]+)"
    r"|Telemetry - hrt = ([0-9]+); rpm = ([0-9]+); power = (" + _FLOAT + r"))"
    r"|\[SYSTEM\] data = (.*)"
    r"|(Getting user data from server\.\.))",
    re.ASCII,
)
_HEAD = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6} \S+ \S+: ", re.ASCII
)
_MARKER = re.compile(r"--------- beginning of [a-z][a-z ]*[a-z]", re.ASCII)

# The hot path: a Ride or Telemetry line in the plain envelope, matched on the raw bytes in
# one go. Anything else (rider lines, markers, escapes, bad input) takes the general path,
# and a test checks that both paths agree. Its numbers are short enough to fit their columns
# whatever the digits (9 digits for an integer, 20 and a two-digit exponent for a float), so
# it needs no range checks; longer numbers take the general path, which checks them.
_FAST_FLOAT = rb"[0-9]{1,20}\.[0-9]{1,20}(?:e[-+][0-9]{1,2})?|[0-9]{1,20}e[-+][0-9]{1,2}"
_FAST = re.compile(
    rb'\{"log": "([0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}):([0-9]{2})\.([0-9]{6}) '
    rb"([!#-\[\]-~]{1,64} [!#-\[\]-~]{1,63}): \[INFO\]: (?:"
    rb"Ride - duration = ([0-9]{1,20}\.[0-9]{1,20}); resistance = ([0-9]{1,9})"
    rb"|Telemetry - hrt = ([0-9]{1,9}); rpm = ([0-9]{1,9}); power = (" + _FAST_FLOAT + rb"))"
    rb'\\n"\}'
)
_minute_cache: dict[str, int] = {}
_fast_minutes: dict[bytes, int] = {}
_hosts: dict[bytes, str] = {}


def _minute_micros(minute: str) -> int | None:
    """Epoch microseconds of ``YYYY-MM-DD HH:MM`` (UTC), or None when it is no real time."""
    micros = _minute_cache.get(minute)
    if micros is None:
        try:
            moment = dt.datetime.strptime(minute, "%Y-%m-%d %H:%M").replace(tzinfo=dt.UTC)
        except ValueError:
            return None
        delta = moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        micros = (delta.days * 86_400 + delta.seconds) * 1_000_000
        if len(_minute_cache) > 100_000:  # replaying years of data must not grow without bound
            _minute_cache.clear()
        _minute_cache[minute] = micros
    return micros


def parse_line(line: str) -> Parsed:
    """One log line, without its trailing newline, to a record or the reason it is invalid."""
    if "\x00" in line:
        return Invalid("log line holds a NUL character")
    m = _LINE.fullmatch(line)
    if m is None:
        if _MARKER.fullmatch(line):
            return Marker(line)
        return Invalid(_diagnose(line))
    minute, sec, micro, host, dur, res, hrt, rpm, power, rider, getting = m.groups()
    base = _minute_micros(minute)
    if base is None or sec >= "60":
        return Invalid(f"impossible timestamp {line[:26]!r}")
    if len(host) > MAX_HOST:
        return Invalid(f"host and firmware longer than {MAX_HOST} characters")
    at = base + int(sec + micro)
    if dur is not None:
        duration = _finite(dur)
        resistance = _int4(res)
        if duration is None:
            return Invalid("Ride duration is not a finite number")
        if resistance is None:
            return Invalid(f"Ride resistance is above {INT4_MAX}")
        return RideLine(at, host, duration, resistance)
    if hrt is not None:
        heart_rate, cadence, watts = _int4(hrt), _int4(rpm), _finite(power)
        if heart_rate is None or cadence is None:
            return Invalid(f"Telemetry heart rate or rpm is above {INT4_MAX}")
        if watts is None:
            return Invalid("Telemetry power is not a finite number")
        return TelemetryLine(at, host, heart_rate, cadence, watts)
    if rider is not None:
        return _parse_rider(at, host, rider)
    return Marker(getting, at, host)


def _int4(digits: str) -> int | None:
    """The value of a run of digits if it fits PostgreSQL's ``integer`` (int() of thousands of
    digits would raise, so length is judged first)."""
    if len(digits) > 10:
        return None
    value = int(digits)
    return value if value <= INT4_MAX else None


def _finite(text: str) -> float | None:
    value = float(text)
    return value if math.isfinite(value) else None


def _diagnose(line: str) -> str:
    if not line:
        return "empty log line"
    if "\n" in line or "\r" in line:
        return "log line holds more than one line"
    if line.startswith("-"):
        return "unknown marker line"
    if _HEAD.match(line) is None:
        if re.match(r"\S+ \S+ ", line) and not re.match(r"[0-9]{4}-[0-9]{2}-[0-9]{2} ", line):
            return "line does not start with a timestamp"
        return "bad timestamp or host: expected 'YYYY-MM-DD HH:MM:SS.ffffff host firmware: '"
    body = line[_HEAD.match(line).end() :]  # type: ignore[union-attr]
    if body.startswith("[INFO]: Ride - "):
        return "malformed Ride line: expected 'duration = <float>; resistance = <int>'"
    if body.startswith("[INFO]: Telemetry - "):
        if re.search(r"hrt = -", body):
            return "negative heart rate"
        return "malformed Telemetry line: expected 'hrt = <int>; rpm = <int>; power = <float>'"
    if body.startswith("[SYSTEM]"):
        return "malformed [SYSTEM] line: expected '[SYSTEM] data = {json}'"
    return "unrecognised line"


def _parse_rider(at: int, host: str, payload: str) -> Parsed:
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return Invalid("rider data is not JSON")
    if not isinstance(data, dict):
        return Invalid("rider data is not a JSON object")
    keys = data.keys()
    if keys != _RIDER_KEYS:
        missing = sorted(_RIDER_KEYS - keys)
        extra = sorted(k[:40] for k in keys - _RIDER_KEYS)
        shown = extra[:5] + ["..."] * (len(extra) > 5)
        return Invalid(f"rider data fields differ: missing {missing}, unexpected {shown}")
    for name, kind in _RIDER_FIELDS:
        value = data[name]
        if type(value) is not kind:
            return Invalid(f"rider field {name} is not {kind.__name__}")
        if isinstance(value, str):
            if len(value) > _RIDER_TEXT_LIMITS[name]:
                return Invalid(f"rider {name} longer than {_RIDER_TEXT_LIMITS[name]} characters")
            if _CONTROL.search(value):
                return Invalid(f"rider {name} holds control characters")
    if split_name(data["name"]) is None:
        return Invalid("rider name has no first and last name")
    if split_address(data["address"]) is None:
        return Invalid("rider address is neither known shape")
    if not data["bike_serial"]:
        return Invalid("rider bike serial is empty")
    if _EMAIL.fullmatch(data["email_address"]) is None:
        return Invalid("rider email is not an address")
    if not 0 <= data["user_id"] <= INT8_MAX:
        return Invalid("rider user_id is not a bigint of 0 or more")
    if not (0 <= data["height_cm"] <= INT4_MAX and 0 <= data["weight_kg"] <= INT4_MAX):
        return Invalid("rider height or weight is not an integer of 0 or more")
    # Dates beyond what a calendar holds would fail later, far from the input: catch them here.
    if not -62_135_596_800_000 <= data["date_of_birth"] <= 253_402_300_799_000:
        return Invalid("rider date_of_birth is out of range")
    if not -62_135_596_800_000 <= data["account_create_date"] <= 253_402_300_799_000:
        return Invalid("rider account_create_date is out of range")
    return RiderLine(
        at,
        host,
        data["user_id"],
        data["name"],
        data["gender"],
        data["address"],
        data["date_of_birth"],
        data["email_address"],
        data["height_cm"],
        data["weight_kg"],
        data["account_create_date"],
        data["bike_serial"],
        data["original_source"],
    )


# A Ride or Telemetry line matched on the hot path, unpacked where it is made:
# (is_ride_line, at, host, duration or heart_rate, resistance or rpm, None or power).
FastLine = tuple[bool, int, str, Any, int, float | None]


def match_reading(value: bytes) -> FastLine | None:
    """The hot path: a Ride or Telemetry line in the plain envelope, as a bare tuple
    ``(is_ride, at, host, duration or heart_rate, resistance or rpm, None or power)``; None for
    anything else, which ``parse_value`` then judges. Skipping the record objects matters at
    a hundred thousand messages a second."""
    m = _FAST.fullmatch(value)
    if m is None:
        return None
    minute, sec, micro, host, dur, res, hrt, rpm, power = m.groups()
    base = _fast_minutes.get(minute)
    if base is None:
        base = _minute_micros(minute.decode())
        if base is None:
            return None  # an impossible time: the general path says why
        if len(_fast_minutes) < 100_000:
            _fast_minutes[minute] = base
    if sec >= b"60":
        return None
    name = _hosts.get(host)
    if name is None:
        name = host.decode()
        if len(_hosts) < 10_000:
            _hosts[host] = name
    at = base + int(sec + micro)
    if dur is not None:
        return (True, at, name, float(dur), int(res), None)
    return (False, at, name, int(hrt), int(rpm), float(power))


def parse_value(value: bytes | None) -> Parsed:
    """A Kafka message value (``{"log": "<line>\\n"}``) to a record or the reason it is invalid."""
    if value is None:
        return Invalid("message has no value")
    fast = match_reading(value)
    if fast is not None:
        is_ride, at, host, a, b, c = fast
        return RideLine(at, host, a, b) if is_ride else TelemetryLine(at, host, a, b, c)  # type: ignore[arg-type]
    return parse_unmatched(value)


def parse_unmatched(value: bytes) -> Parsed:
    """``parse_value`` for a value that ``match_reading`` has already turned down, so that
    callers holding that answer do not run the hot-path match twice."""
    if len(value) > MAX_VALUE_BYTES:
        return Invalid(f"message value of {len(value):,} bytes is larger than any bike line")
    # The common envelope needs no JSON decoding when the line has nothing escaped.
    if value.startswith(_ENVELOPE_HEAD) and value.endswith(_ENVELOPE_TAIL):
        inner = value[9:-4]
        if b"\\" not in inner and b'"' not in inner:
            try:
                return parse_line(inner.decode())
            except UnicodeDecodeError:
                return Invalid("message value is not UTF-8")
    try:
        envelope = orjson.loads(value)
    except orjson.JSONDecodeError:
        return Invalid("message value is not JSON")
    if not isinstance(envelope, dict) or envelope.keys() != {"log"}:
        return Invalid("message value is not an object with exactly one key, 'log'")
    log = envelope["log"]
    if not isinstance(log, str):
        return Invalid("'log' is not a string")
    if not log.endswith("\n"):
        return Invalid("log line does not end with a newline")
    return parse_line(log[:-1])


def format_time(micros: int) -> str:
    """``YYYY-MM-DD HH:MM:SS.ffffff`` (UTC, no zone) as the bikes write it."""
    moment = dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=micros)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def rider_payload(rider: RiderLine) -> str:
    """The ``[SYSTEM]`` JSON: compact, fields in the bikes' order."""
    return orjson.dumps(
        {
            "user_id": rider.user_id,
            "name": rider.name,
            "gender": rider.gender,
            "address": rider.address,
            "date_of_birth": rider.date_of_birth_ms,
            "email_address": rider.email,
            "height_cm": rider.height_cm,
            "weight_kg": rider.weight_kg,
            "account_create_date": rider.account_created_ms,
            "bike_serial": rider.bike_serial,
            "original_source": rider.original_source,
        }
    ).decode()


def format_line(record: Record) -> str:
    """The log line of ``record``, without its trailing newline, byte for byte as bikes send it."""
    if isinstance(record, RideLine):
        return (
            f"{format_time(record.at)} {record.host}: [INFO]: Ride - "
            f"duration = {record.duration!r}; resistance = {record.resistance}"
        )
    if isinstance(record, TelemetryLine):
        return (
            f"{format_time(record.at)} {record.host}: [INFO]: Telemetry - "
            f"hrt = {record.heart_rate}; rpm = {record.rpm}; power = {record.power!r}"
        )
    if isinstance(record, RiderLine):
        return f"{format_time(record.at)} {record.host}: [SYSTEM] data = {rider_payload(record)}"
    if record.at is None:
        return record.text
    return f"{format_time(record.at)} {record.host}: {record.text}"


def envelope(line: str) -> bytes:
    """The message value carrying ``line`` (given without its newline)."""
    return b'{"log": ' + orjson.dumps(line + "\n") + b"}"


def format_value(record: Record) -> bytes:
    """The Kafka message value of ``record``."""
    return envelope(format_line(record))


def describe(parsed: Parsed) -> dict[str, Any]:
    """The JSON-ready view of a parsed line that ``deleton parse`` prints."""
    if isinstance(parsed, Invalid):
        return {"type": "invalid", "reason": parsed.reason}
    if isinstance(parsed, Marker):
        out: dict[str, Any] = {"type": "marker", "text": parsed.text}
        if parsed.at is not None:
            out["at"] = to_datetime(parsed.at).isoformat()
        return out
    at = to_datetime(parsed.at).isoformat()
    if isinstance(parsed, RideLine):
        return {
            "type": "ride",
            "at": at,
            "duration": parsed.duration,
            "resistance": parsed.resistance,
        }
    if isinstance(parsed, TelemetryLine):
        return {
            "type": "telemetry",
            "at": at,
            "heart_rate": parsed.heart_rate,
            "rpm": parsed.rpm,
            "power": parsed.power,
        }
    names = parsed.names
    address = parsed.address_parts
    return {
        "type": "rider",
        "at": at,
        "user_id": parsed.user_id,
        "title": names.title,
        "first_name": names.first_name,
        "last_name": names.last_name,
        "gender": parsed.gender_kind,
        "date_of_birth": parsed.date_of_birth.isoformat(),
        "account_created": parsed.account_created.isoformat(),
        "email": parsed.email,
        "height_cm": parsed.height_cm,
        "weight_kg": parsed.weight_kg,
        "house": address.house,
        "street": address.street,
        "city": address.city,
        "postcode": address.postcode,
        "bike_serial": parsed.bike_serial,
        "original_source": parsed.original_source,
    }
