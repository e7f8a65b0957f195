"""Service: operator commands on the database (``deleton db init``, ``deleton db reset``)."""
