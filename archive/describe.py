"""What the index says of a record: one function for the writer, the importer and `reindex`,
so an index rebuilt from the WARCs alone equals the one written live."""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

from archive import softerrors
from archive.cdxj import IndexEntry, timestamp14, url_key

INDEXED_TYPES = ("response", "revisit", "resource", "metadata")
_MIME_CUT = re.compile(r"[;\s]")


@dataclass
class HttpHead:
    """A parsed HTTP message head."""

    status: int | None
    headers: list[tuple[str, str]] = field(default_factory=list)

    def get(self, name: str) -> str | None:
        low = name.lower()
        for key, value in self.headers:
            if key.lower() == low:
                return value
        return None

    def as_dict(self) -> dict[str, str]:
        return {k.lower(): v for k, v in self.headers}


def parse_warc_date(value: str) -> datetime:
    text = value.strip().replace("Z", "+00:00")
    if "T" not in text and len(text) == 14 and text.isdigit():  # ARC dates
        return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def decoded_prefix(prefix: bytes, encoding: str | None) -> bytes:
    """The first bytes of a payload without its content encoding (gzip/deflate), if possible."""
    enc = (encoding or "").strip().lower()
    if enc not in ("gzip", "x-gzip", "deflate"):
        return prefix
    try:
        wbits = 47 if enc != "deflate" else 15
        return zlib.decompressobj(wbits).decompress(prefix, softerrors.PREFIX_BYTES)
    except zlib.error:
        try:
            return zlib.decompressobj(-15).decompress(prefix, softerrors.PREFIX_BYTES)
        except zlib.error:
            return prefix


def describe(
    rec_type: str,
    warc: dict[str, str],
    http: HttpHead | None,
    payload_prefix: bytes,
    *,
    filename: str,
    offset: int,
    length: int,
    record_digest: str,
    digest: str | None = None,
    producer_digest_problem: str | None = None,
) -> IndexEntry | None:
    """The index entry of a record, or None for records that are not indexed.

    `warc` maps WARC header names (any case) to values; `digest` overrides WARC-Payload-Digest (the
    importer passes the one cdxj-indexer would compute when a record has none).
    """
    if rec_type not in INDEXED_TYPES:
        return None
    w = {k.lower(): v for k, v in warc.items()}
    content_type = w.get("content-type", "")
    if rec_type in ("resource", "metadata") and content_type == "application/warc-fields":
        return None
    url = w.get("warc-target-uri", "")
    if url.startswith("<") and url.endswith(">"):  # wget 1.14 writes <uri>
        url = url[1:-1]
    moment = parse_warc_date(w.get("warc-date", "19700101000000"))
    status = http.status if (http is not None and rec_type in ("response", "revisit")) else None
    if rec_type == "revisit":
        mime = "warc/revisit"
    elif rec_type == "response":
        mime = (http.get("content-type") if http else None) or ""
    else:
        mime = content_type
    mime = _MIME_CUT.split(mime, 1)[0].strip() if mime else None
    soft = None
    if rec_type in ("response", "resource"):
        headers = http.as_dict() if http else {}
        body = decoded_prefix(payload_prefix, headers.get("content-encoding"))
        soft = softerrors.classify(url, status, headers, body)
    return IndexEntry(
        urlkey=url_key(url),
        timestamp=timestamp14(moment),
        url=url,
        warc_date=moment,
        record_type=rec_type,
        filename=filename,
        offset=offset,
        length=length,
        record_digest=record_digest,
        record_id=w.get("warc-record-id"),
        status=status,
        mime=mime or None,
        digest=digest if digest is not None else w.get("warc-payload-digest"),
        soft_error=soft,
        truncated=w.get("warc-truncated") if rec_type != "revisit" else None,
        refers_to=w.get("warc-refers-to"),
        refers_to_uri=w.get("warc-refers-to-target-uri"),
        refers_to_date=w.get("warc-refers-to-date"),
        producer_digest_problem=producer_digest_problem,
    )
