"""Printing Arrow tables as a table, CSV, JSON or Parquet (what `salvage query` returns)."""

from __future__ import annotations

import io
import json
import sys
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

FORMATS = ("table", "csv", "json", "parquet")


def json_default(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _flat(table: pa.Table) -> pa.Table:
    """Nested columns (lists, structs) as JSON text, so CSV can hold them."""
    columns = []
    for column in table.columns:
        if pa.types.is_nested(column.type):
            values = [None if v is None else json.dumps(v, default=json_default)
                      for v in column.to_pylist()]
            column = pa.array(values, pa.string())
        columns.append(column)
    return pa.Table.from_arrays(columns, names=table.column_names)


def _nanoseconds_as_text(table: pa.Table) -> pa.Table:
    """Nanosecond timestamps as ISO text: Python's datetime stops at microseconds."""
    columns = [c.cast(pa.string()) if pa.types.is_timestamp(c.type) and c.type.unit == "ns"
               else c for c in table.columns]
    return pa.Table.from_arrays(columns, names=table.column_names)


def write_table(table: pa.Table, fmt: str, console: Console) -> None:
    """Print `table` to standard output in `fmt`."""
    if fmt in ("json", "table"):
        table = _nanoseconds_as_text(table)
    if fmt == "json":
        sys.stdout.write(json.dumps(table.to_pylist(), default=json_default) + "\n")
    elif fmt == "csv":
        buffer = io.BytesIO()
        pcsv.write_csv(_flat(table), buffer)
        sys.stdout.buffer.write(buffer.getvalue())
    elif fmt == "parquet":
        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression="zstd")
        sys.stdout.buffer.write(buffer.getvalue())
    else:
        view = Table(*table.column_names)
        for row in _flat(table).to_pylist():
            view.add_row(*("" if v is None else str(v) for v in row.values()))
        console.print(view)
        console.print(f"({table.num_rows} rows)")
    sys.stdout.flush()
