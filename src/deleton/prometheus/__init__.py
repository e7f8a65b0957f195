"""Adapter for Prometheus: ingestion's counters, logged and served for scraping."""
