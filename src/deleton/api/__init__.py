"""The REST API over rides, riders and bikes (``deleton api``)."""
