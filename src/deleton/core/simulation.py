"""A simulated fleet of bikes that speaks the exact wire format.

Pure: the caller passes the seed, the simulated start time and the population riders are drawn
from; nothing here reads a clock or the global random module. Each bike has its own
``random.Random`` seeded from (seed, bike index), so bike ``SN0007`` rides the same rides
whatever the fleet size, and whichever other bikes are faulty.

Time advances in ticks of ``TICK_US``; ``SimulatedFleet.ticks()`` yields, per tick, every line whose
timestamp falls in it, each bike's lines in order. Bikes sleep in a timing wheel between their
events, so a tick costs in proportion to the lines it holds, not to the fleet.

Power is what the real bikes report: a fixed function of (resistance, rpm), so the same pair
gives the very same text on every reading of every bike (``power_w``). Fitted to the 26
(resistance, rpm) pairs of the real sample (``tests/data/real_deloton_lines.txt``): within
0.003 W of each of the 25 at resistance 30 (18 to 66 rpm), and 0.03 W of the one at 151 and
98 rpm (379.99 W); written, like theirs, to 10 significant digits with float artefacts.

Riders differ in fitness: fitter riders pick harder resistances and faster cadences (more
energy on a leaderboard), rest lower, and tire less. Heart rate lags effort (power over the
rider's threshold power) towards a target within the rider's maximum (220 - age), and drifts up
over a long ride at the same power (cardiac drift: 3-19% of the heart-rate reserve an hour,
less for the fit), so the second half of a steady ride costs more beats per watt. It reads 0 for
the first seconds and in short sensor dropouts. A few riders' heart rates run dangerously high
or low for a spell, for the alerts.

Faulty bikes (``FaultyBike``, ``faulty_bikes``) carry one fault each, of the kinds the fleet's
health checks look for; a fault is in the values, never in the syntax.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import random
import zlib
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass

from .population import Population
from .records import RiderLine
from .wire import format_time, rider_payload

MAX_BIKES = 100_000
TICK_US = 100_000
HALF_SECOND_US = 500_000
RESISTANCES = (0, 30, 60, 99, 170)
_CADENCE = {0: 85.0, 30: 78.0, 60: 72.0, 99: 66.0, 170: 58.0}
_HOSTS = ("mendoza", "cortez", "valencia", "ortega", "navarro", "delgado", "herrera", "castillo")
_NEVER = 1 << 62  # the time a bike that went offline for good waits for


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


def power_w(resistance: int, rpm: int) -> float:
    """The watts a bike reports at ``resistance`` and ``rpm``, before it writes them out:
    ``exp(-4.3185 + 1.99507 ln rpm - 0.12101 sqrt(rpm) + 0.019084 (resistance - 30))``, 0 at
    0 rpm. The shape in rpm is fitted to the real sample at resistance 30, and the factor of
    resistance to its one reading at 151."""
    if rpm <= 0:
        return 0.0
    return math.exp(
        -4.3185 + 1.99507 * math.log(rpm) - 0.12101 * math.sqrt(rpm) + 0.019084 * (resistance - 30)
    )


def power_text(watts: float) -> str:
    """Watts as the bikes write them: 10 significant digits, with the float artefacts that come
    of scaling them back (``9.737739856000001``)."""
    if watts <= 0:
        return "0.0"
    decimals = 9 - math.floor(math.log10(watts))
    return repr(round(watts * 10**decimals) * 10.0**-decimals)


def _power_tables(factor: float = 1.0) -> dict[int, tuple[str, ...]]:
    """Power text at each resistance for each whole rpm, scaled by ``factor`` (a bike whose
    power reads off). Equal pairs give the very same text, as on the real bikes."""
    return {
        resistance: tuple(power_text(power_w(resistance, rpm) * factor) for rpm in range(256))
        for resistance in RESISTANCES
    }


_POWER = _power_tables()
# watts at each whole rpm, per resistance, for the heart-rate model: what the rider really puts
# out, whatever a faulty bike reports
_EFFORT = {r: tuple(power_w(r, rpm) for rpm in range(256)) for r in RESISTANCES}
_RPM_TEXT = tuple(str(rpm) for rpm in range(256))

FAULT_KINDS = (
    "silent",
    "resistance_stuck",
    "cadence_stuck",
    "heart_strap",
    "power_drift",
    "offline",
)
_DRIFTS = (0.08, -0.12, 0.15, -0.06)  # what faulty_bikes gives its power_drift bikes, in turn


@dataclass(frozen=True, slots=True)
class FaultyBike:
    """One fault a bike carries, of ``FAULT_KINDS``:

    - ``silent``: a rider logs in (a ``[SYSTEM]`` line) and no telemetry follows; the next
      rider tries 70 s to 5 min later, and so on.
    - ``resistance_stuck``: one resistance for whole rides (``resistance``, else drawn from
      30, 60, 99), while riders still change cadence as if it moved.
    - ``cadence_stuck``: the rpm sensor reads 0 for a whole ride while power (from the real
      cadence) does not, or holds one value for the whole ride; the two take turns.
    - ``heart_strap``: no heart-rate contact, ever.
    - ``power_drift``: power reads ``1 + drift`` times what it should, at every (resistance,
      rpm) pair; still one fixed text per pair.
    - ``offline``: nothing at all once ``after_s`` simulated seconds have passed since the
      fleet's start, not even the end of the ride under way.

    Riders give up on a bike whose fault they notice (silent, stuck or strapless), so each of
    their rides there is by a new rider.
    """

    kind: str
    drift: float = 0.0
    after_s: float = 1800.0
    resistance: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"a fault is one of {', '.join(FAULT_KINDS)}, not {self.kind!r}")
        if self.resistance is not None and self.resistance not in RESISTANCES:
            raise ValueError(f"a stuck resistance is one of {RESISTANCES}")


def faulty_bikes(size: int, seed: int, count: int) -> dict[int, FaultyBike]:
    """Which of ``size`` bikes are faulty, and how, for ``deleton simulate --faulty count``:
    ``count`` bikes drawn for ``seed``, in bike order; their kinds cycle through
    ``FAULT_KINDS`` in the order drawn, drifting bikes read +8%, -12%, +15%, -6% in turn, and
    offline bikes stop 10 to 60 minutes in."""
    if not 0 <= count <= size:
        raise ValueError(f"0 to {size} of {size} bikes can be faulty")
    rng = random.Random(f"{seed}:faulty")
    faults: dict[int, FaultyBike] = {}
    for n, index in enumerate(rng.sample(range(size), count)):
        kind = FAULT_KINDS[n % len(FAULT_KINDS)]
        drift = _DRIFTS[n // len(FAULT_KINDS) % len(_DRIFTS)] if kind == "power_drift" else 0.0
        faults[index] = FaultyBike(kind, drift, after_s=rng.randrange(600, 3600))
    return dict(sorted(faults.items()))


class _Profile:
    """The physiology of one rider, drawn once per rider."""

    __slots__ = ("cadence", "danger", "drift", "ftp", "hr_rest", "rider", "top", "weights")

    def __init__(self, rider: RiderLine, rng: random.Random, at: int) -> None:
        age = rider.age_at(at)
        self.rider = rider
        self.top = 220 - age  # the rider's own maximum heart rate
        fitness = rng.random()  # 0 untrained ... 1 well trained
        self.hr_rest = 76 - 20 * fitness + rng.uniform(-4, 4)
        self.ftp = (90 + 210 * fitness) * (1.3 - age / 120) * rng.uniform(0.9, 1.1)
        # cardiac drift: the share of the heart-rate reserve the target climbs an hour
        self.drift = (0.16 - 0.12 * fitness) * rng.uniform(0.7, 1.2) / 3600
        self.cadence = 14 * fitness - 7  # rpm above or below the usual at each resistance
        # cumulative weights of RESISTANCES: the fit lean towards the hard end
        weights = (1, 4 - 2 * fitness, 3, 2 + 2 * fitness, 1 + 2 * fitness)
        self.weights = tuple(itertools.accumulate(weights))
        roll = rng.random()
        self.danger = "high" if roll < 0.05 else "low" if roll < 0.08 else ""


# A bike as a coroutine: see ``simulated_bike``.
SimulatedBike = Generator[int, list[Line], None]


def simulated_bike(
    index: int,
    seed: int,
    start: int,
    population: Population,
    stamps: TimestampCache,
    fault: FaultyBike | None = None,
) -> SimulatedBike:
    """One bike as a coroutine: it yields the time of its next event and, sent the list of the
    tick that time falls in, appends that event's lines to it. Its state lives in locals, which
    is what lets a core simulate a few hundred thousand messages a second. A fault changes
    values per ride or through the tables a reading looks up, never the per-reading work."""
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
    kind = fault.kind if fault else ""
    tables = _power_tables(1 + fault.drift) if fault and kind == "power_drift" else _POWER
    stuck = 30
    if fault and kind == "resistance_stuck":
        stuck = fault.resistance or rng.choice((30, 60, 99))
    gives_up = kind in ("silent", "resistance_stuck", "cadence_stuck", "heart_strap")
    offline_at = start + int(fault.after_s * 1_000_000) if fault and kind == "offline" else _NEVER
    riders = 0
    profile: _Profile | None = None
    rides_of_rider = 0
    rides = 0
    at = start + rng.randrange(0, 30_000_000)
    while True:
        out = yield at
        if at >= offline_at:
            while True:
                yield _NEVER
        # a new ride: often the same rider again
        if profile is None or gives_up or rides_of_rider >= 1 + int(rng.expovariate(0.6)):
            riders += 1
            rider = population.rider(rng, index * 10_000 + riders, key, today)
            profile = _Profile(rider, rng, at)
            rides_of_rider = 0
        rides_of_rider += 1
        rides += 1
        top, hr_rest, ftp, danger = profile.top, profile.hr_rest, profile.ftp, profile.danger
        reserve = top - hr_rest
        drift_bpm = reserve * profile.drift  # per second of the ride
        length = rng.randrange(5 * 60, 60 * 60 + 1)
        step = HALF_SECOND_US + rng.randrange(200, 900)
        resistance = stuck if kind == "resistance_stuck" else 30
        next_resistance_at = rng.randrange(20, 120)
        rpm = 0.0
        rpm_target = _CADENCE[30] + profile.cadence
        hr = hr_rest
        sensor_from = length + 1 if kind == "heart_strap" else rng.randrange(3, 25)
        dropout = 0
        shown_rpm = _RPM_TEXT
        if kind == "cadence_stuck":
            shown_rpm = ("0" if rides % 2 else str(round(rpm_target)),) * 256
        if kind == "silent":
            length = 0
        length = min(length, (offline_at - at) // (2 * step))  # stops mid-ride if it goes off
        if danger:
            danger_from = rng.randrange(60, max(61, min(length - 90, 600)))
            danger_to = danger_from + rng.randrange(25, 90)
        else:
            danger_from = danger_to = -1
        out.append((key, None, "--------- beginning of main"))
        out.append((key, None, "--------- beginning of a new ride"))
        out.append((key, at, f"{text(at)}{head}Getting user data from server.."))
        at += step
        out = yield at
        out.append((key, at, f"{text(at)}{head}[SYSTEM] data = {rider_payload(profile.rider)}"))
        watts_text = tables[resistance]
        effort_watts = _EFFORT[resistance]
        for t in range(1, length + 1):
            at += step
            out = yield at
            if t >= next_resistance_at:
                chosen = rng.choices(RESISTANCES, cum_weights=profile.weights)[0]
                next_resistance_at = t + rng.randrange(20, 180)
                rpm_target = _CADENCE[chosen] + profile.cadence + rng.uniform(-12, 22)
                if kind != "resistance_stuck":
                    resistance = chosen
                    watts_text = tables[resistance]
                    effort_watts = _EFFORT[resistance]
            # noise: a sum of three uniforms is close enough to normal and several times cheaper
            noise = random_() + random_() + random_() - 1.5
            rpm += (rpm_target * (1.0 if t >= 8 else t / 8) - rpm) * 0.35 + noise * 4.4
            rpm = 0.0 if rpm < 0 else 250.0 if rpm > 250 else rpm
            whole_rpm = round(rpm)
            effort = effort_watts[whole_rpm] / ftp
            target = hr_rest + reserve * (0.97 if effort > 1 else 0.25 + 0.72 * effort)
            target += drift_bpm * t
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
            at += step
            out = yield at
            hrt = 0 if t < sensor_from or dropout else max(1, round(hr))
            stamp = seconds.get(at // 1_000_000) or second(at)
            out.append(
                (
                    key,
                    at,
                    f"{stamp}{at % 1_000_000:06d}{telemetry_head}{hrt}; "
                    f"rpm = {shown_rpm[whole_rpm]}; power = {watts_text[whole_rpm]}",
                )
            )
        idle = rng.randrange(70, 300) if kind == "silent" else rng.randrange(10, 300)
        at += idle * 1_000_000  # until the next ride


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
        faults: Mapping[int, FaultyBike] | None = None,
    ) -> None:
        """``share`` (k, n) keeps only the bikes whose serial hashes (CRC-32) to k modulo n:
        one worker's part, lined up with partitions numbered the same way. ``faults`` maps
        bike indices to the fault each carries (see ``faulty_bikes``)."""
        if not 1 <= size <= MAX_BIKES:
            raise ValueError(f"a fleet has 1 to {MAX_BIKES:,} bikes")
        self.start = start
        self.stamps = TimestampCache()
        self._tick = start // TICK_US
        self._wheel: dict[int, list[SimulatedBike]] = {}
        for index in range(size):
            if zlib.crc32(serial(index).encode()) % share[1] != share[0]:
                continue
            fault = faults.get(index) if faults else None
            coroutine = simulated_bike(index, seed, start, population, self.stamps, fault)
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
