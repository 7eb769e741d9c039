"""Streaming reads of WARC and ARC files (ours and other tools'), record by record.

Built on warcio's ArchiveIterator; adds what Salvage needs: the SHA-256 of each record's stored
bytes, the payload's first bytes for soft-error detection, producers' digest problems, and recovery
after a broken record (resynchronise at the next record and go on).
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from archive import softerrors
from archive.describe import INDEXED_TYPES, HttpHead

GZIP_MAGIC = b"\x1f\x8b\x08"
CHUNK = 1 << 20


@dataclass
class ReadRecord:
    offset: int
    length: int
    rec_type: str
    warc: dict[str, str]
    http: HttpHead | None
    prefix: bytes
    record_digest: str
    payload_sha1: str | None = None
    digest_problems: list[str] = field(default_factory=list)


@dataclass
class BrokenRecord:
    offset: int
    error: str


def http_head(record) -> HttpHead | None:
    heads = record.http_headers
    if heads is None:
        return None
    code = heads.get_statuscode() if hasattr(heads, "get_statuscode") else None
    status = int(code) if code and str(code).isdigit() else None
    return HttpHead(status, list(heads.headers))


def _first_headers(record) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in record.rec_headers.headers:
        out.setdefault(name, value)
    return out


def _slice_digest(fh, offset: int, length: int) -> str:
    h = hashlib.sha256()
    fh.seek(offset)
    left = length
    while left > 0:
        data = fh.read(min(CHUNK, left))
        if not data:
            break
        h.update(data)
        left -= len(data)
    return "sha256:" + h.hexdigest()


def _resync(fh, start: int, gzipped: bool) -> int | None:
    """The offset of the next plausible record start after `start`, or None at end of file."""
    marker = GZIP_MAGIC if gzipped else b"WARC/1."
    pos = start
    fh.seek(pos)
    carry = b""
    while True:
        data = fh.read(CHUNK)
        if not data:
            return None
        buf = carry + data
        base = pos - len(carry)
        i = buf.find(marker, 1 if base == start else 0)
        while i >= 0:
            cand = base + i
            plausible = _gzip_plausible(fh, cand) if gzipped else _line_start(buf, i)
            if cand > start and plausible:
                return cand
            i = buf.find(marker, i + 1)
        carry = buf[-(len(marker) - 1):]
        pos += len(data)
        fh.seek(pos)


def _line_start(buf: bytes, i: int) -> bool:
    return i == 0 or buf[i - 1 : i] == b"\n"


def _gzip_plausible(fh, offset: int) -> bool:
    here = fh.tell()
    fh.seek(offset)
    head = fh.read(4096)
    fh.seek(here)
    try:
        out = zlib.decompressobj(31).decompress(head, 16)
    except zlib.error:
        return False
    return out.startswith((b"WARC/", b"http", b"filedesc", b"dns:")) or out[:1].isalnum()


def _is_arc(fh, gzipped: bool) -> bool:
    """Is this an ARC file (its first record a `filedesc://` header)?"""
    fh.seek(0)
    head = fh.read(4096)
    if gzipped:
        try:
            head = zlib.decompressobj(31).decompress(head, 64)
        except zlib.error:
            return False
    return head.startswith(b"filedesc://")


def read_records(path: Path, *, payload_sha1: bool = False, check_digests: bool = False,
                 start: int = 0) -> Iterator[ReadRecord | BrokenRecord]:
    """Every record of a WARC/ARC file, plain or gzip; a broken record yields a BrokenRecord and
    reading resumes at the next record."""
    with open(path, "rb") as fh, open(path, "rb") as raw:
        gzipped = fh.read(3) == GZIP_MAGIC
        arc = _is_arc(fh, gzipped)
        pos: int | None = start
        while pos is not None:
            fh.seek(pos)
            it = ArchiveIterator(fh, arc2warc=True, check_digests=check_digests)
            begin = last_end = pos
            try:
                for record in it:
                    warc = _first_headers(record)
                    if arc:  # ARC has no record ids: warcio makes up a new one on every read
                        warc.pop("WARC-Record-ID", None)
                    http = http_head(record)
                    prefix = record.raw_stream.read(softerrors.PREFIX_BYTES)
                    sha1 = None
                    lacks_digest = not any(k.lower() == "warc-payload-digest" for k in warc)
                    if payload_sha1 or (lacks_digest and record.rec_type in INDEXED_TYPES):
                        h = hashlib.sha1(prefix)
                        while data := record.raw_stream.read(CHUNK):
                            h.update(data)
                        sha1 = "sha1:" + base64.b32encode(h.digest()).decode("ascii")
                    it.read_to_end(record)
                    offset, length = it.get_record_offset(), it.get_record_length()
                    if length <= 0:  # warcio lost its place in a garbled gzip member
                        raise ValueError(f"record at offset {offset} has length {length}")
                    missing = getattr(record.raw_stream, "limit", 0)
                    if isinstance(missing, int) and missing > 0:  # the data ends inside it
                        yield BrokenRecord(offset, f"record cut short: {missing} bytes of its "
                                                   f"declared length are missing")
                        last_end = offset + length
                        continue
                    problems = list(record.digest_checker.problems) if check_digests else []
                    yield ReadRecord(
                        offset=offset, length=length, rec_type=record.rec_type, warc=warc,
                        http=http, prefix=prefix, record_digest=_slice_digest(raw, offset, length),
                        payload_sha1=sha1, digest_problems=problems,
                    )
                    last_end = offset + length
                pos = None
            # warcio raises AttributeError/TypeError/IndexError/KeyError on some malformed
            # headers (e.g. a record cut inside its WARC head has no WARC-Target-URI)
            except (ArchiveLoadFailed, zlib.error, EOFError, ValueError, OSError,
                    AttributeError, TypeError, IndexError, KeyError) as exc:
                yield BrokenRecord(last_end, f"{type(exc).__name__}: {str(exc).strip()[:300]}")
                pos = _resync(fh, max(last_end, begin), gzipped)  # always moves forward


def whole_members(fh, start: int = 0) -> Iterator[tuple[int, int]]:
    """(offset, length) of each complete gzip member holding a complete WARC record, from `start`
    until the first member that is cut short or malformed (used to repair interrupted files)."""
    from isal import isal_zlib

    pos = start
    fh.seek(pos)
    pending = b""
    while True:
        d = isal_zlib.decompressobj(31)
        out = bytearray()
        consumed = 0
        data = pending
        pending = b""
        while not d.eof:
            if not data:
                data = fh.read(CHUNK)
                if not data:
                    return
            try:
                out += d.decompress(data)
            except isal_zlib.error:
                return
            consumed += len(data) - len(d.unused_data)
            data = b""
        pending = d.unused_data
        if not _whole_warc_record(bytes(out)):
            return
        yield pos, consumed
        pos += consumed
        if not pending:
            pending = fh.read(CHUNK)
            if not pending:
                return


def _whole_warc_record(data: bytes) -> bool:
    end = data.find(b"\r\n\r\n")
    if not data.startswith(b"WARC/") or end < 0:
        return False
    for line in data[:end].split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            try:
                return len(data) == end + 4 + int(value) + 4
            except ValueError:
                return False
    return False
