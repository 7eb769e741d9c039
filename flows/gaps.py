"""The `detect-gaps` flow: find every gap, open its incident once, rebuild what the archives hold,
and tell the trading side.

    findings  = find_catalog_gaps + find_fixity_gaps + find_pipeline_gaps
    opened    = raise_incidents(findings)       new incidents only (keys are deterministic)
    recovered = recover_incidents()             filings rebuilt, damaged files restored
    delivered = deliver_incidents()             every new incident event to every sink

It runs after every ingest and on its own schedule. A filing gap that detection no longer sees
(the filing arrived late after all, a stalled flow ran) is resolved with a note saying so.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NONE

from archive.pagecopy import page_copy
from flows.ingest import Setup, setup
from flows.publish import artifact, emit
from storage.findings import Finding

RECOVERABLE = ("filing.missing", "filing.incomplete", "filing.removed", "filing.altered")
"""Filing gaps a rebuild from the archives answers (a late filing has nothing to rebuild)."""
BOOK_REPAIRABLE = ("orderbook.sequence_gap", "orderbook.checksum", "orderbook.state_unknown")
"""Feed integrity gaps: recovered when a merged stream fills them (orderbook.integrity)."""
SELF_CLEARING = ("filing.missing", "filing.incomplete", "filing.late", "pipeline.stalled")
"""Gaps that end when detection stops seeing them: resolved with a note, not by recovery."""


def _store(s: Setup):
    from storage.incidents import IncidentStore

    return IncidentStore(s.home, s.config.incident_settings())


@task(name="find-catalog-gaps", cache_policy=NONE)
def find_catalog_gaps(home: str, now: datetime) -> tuple[list[Finding], dict]:
    """Missing, incomplete, removed, altered and late filings; removed and altered pages."""
    from storage.gaps import detect_gaps

    s = setup(home)
    edgar = s.config.edgar
    report = detect_gaps(s.home, now=now, watched_ciks=edgar.ciks, forms=edgar.forms,
                         since=ingest_start(s.home))
    return report.findings, {"paper_awaiting_scan": len(report.paper),
                             "pending_within_grace": report.pending}


START_SQL = r"""
SELECT coalesce(
    min(try_strptime(regexp_extract(url, '/daily-index/.*\.(\d{8})\.idx$', 1), '%Y%m%d')),
    min(warc_date)) AS since
FROM captures
"""


def ingest_start(home) -> date | None:
    """The first day this home ingested (its oldest daily index, else its first capture):
    filings listed before it are history, not gaps (a watched issuer's submissions JSON lists
    everything back to 1994)."""
    from storage.query import Catalog

    with Catalog(home.catalog).connect() as con:
        value = con.execute(START_SQL).fetchone()[0]
    return value.date() if value else None


@task(name="find-fixity-gaps", cache_policy=NONE)
def find_fixity_gaps(home: str) -> list[Finding]:
    """Files of our own store that fail verification or are gone."""
    from archive.restore import fixity_findings

    s = setup(home)
    return fixity_findings(s.home, s.config.replica.uri or None,
                           access_key=s.config.secret("replica_access_key_id"),
                           secret_key=s.config.secret("replica_secret_access_key"))


@task(name="find-book-gaps", cache_policy=NONE)
def find_book_gaps(home: str) -> tuple[list[Finding], list[str]]:
    """Silences, crossed and locked books, MAYBE_BAD_BOOK, sequence holes, missing days."""
    from orderbook.gaps import book_gaps

    s = setup(home)
    feeds = s.config.feeds
    report = book_gaps(s.home, silence=timedelta(seconds=feeds.silence_seconds),
                       whole_channel=feeds.whole_channel)
    return report.findings, report.not_checkable


@task(name="find-pipeline-gaps", cache_policy=NONE)
def find_pipeline_gaps(home: str, now: datetime) -> list[Finding]:
    """Failed and stalled flow runs, EDGAR ingestion lag."""
    from flows.pipeline import pipeline_findings

    s = setup(home)
    return pipeline_findings(s.home, now, edgar_scheduled=s.config.schedules.edgar is not False)


@task(name="raise-incidents", cache_policy=NONE)
def raise_incidents(home: str, findings: list[Finding], now: datetime) -> dict:
    """Open an incident for each new gap; resolve self-clearing ones no longer seen."""
    s = setup(home)
    store = _store(s)
    opened = store.raise_findings(findings, now=now)
    seen = {f.key for f in findings}
    cleared = []
    for incident in store.incidents(open_only=True):
        if incident.type in SELF_CLEARING and incident.key not in seen:
            store.resolve(incident.id, "no longer detected: the gap closed at the source "
                          "(e.g. the filing arrived, the flow ran)", now=now)
            cleared.append(incident.id)
    if not any(sink.kind == "prefect" for sink in s.config.incidents.sinks):
        for incident in opened:  # inside flows Prefect always hears of a new gap
            emit(s.home, "data-gap", incident.as_dict(), event="salvage.data-gap.detected")
    return {"opened": [i.id for i in opened], "cleared": cleared}


@task(name="recover-incidents", cache_policy=NONE)
def recover_incidents(home: str) -> dict:
    """Rebuild filings of open filing incidents; restore damaged files from the replica; point
    page incidents at the archived copy of the page (verified against its recorded digest)."""
    from archive.recover import recover_filings
    from archive.restore import restore_from_replica

    s = setup(home)
    store = _store(s)
    todo = [i for i in store.incidents(open_only=True) if i.status in ("open", "unrecoverable")]
    outcome: dict[str, str] = {}
    filings = [i for i in todo if i.type in RECOVERABLE]
    for incident in filings:
        store.transition(incident.id, "recovering")
    by_accession = {r.accession: r for r in recover_filings(
        s.home, sorted({i.entity for i in filings}))} if filings else {}
    for incident in filings:
        rec = by_accession.get(incident.entity)
        if rec is None:
            continue
        evidence = {"manifest": str(rec.manifest_path.relative_to(s.home.root)),
                    "status": rec.status, "files": len(rec.files), "missing": rec.missing,
                    "verified": rec.status == "recovered"}
        status = "recovered" if rec.status in ("recovered", "partial") and rec.files \
            else "unrecoverable"
        if rec.status == "partial":
            evidence["note"] = "partial: " + ", ".join(rec.missing[:10])
        store.transition(incident.id, status, evidence=evidence)
        outcome[incident.id] = f"{status} ({rec.status})"
    for incident in (i for i in todo if i.type in ("page.removed", "page.altered")):
        copy = page_copy(s.home, incident.evidence)
        store.transition(incident.id, "recovering")
        status = "recovered" if copy and copy["verified"] else "unrecoverable"
        store.transition(incident.id, status, evidence=copy or {
            "reason": "no good capture of the page is archived"})
        outcome[incident.id] = status
    fixity = [i for i in todo if i.type == "archive.fixity"]
    if fixity:
        for incident in fixity:
            store.transition(incident.id, "recovering")
        restored = restore_from_replica(
            s.home, s.config.replica.uri or None, [i.entity for i in fixity],
            access_key=s.config.secret("replica_access_key_id"),
            secret_key=s.config.secret("replica_secret_access_key"))
        done = {r.file: r for r in restored.restored} | {f: None for f in restored.intact}
        failed = {u.file: u.reason for u in restored.unrecoverable}
        for incident in fixity:
            if incident.entity in done:
                r = done[incident.entity]
                store.transition(incident.id, "recovered", evidence={
                    "verified": True, "restored_from": restored.replica,
                    "sha256": r.sha256 if r else None})
                outcome[incident.id] = "recovered (replica)"
            else:
                store.transition(incident.id, "unrecoverable", evidence={
                    "reason": failed.get(incident.entity, "not restored")})
                outcome[incident.id] = "unrecoverable"
    from orderbook.integrity import rebuild_incident, settle_incident

    books = [i for i in todo if i.type in BOOK_REPAIRABLE]
    for incident in books:
        outcome[incident.id] = settle_incident(s.home, store, incident)
    damaged = [i for i in todo if i.type == "orderbook.store_damaged"]
    for incident in damaged:
        outcome[incident.id] = rebuild_incident(s.home, store, incident)
    return {"attempted": len(filings) + len(fixity) + len(books) + len(damaged),
            "outcome": outcome}


@task(name="deliver-incidents", cache_policy=NONE)
def deliver_incidents(home: str) -> dict:
    """Send every incident event not yet delivered to each sink (failures wait as dead
    letters; `salvage incidents redeliver` or the next run sends them)."""
    report = _store(setup(home)).deliver_pending()
    return report.as_dict()


@flow(name="detect-gaps", log_prints=True)
def detect_gaps(recover: bool = True, home: str | None = None) -> dict:
    """Find every gap (filings, pages, order books, our own store, the pipeline), open one
    incident per new gap, rebuild what the archives hold (with `recover`), and deliver the
    incidents."""
    started = time.perf_counter()
    s = setup(home, repair=True)
    root, now = str(s.home.root), datetime.now(UTC)
    catalog, extra = find_catalog_gaps(root, now)
    books, not_checkable = find_book_gaps(root)
    findings = catalog + books + find_fixity_gaps(root) + find_pipeline_gaps(root, now)
    raised = raise_incidents(root, findings, now)
    recovered = recover_incidents(root) if recover else {"attempted": 0, "outcome": {}}
    delivered = deliver_incidents(root)
    by_type: dict[str, int] = {}
    for f in findings:
        by_type[f.type] = by_type.get(f.type, 0) + 1
    summary: dict[str, Any] = {
        "findings": len(findings), **{f"found {k}": v for k, v in sorted(by_type.items())},
        **extra, "book_checks_not_possible": len(not_checkable),
        "opened": len(raised["opened"]), "cleared": len(raised["cleared"]),
        "recovery_attempts": recovered["attempted"],
        "delivered": len(delivered["delivered"]),
        "dead_lettered": len(delivered["dead_lettered"]),
        "seconds": round(time.perf_counter() - started, 2)}
    emit(s.home, "gaps", summary)
    incidents = [{"id": i.id, "type": i.type, "severity": i.severity, "status": i.status,
                  "subject": i.subject} for i in _store(s).incidents(open_only=False)[:200]]
    artifact("detect-gaps", "Data gaps", summary, incidents)
    return {**summary, "opened_ids": raised["opened"], "outcome": recovered["outcome"],
            "incidents": incidents}
