"""`salvage demo`: the main job on the bundled samples, with no network.

Starts a local mirror of `samples/site/` on 127.0.0.1, captures it, captures it again (unchanged
pages become revisits), captures a throttled page (flagged as a soft error), extracts filings,
indexes, pages, PDFs and scans (OCR) into the catalog, queries it with SQL and full text, looks a
page up, gets its bytes back, verifies the archive and exports a WACZ.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from rich.console import Console
from rich.table import Table

from archive.capture import Capturer, CaptureSettings
from archive.errors import SalvageError
from archive.fixity import verify
from archive.home import Home
from archive.lookup import Index
from archive.payload import payload_line, stream_payload
from archive.wacz import export_wacz
from extract.run import extract_home
from flows.mirror import Mirror
from storage.query import Catalog
from storage.search import SearchIndex

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "site"
DEMO_MARK = ".salvage-demo"


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


def _results_table(title: str, results) -> Table:
    table = Table("url", "status", "record", "bytes", "note", title=title)
    for r in results:
        table.add_row(r.url, str(r.status or ""), r.record_type or "-", f"{r.bytes:,}",
                      r.soft_error or r.error or "")
    return table


FILINGS_SQL = ("SELECT accession, form_type, filed_as_of, documents_found, len(filers) AS filers "
               "FROM filings ORDER BY accession")
SEARCH_TERMS = "tender offer results"
DOCUMENTS_SQL = ("SELECT regexp_replace(source_url, '^https?://[^/]+', '') AS path, method, "
                 "page_count AS pages, ocr_pages, round(mean_confidence::DOUBLE, 1) AS confidence,"
                 " len(signals) AS signals FROM documents "
                 "WHERE method IN ('pdf', 'pdf+ocr', 'ocr') ORDER BY 1")
SCAN_TERMS = "polyphonic sequencer"


def _catalog_steps(home: Home, console: Console) -> None:
    report = extract_home(home)
    rows = ", ".join(f"{n} {t}" for t, n in sorted(report.rows.items()))
    console.print(f"\n4. extract into the catalog: {report.extracted} payloads -> {rows}")
    table = Catalog(home.catalog).query(FILINGS_SQL)
    view = Table(*table.column_names, title=f"5. salvage query \"{FILINGS_SQL}\"")
    for row in table.to_pylist():
        view.add_row(*(str(v) for v in row.values()))
    console.print(view)
    _search(home, console, f"6. salvage search \"{SEARCH_TERMS}\"", SEARCH_TERMS)
    table = Catalog(home.catalog).query(DOCUMENTS_SQL)
    view = Table(*table.column_names, title="7. PDFs and scans: text read, image pages OCR'd")
    for row in table.to_pylist():
        view.add_row(*(str(v) for v in row.values()))
    console.print(view)
    _search(home, console, f"   salvage search \"{SCAN_TERMS}\" finds the OCR'd scan", SCAN_TERMS)


def _search(home: Home, console: Console, title: str, terms: str) -> None:
    console.print(f"\n{title}")
    for hit in SearchIndex(home.root / "search").search(terms, limit=3):
        console.print(f"   {hit.score:6.2f}  {hit.accession or hit.url}  {hit.document or ''}")
        console.print(f"          {hit.snippet[:160]}", markup=False, highlight=False)


def run_demo(root: Path, fresh: bool = False, console: Console | None = None) -> bool:
    console = console or Console()
    home = prepare_home(root, fresh)
    files = sorted(p for p in SAMPLES.rglob("*") if p.is_file())
    settings = CaptureSettings(user_agent="Salvage demo demo@example.com", backoff=0.05,
                               retries=1, default_rate=None)
    with Mirror(SAMPLES) as mirror:
        urls = [f"{mirror.url}/{p.relative_to(SAMPLES).as_posix()}" for p in files]
        with Capturer(home, settings) as capturer:
            first = capturer.capture_urls(urls)
        console.print(_results_table("1. capture the sample pages", first))
        with Capturer(home, settings) as capturer:
            again = capturer.capture_urls(urls)
        console.print(_results_table("2. capture again: unchanged pages become revisits", again))
        throttled = urls[0].replace(mirror.url, "")
        mirror.state.throttled.add(throttled)
        with Capturer(home, settings) as capturer:
            soft = capturer.capture_urls([urls[0]])
        title = "3. the source throttles: archived, flagged, not served"
        console.print(_results_table(title, soft))

    _catalog_steps(home, console)
    target = urls[-1]
    with Index(home) as index:
        line = index.closest(target)
        assert line is not None
        source = payload_line(home, index, line)
        body = b"".join(stream_payload(home, source))
    kind = f"revisit of {source.timestamp}" if line.is_revisit else "response"
    console.print(f"\n8. lookup {target}\n   closest good capture {line.timestamp} ({kind}) "
                  f"in {source.filename} at offset {source.offset}\n"
                  f"   payload {len(body):,} bytes, sha256 {hashlib.sha256(body).hexdigest()[:16]}…"
                  f" — identical to the source: {body == files[-1].read_bytes()}")

    report = verify(home)
    console.print(f"\n9. verify: {'ok' if report.ok else 'FAILED'} — {report.files_checked} files, "
                  f"{report.records_checked} records, {report.bytes:,} bytes checked")
    wacz = home.root / "exports" / "demo.wacz"
    wacz.parent.mkdir(exist_ok=True)
    export_wacz(home, wacz)
    console.print(f"\n10. exported {wacz} ({wacz.stat().st_size:,} bytes)")
    console.print(f"\nhome: {home.root.resolve()}\nWARCs: {home.warcs.resolve()}\n"
                  f"index: {home.indexes.resolve()}\naudit chain: {home.audit.path.resolve()}\n"
                  f"try: salvage --home {root} lookup {target} --all\n"
                  f"     salvage --home {root} query \"{FILINGS_SQL}\"\n"
                  f"     salvage --home {root} search \"{SEARCH_TERMS}\" --form \"SC TO-T/A\"")
    return report.ok
