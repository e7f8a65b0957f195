"""What the REST API is configured with. ``settings`` maps the environment onto it."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr


@dataclass(frozen=True)
class ApiConfig:
    """Where the REST API listens, its bootstrap key (every scope; ``None``: only keys made by
    ``deleton api-key``), how many requests a second a key may make, and the zone whose
    calendar days ``/daily`` means."""

    host: str
    port: int
    key: SecretStr | None
    zone: str  # an IANA name (DELETON_API_TZ, by default the report's)
    workers: int = 1  # processes of `deleton api`, each with its own pool and fleet view
    rate_limit: float = 20.0  # requests a second per key, per process
    proxy_hops: int = 0  # proxies whose X-Forwarded-For hop is believed (Settings.proxy_hops)
    # the zone whose calendar day the leaderboard's "today" is (DELETON_REPORT_TZ); None: zone
    leaderboard_zone: str | None = None
