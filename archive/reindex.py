"""`salvage reindex`: rebuild every CDXJ index file and `captures` catalog batch from the archive
files alone (ours in `warcs/`, other tools' in `imported/`), rewriting only what is missing or
differs. The writer and the importer index through the same code, so on an intact home the
rebuilt index equals the live one and nothing is rewritten."""

from __future__ import annotations

import contextlib
import filecmp
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from archive.cdxj import entries_table, write_index
from archive.home import Home
from archive.indexing import FileIndex, index_file
from storage.atomic import fsync_dir
from storage.tables import batch_path, write_batch

TABLE = "captures"


def index_stored_file(path: Path, name: str) -> FileIndex:
    """Index an archive file stored under `name`. Imported files are checked against their
    producer's digests (the `producer_digest_problem` column); ours are not: we wrote them.
    The importer and `reindex` both index through here so their results are identical."""
    return index_file(path, name, check_digests=name.startswith("imported/"))


@dataclass
class FileCheck:
    """How one archive file's live index and catalog batch compare with the rebuilt ones."""

    name: str
    lines: int
    cdxj: str  # "unchanged" | "missing" | "differed"
    batch: str  # "unchanged" | "missing" | "differed"
    broken: int = 0

    @property
    def unchanged(self) -> bool:
        return self.cdxj == self.batch == "unchanged"

    @property
    def reason(self) -> str:
        return "missing" if "missing" in (self.cdxj, self.batch) else "differed"


@dataclass
class ReindexReport:
    files: int = 0
    unchanged: list[str] = field(default_factory=list)
    rewritten: list[tuple[str, str]] = field(default_factory=list)  # (name, missing|differed)
    lines: int = 0
    broken: dict[str, int] = field(default_factory=dict)  # name -> broken records skipped
    orphans: list[str] = field(default_factory=list)  # index files/batches of no archive file


def _batch_state(live: Path, rebuilt: pa.Table) -> str:
    if not live.exists():
        return "missing"
    try:
        table = pq.read_table(live)
    except Exception:  # an unreadable batch is one to rewrite, whatever pyarrow raises
        return "differed"
    same = table.schema.equals(rebuilt.schema) and table.equals(rebuilt)
    return "unchanged" if same else "differed"


def _check(home: Home, path: Path, scratch: Path, write: bool) -> FileCheck:
    """Rebuild one file's index and batch into `scratch`; move them into place if `write` and
    they are missing or differ."""
    name = home.relative(path)
    index = index_stored_file(path, name)
    batch_id = home.batch_id(name)
    new_cdxj = scratch / "index.cdxj"
    write_index(new_cdxj, index.entries)
    live_cdxj = home.index_path(name)
    if not live_cdxj.exists():
        cdxj_state = "missing"
    else:
        cdxj_state = "unchanged" if filecmp.cmp(live_cdxj, new_cdxj, shallow=False) else "differed"
    new_batch = write_batch(scratch, TABLE, entries_table(index.entries), batch_id)
    live_batch = batch_path(home.catalog, TABLE, batch_id)
    rebuilt = entries_table(index.entries)
    batch_state = _batch_state(live_batch, rebuilt)
    if write and cdxj_state != "unchanged":
        live_cdxj.parent.mkdir(parents=True, exist_ok=True)
        os.replace(new_cdxj, live_cdxj)
        fsync_dir(live_cdxj.parent)
    if write and batch_state != "unchanged":
        live_batch.parent.mkdir(parents=True, exist_ok=True)
        os.replace(new_batch, live_batch)
        fsync_dir(live_batch.parent)
    return FileCheck(name, len(index.entries), cdxj_state, batch_state, len(index.broken))


def check_all(home: Home, write: bool = False) -> list[FileCheck]:
    """Compare (and with `write`, repair) the index and batch of every archive file."""
    scratch = home.tmp / f"reindex-{os.getpid()}"
    checks = []
    try:
        for path in home.archive_files():
            shutil.rmtree(scratch, ignore_errors=True)
            scratch.mkdir(parents=True)
            checks.append(_check(home, path, scratch, write))
    finally:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(scratch)
    return checks


def orphans(home: Home) -> list[str]:
    """Index files and catalog batches that belong to no archive file (kept, only reported).
    A WARC still `.open` is not an orphan's cause: its writer indexes it just before the rename."""
    names = [home.relative(p) for p in home.archive_files()]
    names += [home.relative(p.with_suffix("")) for p in home.warcs.glob("*.warc.gz.open")]
    indexes = {home.index_path(n).name for n in names}
    batches = {f"{home.batch_id(n)}.parquet" for n in names}
    out = [home.relative(p) for p in sorted(home.indexes.glob("*.cdxj")) if p.name not in indexes]
    folder = home.catalog / TABLE
    out += [home.relative(p) for p in sorted(folder.glob("*.parquet")) if p.name not in batches]
    return out


def live_index_equals_rebuilt(home: Home) -> bool:
    """Does every live CDXJ file and catalog batch equal what the archive files rebuild, with
    none left over? (Writes nothing into the home outside tmp/.)"""
    return all(c.unchanged for c in check_all(home, write=False)) and not orphans(home)


def reindex(home: Home) -> ReindexReport:
    """Rebuild indexes and catalog batches from the archive files; rewrite what is missing or
    differs; log one `reindex` event."""
    home.ensure()
    report = ReindexReport()
    for c in check_all(home, write=True):
        report.files += 1
        report.lines += c.lines
        if c.broken:
            report.broken[c.name] = c.broken
        if c.unchanged:
            report.unchanged.append(c.name)
        else:
            report.rewritten.append((c.name, c.reason))
    report.orphans = orphans(home)
    home.audit.append(
        "reindex", files=report.files, lines=report.lines, unchanged=report.unchanged,
        rebuilt=[n for n, why in report.rewritten if why == "missing"],
        mismatched=[n for n, why in report.rewritten if why == "differed"],
        orphans=report.orphans,
    )
    return report
