"""What the mail adapter is configured with: which way emails go (SMTP, SES or a folder of
``.eml`` files), from whom, and how long an alert is worth sending. ``settings`` maps the
environment onto it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import SecretStr

Backend = Literal["smtp", "ses", "folder"]


@dataclass(frozen=True)
class MailConfig:
    backend: Backend
    sender: str
    smtp_host: str
    smtp_port: int
    smtp_user: str | None
    smtp_password: SecretStr | None
    smtp_tls: Literal["none", "starttls", "ssl"]
    aws_region: str
    folder: Path  # where the folder backend writes
    alert_max_age: float = 900.0  # seconds after its reading that an alert is still worth sending
