"""Adapter for email: transports (SMTP, SES, a folder), the alert email and the outbox."""
