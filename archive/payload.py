"""Reading one archived record back: its headers and its payload, exactly as served."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import ChunkedDataReader

from archive.cdxj import IndexLine
from archive.describe import HttpHead
from archive.errors import NotArchived
from archive.home import Home
from archive.lookup import Index
from archive.reader import http_head


@dataclass
class StoredRecord:
    rec_type: str
    warc: dict[str, str]
    http: HttpHead | None


def _open_at(home: Home, line: IndexLine):
    path = home.root / line.filename
    if not Path(path).exists():
        raise NotArchived(f"{line.filename} is missing from the home: run `salvage verify`")
    fh = open(path, "rb")
    fh.seek(line.offset)
    it = ArchiveIterator(fh, arc2warc=True)
    return fh, next(iter(it))


def read_headers(home: Home, line: IndexLine) -> StoredRecord:
    """The WARC and HTTP headers of the record a line points at."""
    fh, record = _open_at(home, line)
    with fh:
        warc: dict[str, str] = {}
        for k, v in record.rec_headers.headers:
            warc.setdefault(k, v)
        return StoredRecord(record.rec_type, warc, http_head(record))


def stream_payload(home: Home, line: IndexLine, decode: bool = False,
                   chunk: int = 1 << 20) -> Iterator[bytes]:
    """The payload of the record at `line`: transfer encoding removed; with `decode`, content
    encoding (gzip, deflate, br) removed too."""
    fh, record = _open_at(home, line)
    with fh:
        heads = record.http_headers
        if decode:
            stream = record.content_stream()
        elif (heads.get_header("transfer-encoding") or "").lower() == "chunked" if heads else False:
            stream = ChunkedDataReader(record.raw_stream, decomp_type=None)
        else:
            stream = record.raw_stream
        while data := stream.read(chunk):
            yield data


def payload_line(home: Home, index: Index, line: IndexLine) -> IndexLine:
    """The line whose record holds the payload (a revisit's original)."""
    if not line.is_revisit:
        return line
    rec = read_headers(home, line)
    original = index.resolve(line, rec.warc.get("WARC-Refers-To-Target-URI"),
                             rec.warc.get("WARC-Refers-To-Date"))
    if original is None:
        raise NotArchived(
            f"the revisit of {line.url} at {line.timestamp} refers to a payload "
            f"({line.data.get('digest')}) that is not in the archive: import the archive "
            "holding the original with `salvage import`"
        )
    return original
