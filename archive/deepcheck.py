"""Record-level checks for `archive.fixity`: digest labels, what a record's first bytes say, and
the deep check that decompresses every record and recomputes its declared digests.

Digest labels are `algo:value` with the value in hex, base32 or base64 (WARC allows any RFC 3548
form; Salvage writes `sha256:<hex>`, most crawlers `sha1:<base32>`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from isal import isal_zlib

GZIP_MAGIC = b"\x1f\x8b\x08"
HEAD_OUT = 64 << 10  # decompressed bytes looked at to read a record's headers
MAX_HEADER = 256 << 10  # a WARC or HTTP head longer than this is not believed
IN_STEP = 64 << 10  # compressed bytes fed at a time (bounds zlib's copy of the unused input)
OUT_MAX = 4 << 20  # decompressed bytes taken at a time (bounds memory on highly compressed data)


@dataclass
class Problem:
    """One thing `verify` found wrong, and what to do about it."""

    kind: str
    file: str | None
    offset: int | None = None
    record_id: str | None = None
    url: str | None = None
    expected: str | None = None
    actual: str | None = None
    message: str = ""


# -- digest labels -----------------------------------------------------------------------------


def _algo(label: str) -> str:
    return label.partition(":")[0].strip().lower().replace("-", "")


def new_hasher(label: str):
    """A fresh hashlib object for a label's algorithm, or None if hashlib does not know it."""
    if label.startswith("sha256:"):
        return hashlib.sha256()
    try:
        return hashlib.new(_algo(label))
    except (ValueError, TypeError):
        return None


def decode_digest(label: str) -> bytes | None:
    """The raw digest a label holds, or None if it cannot be read."""
    hasher = new_hasher(label)
    if hasher is None:
        return None
    size, value = hasher.digest_size, label.partition(":")[2].strip()
    candidates = []
    if len(value) == 2 * size:
        candidates.append(lambda: bytes.fromhex(value))
    candidates.append(lambda: base64.b32decode(value.upper() + "=" * (-len(value) % 8)))
    candidates.append(lambda: base64.b64decode(value + "=" * (-len(value) % 4), b"-_"
                                               if ("-" in value or "_" in value) else None))
    for decode in candidates:
        try:
            raw = decode()
        except (ValueError, binascii.Error):
            continue
        if len(raw) == size:
            return raw
    return None


def digest_equal(label: str, raw: bytes) -> bool:
    """Does `label` hold the digest `raw` (computed with the label's algorithm)?"""
    if label.startswith("sha256:") and len(label) == 71 and label[7:] == raw.hex():
        return True  # Salvage's own form, the common case
    return decode_digest(label) == raw


def _label(declared: str, hasher) -> str:
    return f"{declared.partition(':')[0]}:{hasher.hexdigest()}"


# -- a record's first bytes ------------------------------------------------------------------


@dataclass
class Head:
    """The headers at a record's start: WARC header fields (lower-case names) or an ARC line."""

    kind: str
    fields: dict[str, str]
    url: str | None


_HEAD_FIELDS = re.compile(
    rb"\r\n(warc-payload-digest|warc-target-uri|warc-record-id|warc-type)[ \t]*:[ \t]*([^\r\n]*)",
    re.I)


def parse_head(stored: bytes) -> Head | None:
    """What record the stored bytes (a gzip member's start, or plain) begin, or None. Of a WARC
    header only the fields the index check needs are read: type, record id, URL, payload digest."""
    text = stored
    if stored[:3] == GZIP_MAGIC:
        take = 512  # most WARC headers fit: decompress more only when they do not
        while True:
            try:
                text = isal_zlib.decompressobj(31).decompress(stored[:take], HEAD_OUT)
            except isal_zlib.error:
                return None
            if b"\r\n\r\n" in text or take >= len(stored):
                break
            take *= 8
    if text.startswith(b"WARC/"):
        end = text.find(b"\r\n\r\n")
        if end < 0:
            end = text.rfind(b"\r\n")  # the last line may be cut short
        fields: dict[str, str] = {}
        for m in _HEAD_FIELDS.finditer(text, 0, end + 2):
            fields.setdefault(m.group(1).lower().decode(), m.group(2).strip().decode("utf-8",
                                                                                      "replace"))
        url = fields.get("warc-target-uri")
        if url and url.startswith("<") and url.endswith(">"):
            url = url[1:-1]
        return Head("warc", fields, url)
    tokens = text.split(b"\n", 1)[0].split()
    if len(tokens) >= 5 and tokens[-1].isdigit() and tokens[2][:14].isdigit():
        return Head("arc", {}, tokens[0].decode("utf-8", "replace"))
    return None


def _fields(lines: list[bytes]) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(b":")
        if sep:
            out.setdefault(name.strip().lower().decode("latin-1"),
                           value.strip().decode("utf-8", "replace"))
    return out


# -- the deep check ----------------------------------------------------------------------------


class _Dechunker:
    """Hashes an HTTP chunked body with its framing removed (for producers that digest it so)."""

    def __init__(self, hasher):
        self.hasher, self.state, self.line, self.left = hasher, "size", b"", 0

    def feed(self, data: bytes) -> None:
        i, n = 0, len(data)
        while i < n and self.state not in ("done", "bad"):
            if self.state == "size":
                j = data.find(b"\n", i)
                self.line += data[i : n if j < 0 else j]
                if j < 0:
                    self.state = "bad" if len(self.line) > 1024 else "size"
                    return
                i, text, self.line = j + 1, self.line.split(b";")[0].strip(), b""
                try:
                    self.left = int(text, 16)
                except ValueError:
                    self.state = "bad"
                    return
                self.state = "data" if self.left else "done"
            elif self.state == "data":
                take = min(self.left, n - i)
                self.hasher.update(data[i : i + take])
                i, self.left = i + take, self.left - take
                if not self.left:
                    self.state = "crlf"
            else:  # the CRLF after a chunk
                if data[i] == 10:
                    self.state = "size"
                i += 1


class _Record:
    """The digests of the record being read."""

    def __init__(self, offset: int, fields: dict[str, str], length: int):
        self.offset, self.fields, self.left = offset, fields, length
        rec_type = fields.get("warc-type", "")
        self.block_label = fields.get("warc-block-digest")
        self.block = new_hasher(self.block_label) if self.block_label else None
        label = fields.get("warc-payload-digest")
        if rec_type == "revisit" or "warc-segment-number" in fields:
            label = None  # a revisit's payload is elsewhere; a segment's is spread over records
        self.payload_label = label
        self.payload = new_hasher(label) if label else None
        is_http = fields.get("content-type", "").lower().startswith("application/http")
        self.http_head: bytearray | None = bytearray() if is_http and self.payload else None
        self.dechunk: _Dechunker | None = None

    def take(self, data: memoryview) -> None:
        if self.block is not None:
            self.block.update(data)
        if self.http_head is not None:
            prev = len(self.http_head)
            self.http_head += data[: MAX_HEADER + 4 - prev]
            end = self.http_head.find(b"\r\n\r\n", max(0, prev - 3))
            if end < 0:
                if len(self.http_head) > MAX_HEADER:
                    self.http_head, self.payload = None, None
                return
            head, self.http_head = bytes(self.http_head[: end + 4]), None
            if b"chunked" in head.lower() and self.payload_label:
                hasher = new_hasher(self.payload_label)
                self.dechunk = _Dechunker(hasher) if hasher is not None else None
            data = data[end + 4 - prev :]
        if self.payload is not None:
            self.payload.update(data)
            if self.dechunk is not None:
                self.dechunk.feed(bytes(data))

    def problems(self, name: str) -> list[Problem]:
        out = []
        rid, url = self.fields.get("warc-record-id"), self.fields.get("warc-target-uri")
        advice = ("if the default checks pass for this record, its producer wrote a wrong digest "
                  "(the bytes are as they were recorded): note it, nothing to restore; otherwise "
                  "the bytes were damaged: restore the file from a backup or a replica")
        if self.block is not None and self.block_label and not digest_equal(
                self.block_label, self.block.digest()):
            out.append(Problem("block-digest", name, self.offset, rid, url, self.block_label,
                               _label(self.block_label, self.block),
                               f"the record's block does not match its WARC-Block-Digest: "
                               f"{advice}"))
        if self.payload is not None and self.http_head is None and self.payload_label:
            ok = digest_equal(self.payload_label, self.payload.digest())
            if not ok and self.dechunk is not None and self.dechunk.state == "done":
                ok = digest_equal(self.payload_label, self.dechunk.hasher.digest())
            if not ok:
                out.append(Problem("payload-digest", name, self.offset, rid, url,
                                   self.payload_label, _label(self.payload_label, self.payload),
                                   f"the record's payload does not match its "
                                   f"WARC-Payload-Digest: {advice}"))
        return out


class DeepChecker:
    """Fed a file's stored bytes in order, decompresses and checks every WARC record in it.

    ARC files carry no digests: they are read no further than their first bytes.
    """

    def __init__(self, name: str):
        self.name = name
        self.problems: list[Problem] = []
        self.records = 0
        self._gz: bool | None = None
        self._d = None
        self._member = 0
        self._resync = False
        self._quiet = False  # a damaged member was reported: not again until one reads whole
        self._lost = False  # the current record cannot be followed: wait for the next member
        self._off = False  # not a WARC file
        self._buf = bytearray()
        self._rec: _Record | None = None
        self._start = 0

    # stored bytes -> record bytes

    def feed(self, data: bytes, pos: int) -> None:
        if self._gz is None:
            self._gz = data[:3] == GZIP_MAGIC
        if self._off:
            return
        if not self._gz:
            self._parse(data, pos)
            return
        view, i = memoryview(data), 0
        while i < len(data) and not self._off:
            if self._resync:
                k = data.find(GZIP_MAGIC, i)
                if k < 0:
                    return
                i, self._resync = k, False
            if self._d is None:
                self._d, self._member = isal_zlib.decompressobj(31), pos + i
                if self._lost:
                    self._lost, self._rec = False, None
                    self._buf.clear()
            piece = view[i : i + IN_STEP]
            try:
                out = self._d.decompress(piece, OUT_MAX)
                self._parse(out, None)
                while self._d.unconsumed_tail:
                    self._parse(self._d.decompress(self._d.unconsumed_tail, OUT_MAX), None)
            except isal_zlib.error as exc:
                if not self._quiet:
                    self._problem("corrupt-member", self._member,
                                  f"the gzip member at this offset is damaged ({exc}): restore "
                                  "the file from a backup or a replica")
                self._d, self._lost, self._resync, self._quiet = None, True, True, True
                i += 1
                continue
            if self._d.eof:
                i += len(piece) - len(self._d.unused_data)
                self._d, self._quiet = None, False
            else:
                i += len(piece)

    def finish(self) -> None:
        if self._off or self._lost:
            return
        if self._d is not None or self._rec is not None or self._buf:
            offset = self._rec.offset if self._rec is not None else (
                self._member if self._gz else self._start)
            self._problem("truncated-record", offset, "the file ends inside this record: "
                          "restore the file from a backup or a replica")

    def _problem(self, kind: str, offset: int, message: str) -> None:
        self.problems.append(Problem(kind, self.name, offset, message=message))

    # record bytes -> records

    def _parse(self, out: bytes, base: int | None) -> None:
        """Parse decompressed bytes; `base` is their file offset (plain files) or None (gzip)."""
        i, n, view = 0, len(out), memoryview(out)
        while i < n and not (self._off or self._lost):
            rec = self._rec
            if rec is not None:
                take = min(rec.left, n - i)
                rec.take(view[i : i + take])
                i, rec.left = i + take, rec.left - take
                if not rec.left:
                    self._end_record()
                continue
            if not self._buf:
                while i < n and out[i] in (10, 13):
                    i += 1
                if i == n:
                    return
                self._start = self._member if base is None else base + i
                if out[i : i + 11] == b"filedesc://" and not self.records:
                    self._off = True
                    return
                end = out.find(b"\r\n\r\n", i, i + MAX_HEADER)
                if end >= 0:
                    header, i = out[i:end], end + 4
                    self._begin_record(header)
                    continue
                if n - i > MAX_HEADER:
                    self._not_a_record()
                    return
                self._buf += view[i:]  # a header cut by the end of this piece
                return
            prev = len(self._buf)
            self._buf += out[i : i + MAX_HEADER]
            end = self._buf.find(b"\r\n\r\n", max(0, prev - 3))
            if end < 0:
                if len(self._buf) > MAX_HEADER:
                    self._not_a_record()
                return
            header = bytes(self._buf[:end])
            self._buf.clear()
            i += end + 4 - prev
            self._begin_record(header)

    def _begin_record(self, header: bytes) -> None:
        if not header.startswith(b"WARC/"):
            self._not_a_record()
            return
        fields = _fields(header.split(b"\r\n")[1:])
        try:
            length = int(fields.get("content-length", ""))
        except ValueError:
            self._not_a_record()
            return
        self._rec = _Record(self._start, fields, length)
        if not length:
            self._end_record()

    def _end_record(self) -> None:
        assert self._rec is not None
        self.records += 1
        self.problems += self._rec.problems(self.name)
        self._rec = None

    def _not_a_record(self) -> None:
        self._problem("not-a-record", self._start, "no readable WARC record starts here: "
                      "restore the file from a backup or a replica")
        self._lost, self._rec = True, None
        self._buf.clear()
