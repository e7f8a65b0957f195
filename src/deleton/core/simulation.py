"""A simulated fleet of bikes that speaks the exact wire format.

Pure: the caller passes the seed, the simulated start time and the population riders are drawn
from; nothing here reads a clock or the global random module. Each bike has its own
``random.Random`` seeded from (seed, bike index), so bike ``SN0007`` rides the same rides
whatever the fleet size.

Time advances in ticks of ``TICK_US``; ``SimulatedFleet.ticks()`` yields, per tick, every line whose
timestamp falls in it, each bike's lines in order. Bikes sleep in a timing wheel between their
events, so a tick costs in proportion to the lines it holds, not to the fleet.

The physiology is simple but plausible: resistance held for intervals from {0, 30, 60, 99, 170};
cadence around a target that depends on resistance; power rising with cadence and resistance
(fitted to the real samples: 40 rpm at 30 gives 9.74 W); heart rate lagging effort towards a
target bounded by the rider's maximum (220 - age), 0 for the first seconds and in short sensor
dropouts. A few riders' heart rates run dangerously high or low for a spell.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import zlib
from collections.abc import Generator, Iterator

from .population import Population
from .records import Rider
from .wire import format_time, rider_payload

MAX_BIKES = 100_000
TICK_US = 100_000
HALF_SECOND_US = 500_000
RESISTANCES = (0, 30, 60, 99, 170)
_RESISTANCE_WEIGHTS = (1, 4, 3, 2, 1)
_CADENCE = {0: 85.0, 30: 78.0, 60: 72.0, 99: 66.0, 170: 58.0}
_HOSTS = ("mendoza", "cortez", "valencia", "ortega", "navarro", "delgado", "herrera", "castillo")


# One message of the stream: the bike's key, its time (None for markers), the log line. A plain
# tuple rather than a NamedTuple: the fleet builds hundreds of thousands a second.
Line = tuple[str, int | None, str]


def serial(index: int) -> str:
    """The serial, and message key, of bike ``index``: SN0000, SN0001, ..."""
    return f"SN{index:04d}"


class TimestampCache:
    """Timestamp text, ``YYYY-MM-DD HH:MM:SS.`` cached per second: the fleet stamps every message,
    and formatting a datetime each time would cost more than the rest of a message. Not a clock:
    it only spells out the simulated times it is given."""

    def __init__(self) -> None:
        self.seconds: dict[int, str] = {}

    def second(self, at: int) -> str:
        """The text of ``at``'s whole second, up to and including the dot."""
        second = at // 1_000_000
        text = self.seconds.get(second)
        if text is None:
            if len(self.seconds) > 100_000:
                self.seconds.clear()
            text = self.seconds[second] = format_time(second * 1_000_000)[:-6]
        return text

    def text(self, at: int) -> str:
        return f"{self.second(at)}{at % 1_000_000:06d}"


def _power_table(resistance: int) -> tuple[str, ...]:
    """Power text for each whole rpm at one resistance. The real bikes compute power from
    (rpm, resistance) alone, so equal pairs give the very same float text, artefacts and all."""
    factor = math.exp(0.018 * (resistance - 30))
    return tuple(
        "0.0" if rpm == 0 else repr(round(0.0215 * rpm**1.655, 8) * factor) for rpm in range(256)
    )


_POWER = {resistance: _power_table(resistance) for resistance in RESISTANCES}


class _Profile:
    """The physiology of one rider, drawn once per rider."""

    __slots__ = ("danger", "ftp", "hr_rest", "rider", "top")

    def __init__(self, rider: Rider, rng: random.Random, at: int) -> None:
        age = rider.age_at(at)
        self.rider = rider
        self.top = 220 - age  # the rider's own maximum heart rate
        self.hr_rest = rng.uniform(52, 78)
        self.ftp = rng.uniform(90, 300) * (1.3 - age / 120)
        roll = rng.random()
        self.danger = "high" if roll < 0.05 else "low" if roll < 0.08 else ""


# A bike as a coroutine: see ``simulated_bike``.
SimulatedBike = Generator[int, list[Line], None]


def simulated_bike(
    index: int, seed: int, start: int, population: Population, stamps: TimestampCache
) -> SimulatedBike:
    """One bike as a coroutine: it yields the time of its next event and, sent the list of the
    tick that time falls in, appends that event's lines to it. Its state lives in locals, which
    is what lets a core simulate a few hundred thousand messages a second."""
    rng = random.Random(f"{seed}:{index}")
    random_ = rng.random
    key = serial(index)
    head = f" {rng.choice(_HOSTS)} v{rng.choice((8, 9, 9, 9, 10))}: "
    ride_head = head + "[INFO]: Ride - duration = "
    telemetry_head = head + "[INFO]: Telemetry - hrt = "
    text = stamps.text
    seconds = stamps.seconds
    second = stamps.second
    today = (dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=start)).date()
    riders = 0
    profile: _Profile | None = None
    rides_of_rider = 0
    at = start + rng.randrange(0, 30_000_000)
    while True:
        out = yield at
        # a new ride: often the same rider again
        if profile is None or rides_of_rider >= 1 + int(rng.expovariate(0.6)):
            riders += 1
            rider = population.rider(rng, index * 10_000 + riders, key, today)
            profile = _Profile(rider, rng, at)
            rides_of_rider = 0
        rides_of_rider += 1
        top, hr_rest, ftp, danger = profile.top, profile.hr_rest, profile.ftp, profile.danger
        length = rng.randrange(5 * 60, 60 * 60 + 1)
        drift = HALF_SECOND_US + rng.randrange(200, 900)
        resistance = 30
        next_resistance_at = rng.randrange(20, 120)
        rpm = 0.0
        rpm_target = _CADENCE[30]
        hr = hr_rest
        sensor_from = rng.randrange(3, 25)
        dropout = 0
        if danger:
            danger_from = rng.randrange(60, max(61, min(length - 90, 600)))
            danger_to = danger_from + rng.randrange(25, 90)
        else:
            danger_from = danger_to = -1
        out.append((key, None, "--------- beginning of main"))
        out.append((key, None, "--------- beginning of a new ride"))
        out.append((key, at, f"{text(at)}{head}Getting user data from server.."))
        at += drift
        out = yield at
        out.append((key, at, f"{text(at)}{head}[SYSTEM] data = {rider_payload(profile.rider)}"))
        power_text = _POWER[resistance]
        effort_factor = _EFFORT[resistance]
        for t in range(1, length + 1):
            at += drift
            out = yield at
            if t >= next_resistance_at:
                resistance = rng.choices(RESISTANCES, _RESISTANCE_WEIGHTS)[0]
                next_resistance_at = t + rng.randrange(20, 180)
                rpm_target = _CADENCE[resistance] + rng.uniform(-12, 22)
                power_text = _POWER[resistance]
                effort_factor = _EFFORT[resistance]
            # noise: a sum of three uniforms is close enough to normal and several times cheaper
            noise = random_() + random_() + random_() - 1.5
            rpm += (rpm_target * (1.0 if t >= 8 else t / 8) - rpm) * 0.35 + noise * 4.4
            rpm = 0.0 if rpm < 0 else 250.0 if rpm > 250 else rpm
            effort = effort_factor[round(rpm)] / ftp
            target = hr_rest + (top - hr_rest) * (0.97 if effort > 1 else 0.25 + 0.72 * effort)
            if danger_from <= t < danger_to:
                target = top + 18 if danger == "high" else 33
            hr += (target - hr) * 0.06 + noise * 1.2
            if hr > top - 1 and not danger_from <= t < danger_to + 40:
                hr = top - 1
            if dropout:
                dropout -= 1
            elif random_() < 1 / 400:
                dropout = rng.randrange(2, 9)
            stamp = seconds.get(at // 1_000_000) or second(at)
            out.append(
                (key, at, f"{stamp}{at % 1_000_000:06d}{ride_head}{t}.0; resistance = {resistance}")
            )
            at += drift
            out = yield at
            whole_rpm = round(rpm)
            hrt = 0 if t < sensor_from or dropout else max(1, round(hr))
            stamp = seconds.get(at // 1_000_000) or second(at)
            out.append(
                (
                    key,
                    at,
                    f"{stamp}{at % 1_000_000:06d}{telemetry_head}{hrt}; rpm = {whole_rpm}; "
                    f"power = {power_text[whole_rpm]}",
                )
            )
        at += rng.randrange(10, 300) * 1_000_000  # idle until the next ride


# watts at each whole rpm, per resistance, for the heart-rate model
_EFFORT = {
    r: tuple(0.0215 * rpm**1.655 * math.exp(0.018 * (r - 30)) for rpm in range(256))
    for r in RESISTANCES
}


class SimulatedFleet:
    """``size`` bikes, ``SN0000``..., from ``start`` (epoch microseconds), fixed by ``seed`` and
    the ``population`` their riders are drawn from."""

    def __init__(
        self,
        size: int,
        seed: int,
        start: int,
        population: Population,
        share: tuple[int, int] = (0, 1),
    ) -> None:
        """``share`` (k, n) keeps only the bikes whose serial hashes (CRC-32) to k modulo n:
        one worker's part, lined up with partitions numbered the same way."""
        if not 1 <= size <= MAX_BIKES:
            raise ValueError(f"a fleet has 1 to {MAX_BIKES:,} bikes")
        self.start = start
        self.stamps = TimestampCache()
        self._tick = start // TICK_US
        self._wheel: dict[int, list[SimulatedBike]] = {}
        for index in range(size):
            if zlib.crc32(serial(index).encode()) % share[1] != share[0]:
                continue
            coroutine = simulated_bike(index, seed, start, population, self.stamps)
            self._hold(coroutine, next(coroutine) // TICK_US, [])

    def ticks(self, until: int | None = None) -> Iterator[tuple[int, list[Line]]]:
        """Per tick, its end time and its lines; stops before the tick that reaches ``until``."""
        wheel = self._wheel
        while until is None or (self._tick + 1) * TICK_US <= until:
            tick = self._tick
            self._tick = tick + 1
            out: list[Line] = []
            due = wheel.pop(tick, None)
            while due:
                now: list[SimulatedBike] = []
                for coroutine in due:
                    slot = coroutine.send(out) // TICK_US
                    if slot > tick and (items := wheel.get(slot)) is not None:
                        items.append(coroutine)
                    else:
                        self._hold(coroutine, slot, now)
                due = now
            yield (tick + 1) * TICK_US, out

    def _hold(self, coroutine: SimulatedBike, slot: int, now: list[SimulatedBike]) -> None:
        """Put a bike in the wheel at ``slot``, or in ``now`` when it is due this very tick."""
        if slot < self._tick:
            now.append(coroutine)
        else:
            self._wheel.setdefault(slot, []).append(coroutine)
