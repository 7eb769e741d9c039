"""What each kind of captured bytes becomes in the catalog: a small registry of extractors.

An extractor turns one payload (bytes, and the capture it came from) into rows of catalog tables;
the run adds the provenance columns (source URL and digest, `name/version`) to every row.
Each has a name and a version; bumping the version makes `salvage extract` redo its captures.
Add one with `@extractor("name", version, "kind", ...)`, datasette-hookspec style.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from extract import edgar_index
from extract.errors import ExtractError
from extract.html import (
    FilingIndexPage,
    looks_like_html,
    read_filing_index_page,
    read_html,
    xbrl_cover_facts,
)
from extract.sgml import Document, Submission, looks_like_submission, parse_submission


@dataclass(frozen=True)
class Source:
    """The capture a payload was read from."""

    url: str
    digest: str
    filename: str
    offset: int
    length: int
    warc_date: datetime
    mime: str | None = None


@dataclass
class Extracted:
    """Rows for catalog tables, and URLs the source says exist but we may not have captured."""

    tables: dict[str, list[dict]] = field(default_factory=dict)
    follow: list[str] = field(default_factory=list)

    def add(self, table: str, rows: list[dict]) -> None:
        self.tables.setdefault(table, []).extend(rows)


@dataclass(frozen=True)
class Extractor:
    name: str
    version: int
    run: Callable[[bytes, Source], Extracted]

    @property
    def label(self) -> str:
        return f"{self.name}/{self.version}"


REGISTRY: dict[str, Extractor] = {}
"""Kind of payload -> the extractor for it."""

EmbeddedReader = Callable[[bytes], tuple[dict, list[dict]]]
EMBEDDED: list[tuple[Callable[[bytes], bool], EmbeddedReader]] = []
"""Readers of binary documents inside submissions (PDF exhibits): (sniff, reader) pairs giving
the document's extra fields and its `pages` rows."""


def extractor(name: str, version: int, *kinds: str):
    def register(fn: Callable[[bytes, Source], Extracted]):
        for kind in kinds:
            REGISTRY[kind] = Extractor(name, version, fn)
        return fn

    return register


_SUBMISSION_PATH = re.compile(r"/edgar/data/\d+/(?:\d{18}/)?\d{10}-\d{2}-\d{6}\.(?:txt|nc)$", re.I)


def kind_of(url: str, mime: str | None) -> str | None:
    """The kind of payload a capture holds, from its URL and type alone (`text`: sniff it)."""
    known = edgar_index.index_kind(url)
    if known:
        return known
    if _SUBMISSION_PATH.search(urlsplit(url).path):
        return "submission"  # EDGAR's URL says so: bytes that are not one are quarantined
    path = urlsplit(url).path.lower()
    media = (mime or "").split(";")[0].strip().lower()
    if path.endswith((".txt", ".nc")):
        return "text"
    if media in ("text/html", "application/xhtml+xml") or path.endswith((".htm", ".html")):
        return "page"
    if media.startswith("text/"):
        return "text"
    if media == "application/pdf" or path.endswith(".pdf"):
        return "pdf"
    if media in IMAGE_TYPES or path.endswith(IMAGE_SUFFIXES):
        return "image"
    if media in ("", "application/octet-stream", "binary/octet-stream", "application/download"):
        return "binary"
    return None


IMAGE_TYPES = ("image/png", "image/jpeg", "image/tiff", "image/jpg")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*")
SNIFFED = {"text": ("submission", "page", "plain"), "binary": ("pdf", "image", "unknown")}
"""Kinds whose content decides what they are, and what they may turn out to be."""


def sniff(kind: str, data: bytes) -> str:
    """Refine `text` (a submission, an HTML page or plain text) and `binary` (a PDF, an image or
    something no extractor reads) by content."""
    if kind == "text":
        if looks_like_submission(data):
            return "submission"
        return "page" if looks_like_html(data) else "plain"
    if kind == "binary":
        if data[:1024].lstrip().startswith(b"%PDF"):
            return "pdf"
        return "image" if data.startswith(_IMAGE_MAGIC) else "unknown"
    return kind


def _document_row(doc: Document, sub: Submission, out: Extracted) -> dict:
    payload = doc.payload()
    text, method, fields = None, "uudecode", {}
    reader = next((r for sniffs, r in EMBEDDED if sniffs(payload)), None)
    if reader is not None:
        try:
            fields, pages = reader(payload)
        except ExtractError as exc:  # one bad exhibit does not sink its filing: say so on its row
            if exc.transient:  # OCR cannot run here now: the whole submission is retried
                raise
            fields, pages = {"signals": [f"{type(exc).__name__}: {exc.reason}"]}, []
        out.add("pages", [{**p, "accession": sub.accession, "ordinal": doc.ordinal} for p in pages])
        text, method = fields.pop("text", None), fields.pop("method", "unreadable")
    elif not doc.uuencoded:
        if looks_like_html(payload):
            page = read_html(payload)
            text, method = page.text, "html"
            fields = {"links": [link.href for link in page.links] or None,
                      "facts": xbrl_cover_facts(payload) or None}
        else:
            text, method = doc.text(), "sgml-text"
    mime = mimetypes.guess_type(doc.filename or "")[0] if doc.filename else None
    if mime is None:
        mime = "text/html" if method == "html" else (
            "text/plain" if text is not None else "application/octet-stream")
    return {
        "accession": sub.accession, "ordinal": doc.ordinal, "sequence": doc.sequence,
        "type": doc.type, "filename": doc.filename, "description": doc.description,
        "sha256": hashlib.sha256(payload).hexdigest(), "bytes": len(payload), "mime": mime,
        "text": text, "method": method, **fields,
    }


def _filer_row(filer) -> dict:
    return {k: getattr(filer, k) for k in (
        "role", "cik", "name", "sic", "state_of_incorporation", "fiscal_year_end", "irs_number",
        "form_type", "file_number", "film_number", "former_names")}


@extractor("edgar-sgml", 2, "submission")
def submission(data: bytes, src: Source) -> Extracted:
    sub = parse_submission(data, name_hint=src.url)
    out = Extracted()
    out.add("filings", [{
        "accession": sub.accession or src.digest, "form_type": sub.form_type,
        "period_of_report": sub.period_of_report, "filed_as_of": sub.filed_as_of,
        "date_as_of_change": sub.date_as_of_change, "acceptance_time": sub.acceptance_time,
        "items": sub.items, "file_numbers": sub.file_numbers, "film_numbers": sub.film_numbers,
        "declared_documents": sub.declared_documents, "documents_found": len(sub.documents),
        "group_members": sub.group_members, "filers": [_filer_row(f) for f in sub.filers],
        "dialect": sub.dialect,
    }])
    out.add("documents", [_document_row(d, sub, out) for d in sub.documents])
    return out


@extractor("edgar-index", 1, "form-idx", "company-idx", "master-idx")
def index_file(data: bytes, src: Source) -> Extracted:
    rows = edgar_index.parse_index_file(data)
    out = Extracted()
    out.add("expected_filings", rows)
    return out


@extractor("edgar-submissions", 2, "submissions-json", "submissions-page-json")
def submissions_json(data: bytes, src: Source) -> Extracted:
    cik = re.search(r"CIK(\d{10})", src.url)
    issuer, rows, older = edgar_index.parse_submissions_json(data, cik=cik and cik.group(1))
    out = Extracted(follow=[_sibling(src.url, name) for name in older])
    if issuer:  # 2: with the filer category (filing deadlines depend on it)
        out.add("issuers", [{**issuer, "category": edgar_index.filer_category(data)}])
    out.add("expected_filings", rows)
    return out


@extractor("edgar-filing-index", 1, "filing-index-json")
def filing_index_json(data: bytes, src: Source) -> Extracted:
    info = edgar_index.parse_filing_index_json(data)
    row = edgar_index.expected_filing_from_index(info, urlsplit(src.url).path.lstrip("/"))
    out = Extracted()
    out.add("expected_filings", [row])
    return out


def _sibling(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


def page_row(data: bytes, src: Source, text: str, title: str | None, method: str) -> dict:
    name = urlsplit(src.url).path.rsplit("/", 1)[-1] or None
    return {"accession": None, "ordinal": 1, "sequence": None, "type": None, "filename": name,
            "description": title, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
            "mime": src.mime, "text": text, "method": method}


@extractor("html", 3, "page")  # 3: a filing index page's documents table (index_documents)
def page(data: bytes, src: Source) -> Extracted:
    html = read_html(data, src.url)
    row = page_row(data, src, html.text, html.title, "html")
    row.update(links=[link.href for link in html.links] or None, meta=html.meta or None,
               facts=xbrl_cover_facts(data) or None)
    out = Extracted()
    out.add("documents", [row])
    if _INDEX_PAGE.search(urlsplit(src.url).path):
        try:
            index = read_filing_index_page(data, src.url)
        except ExtractError:
            return out  # a rate-limit page or another page at that URL: its text is kept
        out.add("expected_filings", _index_page_rows(index, src))
        out.add("index_documents", _index_documents(index, src))
    return out


_INDEX_PAGE = re.compile(r"\d{10}-\d{2}-\d{6}-index\.html?$")
_FOLDER_CIK = re.compile(r"/edgar/data/(\d{1,10})/", re.A)


def _index_documents(index: FilingIndexPage, src: Source) -> list[dict]:
    """The documents a filing index page lists, with the URL of each (complete submission too)."""
    folder = _FOLDER_CIK.search(urlsplit(src.url).path)
    cik = folder.group(1).zfill(10) if folder else None
    return [{"accession": index.accession, "cik": cik, "seq": d["seq"],
             "description": d["description"], "document": d["document"], "url": d["href"],
             "type": d["type"], "size": d["size"], "listing": d["table"],
             "inline_xbrl": d["inline_xbrl"]} for d in index.documents]


def _index_page_rows(index: FilingIndexPage, src: Source) -> list[dict]:
    """What EDGAR's filing index page says was filed: one expected filing per filer."""
    accepted = index.accepted
    return [{"accession": index.accession, "cik": f.get("cik"), "company_name": f.get("name"),
             "form_type": index.form_type, "date_filed": index.filing_date,
             "path": urlsplit(src.url).path.lstrip("/"), "index_kind": "filing-index-htm",
             "acceptance_time": accepted, "report_date": index.period_of_report,
             "items": index.items or None, "paper": False}
            for f in index.filers or [{}]]


@extractor("plain-text", 1, "plain")
def plain(data: bytes, src: Source) -> Extracted:
    out = Extracted()
    out.add("documents", [page_row(data, src, data.decode("utf-8", "replace"), None,
                                    "plain")])
    return out

