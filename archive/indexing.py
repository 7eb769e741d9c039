"""Index a closed archive file from its bytes alone: the entries its CDXJ file and catalog batch
hold. The writer produces the same entries live; `reindex` and `import` produce them from here."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from archive.cdxj import Entries, IndexEntry
from archive.describe import describe
from archive.reader import BrokenRecord, ReadRecord, read_records


@dataclass
class FileIndex:
    entries: Entries = field(default_factory=Entries)
    broken: list[BrokenRecord] = field(default_factory=list)
    records: int = 0
    digest_problems: list[tuple[int, str]] = field(default_factory=list)


def entry_of(rec: ReadRecord, name: str, check_digests: bool = False) -> IndexEntry | None:
    has_digest = any(k.lower() == "warc-payload-digest" for k in rec.warc)
    problem = "; ".join(rec.digest_problems) if rec.digest_problems else None
    return describe(
        rec.rec_type, rec.warc, rec.http, rec.prefix,
        filename=name, offset=rec.offset, length=rec.length, record_digest=rec.record_digest,
        digest=None if has_digest else rec.payload_sha1,
        producer_digest_problem=problem if check_digests else None,
    )


def index_file(path: Path, name: str, *, check_digests: bool = False) -> FileIndex:
    """Read every record of `path` (stored under `name` in the home) into index entries."""
    out = FileIndex()
    for rec in read_records(path, check_digests=check_digests):
        if isinstance(rec, BrokenRecord):
            out.broken.append(rec)
            continue
        out.records += 1
        if rec.digest_problems:
            out.digest_problems.append((rec.offset, "; ".join(rec.digest_problems)))
        entry = entry_of(rec, name, check_digests)
        if entry is not None:
            out.entries.append(entry)
    return out
