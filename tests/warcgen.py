"""Test helper: WARC records written through `archive.writer.WarcWriter`, as a capture writes them.

Run as a script (`python tests/warcgen.py HOME`) it writes records in a loop and, after a few, one
large record fed slowly, printing `writing` while that record is half on disk: the kill test's
target.
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from archive.cdxj import IndexEntry  # noqa: E402
from archive.describe import HttpHead  # noqa: E402
from archive.home import Home  # noqa: E402
from archive.records import (  # noqa: E402
    HeadThenBody,
    digest_of,
    http_head_bytes,
    new_record_id,
    warc_date,
)
from archive.writer import WarcWriter  # noqa: E402

REVISIT_PROFILE = "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"


def html(title: str, size: int = 0) -> bytes:
    filler = b"<p>" + b"market data " * (size // 12) + b"</p>" if size else b""
    return f"<html><head><title>{title}</title></head><body>".encode() + filler + b"</body></html>"


def write_response(writer: WarcWriter, url: str, body: bytes, *, when: datetime | None = None,
                   mime: str = "text/html; charset=utf-8", status: int = 200,
                   payload_digest: str | None = None, record_id: str | None = None
                   ) -> IndexEntry | None:
    """A `response` record with an HTTP head, as `archive.capture` writes one."""
    headers = [("Content-Type", mime), ("Content-Length", str(len(body)))]
    head = http_head_bytes(f"HTTP/1.1 {status} OK", headers)
    fields = [
        ("WARC-Record-ID", record_id or new_record_id()),
        ("WARC-Date", warc_date(when or datetime.now(UTC))),
        ("WARC-Target-URI", url),
        ("Content-Type", "application/http;msgtype=response"),
        ("WARC-Payload-Digest", payload_digest or digest_of(body)),
        ("WARC-Block-Digest", digest_of(head + body)),
    ]
    return writer.write("response", fields, head + body, http=HttpHead(status, headers),
                        payload_prefix=body[:65536])


def write_revisit(writer: WarcWriter, url: str, original: IndexEntry, *,
                  when: datetime | None = None) -> IndexEntry | None:
    """A `revisit` record (identical payload) of `original`."""
    headers = [("Content-Type", "text/html"), ("Content-Length", "0")]
    head = http_head_bytes("HTTP/1.1 200 OK", headers)
    fields = [
        ("WARC-Record-ID", new_record_id()),
        ("WARC-Date", warc_date(when or datetime.now(UTC))),
        ("WARC-Target-URI", url),
        ("WARC-Profile", REVISIT_PROFILE),
        ("WARC-Refers-To", original.record_id or ""),
        ("WARC-Refers-To-Target-URI", original.url),
        ("WARC-Refers-To-Date", warc_date(original.warc_date)),
        ("Content-Type", "application/http;msgtype=response"),
        ("WARC-Payload-Digest", original.digest or ""),
        ("WARC-Block-Digest", digest_of(head)),
        ("WARC-Truncated", "length"),
    ]
    return writer.write("revisit", fields, head, http=HttpHead(200, headers))


def write_request(writer: WarcWriter, url: str) -> None:
    request = f"GET {url} HTTP/1.1\r\nHost: example.com\r\n\r\n".encode()
    writer.write("request", [
        ("WARC-Record-ID", new_record_id()), ("WARC-Date", warc_date(datetime.now(UTC))),
        ("WARC-Target-URI", url), ("Content-Type", "application/http;msgtype=request"),
        ("WARC-Block-Digest", digest_of(request)),
    ], request)


def import_plain_warc(home: Home, name: str = "crawler.warc") -> Path:
    """An uncompressed WARC written by warcio (sha1 base32 digests), logged and indexed as the
    importer does: in `imported/`, an `import` event with its SHA-256, and its index file."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    from archive.cdxj import write_index
    from archive.indexing import index_file

    dest = home.imported / name
    with open(dest, "wb") as fh:
        writer = WARCWriter(fh, gzip=False)
        for i in range(3):
            body = html(f"Crawled {i}", 1500)
            head = StatusAndHeaders("200 OK", [("Content-Type", "text/html")],
                                    protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(
                f"https://crawled.example/{i}", "response", payload=io.BytesIO(body),
                http_headers=head))
    rel = home.relative(dest)
    write_index(home.index_path(rel), index_file(dest, rel).entries)
    home.audit.append("import", file=rel, sha256=hashlib.sha256(dest.read_bytes()).hexdigest())
    return dest


class _Slow:
    """A body that arrives slowly: announces itself once part of it is on disk."""

    def __init__(self, size: int):
        self.left, self.sent = size, 0

    def read(self, n: int) -> bytes:
        n = min(n, self.left, 1 << 16)
        data = os.urandom(n)  # incompressible: the record's bytes reach the disk as they come
        self.left -= n
        self.sent += n
        if self.sent == 1 << 18:
            print("writing", flush=True)
        if self.sent > 1 << 18:
            time.sleep(0.05)
        return data


def _loop(root: str) -> None:
    writer = WarcWriter(Home(Path(root)))
    for i in range(5):
        write_response(writer, f"https://example.com/page/{i}", html(f"Page {i}", 5000))
    size = 64 << 20
    head = http_head_bytes("HTTP/1.1 200 OK", [("Content-Length", str(size))])
    fields = [("WARC-Record-ID", new_record_id()), ("WARC-Date", warc_date(datetime.now(UTC))),
              ("WARC-Target-URI", "https://example.com/big"),
              ("Content-Type", "application/http;msgtype=response")]
    writer.write("response", fields, HeadThenBody(head, _Slow(size)), len(head) + size)



if __name__ == "__main__":
    _loop(sys.argv[1])
