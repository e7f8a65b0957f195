"""The Deloton wire format, both ways: message values and log lines to records and back.

``parse_value`` is on the ingest hot path (every message), so it avoids JSON decoding for the
common envelope and converts timestamps with a per-minute cache. It never raises on bad input:
anything that is not exactly the format comes back as ``Invalid`` with the reason.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import orjson

from .records import (
    Invalid,
    Marker,
    Parsed,
    Record,
    RideLine,
    Rider,
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
# and a test checks that both paths agree.
_FAST = re.compile(
    rb'\{"log": "([0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}):([0-9]{2})\.([0-9]{6}) '
    rb"([!#-\[\]-~]+ [!#-\[\]-~]+): \[INFO\]: (?:"
    rb"Ride - duration = ([0-9]+\.[0-9]+); resistance = ([0-9]+)"
    rb"|Telemetry - hrt = ([0-9]+); rpm = ([0-9]+); power = (" + _FLOAT.encode() + rb"))"
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
    m = _LINE.fullmatch(line)
    if m is None:
        if _MARKER.fullmatch(line):
            return Marker(line)
        return Invalid(_diagnose(line))
    minute, sec, micro, host, dur, res, hrt, rpm, power, rider, getting = m.groups()
    base = _minute_micros(minute)
    if base is None or sec >= "60":
        return Invalid(f"impossible timestamp {line[:26]!r}")
    at = base + int(sec + micro)
    if dur is not None:
        return RideLine(at, host, float(dur), int(res))
    if hrt is not None:
        return TelemetryLine(at, host, int(hrt), int(rpm), float(power))
    if rider is not None:
        return _parse_rider(at, host, rider)
    return Marker(getting, at, host)


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
    except orjson.JSONDecodeError as exc:
        return Invalid(f"rider data is not JSON: {exc}")
    if not isinstance(data, dict):
        return Invalid("rider data is not a JSON object")
    keys = data.keys()
    if keys != _RIDER_KEYS:
        missing = sorted(_RIDER_KEYS - keys)
        extra = sorted(keys - _RIDER_KEYS)
        return Invalid(f"rider data fields differ: missing {missing}, unexpected {extra}")
    for name, kind in _RIDER_FIELDS:
        value = data[name]
        if type(value) is not kind:
            return Invalid(f"rider field {name} is not {kind.__name__}: {value!r}")
    if split_name(data["name"]) is None:
        return Invalid(f"rider name has no first and last name: {data['name']!r}")
    if split_address(data["address"]) is None:
        return Invalid(f"rider address is neither known shape: {data['address']!r}")
    if not data["email_address"] or not data["bike_serial"]:
        return Invalid("rider email or bike serial is empty")
    if data["user_id"] < 0 or data["height_cm"] < 0 or data["weight_kg"] < 0:
        return Invalid("rider user_id, height or weight is negative")
    # Dates beyond what a calendar holds would fail later, far from the input: catch them here.
    if not -62_135_596_800_000 <= data["date_of_birth"] <= 253_402_300_799_000:
        return Invalid("rider date_of_birth is out of range")
    if not -62_135_596_800_000 <= data["account_create_date"] <= 253_402_300_799_000:
        return Invalid("rider account_create_date is out of range")
    return Rider(
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


def rider_payload(rider: Rider) -> str:
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
    if isinstance(record, Rider):
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
