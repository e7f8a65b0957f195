"""Adapter for Kafka: the ingest source (a consumer-group member) and the simulator's producer."""
