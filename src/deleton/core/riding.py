"""When a bike is riding: the one rule of silence that ingestion (which ends a ride after it),
the dashboard and the API (which show who rides now) share, as one setting
(``DELETON_RIDE_IDLE_TIMEOUT``). Pure."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Riding:
    idle_timeout_us: int  # a bike silent for longer has ended its ride

    def horizon(self, now_us: int) -> int:
        """The oldest line, as of ``now_us``, that still keeps its bike riding."""
        return now_us - self.idle_timeout_us
