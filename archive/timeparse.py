"""Reading the times users type: ISO 8601 dates and times, or 4- to 14-digit WARC timestamps."""

from __future__ import annotations

from datetime import UTC, datetime

from archive.errors import BadTime


def parse_time(text: str) -> datetime:
    """`2024`, `20240131`, `20240131120000`, `2024-01-31`, `2024-01-31T12:00:00Z`... as UTC.

    Partial digit timestamps mean their earliest moment, as in Wayback URLs.
    """
    raw = text.strip()
    if raw.isdigit() and 4 <= len(raw) <= 14 and len(raw) % 2 == 0:
        padded = raw + "0101000000"[len(raw) - 4 :] if len(raw) < 14 else raw
        try:
            return datetime.strptime(padded, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
        except ValueError as exc:
            raise BadTime(f"{text!r} is not a valid timestamp: {exc}") from exc
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadTime(
            f"cannot read the time {text!r}: use ISO 8601 (2024-01-31T12:00:00Z) "
            "or a WARC timestamp (20240131120000)"
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def ts14_to_datetime(ts: str) -> datetime:
    return datetime.strptime(ts[:14].ljust(14, "0"), "%Y%m%d%H%M%S").replace(tzinfo=UTC)
