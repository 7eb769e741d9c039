"""`salvage demo`: the main job on the bundled samples, through Prefect, with no network; then
the second act (flows/demo_gaps.py): gaps detected, rebuilt and delivered as incidents.

Starts a local mirror of `samples/site/` (EDGAR's URL layout) on 127.0.0.1 and points the flows at
it, then runs them as the scheduler would: `ingest-edgar` backfills the sample days (captures,
extracts), runs again (nothing new: revisits only), `ingest-pages` watches pages while one is
throttled and one removed, `ingest-drop` archives and OCRs the scans of `samples/drop/`. Then it
queries the catalog with SQL and full text, looks a filing up, verifies the archive and exports a
WACZ. Prefect's database (runs, artifacts) is kept in the home.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.table import Table

from archive.errors import SalvageError
from archive.fixity import verify
from archive.home import Home
from archive.lookup import Index
from archive.payload import payload_line, stream_payload
from archive.wacz import export_wacz
from flows.mirror import Mirror
from flows.receiver import Receiver
from storage.query import Catalog
from storage.search import SearchIndex

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
SITE = SAMPLES / "site"
DEMO_MARK = ".salvage-demo"
BACKFILL = ("2024-12-27", "2025-01-10")
LATER_DAY = "2025-04-15"
WATCHED = ["pages/BuckleInc.8-K.html", "pages/BuckleInc.8-K.EX99.1.html",
           "documents/nics-background-checks-2015-11.pdf", "scans/linn-sequencer"]
FILINGS_SQL = ("SELECT accession, form_type, filed_as_of, documents_found, len(filers) AS filers "
               "FROM filings ORDER BY accession")
SEARCH_TERMS = "tender offer results"
DOCUMENTS_SQL = ("SELECT regexp_replace(source_url, '^https?://[^/]+', '') AS source, method, "
                 "page_count AS pages, ocr_pages, round(mean_confidence::DOUBLE, 1) AS confidence,"
                 " len(signals) AS signals FROM documents "
                 "WHERE method IN ('pdf', 'pdf+ocr', 'ocr') AND accession IS NULL ORDER BY 1")
SCAN_TERMS = "polyphonic sequencer"


class HomeNotEmpty(SalvageError):
    """The demo will not write into a home that already holds data."""


def prepare_home(root: Path, fresh: bool) -> Home:
    """A home for the demo: new, or (with `fresh`) a demo home emptied first."""
    root = Path(root)
    holds_data = root.exists() and any(root.iterdir())
    if holds_data:
        if not fresh:
            raise HomeNotEmpty(
                f"{root} already holds data: run the demo with another --home, or add --fresh to "
                "empty a home the demo created"
            )
        if not (root / DEMO_MARK).exists():
            raise HomeNotEmpty(f"{root} was not created by the demo: --fresh will not empty it")
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / DEMO_MARK).write_text("created by `salvage demo`; --fresh may empty this folder\n")
    return Home(root).ensure()


DEMO_CONFIG = """\
# Written by `salvage demo`: the flows pointed at the local EDGAR mirror, a replica beside the
# home, and incidents sent to a local webhook receiver (signed) and to incidents.jsonl.
[edgar]
archives_url = "{mirror}"
data_url = "{mirror}"
feed = false
recheck_days = 0

[feeds]
venue = "XNAS"
silence_seconds = 10  # LOBSTER's AAPL trades every second: 10 s of silence is a hole

[schedules]
edgar = false   # the demo runs the flows by hand (and its sample days are long past)

[replica]
uri = "{replica}"

[[incidents.sinks]]
kind = "webhook"
url = "{receiver}/salvage/incidents"
secret = "webhook_key"
retries = 1
backoff = 0.05

[[incidents.sinks]]
kind = "file"
"""
WEBHOOK_KEY = "demo-webhook-signing-key"


def replica_of(root: Path) -> Path:
    """Where the demo keeps its replica: beside the home, as a second disk would be."""
    return Path(root).resolve().with_name(Path(root).resolve().name + "-replica")


@contextmanager
def _pointed_at(mirror: Mirror, home: Home, receiver: Receiver, config_dir: Path):
    """Point the flows at the mirror, the replica and the receiver (and Prefect's database at
    the home), for the demo only."""
    from flows.serve import prefect_env

    config = config_dir / "salvage-demo.toml"
    config.write_text(DEMO_CONFIG.format(mirror=mirror.url, receiver=receiver.url,
                                         replica=replica_of(home.root)))
    settings = {"SALVAGE_CONFIG": str(config), "SALVAGE_SECRET_WEBHOOK_KEY": WEBHOOK_KEY,
                "SALVAGE_USER_AGENT": "Salvage demo demo@example.com",
                "SALVAGE_CAPTURE__BACKOFF": "0.05", "SALVAGE_CAPTURE__RETRIES": "1",
                "PREFECT_LOGGING_LEVEL": "WARNING"}
    if not os.environ.get("PREFECT_API_URL"):
        settings |= prefect_env(home)
    saved = {k: os.environ.get(k) for k in settings}
    os.environ.update(settings)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _table(title: str, rows: list[dict], columns: list[str]) -> Table:
    view = Table(*columns, title=title)
    for row in rows:
        view.add_row(*(str(row.get(c, "")) for c in columns))
    return view


def _query_table(home: Home, sql: str, title: str) -> Table:
    rows = Catalog(home.catalog).query(sql).to_pylist()
    return _table(title, rows, list(rows[0]) if rows else ["(no rows)"])


def _search(home: Home, console: Console, title: str, terms: str) -> None:
    console.print(f"\n{title}")
    for hit in SearchIndex(home.root / "search").search(terms, limit=3):
        where = hit.accession or hit.url or ""
        if where.startswith("urn:salvage:drop:"):
            where, label = f"dropped scan {where[17:29]}…", ""
        else:
            label = hit.document or ""
        console.print(f"   {hit.score:6.2f}  {where}  {label}")
        console.print(f"          {hit.snippet[:160]}", markup=False, highlight=False)


def _problems(console: Console, result: dict) -> None:
    for problem in result.get("problems", [])[:5]:
        console.print(f"   [yellow]![/] {problem}", highlight=False)


def _edgar_steps(console: Console, home: str) -> str:
    from flows.ingest import ingest_edgar

    first = ingest_edgar(start=BACKFILL[0], end=BACKFILL[1], home=home)
    days = [d for d in first["per_day"] if d["discovered"]]
    console.print(_table(
        f"1. flow ingest-edgar: daily indexes {BACKFILL[0]} .. {BACKFILL[1]} (other days: no "
        "index, as on weekends); then extraction, replication and gap detection",
        days, ["day", "discovered", "already_archived", "filings", "documents", "requests",
               "bytes"]))
    console.print(f"   extracted {first.get('extracted', 0)} payloads, quarantined "
                  f"{first.get('quarantined', 0)}, replicated "
                  f"{(first.get('replicated') or {}).get('copied', 0)} files, "
                  f"{first['seconds']:.1f} s")
    _problems(console, first)
    again = ingest_edgar(start=BACKFILL[0], end=BACKFILL[1], home=home)
    console.print(f"\n2. ingest-edgar again: {again['filings']} new filings, "
                  f"{again['already_archived']} already archived, "
                  f"{again.get('discovery_revisits', 0)} of {again.get('discovery_requests', 0)} "
                  "discovery requests answered 'not modified' (stored as revisits)")
    return "0001104659-25-002604"


def _pages_steps(console: Console, mirror: Mirror, home: str) -> None:
    from flows.ingest import ingest_pages

    urls = [f"{mirror.url}/{p}" for p in WATCHED]
    first = ingest_pages(urls=urls, sitemaps=[], home=home)
    mirror.state.throttled.add("/" + WATCHED[1])
    mirror.state.throttle_status = 403
    second = ingest_pages(urls=urls, sitemaps=[], home=home)
    mirror.state.throttled.clear()
    console.print(f"\n3. flow ingest-pages: {first['pages']} watched pages "
                  f"({first.get('pages_new', 0)} new); an hour later EDGAR throttles one "
                  "(archived, flagged, retried next hour — not a change):")
    for change in second["changes"]:
        console.print(f"   {change['event']:<9} HTTP {change['status']}  {change['url']}",
                      highlight=False)


def _drop_steps(console: Console, home: Home) -> None:
    from flows.ingest import ingest_drop

    drop = home.root / "drop"
    shutil.copytree(SAMPLES / "drop", drop, dirs_exist_ok=True)
    settled = time.time() - 60  # as if the scanner finished a minute ago
    for path in drop.iterdir():
        os.utime(path, (settled, settled))
    report = ingest_drop(home=str(home.root))
    console.print(_table(
        f"4. flow ingest-drop: {report['archived']} scans archived (resource records), moved to "
        f"drop/processed/, tied, OCR'd", report["files"],
        ["name", "accession", "tied_by", "problem"]))


def run_demo(root: Path, fresh: bool = False, console: Console | None = None) -> bool:
    from flows.demo_books import books_act
    from flows.demo_gaps import gaps_act

    console = console or Console()
    home = prepare_home(root, fresh)
    replica = replica_of(home.root)
    if replica.exists() and fresh:
        shutil.rmtree(replica)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="salvage-demo-") as work:
        site = Path(work) / "site"
        shutil.copytree(SITE, site)  # the second act changes what the source serves
        with Mirror(site) as mirror, Receiver() as receiver, \
                _pointed_at(mirror, home, receiver, Path(work)):
            console.print(f"EDGAR mirror of samples/site on {mirror.url}; flows run through "
                          "Prefect (a temporary local API, database in the home); replica "
                          f"{replica}; incidents to a webhook on {receiver.url}")
            accession = _edgar_steps(console, str(home.root))
            _pages_steps(console, mirror, str(home.root))
            _drop_steps(console, home)
            [txt] = Catalog(home.catalog).query(
                f"SELECT min(url) AS url FROM captures WHERE url LIKE '%/{accession}.txt' "
                "AND status = 200").column("url").to_pylist()
            _catalog_steps(console, home)
            books_act(console, home)
            gaps_act(console, site, mirror, receiver, home, WATCHED, LATER_DAY, WEBHOOK_KEY)
            _drill_step(console, home, mirror, replica)
    _closing_steps(console, home, root, txt, accession, started)
    return verify(home).ok


def _drill_step(console: Console, home: Home, mirror: Mirror, replica: Path) -> None:
    """A forensic drill on the demo home: filings, watched pages, order-book windows and two
    WARCs lost in a scratch copy (the mirror answers 404 for the filings and pages), recovered,
    verified and reported."""
    from urllib.parse import urlsplit

    from storage.drill import record_drill, run_drill

    def unavailable(urls: list[str]) -> None:
        mirror.state.removed.update(urlsplit(u).path for u in urls)

    result = record_drill(home, run_drill(home, sample="5", seed=2026, replica=str(replica),
                                          make_unavailable=unavailable))
    exact = sum(1 for i in result["items"] if i["byte_exact"])
    console.print(f"\n8b. salvage drill --sample 5 --seed 2026: {result['verdict'].upper()} — "
                  f"{exact}/{len(result['items'])} items recovered byte-exact in a scratch copy, "
                  f"RTO {result['rto_s']:.1f} s; report {home.root / result['report']['pdf']}")


def _catalog_steps(console: Console, home: Home) -> None:
    console.print(_query_table(home, FILINGS_SQL, f"5. salvage query \"{FILINGS_SQL}\""))
    _search(home, console, f"6. salvage search \"{SEARCH_TERMS}\"", SEARCH_TERMS)
    console.print(_query_table(home, DOCUMENTS_SQL,
                               "7. PDFs and scans: text read, image pages OCR'd"))
    _search(home, console, f"   salvage search \"{SCAN_TERMS}\" finds the OCR'd scan", SCAN_TERMS)


def _closing_steps(console: Console, home: Home, root: Path, txt: str, accession: str,
                   started: float) -> None:
    with Index(home) as index:
        line = index.closest(txt)
        assert line is not None
        source = payload_line(home, index, line)
        body = b"".join(stream_payload(home, source))
    original = SITE / "Archives/edgar/data/1376139/000110465925002604" / f"{accession}.txt"
    kind = f"revisit of {source.timestamp}" if line.is_revisit else "response"
    console.print(f"\n9. lookup {txt} (removed at the source in the second act)\n"
                  f"   closest good capture {line.timestamp} ({kind}) "
                  f"in {source.filename} at offset {source.offset}\n"
                  f"   payload {len(body):,} bytes, sha256 {hashlib.sha256(body).hexdigest()[:16]}…"
                  f" — identical to the source: {body == original.read_bytes()}")

    report = verify(home)
    console.print(f"\n10. verify: {'ok' if report.ok else 'FAILED'} — {report.files_checked} "
                  f"files, {report.records_checked} records, {report.bytes:,} bytes checked")
    wacz = home.root / "exports" / "demo.wacz"
    wacz.parent.mkdir(exist_ok=True)
    export_wacz(home, wacz)
    console.print(f"\n11. exported {wacz} ({wacz.stat().st_size:,} bytes)")
    prefect_db = home.root / "prefect" / "prefect.db"
    console.print(f"\ndone in {time.perf_counter() - started:.0f} s\n"
                  f"home: {home.root.resolve()}\nWARCs: {home.warcs.resolve()}\n"
                  f"catalog: {home.catalog.resolve()}\naudit chain: {home.audit.path.resolve()}\n"
                  f"Prefect runs and artifacts: {prefect_db.resolve()} "
                  f"(`salvage --home {root} serve` shows them in the Prefect UI)\n"
                  f"try: salvage --home {root} query \"{FILINGS_SQL}\"\n"
                  f"     salvage --home {root} search \"{SEARCH_TERMS}\" --form \"SC TO-T/A\"\n"
                  f"     salvage --home {root} drop list\n"
                  f"     salvage --home {root} incidents\n"
                  f"     salvage --home {root} lookup {txt} --all")
