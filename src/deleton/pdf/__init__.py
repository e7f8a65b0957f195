"""Adapter for PDF: the daily report drawn with matplotlib and laid out with fpdf2 (no browser,
no system library)."""
