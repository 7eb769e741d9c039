"""`salvage compact`: merge a table's small batch files into one, without changing any row.

The merged file is written crash-safely and names the batches it replaces in its metadata; its rows
are read back and compared with the originals before anything is deleted; the audit chain records
each replaced file's SHA-256 and the new file's. A run cut short is finished by the next one, and
readers skip replaced files meanwhile (`table_files`), so no row is ever seen twice or lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from storage.audit import AuditLog
from storage.digests import file_sha256
from storage.schemas import TABLES
from storage.tables import (
    REPLACES_KEY,
    catalog_lock,
    new_batch_id,
    replaced_by,
    table_files,
    write_batch,
)

SKIPPED = {"captures"}
"""Captures batches are one per archive file, rebuilt by `salvage reindex`: never merged."""

SMALL = 64 << 20
"""Files under this size are merged; a merged file holds up to `TARGET` bytes of batches."""
TARGET = 256 << 20


class CompactionMismatch(RuntimeError):
    """The merged file does not hold exactly the rows of the files it replaces (nothing deleted)."""


@dataclass
class TableCompaction:
    table: str
    merged: list[str] = field(default_factory=list)
    replaced: int = 0
    rows: int = 0


def _groups(files: list[Path]) -> list[list[Path]]:
    groups: list[list[Path]] = []
    current: list[Path] = []
    size = 0
    for path in files:
        length = path.stat().st_size
        if current and size + length > TARGET:
            groups.append(current)
            current, size = [], 0
        current.append(path)
        size += length
    groups.append(current)
    return [g for g in groups if len(g) > 1]


def _read(path: Path, schema: pa.Schema) -> pa.Table:
    table = pq.read_table(path)
    columns = [table.column(f.name) if f.name in table.column_names
               else pa.nulls(table.num_rows, f.type) for f in schema]
    return pa.Table.from_arrays(columns, schema=schema)


def _finish(folder: Path, merged: Path, audit: AuditLog, rows: int) -> int:
    """Log the replacement and delete the replaced files (idempotent: resumes a cut-short run)."""
    replaced = sorted(p for p in (folder / n for n in replaced_by(merged)) if p.exists())
    if not replaced:
        return 0
    logged = any(e.get("event") == "catalog.compacted" and e.get("file") == merged.name
                 for e in audit.entries())
    if not logged:
        audit.append(
            "catalog.compacted", table=folder.name, file=merged.name,
            sha256=file_sha256(merged), rows=rows,
            replaced=[{"file": p.name, "sha256": file_sha256(p)} for p in replaced],
        )
    for path in replaced:
        path.unlink()
    return len(replaced)


def _merge(catalog: Path, table: str, group: list[Path], audit: AuditLog) -> tuple[Path, int]:
    schema = TABLES[table]
    parts = [_read(p, schema) for p in group]
    data = pa.concat_tables(parts)
    names = "\n".join(p.name for p in group).encode()
    merged = write_batch(catalog, table, data, "compact-" + new_batch_id(datetime.now(UTC)),
                         metadata={REPLACES_KEY: names})
    back = _read(merged, schema)
    if not back.equals(data):
        merged.unlink()
        raise CompactionMismatch(f"{merged.name} differs from the files it merges; kept them")
    return merged, _finish(merged.parent, merged, audit, data.num_rows)


def compact(catalog: Path, audit: AuditLog, tables: list[str] | None = None) -> list[
        TableCompaction]:
    """Merge the small batch files of every derived table (or those named)."""
    done: list[TableCompaction] = []
    with catalog_lock(catalog, exclusive=True):
        for table in tables or [t for t in TABLES if t not in SKIPPED]:
            folder = Path(catalog) / table
            report = TableCompaction(table)
            for path in sorted(folder.glob("compact-*.parquet")) if folder.exists() else []:
                report.replaced += _finish(folder, path, audit, pq.read_metadata(path).num_rows)
            small = [p for p in table_files(catalog, table) if p.stat().st_size < SMALL]
            for group in _groups(small):
                merged, replaced = _merge(catalog, table, group, audit)
                report.merged.append(merged.name)
                report.replaced += replaced
                report.rows += pq.read_metadata(merged).num_rows
            done.append(report)
    return done
