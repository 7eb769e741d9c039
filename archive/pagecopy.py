"""The archived copy of a watched page: what a `page.removed` or `page.altered` incident points
at, read back from the WARC and checked against the payload digest recorded at capture time.

A page the watchlist saw unchanged was archived as a revisit record (no payload of its own); its
copy is the payload of the record the revisit refers to, found through the CDXJ index.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from archive.cdxj import IndexLine, timestamp14
from archive.errors import NotArchived
from archive.home import Home
from archive.lookup import Index
from archive.payload import read_headers, stream_payload


def page_copy(home: Home, evidence: dict, index: Index | None = None) -> dict | None:
    """The archived copy of a watched page before it was removed or changed (`evidence` of a
    page finding: `url` and `last_good` or `before`, each with filename, offset and digest):
    url, warc, offset (the record holding the payload), digest, bytes, verified, and `revisit`
    (warc, offset) when it was reached through one; `{"reason", "verified": False}` when it
    cannot be read; None when no good capture is recorded. `index`: an open `Index` of the home
    to reuse (one is opened for a revisit otherwise)."""
    where = evidence.get("last_good") or evidence.get("before")
    if not where or not where.get("filename") or where.get("offset") is None:
        return None
    url = evidence.get("url", "")
    line = IndexLine("", "", {"url": url, "filename": where["filename"],
                              "offset": str(where["offset"]), "length": "0", "mime": ""})
    h, size, revisit = hashlib.sha256(), 0, None
    try:
        original = _payload_line(home, line, index)
        if original is not line:
            revisit = {"warc": line.filename, "offset": line.offset}
        for chunk in stream_payload(home, original):
            h.update(chunk)
            size += len(chunk)
    except Exception as exc:  # the copy is unreadable: the incident says why
        return {"reason": f"the archived copy cannot be read: {exc}", "verified": False}
    digest = "sha256:" + h.hexdigest()
    copy = {"url": evidence.get("url"), "warc": original.filename, "offset": original.offset,
            "digest": digest, "bytes": size, "verified": digest == where.get("digest")}
    return copy | {"revisit": revisit} if revisit else copy


def _payload_line(home: Home, line: IndexLine, index: Index | None) -> IndexLine:
    """The record holding the payload of the record at `line`: itself, or a revisit's original
    (the same URL and payload digest, at the date the revisit refers to)."""
    stored = read_headers(home, line)
    if stored.rec_type != "revisit":
        return line
    warc = stored.warc
    when = datetime.fromisoformat(warc.get("WARC-Date", ""))
    revisit = IndexLine("", timestamp14(when), {
        **line.data, "url": warc.get("WARC-Target-URI") or line.url, "mime": "warc/revisit",
        "digest": warc.get("WARC-Payload-Digest")})
    own = index if index is not None else Index(home)
    try:
        original = own.resolve(revisit, warc.get("WARC-Refers-To-Target-URI"),
                               warc.get("WARC-Refers-To-Date"))
    finally:
        if index is None:
            own.close()
    if original is None:
        raise NotArchived(f"the revisit at {line.filename}@{line.offset} refers to a payload "
                          f"({warc.get('WARC-Payload-Digest')}) that is not in the archive")
    return original
