"""WARC/1.1 records: header blocks, SHA-256 digests and one gzip member per record."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

from isal import isal_zlib

WARC_VERSION = b"WARC/1.1"
GZIP_LEVEL = 2  # ISA-L default: ~9x zlib -9 (warcio) speed, files 1.1-1.2x its size (BENCHMARKS.md)
CRLF = b"\r\n"


def new_record_id() -> str:
    return f"<urn:uuid:{uuid.uuid4()}>"


def warc_date(moment: datetime) -> str:
    """WARC 1.1 date with microseconds, always UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def header_block(rec_type: str, fields: Iterable[tuple[str, str]], content_length: int) -> bytes:
    """The WARC header block of one record, ending with the blank line."""
    lines = [WARC_VERSION, f"WARC-Type: {rec_type}".encode()]
    for name, value in fields:
        if value is None:
            continue
        text = str(value)
        if "\r" in text or "\n" in text:
            raise ValueError(f"WARC header {name} holds a line break")
        lines.append(f"{name}: {text}".encode())
    lines.append(f"Content-Length: {content_length}".encode())
    return CRLF.join(lines) + CRLF + CRLF


class MemberCompressor:
    """Compresses one record into one gzip member, incrementally."""

    def __init__(self, level: int = GZIP_LEVEL):
        self._c = isal_zlib.compressobj(level, isal_zlib.DEFLATED, 16 + isal_zlib.MAX_WBITS)

    def compress(self, data: bytes) -> bytes:
        return self._c.compress(data)

    def flush(self) -> bytes:
        return self._c.flush()


def gzip_member(data: bytes, level: int = GZIP_LEVEL) -> bytes:
    """`data` as one complete gzip member."""
    c = MemberCompressor(level)
    return c.compress(data) + c.flush()


class HeadThenBody:
    """A readable over a bytes head followed by a file body (a block written in one stream)."""

    def __init__(self, head: bytes, body):
        self._head, self._body = head, body

    def read(self, n: int) -> bytes:
        if self._head:
            out, self._head = self._head[:n], self._head[n:]
            return out
        return self._body.read(n)


def http_head_bytes(status_line: str, headers: Iterable[tuple[str, str]]) -> bytes:
    """An HTTP message head (status or request line, headers, blank line) as archived."""
    out = [status_line.encode("latin-1")]
    out.extend(f"{k}: {v}".encode("latin-1", "replace") for k, v in headers)
    return CRLF.join(out) + CRLF + CRLF
