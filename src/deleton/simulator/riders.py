"""The simulated fleet's riders: en_GB vocabulary from Faker, drawn once per seed.

Faker is slow (about 100 us a call) and a library the pure core does not import, so it only
fills the ``Population`` that ``core.population`` then draws every rider from.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from faker import Faker

from ..core.population import Population
from ..core.simulation import FaultyBike, SimulatedFleet


@functools.lru_cache(maxsize=8)
def population(seed: int) -> Population:
    """Names, streets, towns and postcodes for ``seed``: the same seed, the same vocabulary."""
    fake = Faker("en_GB")
    fake.seed_instance(seed)
    person = fake.provider("faker.providers.person")
    return Population(
        first_male=tuple(person.first_names_male),
        first_female=tuple(person.first_names_female),
        last=tuple(person.last_names),
        streets=tuple(fake.street_name() for _ in range(600)),
        towns=tuple(fake.city() for _ in range(300)),
        postcodes=tuple(fake.postcode() for _ in range(1000)),
        secondary=tuple(fake.secondary_address() for _ in range(300)),
    )


def simulated_fleet(
    size: int,
    seed: int,
    start: int,
    share: tuple[int, int] = (0, 1),
    faults: Mapping[int, FaultyBike] | None = None,
) -> SimulatedFleet:
    """A fleet of ``size`` bikes from ``start`` (epoch µs), its riders drawn for ``seed``;
    ``faults`` maps bike indices to the fault each carries."""
    return SimulatedFleet(size, seed, start, population(seed), share, faults)
