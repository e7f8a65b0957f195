"""Where the dashboard listens. ``settings`` maps the environment onto it; who may come in is
``credentials.config.AccessConfig``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DashboardConfig:
    host: str
    port: int
