"""Service: who may use the dashboard. ``deleton users``, ``deleton login-link`` and
``deleton screen-link``, run with the writer's (or administrator's) database login."""
