"""How quantities are written for people: energy in the unit that reads best. One rule for the
dashboard, the daily report and its email. Pure."""

from __future__ import annotations

from typing import NamedTuple


class EnergyUnit(NamedTuple):
    name: str
    kj: float  # kJ in one of it
    digits: int  # decimals it is written with


KJ = EnergyUnit("kJ", 1.0, 0)
KWH = EnergyUnit("kWh", 3600.0, 1)  # 1 kWh = 3,600 kJ
KWH_FROM = 10_000  # kJ: from here energy reads better in kWh


def energy_unit(kj: float) -> EnergyUnit:
    """kJ under ``KWH_FROM``, kWh from there."""
    return KJ if kj < KWH_FROM else KWH


def energy_text(kj: float) -> str:
    """Energy in the unit that reads best: "9,870 kJ", "12.3 kWh"."""
    unit = energy_unit(kj)
    return f"{kj / unit.kj:,.{unit.digits}f} {unit.name}"
