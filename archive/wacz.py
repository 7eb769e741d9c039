"""Export a selection of the archive as a WACZ 1.1.1 package, streamed and written atomically.

Selected records (URL prefix, time range; found through the indexes) are copied byte for byte,
gzip member by gzip member, into `archive/data.warc.gz` after a new warcinfo record; a selected
revisit brings its original along so it resolves inside the package. Each copied record is checked
against its `recordDigest` on the way, so a damaged record is never packaged. Records of other
stored forms keep theirs: uncompressed WARC records go to `archive/data.warc`, ARC records to
`archive/data.arc.gz` (or `.arc`), each with offsets valid inside the package.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import json
import re
import time
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from isal import isal_zlib

from archive.cdxj import IndexLine, timestamp14
from archive.describe import decoded_prefix
from archive.errors import SalvageError
from archive.home import Home
from archive.records import CRLF, gzip_member, header_block, new_record_id, warc_date
from archive.writer import SOFTWARE
from storage.atomic import atomic_file

WACZ_VERSION = "1.1.1"
COPY_CHUNK = 1 << 20
LINES_PER_BLOCK = 300  # index lines per gzip member of index.cdx.gz (ZipNum, as py-wacz writes)
HTML_MIMES = ("text/html", "application/xhtml+xml")
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title", re.I | re.S)


class EmptyExport(SalvageError):
    """No record matches the selection: nothing was written."""


class ExportFailed(SalvageError):
    """A selected record could not be packaged: nothing was written."""


@dataclass
class WaczReport:
    path: Path
    records: int = 0
    pages: int = 0
    revisit_originals: int = 0
    unresolved_revisits: list[str] = field(default_factory=list)
    bytes: int = 0
    archives: dict[str, int] = field(default_factory=dict)


@dataclass
class _Pick:
    line: IndexLine
    selected: bool  # False: the original of a selected revisit


class _Counted:
    """A writable that hashes and counts what passes through."""

    def __init__(self, raw: BinaryIO):
        self.raw, self.sha, self.size = raw, hashlib.sha256(), 0

    def write(self, data: bytes) -> None:
        self.raw.write(data)
        self.sha.update(data)
        self.size += len(data)


# -- selection -----------------------------------------------------------------------------


def _lines(home: Home) -> Iterator[IndexLine]:
    for path in sorted(home.indexes.glob("*.cdxj")) if home.indexes.exists() else []:
        with open(path, "rb") as fh:
            for raw in fh:
                if raw.strip():
                    yield IndexLine.parse(raw)


def _ts14(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return timestamp14(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def select(home: Home, url_prefix: str | None = None, start: datetime | None = None,
           end: datetime | None = None) -> tuple[list[_Pick], list[str]]:
    """The records to package (selected ones and their revisits' originals), in stored order,
    and the revisits whose original is not in the archive. Naive datetimes are UTC."""
    lo, hi = _ts14(start), _ts14(end)
    picked: dict[tuple[str, int], _Pick] = {}
    revisits: dict[str, list[IndexLine]] = defaultdict(list)
    for line in _lines(home):
        if url_prefix and not line.url.startswith(url_prefix):
            continue
        if (lo and line.timestamp < lo) or (hi and line.timestamp > hi):
            continue
        picked[(line.filename, line.offset)] = _Pick(line, True)
        if line.is_revisit and line.data.get("digest"):
            revisits[line.data["digest"]].append(line)
    unresolved = []
    if revisits:
        found: dict[str, list[IndexLine]] = defaultdict(list)
        for line in _lines(home):
            if not line.is_revisit and line.data.get("digest") in revisits:
                found[line.data["digest"]].append(line)
        for digest, lines in revisits.items():
            for rev in lines:
                original = _original(rev, found.get(digest, []))
                if original is None:
                    unresolved.append(f"{rev.url} {rev.timestamp}")
                else:
                    picked.setdefault((original.filename, original.offset),
                                      _Pick(original, False))
    order = sorted(picked.values(), key=lambda p: (p.line.filename, p.line.offset))
    return order, unresolved


def _original(rev: IndexLine, candidates: list[IndexLine]) -> IndexLine | None:
    """The capture a revisit most likely refers to: same URL first, then the latest before it."""
    if not candidates:
        return None
    return min(candidates, key=lambda c: (c.url != rev.url, c.timestamp > rev.timestamp,
                                          abs(int(c.timestamp) - int(rev.timestamp))))


# -- the package's archive files -----------------------------------------------------------


def _bucket(path: Path) -> str:
    """The package file a source file's records go to, by their stored form."""
    with open(path, "rb") as fh:
        start = fh.read(4096)
    gz = start[:2] == b"\x1f\x8b"
    text = start
    if gz:
        try:
            text = isal_zlib.decompressobj(31).decompress(start, 64)
        except isal_zlib.error:
            text = b""
    kind = "warc" if text.startswith(b"WARC/") else "arc"
    return f"data.{kind}{'.gz' if gz else ''}"


def _warcinfo(name: str, home: Home, picks: list[_Pick], selection: str) -> bytes:
    sources = sorted({p.line.filename for p in picks})
    info = "".join(f"{k}: {v}\r\n" for k, v in [
        ("software", SOFTWARE), ("format", "WARC File Format 1.1"),
        ("description", f"Salvage export of {home.root.name}: {selection}"),
        *[("salvage-source", s) for s in sources]]).encode()
    fields = [("WARC-Record-ID", new_record_id()), ("WARC-Date", warc_date(datetime.now(UTC))),
              ("WARC-Filename", name), ("Content-Type", "application/warc-fields"),
              ("WARC-Block-Digest", "sha256:" + hashlib.sha256(info).hexdigest())]
    record = header_block("warcinfo", fields, len(info)) + info + CRLF + CRLF
    return gzip_member(record) if name.endswith(".gz") else record


def _copy(src: BinaryIO, line: IndexLine, out: _Counted) -> bytes:
    """Copy one record's stored bytes, checking its recordDigest; returns its first bytes."""
    src.seek(line.offset)
    left, first, sha = line.length, b"", hashlib.sha256()
    while left > 0:
        data = src.read(min(COPY_CHUNK, left))
        if not data:
            raise ExportFailed(f"{line.filename} ends before the record of {line.url} at offset "
                               f"{line.offset}: run `salvage verify` and restore the file")
        first = first or data
        sha.update(data)
        out.write(data)
        left -= len(data)
    expected = line.data.get("recordDigest", "")
    if expected.startswith("sha256:") and expected != "sha256:" + sha.hexdigest():
        raise ExportFailed(f"the record of {line.url} at {line.filename}:{line.offset} changed "
                           f"since it was written ({expected} recorded): run `salvage verify` "
                           "and restore the file before exporting it")
    return first


def _page(line: IndexLine, first: bytes) -> dict:
    """The pages.jsonl entry of an HTML capture; title and id from the record's first bytes."""
    ts = line.timestamp
    page = {"id": hashlib.sha1(f"{ts} {line.url}".encode()).hexdigest()[:32], "url": line.url,
            "ts": f"{ts[:4]}-{ts[4:6]}-{ts[6:8]}T{ts[8:10]}:{ts[10:12]}:{ts[12:14]}Z"}
    try:
        text = isal_zlib.decompressobj(31).decompress(first, 256 << 10) \
            if first[:2] == b"\x1f\x8b" else first
    except isal_zlib.error:
        return page
    warc_end = text.find(b"\r\n\r\n")
    if warc_end < 0:
        return page
    rid = re.search(rb"\r\nWARC-Record-ID:\s*<urn:uuid:([0-9a-fA-F-]+)>", text[: warc_end + 2])
    if rid:
        page["id"] = rid.group(1).decode().replace("-", "")
    http_end = text.find(b"\r\n\r\n", warc_end + 4)
    if http_end < 0:
        return page
    enc = re.search(rb"\r\ncontent-encoding:\s*([^\r]+)", text[warc_end:http_end], re.I)
    body = decoded_prefix(text[http_end + 4 :], enc.group(1).decode("latin-1") if enc else None)
    found = _TITLE.search(body[: 64 << 10])
    if found:
        title = " ".join(html.unescape(found.group(1).decode("utf-8", "replace")).split())
        if title:
            page["title"] = title[:300]
    return page


def _is_page(pick: _Pick) -> bool:
    line = pick.line
    status = line.status
    return (pick.selected and line.data.get("mime") in HTML_MIMES and line.good
            and (status is None or 200 <= status < 300))


# -- the zip ---------------------------------------------------------------------------------


def _member(path: str, stored: bool) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(path, time.gmtime()[:6])
    info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    return info


def _write_bytes(zf: zipfile.ZipFile, path: str, data: bytes, stored: bool,
                 resources: list[dict]) -> None:
    with zf.open(_member(path, stored), "w", force_zip64=True) as raw:
        out = _Counted(raw)
        out.write(data)
    resources.append(_resource(path, out))


def _resource(path: str, out: _Counted) -> dict:
    return {"name": Path(path).name.lower(), "path": path,
            "hash": "sha256:" + out.sha.hexdigest(), "bytes": out.size}


def _write_index(zf: zipfile.ZipFile, lines: list[bytes], resources: list[dict]) -> None:
    """indexes/index.cdx.gz (sorted CDXJ, gzip members of LINES_PER_BLOCK lines) and its
    ZipNum summary indexes/index.idx."""
    lines.sort()
    idx = [b'!meta 0 {"format": "cdxj-gzip-1.0", "filename": "index.cdx.gz"}\n']
    with zf.open(_member("indexes/index.cdx.gz", True), "w", force_zip64=True) as raw:
        out = _Counted(raw)
        for i in range(0, len(lines), LINES_PER_BLOCK):
            block = gzip.compress(b"".join(lines[i : i + LINES_PER_BLOCK]), mtime=0)
            prefix = lines[i].split(b" {", 1)[0]
            entry = {"offset": out.size, "length": len(block),
                     "digest": "sha256:" + hashlib.sha256(block).hexdigest()}
            idx.append(prefix + b" " + json.dumps(entry).encode() + b"\n")
            out.write(block)
    resources.append(_resource("indexes/index.cdx.gz", out))
    _write_bytes(zf, "indexes/index.idx", b"".join(idx), False, resources)


def _write_archive(zf: zipfile.ZipFile, home: Home, bucket: str, warcinfo: bytes,
                   files: dict[str, list[_Pick]], index_lines: list[bytes], pages: list[dict],
                   resources: list[dict]) -> None:
    """Copy the picked records of `files` into `archive/<bucket>`, collecting their new index
    lines and page entries."""
    path = f"archive/{bucket}"
    with zf.open(_member(path, True), "w", force_zip64=True) as raw:
        dest = _Counted(raw)
        dest.write(warcinfo)
        for name, file_picks in files.items():
            with open(home.root / name, "rb") as src:
                for pick in file_picks:
                    offset = dest.size
                    first = _copy(src, pick.line, dest)
                    data = {**pick.line.data, "offset": str(offset), "filename": bucket}
                    index_lines.append(f"{pick.line.urlkey} {pick.line.timestamp} "
                                       f"{json.dumps(data)}\n".encode())
                    if _is_page(pick):
                        pages.append(_page(pick.line, first))
    resources.append(_resource(path, dest))


def export_wacz(home: Home, out: Path, url_prefix: str | None = None,
                start: datetime | None = None, end: datetime | None = None,
                title: str | None = None) -> WaczReport:
    """Write the selected records as the WACZ package `out` (replaced atomically)."""
    out = Path(out)
    picks, unresolved = select(home, url_prefix, start, end)
    selection = (f"url prefix {url_prefix or '(any)'}, "
                 f"from {start.isoformat() if start else '(the first)'} "
                 f"to {end.isoformat() if end else '(the last)'}")
    if not any(p.selected for p in picks):
        raise EmptyExport(f"no indexed record matches {selection}: nothing was written. The prefix "
                          "is matched against whole URLs (scheme included) and times are UTC.")
    buckets: dict[str, list[_Pick]] = defaultdict(list)
    for pick in picks:
        path = home.root / pick.line.filename
        if not path.exists():
            raise ExportFailed(f"{pick.line.filename} (holding {pick.line.url}) is missing: run "
                               "`salvage verify` and restore it before exporting")
        buckets[pick.line.filename].append(pick)
    report = WaczReport(out, unresolved_revisits=unresolved)
    report.revisit_originals = sum(not p.selected for p in picks)
    by_bucket: dict[str, list[str]] = defaultdict(list)
    for name in buckets:
        by_bucket[_bucket(home.root / name)].append(name)
    out.parent.mkdir(parents=True, exist_ok=True)
    resources: list[dict] = []
    index_lines: list[bytes] = []
    pages: list[dict] = []
    with atomic_file(out) as fh, zipfile.ZipFile(fh, "w", allowZip64=True) as zf:
        for bucket in sorted(by_bucket, key=lambda b: (b != "data.warc.gz", b)):
            files = {name: buckets[name] for name in sorted(by_bucket[bucket])}
            info = _warcinfo(bucket, home, picks, selection) if bucket.startswith("data.warc") \
                else b""
            _write_archive(zf, home, bucket, info, files, index_lines, pages, resources)
            report.archives[bucket] = resources[-1]["bytes"]
            report.records += sum(len(p) for p in files.values())
        _write_index(zf, index_lines, resources)
        header = {"format": "json-pages-1.0", "id": "pages", "title": "All Pages"}
        jsonl = "".join(json.dumps(p) + "\n" for p in [header, *pages]).encode()
        _write_bytes(zf, "pages/pages.jsonl", jsonl, False, resources)
        package = {
            "profile": "data-package",
            "resources": resources,
            "title": title or f"Salvage export of {home.root.name}",
            "description": f"Records of {selection}",
            "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "wacz_version": WACZ_VERSION,
            "software": SOFTWARE,
        }
        package_bytes = json.dumps(package, indent=2).encode()
        zf.writestr(_member("datapackage.json", False), package_bytes)
        digest = {"path": "datapackage.json",
                  "hash": "sha256:" + hashlib.sha256(package_bytes).hexdigest()}
        zf.writestr(_member("datapackage-digest.json", False), json.dumps(digest, indent=2))
    report.pages = len(pages)
    report.bytes = out.stat().st_size
    home.audit.append("export.wacz", out=str(out.resolve()), records=report.records,
                      pages=report.pages, datapackage_sha256=digest["hash"])
    return report
