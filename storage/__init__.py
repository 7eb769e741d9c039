"""The catalog: append-only Parquet tables, the audit chain and crash-safe file writes."""
