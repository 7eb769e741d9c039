"""`salvage extract`: every good capture not yet extracted by its extractor's current version
becomes catalog rows; bad payloads become quarantine rows, and the run goes on.

Payloads are read from the WARCs and keyed by their digest: bytes captured many times (revisits, the
same file at two URLs) are parsed once. Rows are written in batches: data tables first, then the
search index, then the `extractions` ledger, so a run cut short is redone, never half-recorded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pyarrow.compute as pc

import extract.paged  # noqa: F401  (registers the PDF and image extractors)
from archive.cdxj import IndexLine
from archive.errors import SalvageError
from archive.home import Home
from archive.payload import stream_payload
from extract.errors import ExtractError
from extract.extractors import REGISTRY, SNIFFED, Extracted, Source, kind_of, sniff
from storage.search import SearchDoc, SearchIndex
from storage.tables import append_rows, read_table

log = logging.getLogger("salvage.extract")

MAX_PAYLOAD = 1 << 30
"""Payloads larger than this are quarantined unread (they are still in the WARC)."""
FLUSH_BYTES = 64 << 20


@dataclass
class ExtractReport:
    candidates: int = 0
    extracted: int = 0
    already: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    quarantined: list[dict] = field(default_factory=list)
    unreadable: list[dict] = field(default_factory=list)
    follow: list[str] = field(default_factory=list)
    seconds: float = 0.0


def good_captures(home: Home) -> Iterator[tuple[Source, str]]:
    """One capture per distinct payload that some extractor handles, with the payload's kind."""
    table = read_table(home.catalog, "captures")
    keep = pc.and_(
        pc.and_(pc.is_in(table["record_type"], value_set=_strings("response", "resource")),
                pc.is_valid(table["digest"])),
        pc.and_(pc.and_(pc.is_null(table["soft_error"]), pc.is_null(table["truncated"])),
                pc.fill_null(pc.less(table["status"], 300), True)),
    )
    rows = table.filter(keep).sort_by("warc_date").select(
        ["url", "digest", "filename", "offset", "length", "warc_date", "mime", "status"])
    seen: set[str] = set()
    for row in rows.to_pylist():
        status = row.pop("status")
        if row["digest"] in seen or (status is not None and status < 200):
            continue
        kind = kind_of(row["url"], row["mime"])
        if kind is None or not _labels(kind):
            continue
        seen.add(row["digest"])
        yield Source(**row), kind


def _strings(*values: str):
    import pyarrow as pa

    return pa.array(values, pa.string())


def _labels(kind: str) -> set[str]:
    return {REGISTRY[k].label for k in SNIFFED.get(kind, (kind,)) if k in REGISTRY}


def already_extracted(home: Home) -> set[tuple[str, str]]:
    """(digest, extractor/version) pairs the ledger holds."""
    ledger = read_table(home.catalog, "extractions").select(["digest", "extractor", "version"])
    columns = (ledger[c].to_pylist() for c in ledger.column_names)
    return {(d, f"{e}/{v}") for d, e, v in zip(*columns, strict=True)}


def read_payload(home: Home, src: Source) -> bytes:
    """The payload as served, transfer and content encodings removed."""
    line = IndexLine("", "", {"url": src.url, "filename": src.filename, "offset": str(src.offset),
                              "length": str(src.length), "mime": src.mime or ""})
    return b"".join(stream_payload(home, line, decode=True))


def search_docs(out: Extracted, src: Source) -> list[SearchDoc]:
    """What the search index needs of every extracted document that has text."""
    filings = {f["accession"]: f for f in out.tables.get("filings", [])}
    docs = []
    for row in out.tables.get("documents", []):
        if row.get("text"):
            filing = filings.get(row["accession"]) or {}
            ciks = sorted({f["cik"] for f in filing.get("filers") or [] if f.get("cik")})
            docs.append(search_doc({**row, "form_type": filing.get("form_type"), "ciks": ciks,
                                    "day": filing.get("filed_as_of") or src.warc_date.date()}))
    return docs


def search_doc(r: dict) -> SearchDoc:
    """A document row (with its filing's form, CIKs and date) as the search index holds it."""
    label = r["filename"] or " ".join(str(x) for x in (r["sequence"], r["type"]) if x)
    return SearchDoc(key=f"{r['source_digest']}#{r['ordinal']}", text=r["text"],
                     accession=r["accession"], url=r["source_url"], document=label or None,
                     form=r["form_type"], ciks=r["ciks"] or [], date=r["day"],
                     title=r["description"])


class _Pending:
    """Rows waiting to be written as one batch per table."""

    def __init__(self, home: Home, report: ExtractReport):
        self.home, self.report = home, report
        self.tables: dict[str, list[dict]] = {}
        self.search: list[SearchDoc] = []
        self.ledger: list[dict] = []
        self.quarantine: list[dict] = []
        self.size = 0

    def add(self, out: Extracted, src: Source, label: str, kind: str) -> None:
        rows = 0
        stamp = {"source_url": src.url, "source_digest": src.digest, "extractor": label}
        for table, new in out.tables.items():
            for row in new:
                row.update(stamp)
            self.tables.setdefault(table, []).extend(new)
            rows += len(new)
            self.size += sum(len(r.get("text") or "") for r in new)
        self.search.extend(search_docs(out, src))
        self.report.follow.extend(out.follow)
        self._ledger(src, label, kind, "ok", rows)

    def refuse(self, src: Source, label: str, kind: str, exc: BaseException) -> None:
        reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
        self.quarantine.append({
            "stage": "extract", "error_type": type(exc).__name__, "reason": reason,
            "filename": src.filename, "offset": src.offset, "length": src.length,
            "source_url": src.url, "source_digest": src.digest, "extractor": label})
        self._ledger(src, label, kind, "quarantined", 0)
        self.report.quarantined.append({"url": src.url, "digest": src.digest,
                                        "error_type": type(exc).__name__, "reason": reason})
        log.warning("quarantined %s (%s): %s: %s", src.url, src.digest, type(exc).__name__, reason)

    def _ledger(self, src: Source, label: str, kind: str, status: str, rows: int) -> None:
        name, version = label.rsplit("/", 1)
        self.ledger.append({"digest": src.digest, "version": int(version), "kind": kind,
                            "status": status, "rows": rows, "source_url": src.url,
                            "source_digest": src.digest, "extractor": name})

    def flush(self) -> None:
        catalog = self.home.catalog
        for table, rows in self.tables.items():
            append_rows(catalog, table, rows)
            self.report.rows[table] = self.report.rows.get(table, 0) + len(rows)
        if self.search:
            SearchIndex(self.home.root / "search").add(self.search)
        append_rows(catalog, "quarantine", self.quarantine)
        append_rows(catalog, "extractions", self.ledger)
        self.tables, self.search, self.ledger, self.quarantine, self.size = {}, [], [], [], 0


def extract_home(home: Home, redo_all: bool = False,
                 progress: Callable[[int, int], None] | None = None) -> ExtractReport:
    """Extract every capture not yet extracted by the current extractor versions."""
    started = time.perf_counter()
    report = ExtractReport()
    done = set() if redo_all else already_extracted(home)
    todo = []
    for src, kind in good_captures(home):
        report.candidates += 1
        if any((src.digest, label) in done for label in _labels(kind)):
            report.already += 1
        else:
            todo.append((src, kind))
    pending = _Pending(home, report)
    for number, (src, kind) in enumerate(todo, 1):
        _extract_one(home, src, kind, pending)
        if pending.size >= FLUSH_BYTES:
            pending.flush()
        if progress:
            progress(number, len(todo))
    pending.flush()
    report.seconds = time.perf_counter() - started
    return report


def _extract_one(home: Home, src: Source, kind: str, pending: _Pending) -> None:
    if src.length > MAX_PAYLOAD:
        label = sorted(_labels(kind))[0]
        pending.refuse(src, label, kind, ExtractError(
            f"payload of {src.length} bytes is over the {MAX_PAYLOAD} byte limit"))
        return
    try:
        data = read_payload(home, src)
    except (OSError, SalvageError, ValueError) as exc:  # the store is at fault, not the bytes
        pending.report.unreadable.append({"url": src.url, "digest": src.digest,
                                          "error": f"{type(exc).__name__}: {exc}"})
        log.error("cannot read %s from %s: %s", src.url, src.filename, exc)
        return
    kind = sniff(kind, data)
    ex = REGISTRY.get(kind)
    if ex is None:  # sniffed as a kind this installation has no extractor for
        return
    try:
        out = ex.run(data, src)
    except ExtractError as exc:
        if exc.transient:  # this machine's fault: retried next run, not held against the bytes
            pending.report.unreadable.append({"url": src.url, "digest": src.digest,
                                              "error": f"{type(exc).__name__}: {exc.reason}"})
            log.error("cannot extract %s now: %s", src.url, exc.reason)
            return
        pending.refuse(src, ex.label, kind, exc)
        return
    except Exception as exc:  # a parser bug must not stop the run or lose the evidence
        log.exception("extractor %s failed on %s", ex.label, src.url)
        pending.refuse(src, ex.label, kind, exc)
        return
    pending.add(out, src, ex.label, kind)
    pending.report.extracted += 1


REBUILD_SQL = """
SELECT d.source_digest, d.ordinal, d.text, d.accession, d.source_url, d.filename, d.sequence,
       d.type, d.description, f.form_type,
       coalesce(f.filed_as_of, c.captured::DATE, d.recorded_at::DATE) AS day,
       list_sort(list_distinct([x.cik FOR x IN coalesce(f.filers, []) IF x.cik IS NOT NULL]))
           AS ciks
FROM documents d
LEFT JOIN filings f USING (accession)
LEFT JOIN (SELECT digest, min(warc_date) AS captured FROM captures GROUP BY digest) c
       ON c.digest = d.source_digest
WHERE d.text IS NOT NULL
"""


def rebuild_search(home: Home, batch: int = 2000) -> int:
    """Build the search index again from the catalog's current documents, then swap it in."""
    import shutil

    from storage.query import Catalog

    folder = home.root / "search"
    fresh, old = folder.with_name("search.new"), folder.with_name("search.old")
    for stale in (fresh, old):
        shutil.rmtree(stale, ignore_errors=True)
    index = SearchIndex(fresh)
    rows = Catalog(home.catalog).query(REBUILD_SQL).to_pylist()
    for start in range(0, len(rows), batch):
        index.add(search_doc(r) for r in rows[start:start + batch])
    if folder.exists():
        folder.rename(old)
    fresh.rename(folder)
    shutil.rmtree(old, ignore_errors=True)
    return len(rows)

