"""Who the riders are, counted: genders in the order screens show them, age bands, and riders
counted by gender and by age band and gender. One definition for the recent-rides page, the
daily report and erasure (which cuts an erased rider's age to its band's lower bound, in SQL:
migration 0015 restates the bands' lower bounds as ``historical.age_band_floor``, so that no
caller chooses them, and a test holds the two equal). Pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

GENDERS = ("female", "male", "other")
UNKNOWN = "unknown"  # rides whose [SYSTEM] line was never seen: no rider, no gender, no age
# (lowest age, name) of each band, youngest first
AGE_BANDS = (
    (0, "under 25"),
    (25, "25-34"),
    (35, "35-44"),
    (45, "45-54"),
    (55, "55-64"),
    (65, "65 and over"),
)


def age_band(age: int) -> str:
    """The name of the band ``age`` falls in."""
    name = AGE_BANDS[0][1]
    for lowest, band in AGE_BANDS:
        if age >= lowest:
            name = band
    return name


def band_names() -> list[str]:
    """Every band's name, youngest first."""
    return [name for _, name in AGE_BANDS]


def band_floors() -> list[int]:
    """Every band's lowest age, youngest first."""
    return [lowest for lowest, _ in AGE_BANDS]


def ordered_genders(present: Iterable[str]) -> list[str]:
    """The genders among ``present``, in the order screens show them: ``GENDERS``, then
    ``UNKNOWN``."""
    keys = set(present)
    return [g for g in (*GENDERS, UNKNOWN) if g in keys]


class Riders(NamedTuple):
    """Riders counted once each, by gender and by age band and gender."""

    by_gender: dict[str, int]
    by_age: dict[str, dict[str, int]]  # band -> gender -> riders


def count_riders(riders: Iterable[tuple[str | None, int | None]]) -> Riders:
    """``riders`` as (gender, age), one pair per person: by gender (``UNKNOWN`` for none), and
    by age band and gender for those whose age is known."""
    by_gender: dict[str, int] = {}
    by_age: dict[str, dict[str, int]] = {}
    for gender, age in riders:
        kind = gender or UNKNOWN
        by_gender[kind] = by_gender.get(kind, 0) + 1
        if age is not None:
            band = by_age.setdefault(age_band(age), {})
            band[kind] = band.get(kind, 0) + 1
    return Riders(by_gender, by_age)
