"""Append-only Parquet tables: one file per batch, written crash-safely, never edited in place."""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from storage.atomic import atomic_file
from storage.schemas import TABLES

_BATCH_ID = re.compile(r"^[A-Za-z0-9._-]+$")
_serial = itertools.count()

REPLACES_KEY = b"salvage.replaces"
"""Schema metadata of a compacted file: the batch file names it replaces (newline-separated)."""


def batch_path(catalog: Path, table: str, batch_id: str) -> Path:
    if not _BATCH_ID.match(batch_id):
        raise ValueError(f"batch id {batch_id!r} may hold only letters, digits, '.', '_' and '-'")
    return Path(catalog) / table / f"{batch_id}.parquet"


def new_batch_id(moment: datetime) -> str:
    """A batch id that sorts by recording time and is unique across processes."""
    return f"{moment.strftime('%Y%m%dT%H%M%S%fZ')}-{os.getpid()}-{next(_serial):04d}"


def write_batch(catalog: Path, table: str, rows: list[dict] | pa.Table, batch_id: str,
                metadata: dict[bytes, bytes] | None = None) -> Path:
    """Write one batch of rows of `table` as `<catalog>/<table>/<batch_id>.parquet`."""
    schema = TABLES[table]
    data = rows if isinstance(rows, pa.Table) else pa.Table.from_pylist(rows, schema=schema)
    if not data.schema.equals(schema, check_metadata=True):
        data = data.cast(schema)
    if metadata:
        data = data.replace_schema_metadata({**(schema.metadata or {}), **metadata})
    path = batch_path(catalog, table, batch_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as fh:
        pq.write_table(data, fh, compression="zstd", row_group_size=16384)
    return path


def append_rows(catalog: Path, table: str, rows: list[dict]) -> Path | None:
    """Record `rows` of a derived table as one new batch, stamping `recorded_at` (now, UTC)."""
    if not rows:
        return None
    now = datetime.now(UTC)
    for row in rows:
        row["recorded_at"] = now
    return write_batch(catalog, table, rows, new_batch_id(now))


def table_files(catalog: Path, table: str) -> list[Path]:
    """The live batch files of `table`, in name order, leaving out any that a compacted file
    replaces (a compaction cut short between its rename and its deletes)."""
    folder = Path(catalog) / table
    if not folder.exists():
        return []
    files = sorted(folder.glob("*.parquet"))
    replaced: set[str] = set()
    for path in files:
        if path.name.startswith("compact-"):
            replaced |= replaced_by(path)
    return [p for p in files if p.name not in replaced]


def replaced_by(path: Path) -> set[str]:
    """The batch names a compacted file says it replaces."""
    meta = pq.read_schema(path).metadata or {}
    return set(filter(None, meta.get(REPLACES_KEY, b"").decode().split("\n")))


def read_table(catalog: Path, table: str) -> pa.Table:
    """Every row of `table`, older schema versions included (missing columns read as nulls)."""
    files = [str(p) for p in table_files(catalog, table)]
    schema = TABLES[table]
    if not files:
        return schema.empty_table()
    return ds.dataset(files, schema=schema, format="parquet").to_table()


@contextlib.contextmanager
def catalog_lock(catalog: Path, exclusive: bool = False) -> Iterator[None]:
    """Readers share this lock while they read files; compaction takes it alone to swap them."""
    Path(catalog).mkdir(parents=True, exist_ok=True)
    with open(Path(catalog) / ".lock", "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
