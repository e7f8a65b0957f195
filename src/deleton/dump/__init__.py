"""Adapter for captured streams: JSON-lines dumps (kcat ``-J`` records or bare values), read
and written."""
