"""Deleton's data platform: bike telemetry from Kafka into PostgreSQL, and what is built on it."""

__version__ = "0.1.0"
