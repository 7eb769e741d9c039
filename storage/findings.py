"""A finding: one data gap that detection noticed, before it becomes an incident.

Detection (`storage/gaps.py`, `archive/fixity.py`, the pipeline checks in `flows/`) produces
findings; `storage/incidents.py` turns each into an incident, once: the key is deterministic, so a
re-run that finds the same gap adds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

TYPES = (
    "filing.missing", "filing.incomplete", "filing.removed", "filing.altered", "filing.late",
    "page.removed", "page.altered", "archive.fixity", "pipeline.failed", "pipeline.stalled",
    "orderbook.time_gap", "orderbook.crossed", "orderbook.locked", "orderbook.bad_book",
    "orderbook.sequence_gap", "orderbook.missing_day", "orderbook.checksum",
    "orderbook.state_unknown", "orderbook.store_damaged",
)
"""Every incident type; the part before the dot is the source of the gap."""


@dataclass(frozen=True)
class Finding:
    """One gap: its type, what it is about, when, and the evidence that shows it.

    `entity` names the thing (an accession, a URL, a WARC file, a flow); `period` the time it
    concerns (a filing date, a capture time, a deadline), so `gap:<type>:<entity>:<period>` is one
    key per gap. `evidence` is JSON-able: URLs, digests, WARC file and offset, counts.
    """

    type: str
    entity: str
    period: str
    subject: str
    window_start: datetime | None = None
    window_end: datetime | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    form_type: str | None = None
    cik: str | None = None

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"unknown incident type {self.type!r}: one of {', '.join(TYPES)}")
        if not self.entity or not self.period:
            raise ValueError("a finding needs an entity and a period (they make its key)")

    @property
    def source(self) -> str:
        return self.type.split(".", 1)[0]

    @property
    def key(self) -> str:
        """`gap:<type>:<entity>:<period>`: the same gap always has the same key."""
        return f"gap:{self.type}:{self.entity}:{self.period}"
