"""The incident outbox: every incident event reaches every sink, once, in order.

The `deliveries` ledger (a catalog table) says what each sink did with each event: `delivered`,
`skipped` (nothing to send for that event) or `dead-lettered`. An event is pending for a sink until
the ledger says delivered or skipped, so an event that failed is tried again by the next delivery,
before any newer event to that sink (a receiver never sees a resolve before its trigger). Events
whose last attempt failed are also kept, whole, in `<home>/incidents/dead-letter.jsonl`, which
each delivery rewrites crash-safely and `redeliver` drains. Deliveries of one home take turns
(a lock file), so two processes never send the same event at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from storage.atomic import atomic_file
from storage.sinks import SINKS, DeliveryFailed, Notice, Sent, SinkContext, SinkSpec
from storage.tables import append_rows, catalog_lock, read_table

DEAD_LETTER = Path("incidents") / "dead-letter.jsonl"
DONE = ("delivered", "skipped")


@dataclass
class DeliveryReport:
    """What one delivery run did: each (event, sink) delivered, skipped or dead-lettered."""

    delivered: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    dead_lettered: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.dead_lettered

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "delivered": self.delivered, "skipped": self.skipped,
                "dead_lettered": self.dead_lettered}


class Outbox:
    """Sends notices to the configured sinks, keeping the ledger and the dead-letter file."""

    def __init__(self, root: Path, sinks: tuple[SinkSpec, ...], context: SinkContext):
        self.root = Path(root)
        self.catalog = self.root / "catalog"
        self.sinks = sinks
        self.context = context
        self.dead_letter_path = self.root / DEAD_LETTER

    def deliver(self, event_ids: list[str], notice: Callable[[str], Notice],
                failed_only: bool = False) -> DeliveryReport:
        """Send each event (ids oldest first; `notice` builds what the sinks receive) not yet
        delivered to each sink. `failed_only`: only those whose last attempt failed (what
        `redeliver` drains)."""
        report = DeliveryReport()
        with self._turn():
            ledger = self._ledger()
            letters = {k: v for k, v in self._dead_letters().items() if ledger.get(k) not in DONE}
            try:
                for spec in self.sinks:
                    todo = [e for e in event_ids if ledger.get((e, spec.name)) not in DONE]
                    if failed_only:
                        todo = [e for e in todo if (e, spec.name) in letters
                                or ledger.get((e, spec.name)) == "dead-lettered"]
                    if todo:
                        self._deliver_to(spec, [notice(e) for e in todo], letters, report)
            finally:
                self.context.close()
            configured = {spec.name for spec in self.sinks}
            for (event_id, name), letter in letters.items():
                if name not in configured and failed_only:
                    report.dead_lettered.append({
                        "event_id": event_id, "sink": name, "attempts": 0,
                        "error": f"sink {name} is no longer configured (kept in "
                                 f"{DEAD_LETTER})", "http_status": letter.get("http_status")})
        return report

    def _deliver_to(self, spec: SinkSpec, todo: list[Notice],
                    letters: dict[tuple[str, str], dict], report: DeliveryReport) -> None:
        send = SINKS[spec.kind]
        rows: list[dict[str, Any]] = []
        broken: str | None = None
        for notice in todo:
            at = datetime.now(UTC)
            if broken:  # keep the order: nothing newer goes before what failed
                failure = DeliveryFailed(f"not attempted: an earlier event to this sink failed "
                                         f"({broken})", attempts=0)
            else:
                try:
                    sent = send(notice, spec, self.context)
                    failure = None
                except DeliveryFailed as exc:
                    failure = exc
                except Exception as exc:  # a sink a user wrote: its failure is a dead letter
                    failure = DeliveryFailed(f"{type(exc).__name__}: {exc}")
            entry = {"event_id": notice.event_id, "sink": spec.name}
            if failure is None:
                sent = sent if isinstance(sent, Sent) else Sent()
                rows.append(_row(notice, spec, sent.status, sent.attempts, sent.http_status,
                                 sent.note, at))
                (report.skipped if sent.status == "skipped" else report.delivered).append(
                    {**entry, "attempts": sent.attempts, "http_status": sent.http_status})
                letters.pop((notice.event_id, spec.name), None)
                continue
            broken = broken or failure.error
            rows.append(_row(notice, spec, "dead-lettered", failure.attempts,
                             failure.http_status, failure.error, at))
            report.dead_lettered.append({**entry, "attempts": failure.attempts,
                                         "http_status": failure.http_status,
                                         "error": failure.error})
            letters[(notice.event_id, spec.name)] = {
                "event_id": notice.event_id, "sink": spec.name, "kind": spec.kind,
                "error": failure.error, "attempts": failure.attempts,
                "http_status": failure.http_status, "at": at.isoformat(),
                "notice": notice.as_dict()}
        # the dead letters first: a crash between the two leaves an event both pending and
        # dead-lettered, and the next delivery sends it once
        self._write_dead_letters(letters)
        append_rows(self.catalog, "deliveries", rows)

    def _ledger(self) -> dict[tuple[str, str], str]:
        """The latest status of each (event_id, sink)."""
        with catalog_lock(self.catalog):
            rows = read_table(self.catalog, "deliveries").select(
                ["event_id", "sink", "status", "recorded_at"]).to_pylist()
        rows.sort(key=lambda r: r["recorded_at"])
        return {(r["event_id"], r["sink"]): r["status"] for r in rows}

    def _dead_letters(self) -> dict[tuple[str, str], dict]:
        letters: dict[tuple[str, str], dict] = {}
        if not self.dead_letter_path.exists():
            return letters
        for line in self.dead_letter_path.read_text().splitlines():
            try:
                letter = json.loads(line)
                letters[(letter["event_id"], letter["sink"])] = letter
            except (ValueError, KeyError, TypeError):
                continue  # a line torn by a crash: its event is still pending in the ledger
        return letters

    def dead_letters(self) -> list[dict]:
        """The events whose last delivery failed, as the dead-letter file holds them."""
        return list(self._dead_letters().values())

    def _write_dead_letters(self, letters: dict[tuple[str, str], dict]) -> None:
        if not letters and not self.dead_letter_path.exists():
            return
        self.dead_letter_path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(self.dead_letter_path, 0o600) as fh:
            for letter in letters.values():
                fh.write((json.dumps(letter, sort_keys=True) + "\n").encode())

    @contextlib.contextmanager
    def _turn(self) -> Iterator[None]:
        folder = self.root / "incidents"
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "delivery.lock", "a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            yield


def _row(notice: Notice, spec: SinkSpec, status: str, attempts: int, http_status: int | None,
         error: str | None, at: datetime) -> dict[str, Any]:
    return {"event_id": notice.event_id, "incident_id": notice.incident["id"],
            "sink": spec.name, "kind": spec.kind, "event": notice.event, "status": status,
            "attempts": attempts, "http_status": http_status, "error": error, "at": at}
