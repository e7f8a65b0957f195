"""Test tooling, shared by the suite and the benchmarks: real services on loopback (PostgreSQL,
a Kafka broker, an SMTP server), the ``deleton`` command as a subprocess, simulated fleets, and
waiting by polling with a deadline. None of it ships in the package."""
