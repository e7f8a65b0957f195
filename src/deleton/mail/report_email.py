"""The daily report's email: the headline figures in the body (HTML, with a plain-text
alternative) so that the gist reads without opening anything, and the PDF attached."""

from __future__ import annotations

import html
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import make_msgid

from ..core.palette import ACCENT, PRINT_INK, PRINT_MUTED, PRINT_PANEL
from ..core.periods import Period
from ..core.report_figures import Headline


def compose_report(
    sender: str,
    recipients: Sequence[str],
    period: Period,
    headlines: Sequence[Headline],
    pdf: bytes,
    filename: str,
    empty: bool,
    incomplete: Sequence[str] = (),
) -> EmailMessage:
    """The report's email: its headlines in the body, the PDF attached. With ``incomplete``
    (why its data is incomplete, in words) the subject starts "Incomplete:" and the body
    says why before any figure."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    flag = "Incomplete: " if incomplete else ""
    message["Subject"] = f"{flag}Deleton daily report: {period.label}"
    message["Message-ID"] = make_msgid(domain="deleton")
    lead = (
        "No bike started a ride in this period."
        if empty
        else "The day in figures, each against the period just before:"
    )
    if incomplete:
        lead = f"The data of this period is incomplete: {'; '.join(incomplete)}. {lead}"
    width = max(len(h.label) for h in headlines)
    text = "\n".join(f"  {h.label:<{width}}  {h.value:>14}   {h.change}" for h in headlines)
    message.set_content(
        f"Deleton daily report: {period.label}\n\n{lead}\n\n{text}\n\n"
        f"The charts and the top riders are in the attached PDF, {filename}.\n"
    )
    rows = "".join(
        f'<tr><td style="padding:6px 12px;color:{PRINT_MUTED}">{html.escape(h.label)}</td>'
        f'<td style="padding:6px 12px;text-align:right;font-weight:bold;color:{PRINT_INK}">'
        f"{html.escape(h.value)}</td>"
        f'<td style="padding:6px 12px;color:{PRINT_MUTED}">{html.escape(h.change)}</td></tr>'
        for h in headlines
    )
    message.add_alternative(
        f"""<html><body style="font-family:Helvetica,Arial,sans-serif;color:{PRINT_INK}">
<p style="font-size:22px;font-weight:bold;letter-spacing:4px;color:{ACCENT};margin:0">DELETON</p>
<p style="font-size:16px;margin:4px 0 16px">Daily report: {html.escape(period.label)}</p>
<p>{html.escape(lead)}</p>
<table style="border-collapse:collapse;background:{PRINT_PANEL}">{rows}</table>
<p style="color:{PRINT_MUTED}">The charts and the top riders are in the attached PDF.</p>
</body></html>""",
        subtype="html",
    )
    message.add_attachment(pdf, maintype="application", subtype="pdf", filename=filename)
    return message
