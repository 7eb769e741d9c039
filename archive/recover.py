"""Reconstruction: a filing rebuilt from the archives, every document under its original name.

    recover_filing(home, "0001104659-25-002604")     -> Recovery
    recover_filings(home, accessions, at=None)        -> [Recovery]   (one catalog scan for all)

What the filing should contain is read from what was archived: the documents its captured
`-index.htm` lists (any CIK folder, ours or imported) together with those its captured complete
submission `.txt` holds; when neither was captured, the catalog's `documents` rows of the
accession and the primary document `expected_filings` names. The `.txt` is a file of the filing
too (`<accession>.txt`).

Each file comes from the first source that can be read, in this order:

1. `capture`: our own good capture of the document's URL (a 200 response or a resource record, no
   soft error, not cut short; a revisit is read from its original), closest to `at` (default: the
   latest);
2. `submission-split`: the document split out of a captured `.txt` (ours, then an imported one)
   exactly as `extract.sgml.Document.payload()` gives it: the bytes between `<TEXT>` and `</TEXT>`
   without their edge line ends, uuencoded binaries decoded (what `documents.sha256` records);
3. `third-party`: an imported archive's capture of the document (a record under `imported/`);
4. `ocr`: the OCR text of a scan from the drop folder tied to the accession (`drops`, and the
   `documents` row of its digest), written as `<scan name>.ocr.txt`: only when something is
   missing, and never counted as the document.

Captures are found by URL path whatever the host (`https://www.sec.gov/…`, a mirror's
`http://127.0.0.1:…/…`) and CIK folder: one scan of the catalog's `captures` table for every
accession of a batch, matching `/Archives/edgar/data/<cik>/<accession-no-dashes>/<name>`.

Every digest recorded earlier is checked against the rebuilt bytes, and each check is listed with
its file in the manifest: the stored record's SHA-256 (`record`), the WARC-Payload-Digest
(`payload`), the catalog's `documents.sha256` (`documents`), the same document split out of the
captured `.txt` (`submission`), the digest of a good capture that could not be read (`capture`)
and the drop's SHA-256 (`drop`). A mismatch is never accepted silently: the file is kept as
evidence with `verified: false` and the reason, and the filing is `partial`. The only differences
tolerated between a separately served document and its split (both named in the check's note)
are trailing line ends and an outer `<XBRL>`/`<XML>` wrapper, which EDGAR's own split may drop.

Output: `<home>/recovered/<accession>/` holding the files (safe basenames only: a name with a path,
a control character or a leading dot is refused and listed, never written) and `manifest.json`;
the folder is written aside, made durable, then swapped in whole (a re-run replaces it); one
`recoveries` catalog row per filing records the same. The archive is only read: WARC files are
opened read-only and nothing under `warcs/`, `imported/`, `indexes/` or the catalog's other tables
is written.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import ChunkedDataReader

from archive.cdxj import IndexLine
from archive.deepcheck import GZIP_MAGIC, digest_equal, new_hasher
from archive.errors import SalvageError
from archive.home import Home
from archive.lookup import Index
from archive.timeparse import ts14_to_datetime
from extract.errors import ExtractError
from extract.html import HtmlError, read_filing_index_page
from extract.sgml import Document, parse_submission
from storage.atomic import fsync_dir
from storage.schemas import TABLES
from storage.tables import append_rows, catalog_lock, table_files

FOLDER = "recovered"
"""Recovered filings live in `<home>/recovered/<accession>/`."""
MANIFEST = "manifest.json"
METHODS = ("capture", "submission-split", "third-party", "ocr")
STATUSES = ("recovered", "partial", "unrecoverable")
OPEN_STATUSES = ("open", "recovering", "unrecoverable")
"""`incidents.status` values of the filing incidents `salvage recover --open` works on: neither
recovered nor resolved (an unrecoverable filing may be recovered later, from a new import)."""
CHUNK_FILINGS = 200
CHUNK_BYTES = 256 << 20
"""A batch is written (and recorded) in chunks of this many filings or bytes."""

_ACCESSION = re.compile(r"(\d{10})-?(\d{2})-?(\d{6})")
_EDGAR_PATH = (r"(?i)^[a-z][a-z0-9+.-]*://[^/]+/Archives/edgar/data/(?P<cik>[0-9]{1,10})/"
               r"(?P<folder>[0-9]{18})/(?P<name>[^/?#]+)(?:[?#].*)?$")
_CAPTURE_COLUMNS = ["url", "warc_date", "record_type", "status", "digest", "record_digest",
                    "filename", "offset", "length", "soft_error", "truncated", "refers_to_uri",
                    "refers_to_date", "producer_digest_problem"]
_WRAPPERS = (b"XBRL", b"XML", b"XHTML")
_AT_FDCWD, _RENAME_EXCHANGE = -100, 2


class RecoveryError(SalvageError):
    """A recovery that cannot be asked for as given (a malformed accession, no incidents view)."""


class _Unreadable(Exception):
    """A source that cannot give its bytes (a missing file, a broken record, a lost original)."""


def accession_of(text: str) -> str:
    """`0001104659-25-002604` or its 18 digits, in EDGAR's dashed form; RecoveryError otherwise."""
    m = _ACCESSION.fullmatch(str(text).strip())
    if m is None:
        raise RecoveryError(f"{text!r} is not an accession number: give it as EDGAR writes it "
                            "(0001104659-25-002604, or its 18 digits)")
    return "-".join(m.groups())


def safe_filename(name: str | None) -> str | None:
    """`name` if it can be written inside a filing's folder as it is, else None: no path (either
    slash kind), no control character, no leading dot (`.`, `..`, hidden files), not the
    manifest's name, at most 200 bytes. A name from the archive is never rewritten into a path."""
    if not name or name == MANIFEST or name.startswith(".") or "/" in name or "\\" in name:
        return None
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in name) or len(name.encode()) > 200:
        return None
    return name


# -- what the manifest says ------------------------------------------------------------------------


@dataclass
class RecoveredFile:
    """One file of a recovered filing and where its bytes came from.

    `warc`, `offset`, `record_digest`: the record holding the bytes (a revisit's original; for a
    split document, the `.txt`; for OCR, the scan). `checks`: each recorded digest compared
    (`against`, `expected`, `actual`, `ok`, `note`); `verified` is true when every check passed.
    """

    filename: str
    sha256: str
    bytes: int
    method: str
    warc: str | None
    offset: int | None
    record_digest: str | None
    verified: bool
    url: str | None = None
    captured_at: str | None = None
    revisit: dict | None = None
    checks: list[dict] = field(default_factory=list)
    reason: str | None = None
    rejected: list[dict] = field(default_factory=list)
    scan: dict | None = None

    def as_dict(self) -> dict:
        out = {"filename": self.filename, "sha256": self.sha256, "bytes": self.bytes,
               "method": self.method, "warc": self.warc, "offset": self.offset,
               "record_digest": self.record_digest, "verified": self.verified, "url": self.url,
               "captured_at": self.captured_at, "checks": self.checks}
        for key in ("reason", "revisit", "scan"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        if self.rejected:
            out["rejected"] = self.rejected
        return out


@dataclass
class Recovery:
    """What recovering one filing gave: its status, files, what is missing, and where."""

    accession: str
    status: str
    folder: Path
    files: list[RecoveredFile]
    missing: list[str]
    refused: list[dict]
    recovered_at: datetime
    at: datetime | None
    listed_by: str | None
    sources: list[dict]
    manifest_path: Path
    manifest_sha256: str | None = None

    @property
    def manifest(self) -> dict:
        """The manifest as written to `manifest.json` (see docs/CATALOG.md)."""
        return {
            "accession": self.accession, "status": self.status,
            "files": [f.as_dict() for f in self.files], "missing": self.missing,
            "refused": self.refused,
            "recovered_at": _iso(self.recovered_at), "at": _iso(self.at) if self.at else None,
            "listed_by": self.listed_by, "sources": self.sources,
        }

    @property
    def summary(self) -> str:
        """One line per filing, then one per file that is not a verified capture or split."""
        methods: dict[str, int] = {}
        for f in self.files:
            methods[f.method] = methods.get(f.method, 0) + 1
        used = ", ".join(f"{n} {m}" for m, n in methods.items())
        lines = [f"{self.accession}: {self.status}: {len(self.files)} files"
                 + (f" ({used})" if used else "") + f", {len(self.missing)} missing"
                 + (f" -> {self.folder}" if self.files else "")]
        lines += [f"  not verified: {f.filename}: {f.reason}" for f in self.files if not f.verified]
        lines += [f"  missing: {name}" for name in self.missing]
        lines += [f"  refused: {r['name']!r}: {r['reason']}" for r in self.refused]
        lines += [f"  ocr: {f.filename} (the text of a scan, not the document)"
                  for f in self.files if f.method == "ocr"]
        return "\n".join(lines)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# -- what the catalog holds ------------------------------------------------------------------------


@dataclass(slots=True)
class _Capture:
    """A `captures` row of a filing's folder (or a line found through the index)."""

    url: str
    name: str
    warc_date: datetime
    record_type: str
    status: int | None
    digest: str | None
    record_digest: str | None
    filename: str
    offset: int
    length: int
    soft_error: str | None = None
    truncated: str | None = None
    refers_to_uri: str | None = None
    refers_to_date: str | None = None
    producer_digest_problem: str | None = None

    @property
    def own(self) -> bool:
        return not self.filename.startswith("imported/")

    @property
    def holds_payload(self) -> bool:
        """A good record whose own block is the document: a 200 response or a resource."""
        if self.soft_error or self.truncated:
            return False
        return (self.record_type == "response" and self.status == 200) or \
            self.record_type == "resource"

    @property
    def good(self) -> bool:
        """May this capture stand for the document (a revisit once its original is found)?"""
        if self.record_type == "revisit":
            return not self.soft_error and not self.truncated and \
                (self.status is None or self.status < 400)
        return self.holds_payload

    def where(self) -> dict:
        return {"url": self.url, "warc": self.filename, "offset": self.offset,
                "captured_at": _iso(self.warc_date)}


def _scan(catalog: Path, table: str, columns: list[str], where: pc.Expression | None) -> pa.Table:
    files = [str(p) for p in table_files(catalog, table)]
    if not files:
        return TABLES[table].empty_table().select(columns)
    return ds.dataset(files, schema=TABLES[table], format="parquet").to_table(
        columns=columns, filter=where)


@dataclass
class _Facts:
    """Everything the catalog says about a batch of accessions, read once."""

    captures: dict[str, dict[str, list[_Capture]]]  # folder -> name -> captures
    digests: dict[tuple[str, str], set[str]]  # (accession, filename) -> documents.sha256 (hex)
    listed: dict[str, list[str]]  # accession -> filenames the catalog knows (documents, primary)
    drops: dict[str, list[dict]]  # accession -> current drops rows, with their OCR text


def _read_facts(home: Home, accessions: list[str]) -> _Facts:
    folders = [a.replace("-", "") for a in accessions]
    with catalog_lock(home.catalog):
        captures = _folder_captures(home.catalog, folders)
        digests, listed = _catalog_documents(home.catalog, accessions)
        drops = _tied_drops(home.catalog, accessions)
    return _Facts(captures, digests, listed, drops)


def _folder_captures(catalog: Path, folders: list[str]) -> dict[str, dict[str, list[_Capture]]]:
    """The captures of every URL under the folders, by folder and document name."""
    near = (pc.match_substring(ds.field("url"), f"/{folders[0]}/") if len(folders) == 1
            else pc.match_substring(ds.field("url"), "/edgar/data/", ignore_case=True))
    folder = pc.struct_field(pc.extract_regex(ds.field("url"), pattern=_EDGAR_PATH), "folder")
    table = _scan(catalog, "captures", _CAPTURE_COLUMNS,  # filtered batch by batch in the scan
                  pc.and_kleene(near, pc.is_in(folder, value_set=pa.array(folders))))
    parts = pc.extract_regex(table["url"], _EDGAR_PATH)
    table = table.append_column("folder", pc.struct_field(parts, "folder")).append_column(
        "name", pc.struct_field(parts, "name"))
    out: dict[str, dict[str, list[_Capture]]] = {}
    for row in table.to_pylist():
        name = unquote(row.pop("name"))
        out.setdefault(row.pop("folder"), {}).setdefault(name, []).append(
            _Capture(name=name, **row))
    return out


def _catalog_documents(catalog: Path, accessions: list[str]
                       ) -> tuple[dict[tuple[str, str], set[str]], dict[str, list[str]]]:
    """documents.sha256 per (accession, filename), and the names the catalog lists per accession
    (submission documents, then expected_filings' primary document)."""
    wanted = pa.array(accessions)
    docs = _scan(catalog, "documents", ["accession", "filename", "sha256", "source_url"],
                 pc.is_in(ds.field("accession"), value_set=wanted))
    digests: dict[tuple[str, str], set[str]] = {}
    listed: dict[str, list[str]] = {}
    for row in docs.to_pylist():
        if not row["filename"] or (row["source_url"] or "").startswith("urn:"):
            continue  # drop scans are documents of the catalog, not files of the filing
        key = (row["accession"], row["filename"])
        if row["sha256"]:
            digests.setdefault(key, set()).add(row["sha256"])
        names = listed.setdefault(row["accession"], [])
        if row["filename"] not in names:
            names.append(row["filename"])
    expected = _scan(catalog, "expected_filings", ["accession", "primary_document"],
                     pc.is_in(ds.field("accession"), value_set=wanted))
    for row in expected.to_pylist():
        if row["primary_document"]:
            name = row["primary_document"].rsplit("/", 1)[-1]  # xslF345X05/form4.xml: the XML
            names = listed.setdefault(row["accession"], [])
            if name not in names:
                names.append(name)
    return digests, listed


def _tied_drops(catalog: Path, accessions: list[str]) -> dict[str, list[dict]]:
    """The current `drops` rows tied to the accessions, each with its capture (length, record
    digest) and its OCR text (`documents` of the scan's digest), if extracted."""
    rows = _scan(catalog, "drops", ["sha256", "original_name", "uri", "filename", "offset",
                                    "accession", "recorded_at"], None).to_pylist()
    latest: dict[str, dict] = {}
    for row in rows:  # the drops view: the latest row per sha256
        seen = latest.get(row["sha256"])
        if seen is None or row["recorded_at"] >= seen["recorded_at"]:
            latest[row["sha256"]] = row
    tied = [r for r in latest.values() if r["accession"] in set(accessions)]
    if not tied:
        return {}
    digests = pa.array(["sha256:" + r["sha256"] for r in tied])
    texts = _scan(catalog, "documents", ["source_digest", "ordinal", "text", "method",
                                         "mean_confidence", "recorded_at"],
                  pc.is_in(ds.field("source_digest"), value_set=digests)).to_pylist()
    text_of: dict[str, dict] = {}
    for doc in sorted(texts, key=lambda d: (d["ordinal"], d["recorded_at"])):
        if doc["text"] and doc["source_digest"] not in text_of:
            text_of[doc["source_digest"]] = doc
    caps = _scan(catalog, "captures", ["filename", "offset", "length", "record_digest",
                                       "digest", "url", "warc_date"],
                 pc.is_in(ds.field("url"), value_set=pa.array([r["uri"] for r in tied])))
    cap_of = {(c["filename"], c["offset"]): c for c in caps.to_pylist()}
    out: dict[str, list[dict]] = {}
    for row in sorted(tied, key=lambda r: r["original_name"]):
        row["capture"] = cap_of.get((row["filename"], row["offset"]))
        row["ocr"] = text_of.get("sha256:" + row["sha256"])
        out.setdefault(row["accession"], []).append(row)
    return out


# -- reading records -------------------------------------------------------------------------------


@dataclass
class _Read:
    """A record's payload as the document's bytes, and the checks its record passed."""

    data: bytes
    record: _Capture
    checks: list[dict]
    via: _Capture | None = None  # the revisit that was resolved to `record`


def _check(against: str, expected: str | None, actual: str | None, ok: bool,
           note: str | None = None) -> dict:
    out = {"against": against, "expected": expected, "actual": actual, "ok": ok}
    if note:
        out["note"] = note
    return out


class _Records:
    """Reads records by (file, offset, length) with one open handle per archive file."""

    def __init__(self, home: Home):
        self.home = home
        self._files: dict[str, int] = {}
        self._index: Index | None = None

    def close(self) -> None:
        for fd in self._files.values():
            os.close(fd)
        self._files.clear()
        if self._index is not None:
            self._index.close()

    def index(self) -> Index:
        if self._index is None:
            self._index = Index(self.home)
        return self._index

    def stored(self, cap: _Capture) -> bytes:
        fd = self._files.get(cap.filename)
        if fd is None:
            path = self.home.root / cap.filename
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError as exc:
                raise _Unreadable(f"{cap.filename} cannot be opened ({exc.strerror}): run "
                                  "`salvage verify`") from None
            self._files[cap.filename] = fd
        data = os.pread(fd, cap.length, cap.offset)
        if len(data) != cap.length:
            raise _Unreadable(f"{cap.filename} ends inside the record at offset {cap.offset}: "
                              "run `salvage verify`")
        return data

    def payload(self, cap: _Capture) -> _Read:
        """The payload of a response or resource record, transfer and content encodings
        removed; the record's SHA-256 and payload digest are checked on the way."""
        stored = self.stored(cap)
        actual = "sha256:" + hashlib.sha256(stored).hexdigest()
        checks = [_check("record", cap.record_digest, actual, actual == cap.record_digest)]
        try:
            plain = _gunzip(stored) if stored[:3] == GZIP_MAGIC else stored
            record = next(iter(ArchiveIterator(io.BytesIO(plain), arc2warc=True)))
            heads = record.http_headers
            chunked = heads is not None and \
                (heads.get_header("transfer-encoding") or "").lower() == "chunked"
            raw = (ChunkedDataReader(record.raw_stream, decomp_type=None) if chunked
                   else record.raw_stream).read()
            encoding = (heads.get_header("content-encoding") or "").strip().lower() \
                if heads is not None else ""
            data = raw
            if encoding not in ("", "identity"):
                again = next(iter(ArchiveIterator(io.BytesIO(plain), arc2warc=True)))
                data = again.content_stream().read()
        except (StopIteration, zlib.error, EOFError, ValueError, OSError, AttributeError,
                TypeError, KeyError, IndexError) as exc:
            raise _Unreadable(f"the record at {cap.filename}@{cap.offset} cannot be read "
                              f"({type(exc).__name__}: {exc})") from None
        if cap.digest:
            hasher = new_hasher(cap.digest)
            if hasher is not None:
                hasher.update(raw)
                ok = digest_equal(cap.digest, hasher.digest())
                label = f"{cap.digest.partition(':')[0]}:{hasher.hexdigest()}"
                note = (f"the producer's digest was flagged at import: "
                        f"{cap.producer_digest_problem}") if cap.producer_digest_problem else None
                checks.append(_check("payload", cap.digest, label, ok, note))
        return _Read(data, cap, checks)

    def original(self, rev: _Capture, pool: Iterable[_Capture]) -> _Capture:
        """The record holding a revisit's payload: among the filing's captures first (same
        digest, good, the referred URI and date preferred), else anywhere in the index."""
        same = [c for c in pool if c.holds_payload and c.digest == rev.digest]
        if same:
            exact = [c for c in same if c.url == rev.refers_to_uri
                     and rev.refers_to_date and _iso(c.warc_date)[:19] == rev.refers_to_date[:19]]
            earlier = [c for c in same if c.warc_date <= rev.warc_date]
            return (exact or sorted(earlier, key=lambda c: c.warc_date)[-1:] or same)[0]
        line = IndexLine("", rev.warc_date.strftime("%Y%m%d%H%M%S"),
                         {"url": rev.url, "mime": "warc/revisit", "digest": rev.digest or "",
                          "filename": rev.filename, "offset": str(rev.offset),
                          "length": str(rev.length)})
        found = self.index().resolve(line, rev.refers_to_uri, rev.refers_to_date)
        if found is None or found.status not in (200, None):
            raise _Unreadable(f"the revisit at {rev.filename}@{rev.offset} refers to a payload "
                              f"({rev.digest}) that is not in the archive: import the archive "
                              "holding the original with `salvage import`")
        return _Capture(url=found.url, name=rev.name, warc_date=ts14_to_datetime(found.timestamp),
                        record_type="response" if found.status else "resource",
                        status=found.status, digest=found.data.get("digest"),
                        record_digest=found.data.get("recordDigest"), filename=found.filename,
                        offset=found.offset, length=found.length)


def _gunzip(stored: bytes) -> bytes:
    """The first gzip member of `stored` (one record: the index's length covers one member)."""
    return zlib.decompressobj(31).decompress(stored)


# -- one filing ------------------------------------------------------------------------------------


@dataclass
class _Submission:
    read: _Read
    method: str  # how the .txt itself was had: capture or third-party
    documents: dict[str, Document]
    problem: str | None = None


@dataclass
class _Build:
    """A filing being rebuilt: the files (with their bytes) and what the manifest will say."""

    accession: str
    files: list[tuple[RecoveredFile, bytes]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    refused: list[dict] = field(default_factory=list)
    sources: list[dict] = field(default_factory=list)
    listed_by: str | None = None

    @property
    def size(self) -> int:
        return sum(len(data) for _, data in self.files)

    @property
    def status(self) -> str:
        if not self.files:
            return "unrecoverable"
        complete = not self.missing and not self.refused
        if complete and all(f.verified and f.method != "ocr" for f, _ in self.files):
            return "recovered"
        return "partial"


class _Rebuilder:
    """Rebuilds one filing from the facts of its batch (see the module's docstring)."""

    def __init__(self, records: _Records, facts: _Facts, accession: str, at: datetime | None):
        self.records, self.facts, self.accession = records, facts, accession
        self.at = at or datetime.now(UTC)
        self.by_name = facts.captures.get(accession.replace("-", ""), {})
        self.pool = [c for caps in self.by_name.values() for c in caps]
        self.build = _Build(accession)
        self._reads: dict[tuple[str, int], _Read | str] = {}
        self._subs: dict[bool, _Submission | None] = {}
        self._txt_rejected: list[dict] = []  # captures of the .txt that could not be read

    # candidates, closest first

    def candidates(self, name: str, own: bool) -> list[_Capture]:
        caps = [c for c in self.by_name.get(name, ()) if c.own == own and c.good]
        return sorted(caps, key=lambda c: (abs((c.warc_date - self.at).total_seconds()),
                                           c.warc_date))

    def read(self, cap: _Capture) -> _Read:
        """The document bytes a capture stands for (a revisit through its original), memoised."""
        key = (cap.filename, cap.offset)
        seen = self._reads.get(key)
        if isinstance(seen, str):
            raise _Unreadable(seen)
        if seen is None:
            try:
                if cap.record_type == "revisit":
                    original = self.records.original(cap, self.pool)
                    seen = self.records.payload(original)
                    seen = _Read(seen.data, seen.record, seen.checks, via=cap)
                else:
                    seen = self.records.payload(cap)
            except _Unreadable as exc:
                self._reads[key] = str(exc)
                raise
            self._reads[key] = seen
        return seen

    def first_read(self, caps: list[_Capture], rejected: list[dict]) -> _Read | None:
        for cap in caps:
            try:
                return self.read(cap)
            except _Unreadable as exc:
                rejected.append({**cap.where(), "digest": cap.digest, "reason": str(exc)})
        return None

    def submission(self, own: bool) -> _Submission | None:
        """The captured `.txt` (ours, or an imported one), parsed; None when there is none."""
        if own not in self._subs:
            rejected: list[dict] = []
            name = f"{self.accession}.txt"
            got = self.first_read(self.candidates(name, own), rejected)
            sub = None
            if got is not None:
                method = "capture" if own else "third-party"
                try:
                    parsed = parse_submission(got.data, name_hint=name)
                    docs = {d.filename: d for d in parsed.documents if d.filename}
                    sub = _Submission(got, method, docs)
                except ExtractError as exc:
                    sub = _Submission(got, method, {}, f"{type(exc).__name__}: {exc}")
                self.build.sources.append({"kind": "submission", **_where(got),
                                           "documents": len(sub.documents),
                                           **({"problem": sub.problem} if sub.problem else {})})
            for r in rejected:
                self.build.sources.append({"kind": "submission", **r})
            self._txt_rejected += rejected
            self._subs[own] = sub
        return self._subs[own]

    def parsed(self) -> _Submission | None:
        """The first captured `.txt` (ours, then imported) that parsed into documents."""
        for own in (True, False):
            sub = self.submission(own)
            if sub is not None and sub.documents:
                return sub
        return None

    # what the filing holds

    def listing(self) -> list[str]:
        """The filing's file names, as its index page and `.txt` list them, else the catalog."""
        names: list[str] = []
        by: list[str] = []
        page = self.index_page()
        if page is not None:
            names += page
            by.append("index-page")
        sub = self.parsed()
        if sub is not None:
            names += list(sub.documents)
            by.append("submission")
        if not by and self.facts.listed.get(self.accession):
            names += self.facts.listed[self.accession]
            by.append("catalog")
        self.build.listed_by = "+".join(by) or None
        names.append(f"{self.accession}.txt")
        return list(dict.fromkeys(names))

    def index_page(self) -> list[str] | None:
        pages = [f"{self.accession}-index.htm", f"{self.accession}-index.html"]
        rejected: list[dict] = []
        for own in (True, False):
            caps = sorted((c for n in pages for c in self.candidates(n, own)),
                          key=lambda c: abs((c.warc_date - self.at).total_seconds()))
            for cap in caps:
                got = self.first_read([cap], rejected)
                if got is None:
                    continue
                try:
                    index = read_filing_index_page(got.data, cap.url)
                except HtmlError as exc:
                    rejected.append({**cap.where(), "reason": f"not a filing index page: {exc}"})
                    continue
                self.build.sources.append({"kind": "index-page", **_where(got),
                                           "documents": len(index.documents)})
                self.build.sources += [{"kind": "index-page", **r} for r in rejected]
                return [n for n in map(self._listed_name, index.documents) if n]
        self.build.sources += [{"kind": "index-page", **r} for r in rejected]
        return None

    def _listed_name(self, doc: dict) -> str | None:
        """A document row's file name: the last segment of its link when the link is in this
        filing's folder, else the name shown (checked later like any name)."""
        href = doc.get("href") or ""
        path = PurePosixPath(urlsplit(href).path) if href else None
        folder = self.accession.replace("-", "")
        if path is not None and path.parent.name == folder and path.name:
            return unquote(path.name)
        return doc.get("document")

    # each file

    def run(self) -> _Build:
        for name in self.listing():
            safe = safe_filename(name)
            if safe is None:
                self.build.refused.append({"name": name, "reason": "not a plain file name (a "
                                           "path, a leading dot or a control character): not "
                                           "written"})
                continue
            got = self.document(safe) if safe != f"{self.accession}.txt" else self.txt_file()
            if got is None:
                self.build.missing.append(safe)
            else:
                self.build.files.append(got)
        if self.build.missing or not self.build.files:
            self.ocr()
        return self.build

    def txt_file(self) -> tuple[RecoveredFile, bytes] | None:
        for own in (True, False):
            sub = self.submission(own)
            if sub is not None:
                return self.file(f"{self.accession}.txt", sub.method, sub.read, sub.read.data,
                                 self._txt_rejected)
        return None

    def document(self, name: str) -> tuple[RecoveredFile, bytes] | None:
        rejected: list[dict] = []
        got = self.first_read(self.candidates(name, True), rejected)
        if got is not None:
            return self.file(name, "capture", got, got.data, rejected)
        for own in (True, False):
            sub = self.submission(own)
            doc = sub.documents.get(name) if sub is not None else None
            if doc is None:
                continue
            try:
                data = doc.payload()
            except ExtractError as exc:
                rejected.append({**_where(sub.read), "reason": f"cannot be split: {exc}"})
                continue
            return self.file(name, "submission-split", sub.read, data, rejected)
        got = self.first_read(self.candidates(name, False), rejected)
        if got is not None:
            return self.file(name, "third-party", got, got.data, rejected)
        return None

    def file(self, name: str, method: str, got: _Read, data: bytes, rejected: list[dict]
             ) -> tuple[RecoveredFile, bytes]:
        sha = hashlib.sha256(data).hexdigest()
        checks = list(got.checks)
        if method == "submission-split":  # the record's checks are those of the .txt
            checks = [{**c, "note": "of the complete submission"} for c in checks]
        if name != f"{self.accession}.txt":
            checks += self.document_checks(name, method, data, sha)
        if method != "capture":  # a closer capture of ours that could not be read still binds
            checks += _capture_checks(data, rejected)
        failed = [c for c in checks if not c["ok"]]
        shown = got.via or got.record
        entry = RecoveredFile(
            filename=name, sha256=sha, bytes=len(data), method=method, warc=got.record.filename,
            offset=got.record.offset, record_digest=got.record.record_digest,
            verified=bool(checks) and not failed, url=shown.url,
            captured_at=_iso(shown.warc_date), checks=checks,
            reason="; ".join(_failure(c) for c in failed) or None, rejected=rejected,
            revisit={"warc": got.via.filename, "offset": got.via.offset} if got.via else None)
        return entry, data

    def document_checks(self, name: str, method: str, data: bytes, sha: str) -> list[dict]:
        """A document's bytes against every digest recorded for it elsewhere."""
        checks = []
        split = None
        if method != "submission-split":
            sub = self.parsed()
            doc = sub.documents.get(name) if sub is not None else None
            if doc is not None:
                with contextlib.suppress(ExtractError):
                    split = doc.payload()
            if split is not None:
                note = _same_document(data, split)
                checks.append(_check("submission", "sha256:" + hashlib.sha256(split).hexdigest(),
                                     "sha256:" + sha, note is not None, note or None))
        recorded = self.facts.digests.get((self.accession, name))
        if recorded:
            note = _recorded_match(data, sha, recorded, split)
            checks.append(_check("documents", " ".join(sorted(recorded)), sha, note is not None,
                                 note or None))
        return checks

    def ocr(self) -> None:
        """The last resort: the OCR text of scans tied to the accession, marked as such."""
        taken = {f.filename for f, _ in self.build.files}
        for drop in self.facts.drops.get(self.accession, []):
            source = {"kind": "drop", "sha256": drop["sha256"],
                      "original_name": drop["original_name"], "uri": drop["uri"],
                      "warc": drop["filename"], "offset": drop["offset"]}
            cap, ocr = drop["capture"], drop["ocr"]
            if ocr is None or cap is None:
                why = ("not OCR'd yet: run `salvage extract`" if cap is not None
                       else "its record is not in the catalog: run `salvage reindex`")
                self.build.sources.append({**source, "problem": why})
                continue
            record = _Capture(url=cap["url"], name=drop["original_name"],
                              warc_date=cap["warc_date"], record_type="resource", status=None,
                              digest=cap["digest"], record_digest=cap["record_digest"],
                              filename=cap["filename"], offset=cap["offset"],
                              length=cap["length"])
            try:
                scan = self.records.payload(record)
            except _Unreadable as exc:
                self.build.sources.append({**source, "problem": str(exc)})
                continue
            scan_sha = hashlib.sha256(scan.data).hexdigest()
            checks = scan.checks + [_check("drop", drop["sha256"], scan_sha,
                                           scan_sha == drop["sha256"])]
            text = ocr["text"].encode("utf-8")
            name = _ocr_name(drop["original_name"], drop["sha256"], taken)
            taken.add(name)
            failed = [c for c in checks if not c["ok"]]
            entry = RecoveredFile(
                filename=name, sha256=hashlib.sha256(text).hexdigest(), bytes=len(text),
                method="ocr", warc=record.filename, offset=record.offset,
                record_digest=record.record_digest, verified=not failed, url=record.url,
                captured_at=_iso(record.warc_date), checks=checks,
                reason="; ".join(_failure(c) for c in failed) or None,
                scan={"sha256": drop["sha256"], "original_name": drop["original_name"],
                      "ocr_method": ocr["method"], "mean_confidence": ocr["mean_confidence"]})
            self.build.files.append((entry, text))
            self.build.sources.append({**source, "used": True})


def _capture_checks(data: bytes, rejected: list[dict]) -> list[dict]:
    """The bytes against the payload digests of captures that could not be read (a revisit
    whose original is lost, a record in a missing file): what was recorded still binds."""
    checks = []
    for r in rejected:
        hasher = new_hasher(r["digest"]) if r.get("digest") else None
        if hasher is None:
            continue
        hasher.update(data)
        checks.append(_check("capture", r["digest"],
                             f"{r['digest'].partition(':')[0]}:{hasher.hexdigest()}",
                             digest_equal(r["digest"], hasher.digest()),
                             f"the unreadable capture at {r['warc']}@{r['offset']}"))
    return checks


def _where(got: _Read) -> dict:
    shown = got.via or got.record
    return {**shown.where(), **({"original": {"warc": got.record.filename,
                                              "offset": got.record.offset}} if got.via else {})}


def _failure(check: dict) -> str:
    return (f"{check['against']}: expected {check['expected']}, got {check['actual']}"
            + (f" ({check['note']})" if check.get("note") else ""))


def _ocr_name(original: str, sha256: str, taken: set[str]) -> str:
    stem = PurePosixPath(original.replace("\\", "/")).name.rsplit(".", 1)[0]
    name = safe_filename(f"{stem}.ocr.txt")
    if name is None or name in taken:
        name = f"scan-{sha256[:12]}.ocr.txt"
    return name


def _unwrapped(body: bytes) -> bytes:
    """`body` without an outer <XBRL>, <XML> or <XHTML> wrapper and trailing line ends."""
    text = body.strip()
    for tag in _WRAPPERS:
        opening, closing = b"<" + tag + b">", b"</" + tag + b">"
        if text.startswith(opening) and text.endswith(closing):
            return text[len(opening):-len(closing)].strip(b"\r\n")
    return body.rstrip(b"\r\n")


def _same_document(served: bytes, split: bytes) -> str | None:
    """'' when identical; a note naming the tolerated difference; None when they differ."""
    if served == split:
        return ""
    if served.rstrip(b"\r\n") == split.rstrip(b"\r\n"):
        return "equal but for trailing line ends"
    if _unwrapped(served) == _unwrapped(split):
        return "equal but for the <XBRL>/<XML> wrapper or trailing line ends"
    return None


def _recorded_match(data: bytes, sha: str, recorded: set[str], split: bytes | None) -> str | None:
    """'' when `sha` is a recorded documents.sha256; a note when it matches but for a tolerated
    difference (through the split, or a trailing line end); None otherwise."""
    if sha in recorded:
        return ""
    if split is not None and hashlib.sha256(split).hexdigest() in recorded:
        note = _same_document(data, split)
        if note is not None:
            return note
    for variant in (data + b"\n", data + b"\r\n", data.rstrip(b"\r\n")):
        if hashlib.sha256(variant).hexdigest() in recorded:
            return "equal but for trailing line ends"
    return None


# -- writing ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def _lock(root: Path) -> Iterator[None]:
    """One writer at a time swaps folders in `recovered/`."""
    with open(root / ".lock", "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def _durable(root: Path, written: list[Path]) -> None:
    """Make every file written under `root` durable: one syncfs for the whole chunk where the
    C library has it (Linux), else an fsync per file and folder."""
    libc = ctypes.CDLL(None, use_errno=True)
    syncfs = getattr(libc, "syncfs", None)
    if syncfs is not None:
        fd = os.open(root, os.O_RDONLY)
        try:
            if syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    for path in written:
        if path.is_dir():
            fsync_dir(path)
        else:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def _swap_in(staged: Path, target: Path) -> None:
    """Put the folder `staged` at `target`, replacing an earlier one whole: renameat2's atomic
    exchange where the system has it, else two renames (a crash between leaves the earlier
    folder as `.<name>.old`, removed by the next run)."""
    if not target.exists() and not target.is_symlink():
        os.rename(staged, target)
        return
    libc = ctypes.CDLL(None, use_errno=True)
    exchange = getattr(libc, "renameat2", None)
    if exchange is not None and exchange(_AT_FDCWD, os.fsencode(staged), _AT_FDCWD,
                                         os.fsencode(target), _RENAME_EXCHANGE) == 0:
        _remove(staged)  # now the earlier folder
        return
    old = target.with_name(f".{target.name}.old")
    _remove(old)
    os.rename(target, old)
    os.rename(staged, target)
    _remove(old)


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def _publish(home: Home, builds: list[_Build], recovered_at: datetime, at: datetime | None
             ) -> list[Recovery]:
    """Write each filing's folder aside, make the chunk durable, swap the folders in."""
    root = home.root / FOLDER
    root.mkdir(parents=True, exist_ok=True)
    out: list[Recovery] = []
    with _lock(root):
        for leftover in root.glob(".*"):  # a crashed run's staging and old folders
            if leftover.name.endswith((".new", ".old")):
                _remove(leftover)
        staged: list[tuple[Path, Path]] = []
        written: list[Path] = []
        for build in builds:
            target = root / build.accession
            recovery = Recovery(
                accession=build.accession, status=build.status, folder=target,
                files=[f for f, _ in build.files], missing=build.missing, refused=build.refused,
                recovered_at=recovered_at, at=at, listed_by=build.listed_by,
                sources=build.sources, manifest_path=target / MANIFEST)
            out.append(recovery)
            tmp = root / f".{build.accession}.new"
            tmp.mkdir()
            for entry, data in build.files:
                path = tmp / entry.filename
                if path.parent != tmp:  # safe_filename already refused it; never write outside
                    raise RecoveryError(f"refusing to write {entry.filename!r} outside {tmp}")
                path.write_bytes(data)
                written.append(path)
            manifest = manifest_bytes(recovery.manifest)
            recovery.manifest_sha256 = hashlib.sha256(manifest).hexdigest()
            (tmp / MANIFEST).write_bytes(manifest)
            written += [tmp / MANIFEST, tmp]
            staged.append((tmp, target))
        _durable(root, written)
        for tmp, target in staged:
            _swap_in(tmp, target)
        fsync_dir(root)
    return out


def manifest_bytes(manifest: dict) -> bytes:
    """The manifest as JSON, one key a line and one file a line: readable, and written by the
    C encoder (an indented dump runs the pure-Python one, a third of a filing's time)."""
    lines = []
    for key, value in manifest.items():
        if isinstance(value, list) and value:
            items = ",\n    ".join(json.dumps(v, ensure_ascii=False) for v in value)
            lines.append(f"  {json.dumps(key)}: [\n    {items}\n  ]")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}")
    return ("{\n" + ",\n".join(lines) + "\n}\n").encode("utf-8")


def _row(home: Home, r: Recovery) -> dict:
    return {
        "accession": r.accession, "status": r.status,
        "files": [{"filename": f.filename, "sha256": f.sha256, "bytes": f.bytes,
                   "method": f.method, "warc": f.warc, "offset": f.offset,
                   "record_digest": f.record_digest, "verified": f.verified,
                   "reason": f.reason} for f in r.files],
        "missing": r.missing, "refused": [x["name"] for x in r.refused],
        "listed_by": r.listed_by, "manifest": home.relative(r.manifest_path),
        "manifest_sha256": r.manifest_sha256, "at": r.at, "recovered_at": r.recovered_at,
    }


# -- the entry points ------------------------------------------------------------------------------


def recover_filings(home: Home, accessions: Iterable[str], *, at: datetime | None = None
                    ) -> list[Recovery]:
    """Rebuild each filing into `<home>/recovered/<accession>/` (see the module docstring), and
    record one `recoveries` row per filing. The catalog is read once for the whole batch; the
    folders are written, made durable and recorded in chunks. In the order given, duplicates
    once."""
    wanted = list(dict.fromkeys(accession_of(a) for a in accessions))
    if not wanted:
        return []
    if at is not None and at.tzinfo is None:
        at = at.replace(tzinfo=UTC)  # a naive moment is UTC, as everywhere in Salvage
    facts = _read_facts(home, wanted)
    records = _Records(home)
    out: list[Recovery] = []
    try:
        chunk: list[_Build] = []
        size = 0
        for accession in wanted:
            chunk.append(_Rebuilder(records, facts, accession, at).run())
            size += chunk[-1].size
            if len(chunk) >= CHUNK_FILINGS or size >= CHUNK_BYTES:
                out += _record(home, chunk, at)
                chunk, size = [], 0
        if chunk:
            out += _record(home, chunk, at)
    finally:
        records.close()
    return out


def _record(home: Home, chunk: list[_Build], at: datetime | None) -> list[Recovery]:
    done = _publish(home, chunk, datetime.now(UTC), at)
    append_rows(home.catalog, "recoveries", [_row(home, r) for r in done])
    return done


def recover_filing(home: Home, accession: str, *, at: datetime | None = None) -> Recovery:
    """Rebuild one filing; see `recover_filings`."""
    return recover_filings(home, [accession], at=at)[0]


def open_incident_accessions(home: Home) -> list[str]:
    """The accessions of open filing incidents (`incidents` view: `filing.*` types whose status
    is one of OPEN_STATUSES), in accession order. RecoveryError when the catalog has no such
    view yet."""
    from storage.query import Catalog

    catalog = Catalog(home.catalog)
    views = catalog.query("SELECT table_name FROM information_schema.tables "
                          "WHERE table_name = 'incidents'")
    if views.num_rows == 0:
        raise RecoveryError("the catalog has no `incidents` view yet (storage/incidents.py "
                            "records them): name the accessions to recover instead")
    statuses = ", ".join(f"'{s}'" for s in OPEN_STATUSES)
    rows = catalog.query(f"SELECT DISTINCT entity FROM incidents WHERE type LIKE 'filing.%' "
                         f"AND status IN ({statuses}) AND entity IS NOT NULL ORDER BY entity")
    found = []
    for entity in rows.column("entity").to_pylist():
        with contextlib.suppress(RecoveryError):
            found.append(accession_of(entity))
    return found
