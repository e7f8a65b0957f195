"""Service: the stream into the daily schema, exactly once, with alerts (``deleton ingest``)."""
