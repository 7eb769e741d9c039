"""What every EDGAR reader shares: its clock (US/Eastern) and its text (UTF-8, else Latin-1)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

EASTERN = ZoneInfo("America/New_York")
"""EDGAR stamps acceptance times on the Eastern clock, whatever the suffix says."""


def decode_text(raw: bytes) -> str:
    """UTF-8 when the bytes are; Latin-1 otherwise (old filings), which never fails."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")
