"""The heart-rate alert email: what a rider is told, and a Message-ID derived from the alert id,
so a resend after a crash between sending and recording is recognisably the same email."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime

from ..core.alerts import AlertToSend


def compose(alert: AlertToSend, sender: str) -> EmailMessage:
    """The email for one alert; ``ValueError`` when it has no address to go to."""
    if not alert.recipient:
        raise ValueError("the alert's rider has no address")
    message = EmailMessage()
    message["From"] = sender
    message["To"] = alert.recipient
    message["Message-ID"] = f"<alert-{alert.alert_id}@deleton>"
    message["Date"] = format_datetime(alert.at)
    when = alert.at.strftime("%H:%M:%S UTC on %d %B %Y")
    hello = f"Hello {alert.first_name}," if alert.first_name else "Hello,"
    if alert.kind == "high":
        message["Subject"] = "Deleton safety alert: your heart rate is too high"
        detail = (
            f"your heart rate reached {alert.heart_rate} bpm at {when}, above your personal "
            f"maximum of {alert.limit} bpm. Please slow down, lower the resistance and rest."
        )
    else:
        message["Subject"] = "Deleton safety alert: your heart rate is unusually low"
        detail = (
            f"your heart rate read {alert.heart_rate} bpm at {when} while you were pedalling, "
            f"below {alert.limit} bpm. Please stop and check how you feel."
        )
    message.set_content(
        f"{hello}\n\n{detail}\n\nIf you feel unwell, stop riding and seek medical help.\n\n"
        f"Deleton (ride {alert.ride_id})\n"
    )
    return message
