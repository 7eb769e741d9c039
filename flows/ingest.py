"""Salvage's Prefect flows: each reads like the runbook it automates.

    ingest_edgar     discover a day's filings (daily index, watched CIKs, the latest-filings feed),
                     capture what is not archived yet, extract it
    ingest_pages     capture the watchlist and its sitemaps, record what changed or disappeared
    ingest_drop      archive the scans dropped in the drop folder, tie them to filings, OCR them
    extract_pending  extract every capture not yet extracted by the current extractor versions

Tasks are verbs over batches (a day of filings, a watchlist, a drop folder); the loops over
records live in the domain packages. Every flow takes `home` (default: the configured home) and
returns its summary, which it also publishes as an artifact and as `salvage.*.completed` events.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from prefect import flow, task
from prefect.cache_policies import NONE

from archive.capture import Capturer, CaptureSettings
from archive.home import Home
from archive.repair import recover
from flows.config import Config, load_config, resolve_home
from flows.publish import artifact, emit

EDGAR_TZ = ZoneInfo("America/New_York")
log = logging.getLogger("salvage.flows")


@dataclass(frozen=True)
class Setup:
    """What every task needs, loaded from the configuration in the process that runs it."""

    home: Home
    config: Config

    @property
    def capture(self) -> CaptureSettings:
        return self.config.capture_settings()


def setup(home: str | None = None, repair: bool = False) -> Setup:
    """The home and configuration; with `repair`, first finish what a killed run left open
    (a WARC still held by a live writer is left alone)."""
    config = load_config()
    made = Setup(Home(resolve_home(Path(home) if home else None, config)).ensure(), config)
    if repair:
        for name in recover(made.home):
            log.warning("repaired and closed %s (left open by an interrupted run)", name)
    return made


# -- tasks ---------------------------------------------------------------------------------------


@task(name="capture-edgar-day", cache_policy=NONE)
def capture_edgar_day(home: str, day: date, forms: list[str], ciks: list[str]) -> dict:
    """Discover one day's filings from its daily index and capture those not archived yet."""
    from archive.edgar import capture_filings, captured_accessions, discover_day

    s = setup(home)
    source = edgar_source(s.config)
    with Capturer(s.home, s.capture) as capturer:
        found = discover_day(capturer, source, day, forms=forms or None, ciks=ciks or None)
        known = captured_accessions(s.home)
        todo = [t for t in found.targets if t.accession not in known]
        captured = capture_filings(capturer, source, todo)
    return {"day": day.isoformat(), **_tally([found], found.targets, todo, captured)}


@task(name="capture-edgar-watched", cache_policy=NONE)
def capture_edgar_watched(home: str, forms: list[str], ciks: list[str], feed: bool,
                          since: date | None) -> dict:
    """Discover filings of the watched CIKs (submissions JSON) and the latest-filings feed."""
    from archive.edgar import capture_filings, captured_accessions, discover_ciks, discover_feed

    s = setup(home)
    source = edgar_source(s.config)
    with Capturer(s.home, s.capture) as capturer:
        results = []
        if ciks:
            results.append(discover_ciks(capturer, source, ciks, forms=forms or None, since=since))
        if feed:
            results.append(discover_feed(capturer, source, forms=forms or None))
        targets = list({t.accession: t for r in results for t in r.targets}.values())
        known = captured_accessions(s.home)
        todo = [t for t in targets if t.accession not in known]
        captured = capture_filings(capturer, source, todo)
    return _tally(results, targets, todo, captured)


RECHECK_SQL = r"""
SELECT min(c.url) AS url
FROM captures c
JOIN filings f ON f.accession = regexp_extract(c.url, '/(\d{10}-\d{2}-\d{6})\.txt$', 1)
WHERE c.url LIKE '%/Archives/edgar/data/%.txt' AND c.status = 200 AND c.soft_error IS NULL
  AND f.filed_as_of >= ? AND c.warc_date < ?
GROUP BY f.accession
ORDER BY 1
"""


@task(name="recheck-filings", cache_policy=NONE)
def recheck_filings(home: str, since: date, before: datetime) -> dict:
    """Re-fetch (conditional GET) the complete submission of each filing filed since `since`
    and captured before `before`: removals and silent changes at the source become captures
    that gap detection reads (a 404, a new digest); unchanged filings cost a 304."""
    from storage.query import Catalog

    s = setup(home)
    with Catalog(s.home.catalog).connect() as con:
        urls = [row[0] for row in con.execute(RECHECK_SQL, [since, before]).fetchall()]
    events: dict[str, int] = {}
    with Capturer(s.home, s.capture) as capturer:
        for url in urls:
            result = capturer.capture_url(url)
            kind = "unchanged" if result.record_type == "revisit" else (
                "gone" if result.status in (404, 410) or result.soft_error else
                "failed" if not result.ok else "changed")
            events[kind] = events.get(kind, 0) + 1
    return {"rechecked": len(urls), **{f"recheck_{k}": v for k, v in sorted(events.items())}}


@task(name="capture-watchlist", cache_policy=NONE)
def capture_watchlist_task(home: str, urls: list[str], sitemaps: list[str]) -> dict:
    """Capture every watched page once and record what changed."""
    from archive.watch import capture_watchlist

    s = setup(home)
    with Capturer(s.home, s.capture) as capturer:
        report = capture_watchlist(capturer, urls, sitemaps)
    changes = [{k: r[k] for k in ("url", "event", "status", "via")} for r in report.rows
               if r["event"] not in ("unchanged",)]
    return {"pages": report.pages, "sitemaps": report.sitemaps, "bytes": report.bytes,
            **{f"pages_{k}": v for k, v in sorted(report.events.items())},
            "problems": report.problems, "changes": changes}


@task(name="scan-drop-folder", cache_policy=NONE)
def scan_drop_folder(home: str, folder: str | None) -> dict:
    """Archive every settled file of the drop folder, tie it to a filing, move it aside."""
    from archive.drop import scan_drop

    s = setup(home)
    drop = s.config.drop
    where = Path(folder) if folder else s.home.root / drop.folder
    report = scan_drop(s.home, where, where / drop.processed, s.capture,
                       settle_seconds=drop.settle_seconds)
    files = [{"name": r.get("original_name"), "sha256": (r.get("sha256") or "")[:16],
              "accession": r.get("accession"), "tied_by": r.get("tied_by"),
              "problem": r.get("problem")} for r in report.archived]
    return {"archived": len(report.archived), "already": len(report.already),
            "skipped": len(report.skipped), "failed": len(report.failed),
            "untied": sum(1 for r in report.archived if not r.get("accession")),
            "seconds": round(report.seconds, 2), "files": files,
            "problems": [f"{p['name']}: {p['problem']}" for p in report.problems]
            + [f"{f['name']}: {f['error']}" for f in report.failed]}


@task(name="import-feed-files", cache_policy=NONE)
def import_feed_files(home: str, folder: str | None) -> dict:
    """Import the settled market-data files of the feed folder (one batch per format), then
    move them to `processed/<date>/`."""
    from orderbook.events import FeedError
    from orderbook.feedfolder import find_feeds, move_processed
    from orderbook.replay import guess_venue
    from orderbook.store import import_feeds

    s = setup(home)
    feeds = s.config.feeds
    where = Path(folder) if folder else s.home.root / feeds.folder
    found = find_feeds(where, feeds.settle_seconds)
    summary: dict[str, Any] = {"files": 0, "events": 0, "errors": 0, "problems": [],
                               "left": found.left}
    batches = []
    for fmt, paths in sorted(found.by_format.items()):
        if fmt != "l2":
            batches.append((fmt, feeds.venue or None, paths))
            continue
        by_venue: dict[str, list[Path]] = {}
        for path in paths:  # an L2 capture says its venue in its messages
            try:
                by_venue.setdefault(feeds.venue or guess_venue(path), []).append(path)
            except FeedError as exc:
                summary["left"].append({"name": path.name, "reason": exc.reason})
        batches += [(fmt, venue, group) for venue, group in sorted(by_venue.items())]
    for fmt, venue, paths in batches:
        report = import_feeds(s.home, paths, fmt, venue=venue,
                              checkpoint_every=feeds.checkpoint_every, settings=s.capture)
        summary["files"] += len(report.files)
        summary["events"] += sum(x["events"] for f in report.files for x in f.symbols)
        summary["errors"] += sum(f.error_count for f in report.files)
        summary["problems"] += [f"{f.name}: {f.error}" for f in report.files if f.error]
        summary["problems"] += [f"{f.name} line {e['line']}: {e['reason']}"
                                for f in report.files for e in f.errors[:20]]
        failed = {Path(x).name for f in report.files if not f.ok  # stay: retried next run
                  for x in (f.path, f.companion) if x}
        move_processed([p for p in paths if p.exists() and p.name not in failed],
                       where / feeds.processed)
    return summary


@task(name="extract-catalog", cache_policy=NONE)
def extract_catalog(home: str) -> dict:
    """Extract every capture not yet extracted into the catalog (and the search index)."""
    from extract.run import extract_home

    report = extract_home(setup(home).home)
    return {"candidates": report.candidates, "extracted": report.extracted,
            "already": report.already, "rows": report.rows,
            "quarantined": len(report.quarantined), "unreadable": len(report.unreadable),
            "seconds": round(report.seconds, 2),
            "problems": [f"{q['url']}: {q['error_type']}: {q['reason']}"
                         for q in report.quarantined]
            + [f"{u['url']}: {u['error']}" for u in report.unreadable]}


@task(name="replicate", cache_policy=NONE)
def replicate_home(home: str) -> dict | None:
    """Copy what the run added to the configured replica (when `[replica] after_ingest`)."""
    from archive.replicate import replicate

    s = setup(home)
    replica = s.config.replica
    if not (replica.uri and replica.after_ingest):
        return None
    report = replicate(s.home, replica.uri,
                       access_key=s.config.secret("replica_access_key_id"),
                       secret_key=s.config.secret("replica_secret_access_key"))
    return {"copied": len(report.copied), "bytes": report.bytes,
            "problems": [p.message for p in report.problems]}


# -- flows ---------------------------------------------------------------------------------------


@flow(name="ingest-edgar", log_prints=True)
def ingest_edgar(day: date | None = None, start: date | None = None, end: date | None = None,
                 forms: list[str] | None = None, ciks: list[str] | None = None,
                 feed: bool | None = None, recheck_since: date | None = None,
                 extract: bool = True, detect: bool = True,
                 home: str | None = None) -> dict:
    """Capture EDGAR filings: the daily index of `day` (default: today in New York, and the
    configured `backfill_days` before it) or of every day from `start` to `end`; the watched CIKs'
    submissions and the latest-filings feed; then extract them. `forms` and `ciks` default to
    the configuration's. Filings already archived are not fetched again, except those filed
    since `recheck_since` (default: `recheck_days` ago), re-fetched to see removals and
    changes at the source."""
    started, run_started = time.perf_counter(), datetime.now(UTC)
    s = setup(home, repair=True)
    root = str(s.home.root)
    edgar = s.config.edgar
    forms = list(forms if forms is not None else edgar.forms)
    watched = list(ciks if ciks is not None else edgar.ciks)
    days = edgar_days(day, start, end, edgar.backfill_days)
    per_day = [capture_edgar_day(root, d, forms, [] if ciks is None else watched) for d in days]
    use_feed = edgar.feed if feed is None else feed
    extra = capture_edgar_watched(root, forms, watched, use_feed, days[0]) \
        if (watched or use_feed) else None
    since = recheck_since or (datetime.now(EDGAR_TZ).date()
                              - timedelta(days=edgar.recheck_days))
    rechecked = recheck_filings(root, since, run_started) \
        if recheck_since or edgar.recheck_days else {}
    captured = _sum([*per_day, *([extra] if extra else []), rechecked])
    for key in ("discovered", "already_archived"):  # an accession found twice counts once
        captured[key] = len(set().union(*(p[key + "_accessions"] for p in per_day + [extra]
                                          if p)))
    emit(s.home, "capture", captured)
    extracted = extract_catalog(root) if extract else None
    if extracted:
        emit(s.home, "extract", extracted)
    summary = {"days": f"{days[0]} .. {days[-1]}", **captured,
               **({"extracted": extracted["extracted"],
                   "quarantined": extracted["quarantined"]} if extracted else {}),
               "seconds": round(time.perf_counter() - started, 2)}
    problems = captured["problems"] + (extracted["problems"] if extracted else [])
    artifact("ingest-edgar", "EDGAR ingest", summary, [{"problem": p} for p in problems])
    after = after_ingest(root, detect)
    return {**summary, "problems": problems, "per_day": per_day, **after}


@flow(name="ingest-pages", log_prints=True)
def ingest_pages(urls: list[str] | None = None, sitemaps: list[str] | None = None,
                 extract: bool = True, detect: bool = True, home: str | None = None) -> dict:
    """Capture the watched pages (default: the configured watchlist) and the pages their
    sitemaps list; unchanged pages become revisits; changes and removals are recorded in
    `watch_events` for the gaps stage."""
    started = time.perf_counter()
    s = setup(home, repair=True)
    root = str(s.home.root)
    watch = s.config.watch
    report = capture_watchlist_task(root, list(urls if urls is not None else watch.urls),
                                    list(sitemaps if sitemaps is not None else watch.sitemaps))
    emit(s.home, "watch", report)
    extracted = extract_catalog(root) if extract else None
    if extracted:
        emit(s.home, "extract", extracted)
    summary = {k: v for k, v in report.items() if k not in ("problems", "changes")}
    summary["seconds"] = round(time.perf_counter() - started, 2)
    artifact("ingest-pages", "Watched pages", summary, report["changes"])
    return {**summary, "changes": report["changes"], "problems": report["problems"],
            **after_ingest(root, detect)}


@flow(name="ingest-drop", log_prints=True)
def ingest_drop(folder: str | None = None, extract: bool = True, detect: bool = True,
                home: str | None = None) -> dict:
    """Archive the scans and PDFs in the drop folder (default: `<home>/drop`) as resource
    records, tie them to filings, move them to `processed/`, then OCR and catalogue them."""
    started = time.perf_counter()
    s = setup(home, repair=True)
    root = str(s.home.root)
    report = scan_drop_folder(root, folder)
    emit(s.home, "drop", report)
    extracted = extract_catalog(root) if extract else None
    if extracted:
        emit(s.home, "extract", extracted)
    summary = {k: v for k, v in report.items() if not isinstance(v, list)}
    if extracted:
        summary |= {"extracted": extracted["extracted"], "quarantined": extracted["quarantined"]}
    summary["seconds"] = round(time.perf_counter() - started, 2)
    artifact("ingest-drop", "Drop folder", summary, report["files"])
    return {**report, **summary, **after_ingest(root, detect)}


@flow(name="ingest-feeds", log_prints=True)
def ingest_feeds(folder: str | None = None, detect: bool = True,
                 home: str | None = None) -> dict:
    """Import the market-data files of the feed folder (default: `<home>/feeds`): raw bytes to
    the WARCs, events to the partitioned order-book store with checkpoints; then move them to
    `processed/` and look for gaps in the books."""
    started = time.perf_counter()
    s = setup(home, repair=True)
    root = str(s.home.root)
    report = import_feed_files(root, folder)
    emit(s.home, "feeds", report)
    summary = {k: v for k, v in report.items() if not isinstance(v, list)}
    summary["seconds"] = round(time.perf_counter() - started, 2)
    artifact("ingest-feeds", "Market-data feeds", summary,
             [{"problem": p} for p in report["problems"]] + report["left"])
    return {**report, **summary, **after_ingest(root, detect)}


@flow(name="extract-pending", log_prints=True)
def extract_pending(home: str | None = None) -> dict:
    """Extract every capture not yet extracted by the current extractor versions."""
    s = setup(home, repair=True)
    report = extract_catalog(str(s.home.root))
    emit(s.home, "extract", report)
    summary = {k: v for k, v in report.items() if k not in ("problems", "rows")}
    artifact("extract-pending", "Pending extraction", summary,
             [{"problem": p} for p in report["problems"]])
    return report


def after_ingest(home: str, detect: bool) -> dict:
    """What every ingest ends with: the replica brought up to date (when configured), then
    gap detection (a subflow)."""
    from flows.gaps import detect_gaps

    replicated = replicate_home(home)
    gaps = detect_gaps(home=home) if detect else None
    return {"replicated": replicated,
            "gaps": {k: gaps[k] for k in ("findings", "opened", "recovery_attempts")}
            if gaps else None}



# -- small pieces ----------------------------------------------------------------------------------


def edgar_source(config: Config):
    from archive.edgar import EdgarSource

    return EdgarSource(archives=config.edgar.archives_url, data=config.edgar.data_url)


def edgar_days(day: date | None, start: date | None, end: date | None,
               backfill: int = 0) -> list[date]:
    """The days to ingest: `start`..`end` inclusive, else `day` (default today in New York)
    and the `backfill` days before it, oldest first."""
    if start or end:
        first, last = start or end, end or start
        if first > last:  # type: ignore[operator]
            raise ValueError(f"start {first} is after end {last}")
        return [first + timedelta(n) for n in range((last - first).days + 1)]  # type: ignore
    last = day or datetime.now(EDGAR_TZ).date()
    return [last - timedelta(n) for n in range(backfill, -1, -1)]


def _tally(discoveries: list, targets: list, todo: list, captured: Any) -> dict:
    """One EDGAR task's counts: discovery requests, accessions found and already archived,
    then what capture_filings did."""
    fresh = {t.accession for t in todo}
    data = _plain(captured)
    return {"discovered_accessions": sorted(t.accession for t in targets),
            "already_archived_accessions": sorted(t.accession for t in targets
                                                  if t.accession not in fresh),
            "discovered": len(targets), "already_archived": len(targets) - len(todo),
            "discovery_requests": sum(d.requests for d in discoveries),
            "discovery_revisits": sum(d.revisits for d in discoveries),
            **{k: v for k, v in data.items()
               if isinstance(v, int | float) and not isinstance(v, bool)},
            "problems": _problems(*discoveries, captured)}


def _problems(*reports: Any) -> list[str]:
    """Every error, failure and stop reason of domain reports, one line each."""
    found: list[str] = []
    for r in reports:
        for name in ("problems", "errors", "failures"):
            for p in getattr(r, name, None) or []:
                found.append(_line(p))
        if getattr(r, "stopped", None):
            found.append(f"stopped: {r.stopped}")
    return found


def _line(problem: Any) -> str:
    if isinstance(problem, str):
        return problem
    where = getattr(problem, "accession", None) or getattr(problem, "url", None) or ""
    kind = getattr(problem, "kind", None) or type(problem).__name__
    reason = getattr(problem, "reason", None) or str(problem)
    return f"{where} {kind}: {reason}".strip()


def _sum(parts: list[dict]) -> dict:
    total: dict[str, Any] = {"problems": []}
    for part in parts:
        for k, v in part.items():
            if k == "problems":
                total["problems"] += v
            elif isinstance(v, int | float) and not isinstance(v, bool):
                total[k] = total.get(k, 0) + v
    return total


def _plain(report: Any) -> dict:
    if isinstance(report, dict):
        return report
    try:
        return asdict(report)
    except TypeError:
        return dict(vars(report))
