"""Hostile messages: mutations of real wire lines, one kind for each way a message has been
seen (or feared) to hurt a consumer. Seeded: the same seed, the same messages.

Most are bad and must become dead letters; some are odd but valid (unicode text, a line sent
twice, a ride's lines out of order) and must be stored as they are. The reference tracker
judges every one of them, so a test need not say which is which, only that the database agrees.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Callable
from typing import NamedTuple

import orjson

from deleton.core.wire import envelope

Mutation = Callable[[random.Random, str], tuple[bytes | None, bytes | None]]


class Hostile(NamedTuple):
    kind: str
    key: bytes | None
    value: bytes | None
    timestamp_ms: int  # the broker time it is produced with: that of the line it came from


_TIME = re.compile(r"^([0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2})")
_NUMBER = re.compile(r"(hrt|rpm|resistance) = [0-9]+")


def _key(rng: random.Random) -> bytes:
    return f"HX{rng.randrange(100_000):05d}".encode()


def _reading(lines: list[str]) -> list[str]:
    return [line for line in lines if "[INFO]" in line]


def _rider(lines: list[str]) -> list[str]:
    return [line for line in lines if "[SYSTEM]" in line]


def _rider_with(line: str, **changes: object) -> bytes:
    head, _, payload = line.partition("[SYSTEM] data = ")
    data = {**orjson.loads(payload), **changes}
    return envelope(f"{head}[SYSTEM] data = {orjson.dumps(data).decode()}")


def kinds(lines: list[str], used: list[str]) -> dict[str, Mutation]:
    """Each kind of hostile message, made from a random real line; ``used[0]`` is then the
    line it was made from, whose time it is sent at."""
    readings, riders = _reading(lines), _rider(lines)
    telemetries = [line for line in readings if "Telemetry" in line]

    def pick(rng: random.Random, pool: list[str]) -> str:
        used[0] = rng.choice(pool)
        return used[0]

    def reading(rng: random.Random) -> str:
        return pick(rng, readings)

    def rider(rng: random.Random) -> str:
        return pick(rng, riders)

    def telemetry(rng: random.Random) -> str:
        return pick(rng, telemetries)

    return {
        "integer beyond its column": lambda rng, _: (
            _key(rng),
            envelope(
                _NUMBER.sub(
                    lambda m: f"{m.group(1)} = {2**31 + rng.randrange(10**9)}",
                    reading(rng),
                    count=1,
                )
            ),
        ),
        "number of thousands of digits": lambda rng, _: (
            _key(rng),
            envelope(
                _NUMBER.sub(
                    lambda m: f"{m.group(1)} = {'9' * rng.randrange(4301, 9000)}",
                    reading(rng),
                    count=1,
                )
            ),
        ),
        "user_id beyond bigint": lambda rng, _: (
            _key(rng),
            _rider_with(rider(rng), user_id=2**63 + rng.randrange(10**6)),
        ),
        "height beyond integer": lambda rng, _: (
            _key(rng),
            _rider_with(rider(rng), height_cm=2**31 + rng.randrange(10**6)),
        ),
        "NUL in the host": lambda rng, _: (
            _key(rng),
            envelope(reading(rng).replace(" v", "\x00 v", 1)),
        ),
        "NUL in a rider's text": lambda rng, _: (
            _key(rng),
            _rider_with(rider(rng), name="Sam\x00 Lee", address="1 A st,B\x00,C"),
        ),
        "NUL in the key": lambda rng, _: (b"SN\x00" + _key(rng), envelope(reading(rng))),
        "key not UTF-8": lambda rng, _: (b"\xff\xfe" + _key(rng), envelope(reading(rng))),
        "key of 200 bytes": lambda rng, _: (b"K" * 200, envelope(reading(rng))),
        "infinite power": lambda rng, _: (
            _key(rng),
            envelope(re.sub(r"power = \S+", "power = 1e+400", telemetry(rng))),
        ),
        "CR/LF in an email": lambda rng, _: (
            _key(rng),
            _rider_with(rider(rng), email_address="sam@x.com\r\nBcc: all@x.com"),
        ),
        "truncated": lambda rng, line: (
            _key(rng),
            (envelope(line))[: rng.randrange(1, len(envelope(line)) - 1)],
        ),
        "wrong types": lambda rng, _: (
            _key(rng),
            rng.choice(
                [
                    b'{"log": 5}',
                    b'{"log": ["x"]}',
                    b'{"log": null}',
                    b"[1, 2]",
                    b'"a string"',
                    _rider_with(rider(rng), user_id="100"),
                    _rider_with(rider(rng), height_cm=1.5),
                    _rider_with(rider(rng), name=None),
                ]
            ),
        ),
        "unicode text (valid)": lambda rng, _: (
            _key(rng),
            envelope(reading(rng).replace(" v", "é v", 1)),
        ),
        "unicode digits": lambda rng, _: (
            _key(rng),
            envelope(_NUMBER.sub(lambda m: f"{m.group(1)} = ٣٤", reading(rng), count=1)),
        ),
        "invalid UTF-8": lambda rng, line: (
            _key(rng),
            envelope(line).replace(b" ", b"\xc3\x28", 1),
        ),
        "random bytes": lambda rng, _: (_key(rng), rng.randbytes(rng.randrange(1, 300))),
        "no value": lambda rng, _: (_key(rng), None),
        "1 MB value": lambda rng, _: (
            _key(rng),
            envelope("2022-10-03 19:18:07.087281 mendoza v9: " + "x" * 1_000_000),
        ),
    }


# how many of each kind in a hundred: 1 MB values are few (they are a megabyte each)
WEIGHTS = {"1 MB value": 0.005, "number of thousands of digits": 1, "random bytes": 8}


VALID_KINDS = {"unicode text (valid)", "duplicated lines (valid)", "reordered lines"}


def judged_bad(message: Hostile) -> bool:
    """Whether ingestion must make ``message`` a dead letter, by the wire parser and the key
    rules alone (no broker time involved: each is produced at its line's time)."""
    from deleton.core.records import Invalid
    from deleton.core.tracker import Rejected, check_key
    from deleton.core.wire import parse_value

    try:
        check_key(message.key or b"")
    except Rejected:
        return True
    return isinstance(parse_value(message.value), Invalid)


def hostile_messages(lines: list[str], count: int, seed: int) -> list[Hostile]:
    """``count`` hostile messages from the real ``lines``, plus runs of valid lines sent twice
    or out of order on keys of their own."""
    rng = random.Random(seed)
    used = [""]
    made = kinds(lines, used)
    names = sorted(made)
    weights = [WEIGHTS.get(name, 5) for name in names]
    out: list[Hostile] = []
    while len(out) < count:
        if rng.random() < 0.003:  # a ride's worth of valid lines, duplicated and reordered
            start = rng.randrange(len(lines) - 20)
            run = lines[start : start + 20]
            key = _key(rng)
            twice = [line for line in run for _ in range(2)]
            rng.shuffle(run)
            for kind, chosen in (("duplicated lines (valid)", twice), ("reordered lines", run)):
                out += [Hostile(kind, key, envelope(line), _millis(line)) for line in chosen]
            continue
        name = rng.choices(names, weights)[0]
        line = used[0] = rng.choice(lines)
        made_key, made_value = made[name](rng, line)
        out.append(Hostile(name, made_key, made_value, _millis(used[0])))
    return out[:count]


def _millis(line: str) -> int:
    """The time a real line was sent, in ms, or its day's noon for a marker line."""
    found = _TIME.match(line)
    moment = (
        dt.datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S")
        if found
        else dt.datetime(2022, 10, 3, 12)
    )
    return int(moment.replace(tzinfo=dt.UTC).timestamp() * 1000)
