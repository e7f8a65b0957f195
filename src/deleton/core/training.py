"""A ride's training figures (Issue 20): heart-rate zones, effort points, normalized power and
what derives from it, personal-best duration bands, and places on a leaderboard.

Pure. The reference definition: the SQL computes the figures the services show
(``daily.ride_figures``, for compression, the ride-summary view and the API), and
tests/integration/api/test_figures.py holds it to this module to the last digit; this
docstring is the contract both meet. The live views use its rules directly: the fleet's
zones and effort points (``core.fleet_status``, held to it by tests), the leaderboard's
places, and the bike screen's personal-best bands and pace.

Readings
    A ride's readings in reading order (by time), each a heart rate and a power. A heart rate
    above 0 is *contact*; 0 or None (no Telemetry line) is no contact and in no zone. A power of
    None (a Ride line whose Telemetry line never came) is left out of every power figure, but
    the reading still counts for the halves of the decoupling.

Heart-rate zones
    ``m = max_hr(age) = 220 - age`` at ride start: the alerts' own rule (``alerts.high_limit``).
    A reading with contact is in zone 1 if ``100·hr < 60·m``, else 2 if ``< 70·m``, 3 if
    ``< 80·m``, 4 if ``< 90·m``, else 5: exact integer comparisons, so exactly 60% of ``m`` is
    zone 2. ``seconds_in_hr_zone`` counts readings per zone (bikes report once a second).
    ``effort_points = round(N / 60, 1)`` where ``N = Σ k · seconds in zone k`` (weights 1..5):
    exact, ``round(N::numeric / 60, 1)`` in SQL.

Power (IEEE double arithmetic, in this order; SQL does the same in ``float8``)
    ``p_1..p_N`` are the powers in reading order; ``S_0 = 0`` and ``S_i = S_(i-1) + p_i``, a
    sequential running sum (SQL: ``sum(power) OVER (ORDER BY at ROWS UNBOUNDED PRECEDING)``).
    - average power ``= S_N / N``.
    - rolling means ``m_i = (S_i - S_(i-30)) / 30`` for ``i = 30..N``.
    - ``normalized_power_w = sqrt(sqrt(Q / K))``, ``Q`` the sequential sum in order of
      ``(m_i·m_i)·(m_i·m_i)``, ``K = N - 29``. None under 30 powers.
    - ``variability_index = NP / average power``.
    - ``efficiency_factor = NP / H``, ``H = (Σ hr over contact readings) / (their count)``: an
      integer sum divided once (SQL: ``sum(hr)::float8 / count(*)``, not ``avg(hr)``).
    - ``aerobic_decoupling_pct``: ``n`` readings (with or without power), ``k = ⌊n/2⌋``; the
      first half is readings 1..k, the second k+1..n. ``P1 = S'_k / c_k`` and
      ``P2 = (S'_n - S'_k) / (c_n - c_k)``, where ``S'_j`` is the running power sum above
      after the first ``j`` readings and ``c_j`` how many of them had a power; ``H1``, ``H2``
      are each half's contact heart-rate sum over its count. ``r1 = P1 / H1``,
      ``r2 = P2 / H2``, and the figure is ``(r1 - r2) / r1 * 100``.
    Every sum is a difference of the one running sum, so a live ride updates in O(1) and
    gives the very same bits as the whole ride.

Null, never a guess
    A figure is None when its divisor is zero or it has none: no age for zones and effort points
    (those need ``m``); fewer than 30 powers for NP, VI and EF; average power 0 for VI; no contact
    for EF; a half without contact or without power, or ``r1 = 0``, for the decoupling. The
    power figures do not need the age and are given without it. A figure that overflows a
    double (absurd powers, ~1e77 W) is None too, never an error.

Rounding (the contract)
    Half away from zero, as PostgreSQL rounds ``numeric``. A float figure is first taken to 15
    significant digits, as PostgreSQL's ``float8::numeric`` cast does, then rounded:
    ``round(x::numeric, d)`` in SQL, ``round_half_up(x, d)`` here, with
    ``d`` = 1 for ``normalized_power_w`` (W) and ``aerobic_decoupling_pct`` (%), 3 for
    ``variability_index`` and ``efficiency_factor`` (W per beat a minute). Each is computed from
    the unrounded figures before it (VI from the unrounded NP). Figures are returned as the
    float nearest the rounded decimal, so they print as that decimal.

Bands, pace and places
    Personal-best duration bands, in minutes, half-open: [0, 20), [20, 30), [30, 45), [45, 60),
    [60, ∞). "On pace" projects the energy so far at the ride's average rate to its band's
    upper edge (none for the last band). Places rank by value descending, ties share a place
    (1, 2, 2, 4), as SQL's ``rank()``.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_UP, Context, Decimal
from itertools import accumulate
from typing import NamedTuple

from .alerts import high_limit

WINDOW = 30  # readings in normalized power's rolling mean
ZONE_SHARES = (60, 70, 80, 90)  # % of the maximum where zones 2, 3, 4 and 5 begin
NP_DECIMALS = 1
VI_DECIMALS = 3
EF_DECIMALS = 3
DECOUPLING_DECIMALS = 1
EFFORT_DECIMALS = 1
BAND_EDGES = (20, 30, 45, 60)  # minutes: bands [0, 20), [20, 30), ..., [60, ∞)

ZoneSeconds = tuple[int, int, int, int, int]


def round_half_up(value: float | Decimal, places: int) -> float:
    """``value`` rounded half away from zero to ``places`` decimals, as PostgreSQL's
    ``round(value::numeric, places)``: a float goes through 15 significant digits first."""
    exact = value if isinstance(value, Decimal) else Decimal(format(value, ".15g"))
    context = Context(prec=max(28, exact.adjusted() + places + 2))  # room for huge values
    rounded = exact.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP, context)
    return float(rounded) + 0.0  # numeric has no negative zero: -0.04 rounds to 0.0, not -0.0


def _rounded(value: float | None, places: int) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round_half_up(value, places)


def max_hr(age: int | None) -> int | None:
    """The rider's maximum heart rate ``m``, the alerts' own limit; None for an unknown age."""
    return None if age is None else high_limit(age)


def zone_edges(max_hr: int) -> tuple[int, ...]:
    """Where zones 2, 3, 4 and 5 begin for a rider whose maximum is ``max_hr``, in hundredths
    of a beat a minute: a heart rate ``h`` with contact is in zone
    ``bisect_right(edges, 100 * h) + 1`` (exact integers; ingestion counts zones so)."""
    return tuple(share * max_hr for share in ZONE_SHARES)


def hr_zone(heart_rate: int | None, max_hr: int | None) -> int | None:
    """The zone, 1 to 5, of one heart rate for a rider whose maximum is ``max_hr``; None
    without contact or without a maximum."""
    if not heart_rate or heart_rate < 0 or max_hr is None:
        return None
    return bisect.bisect_right(zone_edges(max_hr), 100 * heart_rate) + 1


def seconds_in_hr_zone(heart_rates: Iterable[int | None], max_hr: int | None) -> ZoneSeconds | None:
    """Readings in each zone, 1 to 5; None without a maximum."""
    if max_hr is None:
        return None
    counts = [0] * 6
    for heart_rate in heart_rates:
        counts[hr_zone(heart_rate, max_hr) or 0] += 1
    return counts[1], counts[2], counts[3], counts[4], counts[5]


def effort_points(seconds: Sequence[int] | None) -> float | None:
    """Σ minutes in zone k × k, to one decimal, half up; None when the zones are unknown."""
    if seconds is None:
        return None
    weighted = sum(zone * count for zone, count in enumerate(seconds, start=1))
    return round_half_up(Decimal(weighted) / 60, EFFORT_DECIMALS)


def _powers(powers: Iterable[float | None]) -> list[float]:
    return [p for p in powers if p is not None]


def rolling_means(powers: Iterable[float | None]) -> list[float]:
    """The 30-reading rolling means of power, from the 30th power on: ``(S_i - S_(i-30)) / 30``
    over the running sum ``S`` (see the module's contract)."""
    sums = [0.0, *accumulate(_powers(powers))]
    return [(sums[i] - sums[i - WINDOW]) / WINDOW for i in range(WINDOW, len(sums))]


def fourth_power_mean(means: Sequence[float]) -> float | None:
    """``sqrt(sqrt(Q / K))``, the fourth root of the mean fourth power; None for no values."""
    if not means:
        return None
    total = 0.0
    for mean in means:
        square = mean * mean
        total += square * square
    return math.sqrt(math.sqrt(total / len(means)))


def _np(powers: Iterable[float | None]) -> float | None:
    return fourth_power_mean(rolling_means(powers))


def _mean_power(powers: list[float]) -> float | None:
    if not powers:
        return None
    total = 0.0
    for power in powers:
        total += power
    return total / len(powers)


def _mean_contact(heart_rates: Iterable[int | None]) -> float | None:
    beats = [hr for hr in heart_rates if hr and hr > 0]
    return sum(beats) / len(beats) if beats else None


def _ratio(numerator: float | None, divisor: float | None) -> float | None:
    return None if numerator is None or not divisor else numerator / divisor


def normalized_power_w(powers: Iterable[float | None]) -> float | None:
    """NP in watts to one decimal; None under 30 powers."""
    return _rounded(_np(powers), NP_DECIMALS)


def variability_index(powers: Iterable[float | None]) -> float | None:
    """NP over average power, to three decimals; None without NP or when power averages 0."""
    series = _powers(powers)
    return _rounded(_ratio(_np(series), _mean_power(series)), VI_DECIMALS)


def efficiency_factor(
    heart_rates: Sequence[int | None], powers: Sequence[float | None]
) -> float | None:
    """NP over the average heart rate with contact, to three decimals."""
    return _rounded(_ratio(_np(powers), _mean_contact(heart_rates)), EF_DECIMALS)


def _decoupling(heart_rates: Sequence[int | None], powers: Sequence[float | None]) -> float | None:
    half = len(powers) // 2
    sums = [0.0, *accumulate(p if p is not None else 0.0 for p in powers)]
    counts = [0, *accumulate(p is not None for p in powers)]
    n = len(powers)
    p1 = _ratio(sums[half], counts[half])
    p2 = _ratio(sums[n] - sums[half], counts[n] - counts[half])
    r1 = _ratio(p1, _mean_contact(heart_rates[:half]))
    r2 = _ratio(p2, _mean_contact(heart_rates[half:]))
    if r2 is None or not r1:
        return None
    return (r1 - r2) / r1 * 100


def aerobic_decoupling_pct(
    heart_rates: Sequence[int | None], powers: Sequence[float | None]
) -> float | None:
    """How much further the heart worked for the same power in the ride's second half, in %,
    to one decimal; positive when it drifted up. ``heart_rates`` and ``powers`` are the same
    readings' columns."""
    if len(heart_rates) != len(powers):
        raise ValueError("heart rates and powers must be the same readings")
    return _rounded(_decoupling(heart_rates, powers), DECOUPLING_DECIMALS)


class TrainingFigures(NamedTuple):
    """A ride's training figures, rounded as the contract says."""

    seconds_in_hr_zone: ZoneSeconds | None
    effort_points: float | None
    normalized_power_w: float | None
    variability_index: float | None
    efficiency_factor: float | None
    aerobic_decoupling_pct: float | None


def ride_figures(
    heart_rates: Sequence[int | None], powers: Sequence[float | None], age: int | None
) -> TrainingFigures:
    """Every figure of a whole ride from its readings' columns, in reading order."""
    zones = seconds_in_hr_zone(heart_rates, max_hr(age))
    return TrainingFigures(
        zones,
        effort_points(zones),
        normalized_power_w(powers),
        variability_index(powers),
        efficiency_factor(heart_rates, powers),
        aerobic_decoupling_pct(heart_rates, powers),
    )


class RideTraining:
    """A live ride's figures so far, fed one reading at a time in O(1), equal to the whole-ride
    functions over the readings fed (a property test holds them to it).

    Normalized power keeps a ring of the last 30 running power sums, so each rolling mean is
    ``(S_i - S_(i-30)) / 30`` as the contract says: a few hundred bytes a ride. The
    decoupling's halves move as readings arrive (the first half is always the first
    ``⌊n/2⌋``), so the running sums are kept from the middle reading on and the middle steps
    forward one reading every second reading: O(1) a reading, but some 200 bytes for each
    reading of the second half (360 kB for an hour). A fleet-wide view (a leaderboard of
    50,000 rides) passes ``halves=False``: about 1.5 kB a ride, no decoupling (its figure is
    then None), everything else the same.
    """

    __slots__ = (
        "_contact",
        "_fourth_sum",
        "_halves",
        "_heart_sum",
        "_middle",
        "_power_count",
        "_power_sum",
        "_ring",
        "_zones",
        "hr_zone",
        "max_hr",
        "readings",
    )

    def __init__(self, age: int | None, halves: bool = True) -> None:
        self.max_hr = max_hr(age)
        self._halves = halves
        self.readings = 0
        self.hr_zone: int | None = None  # of the newest reading
        self._zones = [0] * 6  # index 0: no contact
        self._power_sum = 0.0  # S, the running sum of power
        self._power_count = 0
        self._ring = [0.0] * WINDOW  # S at the last 30 powers: slot i % 30 holds S_i
        self._fourth_sum = 0.0  # Q
        self._heart_sum = 0
        self._contact = 0
        # (S', c, heart sum, contact count) after each reading from the middle (k = ⌊n/2⌋) on
        self._middle: deque[tuple[float, int, int, int]] = deque([(0.0, 0, 0, 0)])

    def add(self, heart_rate: int | None, power: float | None) -> None:
        """Count the next reading."""
        self.readings += 1
        zone = None
        if heart_rate and heart_rate > 0:
            self._heart_sum += heart_rate
            self._contact += 1
            if self.max_hr is not None:
                zone = hr_zone(heart_rate, self.max_hr)
        self.hr_zone = zone
        self._zones[zone or 0] += 1
        if power is not None:
            self._power_sum += power
            count = self._power_count = self._power_count + 1
            slot = count % WINDOW
            if count >= WINDOW:
                mean = (self._power_sum - self._ring[slot]) / WINDOW
                square = mean * mean
                self._fourth_sum += square * square
            self._ring[slot] = self._power_sum
        if self._halves:
            middle = self._middle
            middle.append((self._power_sum, self._power_count, self._heart_sum, self._contact))
            if len(middle) > self.readings - self.readings // 2 + 1:
                middle.popleft()

    @property
    def seconds_in_hr_zone(self) -> ZoneSeconds | None:
        if self.max_hr is None:
            return None
        z = self._zones
        return z[1], z[2], z[3], z[4], z[5]

    @property
    def effort_points(self) -> float | None:
        return effort_points(self.seconds_in_hr_zone)

    @property
    def energy_kj(self) -> float:
        """Energy so far: power is sampled once a second, so its sum is joules."""
        return self._power_sum / 1000

    def _np(self) -> float | None:
        windows = self._power_count - WINDOW + 1
        if windows <= 0:
            return None
        return math.sqrt(math.sqrt(self._fourth_sum / windows))

    @property
    def normalized_power_w(self) -> float | None:
        return _rounded(self._np(), NP_DECIMALS)

    @property
    def variability_index(self) -> float | None:
        mean = _ratio(self._power_sum, self._power_count)
        return _rounded(_ratio(self._np(), mean), VI_DECIMALS)

    @property
    def efficiency_factor(self) -> float | None:
        heart = _ratio(self._heart_sum, self._contact)
        return _rounded(_ratio(self._np(), heart), EF_DECIMALS)

    @property
    def aerobic_decoupling_pct(self) -> float | None:
        """None when not kept (``halves=False``) as well as by the contract."""
        if not self._halves:
            return None
        s_k, c_k, h_k, n_k = self._middle[0]
        s_n, c_n, h_n, n_n = self._middle[-1]
        r1 = _ratio(_ratio(s_k, c_k), _ratio(h_k, n_k))
        r2 = _ratio(_ratio(s_n - s_k, c_n - c_k), _ratio(h_n - h_k, n_n - n_k))
        if r2 is None or not r1:
            return None
        return _rounded((r1 - r2) / r1 * 100, DECOUPLING_DECIMALS)

    def figures(self) -> TrainingFigures:
        zones = self.seconds_in_hr_zone
        return TrainingFigures(
            zones,
            effort_points(zones),
            self.normalized_power_w,
            self.variability_index,
            self.efficiency_factor,
            self.aerobic_decoupling_pct,
        )


def duration_band(seconds: float) -> int:
    """The personal-best band, 0 to 4, of a ride that has lasted ``seconds``."""
    return bisect.bisect_right(BAND_EDGES, seconds / 60)


def band_end_s(band: int) -> int | None:
    """The upper edge of ``band`` in seconds; None for the open last band."""
    return BAND_EDGES[band] * 60 if band < len(BAND_EDGES) else None


def band_text(band: int) -> str:
    """How a screen names a band: "under 20 min", "20-30 min", ..., "60 min and over"."""
    if band == 0:
        return f"under {BAND_EDGES[0]} min"
    if band == len(BAND_EDGES):
        return f"{BAND_EDGES[-1]} min and over"
    return f"{BAND_EDGES[band - 1]}-{BAND_EDGES[band]} min"


def personal_best_kj(earlier: Iterable[tuple[float, float]], band: int) -> float | None:
    """The highest energy among ``earlier`` rides, each (seconds, kJ), in ``band``; None
    when the rider has none there."""
    energies = [kj for seconds, kj in earlier if duration_band(seconds) == band]
    return max(energies) if energies else None


def projected_kj(energy_kj: float, seconds: float) -> float | None:
    """The energy at the band's upper edge if the ride goes on at its average rate so far;
    None in the open last band or before the ride has lasted any time."""
    end = band_end_s(duration_band(seconds))
    if end is None or seconds <= 0:
        return None
    return energy_kj / seconds * end


def on_pace(energy_kj: float, seconds: float, best_kj: float | None) -> bool | None:
    """Whether the projected energy reaches the personal best of the ride's band; None with
    no best or no projection."""
    projected = projected_kj(energy_kj, seconds)
    if projected is None or best_kj is None:
        return None
    return projected >= best_kj


def places(values: Sequence[float]) -> list[int]:
    """Each value's place, highest first, ties sharing a place (1, 2, 2, 4), in the order
    given."""
    result = [0] * len(values)
    previous: float | None = None
    place = 0
    for rank, i in enumerate(sorted(range(len(values)), key=lambda i: -values[i]), start=1):
        if values[i] != previous:
            place, previous = rank, values[i]
        result[i] = place
    return result


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st, 1,000th."""
    suffix = "th" if n % 100 in (11, 12, 13) else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n:,}{suffix}"


def place_text(place: int, of: int) -> str:
    """A place among ``of``, as a screen shows it: "12th of 340"."""
    return f"{ordinal(place)} of {of:,}"
