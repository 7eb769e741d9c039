"""CDXJ index lines (pywb's format: `<SURT> <14-digit timestamp> {json}`) and their files.

Fields and their spelling follow cdxj-indexer, so pywb and other tools read our indexes unmodified;
Salvage adds `recordDigest` (SHA-256 of the stored record bytes, as `cdxj-indexer -d` writes
it) and, only when set, `soft_error` and `truncated`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from storage.atomic import atomic_file

if TYPE_CHECKING:
    import pyarrow as pa


def url_key(url: str) -> str:
    import surt  # imported on first use: it pulls in tldextract and requests (~0.1 s)

    try:
        return surt.surt(url)
    except Exception:  # surt refuses some malformed URLs; the raw URL still sorts and matches
        return url


def timestamp14(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%S")


@dataclass(slots=True)
class IndexEntry:
    """One indexed record: what the CDXJ line and the `captures` catalog row both say."""

    urlkey: str
    timestamp: str
    url: str
    warc_date: datetime
    record_type: str
    filename: str
    offset: int
    length: int
    record_digest: str
    record_id: str | None = None
    status: int | None = None
    mime: str | None = None
    digest: str | None = None
    soft_error: str | None = None
    truncated: str | None = None
    refers_to: str | None = None
    refers_to_uri: str | None = None
    refers_to_date: str | None = None
    producer_digest_problem: str | None = None

    def cdxj_line(self) -> str:
        data: dict[str, str] = {"url": self.url}
        if self.mime:
            data["mime"] = self.mime
        if self.status is not None:
            data["status"] = str(self.status)
        if self.digest:
            data["digest"] = self.digest
        data["length"] = str(self.length)
        data["offset"] = str(self.offset)
        data["filename"] = self.filename
        data["recordDigest"] = self.record_digest
        if self.soft_error:
            data["soft_error"] = self.soft_error
        if self.truncated:
            data["truncated"] = self.truncated
        return f"{self.urlkey} {self.timestamp} {json.dumps(data)}"

    def row(self) -> dict:
        return asdict(self)

    @property
    def good(self) -> bool:
        """May this capture be served as the document? (not a soft error, cut short or an error)"""
        if self.soft_error or self.truncated:
            return False
        return self.status is None or self.status < 400


ROW_FIELDS = [f.name for f in fields(IndexEntry)]


def entries_table(entries: list[IndexEntry] | Entries) -> pa.Table:
    """Entries as a `captures` table, built column by column in slices (no row dicts)."""
    import pyarrow as pa

    from storage.schemas import CAPTURES

    if isinstance(entries, Entries):
        return entries.table()
    step = 8192
    parts = [
        pa.table({f: [getattr(e, f) for e in entries[i : i + step]] for f in ROW_FIELDS},
                 schema=CAPTURES)
        for i in range(0, len(entries), step)
    ]
    return pa.concat_tables(parts) if parts else CAPTURES.empty_table()


class Entries:
    """The index entries of one archive file, held compactly: CDXJ lines as bytes and catalog rows
    as Arrow batches, so files of hundreds of thousands of records stay small in memory."""

    CHUNK = 4096

    def __init__(self) -> None:
        self._lines: list[bytes] = []
        self._pending: list[IndexEntry] = []
        self._batches: list[pa.Table] = []

    def append(self, entry: IndexEntry) -> None:
        self._lines.append(entry.cdxj_line().encode("utf-8"))
        self._pending.append(entry)
        if len(self._pending) >= self.CHUNK:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._batches.append(entries_table(self._pending))
            self._pending = []

    def __len__(self) -> int:
        return len(self._lines)

    def table(self) -> pa.Table:
        import pyarrow as pa

        from storage.schemas import CAPTURES

        self._flush()
        return pa.concat_tables(self._batches) if self._batches else CAPTURES.empty_table()

    def sorted_lines(self) -> list[bytes]:
        return sorted(self._lines)


@dataclass(frozen=True)
class IndexLine:
    """A CDXJ line as read back: enough to find, check and serve the record."""

    urlkey: str
    timestamp: str
    data: dict

    @classmethod
    def parse(cls, line: str | bytes) -> IndexLine:
        text = line.decode("utf-8") if isinstance(line, bytes) else line
        key, ts, blob = text.rstrip("\n").split(" ", 2)
        return cls(key, ts, json.loads(blob))

    @property
    def url(self) -> str:
        return self.data["url"]

    @property
    def filename(self) -> str:
        return self.data["filename"]

    @property
    def offset(self) -> int:
        return int(self.data["offset"])

    @property
    def length(self) -> int:
        return int(self.data["length"])

    @property
    def status(self) -> int | None:
        s = self.data.get("status")
        return int(s) if s and s.isdigit() else None

    @property
    def is_revisit(self) -> bool:
        return self.data.get("mime") == "warc/revisit"

    @property
    def good(self) -> bool:
        if self.data.get("soft_error") or self.data.get("truncated"):
            return False
        status = self.status
        return status is None or status < 400

    def as_dict(self) -> dict:
        return {"urlkey": self.urlkey, "timestamp": self.timestamp, **self.data}


def write_index(path: Path, entries: list[IndexEntry] | Entries) -> None:
    """Write one sorted CDXJ file crash-safely (byte-wise order, as pywb's binary search needs)."""
    if isinstance(entries, Entries):
        lines = entries.sorted_lines()
    else:
        lines = sorted(e.cdxj_line().encode("utf-8") for e in entries)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as fh:
        for line in lines:
            fh.write(line + b"\n")
