"""Append-only Parquet tables: one file per batch, written crash-safely, never edited in place."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from storage.atomic import atomic_file
from storage.schemas import TABLES

_BATCH_ID = re.compile(r"^[A-Za-z0-9._-]+$")


def batch_path(catalog: Path, table: str, batch_id: str) -> Path:
    if not _BATCH_ID.match(batch_id):
        raise ValueError(f"batch id {batch_id!r} may hold only letters, digits, '.', '_' and '-'")
    return Path(catalog) / table / f"{batch_id}.parquet"


def write_batch(catalog: Path, table: str, rows: list[dict] | pa.Table, batch_id: str) -> Path:
    """Write one batch of rows of `table` as `<catalog>/<table>/<batch_id>.parquet`."""
    schema = TABLES[table]
    data = rows if isinstance(rows, pa.Table) else pa.Table.from_pylist(rows, schema=schema)
    path = batch_path(catalog, table, batch_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as fh:
        if not data.schema.equals(schema, check_metadata=True):
            data = data.cast(schema)
        pq.write_table(data, fh, compression="zstd", row_group_size=16384)
    return path


def read_table(catalog: Path, table: str) -> pa.Table:
    """Every row of `table`, older schema versions included (missing columns read as nulls)."""
    folder = Path(catalog) / table
    files = sorted(str(p) for p in folder.glob("*.parquet")) if folder.exists() else []
    schema = TABLES[table]
    if not files:
        return schema.empty_table()
    return ds.dataset(files, schema=schema, format="parquet").to_table()
