"""Service: the live dashboard (``deleton dashboard``)."""
