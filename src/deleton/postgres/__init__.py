"""Adapter for PostgreSQL: the connection (configured or embedded), migrations, the write side
of ingestion and the read side of the screens."""
