"""Service: a simulated fleet in the exact wire format (``deleton simulate``, and the fleet of
``deleton up``)."""
