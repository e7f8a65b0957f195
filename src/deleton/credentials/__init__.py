"""Adapter: credentials. Password hashes (argon2-cffi), signed screen tokens (itsdangerous)
and the secrets kept in ``DELETON_HOME`` when none is configured."""
