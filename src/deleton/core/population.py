"""Realistic simulated riders: en_GB names, addresses in both shapes, ages 18-85.

A ``Population`` is vocabulary (names, streets, towns, postcodes) handed in once per seed (the
simulator draws it from Faker); each rider is then drawn with the caller's ``random.Random``,
which keeps a bike's riders independent of every other bike and costs microseconds rather
than Faker's ~100 us per call.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from .records import RiderLine, from_datetime

_DAY_MS = 86_400_000
_TITLES_MALE = ("Mr", "Dr")
_TITLES_FEMALE = ("Mrs", "Miss", "Ms", "Dr")
_OTHER_GENDERS = ("non-binary", "genderfluid", "agender", "prefer not to say")
_SOURCES = ("direct", "google ads", "social media", "offline", "friend referral", "podcast")
_APOSTROPHE_SURNAMES = ("O'Brien", "O'Connor", "D'Souza", "O'Neill", "D'Arcy", "O'Sullivan")
_MAIL_DOMAINS = ("gmail.com", "hotmail.co.uk", "yahoo.co.uk", "outlook.com", "btinternet.com")


@dataclass(frozen=True)
class Population:
    """Names, streets, towns and postcodes to draw riders from."""

    first_male: tuple[str, ...]
    first_female: tuple[str, ...]
    last: tuple[str, ...]
    streets: tuple[str, ...]
    towns: tuple[str, ...]
    postcodes: tuple[str, ...]
    secondary: tuple[str, ...]  # "Flat 98y", "Studio 73"...

    def rider(
        self, rng: random.Random, user_id: int, bike_serial: str, today: dt.date
    ) -> RiderLine:
        """A new rider for ``bike_serial`` (``at`` and ``host`` are set per ride by the caller)."""
        roll = rng.random()
        gender = "female" if roll < 0.48 else "male" if roll < 0.97 else rng.choice(_OTHER_GENDERS)
        firsts = self.first_female if gender == "female" else self.first_male
        first = rng.choice(firsts)
        roll = rng.random()
        if roll < 0.05:
            last = rng.choice(_APOSTROPHE_SURNAMES)
        elif roll < 0.12:
            last = f"{rng.choice(self.last)}-{rng.choice(self.last)}"
        else:
            last = rng.choice(self.last)
        name = f"{first} {last}"
        if rng.random() < 0.15:
            title = rng.choice(_TITLES_FEMALE if gender == "female" else _TITLES_MALE)
            name = f"{title}{'.' if rng.random() < 0.4 else ''} {name}"
        # The bikes' own sign-up derived emails from the first two words of the full name,
        # titles included ("mr.s@gmail.com"): keep that quirk.
        words = name.lower().replace(".", "").replace("'", "").split(" ")
        email = f"{words[0]}.{words[1][0]}{rng.choice(('', str(rng.randrange(1, 99))))}"
        email += f"@{rng.choice(_MAIL_DOMAINS)}"
        if rng.random() < 0.3:
            address = f"{rng.choice(self.secondary)},{rng.choice(self.streets)}"
        else:
            address = f"{rng.randrange(1, 300)} {rng.choice(self.streets)}"
        address += f",{rng.choice(self.towns)},{rng.choice(self.postcodes)}"
        age_days = rng.randrange(18 * 366, 85 * 365)
        born = today - dt.timedelta(days=age_days)
        created = today - dt.timedelta(days=rng.randrange(1, 1500))
        tall = 175 if gender == "male" else 163
        height = max(145, min(205, round(rng.gauss(tall, 8))))
        weight = max(42, min(150, round(rng.gauss((height - 100) * 0.95, 11))))
        return RiderLine(
            at=0,
            host="",
            user_id=user_id,
            name=name,
            gender=gender,
            address=address,
            date_of_birth_ms=_midnight_ms(born),
            email=email,
            height_cm=height,
            weight_kg=weight,
            account_created_ms=_midnight_ms(created),
            bike_serial=bike_serial,
            original_source=rng.choice(_SOURCES),
        )


def _midnight_ms(day: dt.date) -> int:
    return from_datetime(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)) // 1000
