"""Every catalog table's pyarrow schema, declared once, with its version (see docs/CATALOG.md)."""

from __future__ import annotations

import pyarrow as pa

CAPTURES_VERSION = 1
CAPTURES = pa.schema(
    [
        pa.field("urlkey", pa.string(), nullable=False),
        pa.field("timestamp", pa.string(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("warc_date", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("record_type", pa.string(), nullable=False),
        pa.field("record_id", pa.string()),
        pa.field("status", pa.int16()),
        pa.field("mime", pa.string()),
        pa.field("digest", pa.string()),
        pa.field("record_digest", pa.string(), nullable=False),
        pa.field("filename", pa.string(), nullable=False),
        pa.field("offset", pa.int64(), nullable=False),
        pa.field("length", pa.int64(), nullable=False),
        pa.field("soft_error", pa.string()),
        pa.field("truncated", pa.string()),
        pa.field("refers_to", pa.string()),
        pa.field("refers_to_uri", pa.string()),
        pa.field("refers_to_date", pa.string()),
        pa.field("producer_digest_problem", pa.string()),
    ],
    metadata={"salvage.table": "captures", "salvage.schema_version": str(CAPTURES_VERSION)},
)

TABLES: dict[str, pa.Schema] = {"captures": CAPTURES}
