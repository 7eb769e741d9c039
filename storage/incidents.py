"""Data-gap incidents: one per gap, a lifecycle of append-only events, delivered to the sinks.

    store = IncidentStore(home, config.incident_settings())
    store.raise_findings(findings)          # opens what is new; a re-run opens nothing
    store.transition(id, "recovering")      # recovery reports its progress...
    store.transition(id, "recovered", evidence={"verified": True, ...})  # ...and resolves
    store.resolve(id, note="accepted: EDGAR withdrew the filing")        # or a person does
    store.deliver_pending()                 # every event not yet sent, to every sink

Each incident is the rows of `incident_events` with its id: `opened`, then `acknowledged`,
`recovering`, `recovered`, `unrecoverable`, `resolved`, never edited. Its status moves
open → recovering → recovered | unrecoverable → resolved; acknowledging records who looked without
changing the status. The `incidents` and `incident_metrics` views (storage/query.py) compute the
current state, MTTD and MTTR from the same rows.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import socket
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from archive.errors import SalvageError
from storage.delivery import DeliveryReport, Outbox
from storage.findings import Finding
from storage.sinks import DEFAULT_FILE, SINKS, Notice, SinkContext, SinkSpec
from storage.tables import append_rows, catalog_lock, read_table

if TYPE_CHECKING:
    from archive.home import Home

STATUSES = ("open", "recovering", "recovered", "unrecoverable", "resolved")
NEXT: dict[str, tuple[str, ...]] = {
    "open": ("recovering", "recovered", "unrecoverable", "resolved"),
    "recovering": ("recovered", "unrecoverable", "resolved"),
    "unrecoverable": ("recovering", "resolved"),
    "recovered": ("resolved",),
    "resolved": (),
}
"""Where each status may go. `acknowledged` is an event, not a status: allowed until resolved."""

SEVERITIES = ("critical", "high", "warning", "info")
VERIFIED = "verified-recovery"
BY_HAND = "by-hand"


class IncidentError(SalvageError):
    """Something asked of an incident that cannot be done."""


class UnknownIncident(IncidentError):
    """No incident has that id or key."""


class TransitionRefused(IncidentError):
    """The lifecycle does not allow that step from the incident's current status."""


class UnknownSink(IncidentError):
    """A configured sink's kind has no registered sink function."""


# -- severity -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeverityRule:
    """`[[incidents.rules]]`: a severity for findings that match every condition given. `type` is
    a shell pattern (`filing.*`); `forms` the form types; `watched` whether the filer is one of
    `[edgar] ciks`; `older_than_hours` how long ago the gap began to matter (window end)."""

    severity: str
    type: str = "*"
    forms: tuple[str, ...] = ()
    watched: bool | None = None
    older_than_hours: float | None = None

    def matches(self, finding: Finding, watched: bool, now: datetime) -> bool:
        if not fnmatchcase(finding.type, self.type):
            return False
        if self.forms and " ".join((finding.form_type or "").split()).upper() not in self.forms:
            return False
        if self.watched is not None and self.watched != watched:
            return False
        if self.older_than_hours is not None:
            began = finding.window_end or finding.window_start
            if began is None or (now - _utc(began)).total_seconds() <= self.older_than_hours * 3600:
                return False
        return True


def default_severity(finding: Finding, watched: bool) -> str:
    """Without a matching rule: archive fixity is critical, the pipeline and altered filings high,
    other filing gaps high for a watched filer else warning, page gaps warning; market data:
    sequence gaps, checksum mismatches, unknown book state, missing days and crossed books high
    (the book is wrong), others warning."""
    if finding.type == "archive.fixity":
        return "critical"
    if finding.source == "pipeline" or finding.type in (
            "filing.altered", "orderbook.sequence_gap", "orderbook.missing_day",
            "orderbook.crossed", "orderbook.checksum", "orderbook.state_unknown",
            "orderbook.store_damaged"):
        return "high"
    if finding.source == "filing":
        return "high" if watched else "warning"
    return "warning"


def severity_of(finding: Finding, rules: Iterable[SeverityRule], watched_ciks: Iterable[str],
                now: datetime) -> str:
    """The first matching rule's severity, else the type's default."""
    watched = bool(finding.cik) and _cik(finding.cik) in {_cik(c) for c in watched_ciks}
    for rule in rules:
        if rule.matches(finding, watched, now):
            return rule.severity
    return default_severity(finding, watched)


def _no_secret(name: str) -> str | None:
    return None


@dataclass(frozen=True)
class IncidentSettings:
    """What the store needs from the configuration (`Config.incident_settings()` builds it):
    the sinks, the severity rules, the watched CIKs, secrets by name, and retry defaults."""

    sinks: tuple[SinkSpec, ...] = (SinkSpec("file", path=DEFAULT_FILE),)
    rules: tuple[SeverityRule, ...] = ()
    watched_ciks: frozenset[str] = frozenset()
    secret: Callable[[str], str | None] = field(default=_no_secret, repr=False)
    retries: int = 3
    backoff: float = 1.0
    timeout: float = 10.0
    source: str | None = None  # CloudEvents source; default salvage://<host><home>


# -- incidents ------------------------------------------------------------------------------------


def incident_id(key: str, occurrence: int) -> str:
    """`INC-` and 10 hex digits of SHA-256(key#occurrence): short, typable, the same everywhere."""
    return "INC-" + hashlib.sha256(f"{key}#{occurrence}".encode()).hexdigest()[:10]


@dataclass(frozen=True)
class IncidentEvent:
    """One step of an incident's timeline."""

    event_id: str
    seq: int
    event: str
    status: str
    at: datetime
    note: str | None
    evidence: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "seq": self.seq, "event": self.event,
                "status": self.status, "at": _iso(self.at), "note": self.note,
                "evidence": self.evidence}


@dataclass(frozen=True)
class Incident:
    """An incident as its events make it: identity, current status, times and timeline."""

    id: str
    key: str
    type: str
    severity: str
    subject: str
    entity: str
    period: str
    window_start: datetime | None
    window_end: datetime | None
    form_type: str | None
    cik: str | None
    status: str
    detected_at: datetime
    acknowledged_at: datetime | None
    recovered_at: datetime | None
    resolved_at: datetime | None
    timeline: tuple[IncidentEvent, ...]

    @property
    def evidence(self) -> dict[str, Any]:
        """What detection found (the `opened` event's evidence); later evidence is in the
        timeline."""
        return self.timeline[0].evidence

    @property
    def is_open(self) -> bool:
        return self.status != "resolved"

    @property
    def resolution(self) -> str | None:
        """`verified-recovery` or `by-hand` once resolved."""
        done = [e for e in self.timeline if e.event == "resolved"]
        return done[-1].evidence.get("resolution") if done else None

    @classmethod
    def from_rows(cls, rows: list[dict[str, Any]]) -> Incident:
        rows = sorted(rows, key=lambda r: r["seq"])
        first, last = rows[0], rows[-1]

        def when(event: str) -> datetime | None:
            return next((r["at"] for r in rows if r["event"] == event), None)

        timeline = tuple(IncidentEvent(r["event_id"], r["seq"], r["event"], r["status"], r["at"],
                                       r["note"], json.loads(r["evidence"] or "{}"))
                         for r in rows)
        return cls(first["incident_id"], first["key"], first["type"], first["severity"],
                   first["subject"], first["entity"], first["period"], first["window_start"],
                   first["window_end"], first["form_type"], first["cik"], last["status"],
                   first["at"], when("acknowledged"), when("recovered"), when("resolved"),
                   timeline)

    def as_dict(self) -> dict[str, Any]:
        """The incident as `salvage incidents --json` prints it and the sinks receive it."""
        return {
            "id": self.id, "key": self.key, "type": self.type, "severity": self.severity,
            "subject": self.subject, "entity": self.entity, "period": self.period,
            "window": {"start": _iso(self.window_start), "end": _iso(self.window_end)},
            "status": self.status, "form_type": self.form_type, "cik": self.cik,
            "detected_at": _iso(self.detected_at), "acknowledged_at": _iso(self.acknowledged_at),
            "recovered_at": _iso(self.recovered_at), "resolved_at": _iso(self.resolved_at),
            "resolution": self.resolution,
            "timeline": [e.as_dict() for e in self.timeline],
            "evidence": self.evidence,
        }


class IncidentStore:
    """The incidents of one home: opened from findings, moved along their lifecycle, delivered.

    Lifecycle changes of a home take turns (a lock file), so two detection runs never open the
    same gap twice and a transition always sees the latest status."""

    def __init__(self, home: Home | Path, settings: IncidentSettings | None = None):
        self.root = Path(home) if isinstance(home, str | Path) else Path(home.root)
        self.catalog = self.root / "catalog"
        self.settings = settings or IncidentSettings()

    # -- opening ----------------------------------------------------------------------------------

    def raise_findings(self, findings: Iterable[Finding],
                       now: datetime | None = None) -> list[Incident]:
        """Open an incident for each finding whose gap has none open; return the new ones.

        A gap that has had an incident gets nothing more: open, the re-run writes nothing;
        resolved, the gap is the same event (its key holds the period: the day listed, the time
        of the removal or change), so finding it again in history must not page again. The same
        trouble coming back is a new event with a new period, hence a new key."""
        now = _utc(now)
        settings = self.settings
        with self._turn():
            by_key: dict[str, list[Incident]] = {}
            for incident in self._all():
                by_key.setdefault(incident.key, []).append(incident)
            rows = []
            for finding in findings:
                history = by_key.get(finding.key, [])
                if history:
                    continue
                iid = incident_id(finding.key, len(history) + 1)
                severity = severity_of(finding, settings.rules, settings.watched_ciks, now)
                row = _opened_row(iid, finding, severity, now)
                rows.append(row)
                by_key.setdefault(finding.key, []).append(Incident.from_rows([row]))
            append_rows(self.catalog, "incident_events", rows)
        return [Incident.from_rows([row]) for row in rows]

    # -- the lifecycle ----------------------------------------------------------------------------

    def transition(self, incident: str, status: str, note: str | None = None,
                   evidence: dict[str, Any] | None = None,
                   now: datetime | None = None) -> Incident:
        """Move an incident (id or key) to `status`: recovering, recovered, unrecoverable,
        resolved (needs a note), or `acknowledged`. `recovered` with evidence `{"verified": True}`
        (the bytes recovered are proven the ones expected) also resolves it. Moving to the
        status it has changes nothing; a step the lifecycle forbids raises TransitionRefused."""
        if status == "acknowledged":
            return self.acknowledge(incident, note, now)
        if status not in STATUSES or status == "open":
            raise TransitionRefused(
                f"{status!r} is not a step an incident can take: one of acknowledged, "
                f"{', '.join(s for s in STATUSES if s != 'open')}")
        now, evidence = _utc(now), dict(evidence or {})
        verified = status == "recovered" and evidence.get("verified") is True
        with self._turn():
            current = self._find(incident)
            steps: list[tuple[str, str | None, dict[str, Any]]] = []
            if status == current.status:
                if not (verified and current.status == "recovered"):
                    return current
            elif status not in NEXT[current.status]:
                allowed = ", ".join(NEXT[current.status]) or "nowhere: resolved is final"
                raise TransitionRefused(
                    f"{current.id} is {current.status}; it can go to {allowed}, not to {status}")
            elif status == "resolved":
                if not (note and note.strip()):
                    raise TransitionRefused(
                        f"resolving {current.id} by hand needs a note saying why (what was done, "
                        "or why the gap is accepted): --note TEXT")
                steps.append(("resolved", note.strip(), {**evidence, "resolution": BY_HAND}))
            else:
                steps.append((status, note, evidence))
            if verified:
                steps.append(("resolved", "recovery verified byte-exact",
                              {**(evidence if current.status == "recovered" else {}),
                               "resolution": VERIFIED}))
            return self._append(current, steps, now)

    def acknowledge(self, incident: str, note: str | None = None,
                    now: datetime | None = None) -> Incident:
        """Record that a person has seen the incident (its status does not change). A second
        acknowledgment changes nothing; a resolved incident cannot be acknowledged."""
        with self._turn():
            current = self._find(incident)
            if not current.is_open:
                raise TransitionRefused(f"{current.id} is resolved: there is nothing to "
                                        "acknowledge")
            if current.acknowledged_at is not None:
                return current
            return self._append(current, [("acknowledged", note, {})], _utc(now))

    def resolve(self, incident: str, note: str, now: datetime | None = None) -> Incident:
        """Resolve by hand, saying why in `note`."""
        return self.transition(incident, "resolved", note=note, now=now)

    # -- reading ----------------------------------------------------------------------------------

    def incidents(self, open_only: bool = False) -> list[Incident]:
        """Every incident (or those not resolved), newest first."""
        found = [i for i in self._all() if i.is_open or not open_only]
        return sorted(found, key=lambda i: (i.detected_at, i.id), reverse=True)

    def get(self, id_or_key: str) -> Incident:
        """An incident by id (`INC-…`, any case) or key (`gap:…`: its open incident, else the
        latest)."""
        return self._find(id_or_key)

    # -- delivery ---------------------------------------------------------------------------------

    def deliver_pending(self) -> DeliveryReport:
        """Send every event not yet delivered to each sink (failed ones first, in order)."""
        outbox = self._outbox()
        return outbox.deliver(*self._notices())

    def announce(self, cloud_type: str, event: str, subject: dict[str, Any],
                 now: datetime | None = None) -> DeliveryReport:
        """Send one announcement that is not an incident event (a completed drill) through the
        same sinks, once (its event id is `subject["key"]`, so a repeat is not sent again).
        `subject` needs id, key, type, severity and subject, as an incident has."""
        notice = Notice(subject["key"], event, _utc(now), subject, type=cloud_type)
        return self._outbox().deliver([notice.event_id], lambda _: notice)

    def redeliver(self) -> DeliveryReport:
        """Send again the events whose last delivery failed (the dead-letter file)."""
        outbox = self._outbox()
        return outbox.deliver(*self._notices(), failed_only=True)

    def dead_letters(self) -> list[dict[str, Any]]:
        return self._outbox().dead_letters()

    # -- inside -----------------------------------------------------------------------------------

    def _outbox(self) -> Outbox:
        settings = self.settings
        for i, spec in enumerate(settings.sinks):
            if spec.kind not in SINKS:
                hint = (" (it registers when flows.publish is imported: Salvage's flows and "
                        "command line do so)" if spec.kind == "prefect" else "")
                raise UnknownSink(f"incidents.sinks[{i}].kind = {spec.kind!r}: no sink of that "
                                  f"kind is registered; known: {', '.join(sorted(SINKS))}{hint}")
        source = settings.source or f"salvage://{socket.gethostname()}" + quote(
            str(self.root.resolve()))
        context = SinkContext(self.root, source, settings.secret, settings.retries,
                              settings.backoff, timeout=settings.timeout)
        return Outbox(self.root, settings.sinks, context)

    def _notices(self) -> tuple[list[str], Callable[[str], Notice]]:
        """Every event id in the order recorded, and how to build what the sinks receive for
        one: the event with the incident as it stood right after it."""
        grouped = self._rows_by_incident()
        where = {row["event_id"]: (rows, n) for rows in grouped.values()
                 for n, row in enumerate(rows, 1)}
        order = sorted((row["recorded_at"], row["incident_id"], row["seq"], row["event_id"])
                       for rows in grouped.values() for row in rows)

        def notice(event_id: str) -> Notice:
            rows, n = where[event_id]
            row = rows[n - 1]
            return Notice(event_id, row["event"], row["at"],
                          Incident.from_rows(rows[:n]).as_dict())

        return [t[-1] for t in order], notice

    def _rows_by_incident(self) -> dict[str, list[dict[str, Any]]]:
        with catalog_lock(self.catalog):
            rows = read_table(self.catalog, "incident_events").to_pylist()
        grouped: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            grouped.setdefault(row["incident_id"], []).append(row)
        return {iid: sorted(rs, key=lambda r: r["seq"]) for iid, rs in grouped.items()}

    def _all(self) -> list[Incident]:
        """Every incident, oldest first."""
        found = [Incident.from_rows(rows) for rows in self._rows_by_incident().values()]
        return sorted(found, key=lambda i: (i.timeline[0].at, i.id))

    def _find(self, id_or_key: str) -> Incident:
        text = id_or_key.strip()
        everything = self._all()
        if text.lower().startswith("gap:"):
            same = [i for i in everything if i.key == text]
            if same:
                return next((i for i in reversed(same) if i.is_open), same[-1])
        else:
            wanted = text.upper().removeprefix("INC-")
            for incident in everything:
                if incident.id.removeprefix("INC-").upper() == wanted:
                    return incident
        raise UnknownIncident(f"no incident {text!r}: give an id like INC-3f2a9c1e0b or a key "
                              "like gap:filing.missing:<accession>:<date> (`salvage incidents` "
                              "lists them)")

    def _append(self, current: Incident, steps: list[tuple[str, str | None, dict[str, Any]]],
                now: datetime) -> Incident:
        first = self._rows_by_incident()[current.id][0]
        rows = []
        status, seq = current.status, len(current.timeline)
        for event, note, evidence in steps:
            seq += 1
            status = status if event == "acknowledged" else event
            rows.append({**first, "event_id": f"{current.id}.{seq}", "seq": seq, "event": event,
                         "status": status, "note": note, "evidence": _json(evidence), "at": now})
        append_rows(self.catalog, "incident_events", rows)
        return Incident.from_rows(self._rows_by_incident()[current.id])

    @contextlib.contextmanager
    def _turn(self) -> Iterator[None]:
        folder = self.root / "incidents"
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "lifecycle.lock", "a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            yield


def _opened_row(iid: str, finding: Finding, severity: str, now: datetime) -> dict[str, Any]:
    return {
        "event_id": f"{iid}.1", "incident_id": iid, "seq": 1, "key": finding.key,
        "type": finding.type, "severity": severity, "subject": finding.subject,
        "entity": finding.entity, "period": finding.period,
        "window_start": _utc_or_none(finding.window_start),
        "window_end": _utc_or_none(finding.window_end),
        "status": "open", "event": "opened", "note": None, "evidence": _json(finding.evidence),
        "form_type": finding.form_type, "cik": _cik(finding.cik) if finding.cik else None,
        "at": now,
    }


def _json(evidence: dict[str, Any]) -> str:
    return json.dumps(evidence, sort_keys=True, default=str, ensure_ascii=False)


def _cik(value: str | int) -> str:
    text = str(value).strip()
    return text.zfill(10) if text.isdigit() else text


def _utc(moment: datetime | None) -> datetime:
    if moment is None:
        return datetime.now(UTC)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _utc_or_none(moment: datetime | None) -> datetime | None:
    return None if moment is None else _utc(moment)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else _utc(moment).isoformat().replace("+00:00", "Z")
