"""The catalog: append-only batches, current and as-of views, read-only SQL, compaction."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from storage.audit import AuditLog
from storage.compact import compact
from storage.query import Catalog, QueryFailed, QueryRefused, query
from storage.tables import append_rows, read_table, table_files


def _filing(accession: str, form: str = "8-K", **extra) -> dict:
    return {"accession": accession, "form_type": form, "filed_as_of": date(2025, 1, 10),
            "filers": [{"role": "filer", "cik": "0000320193", "name": "Apple Inc.",
                        "former_names": []}], **extra}


def _pause() -> datetime:
    time.sleep(0.01)
    moment = datetime.now(UTC)
    time.sleep(0.01)
    return moment


def test_as_of_hides_a_filing_recorded_after_the_given_time(tmp_path):
    append_rows(tmp_path, "filings", [_filing("0000320193-25-000001")])
    between = _pause()
    append_rows(tmp_path, "filings", [_filing("0000320193-25-000002")])
    sql = "SELECT accession FROM filings ORDER BY accession"
    now = query(tmp_path, sql).column("accession").to_pylist()
    then = query(tmp_path, sql, as_of=between).column("accession").to_pylist()
    assert now == ["0000320193-25-000001", "0000320193-25-000002"]
    assert then == ["0000320193-25-000001"]


def test_a_correction_is_a_new_row_and_the_current_view_shows_the_latest(tmp_path):
    append_rows(tmp_path, "filings", [_filing("0000320193-25-000001", "8-K")])
    between = _pause()
    append_rows(tmp_path, "filings", [_filing("0000320193-25-000001", "8-K/A")])
    assert query(tmp_path, "SELECT form_type FROM filings").column(0).to_pylist() == ["8-K/A"]
    history = query(tmp_path, "SELECT form_type FROM filings_history ORDER BY recorded_at")
    assert history.column(0).to_pylist() == ["8-K", "8-K/A"]
    then = query(tmp_path, "SELECT form_type FROM filings", as_of=between)
    assert then.column(0).to_pylist() == ["8-K"]


def test_filing_filers_is_the_flattened_view_of_filers(tmp_path):
    row = _filing("0001104659-25-002604", "SC TO-T/A")
    row["filers"].append({"role": "filed-by", "cik": "0001034563", "name": "ICAHN",
                          "former_names": ["AMERICAN REAL ESTATE HOLDINGS L P"]})
    append_rows(tmp_path, "filings", [row])
    got = query(tmp_path, "SELECT role, cik FROM filing_filers ORDER BY cik").to_pylist()
    assert got == [{"role": "filer", "cik": "0000320193"},
                   {"role": "filed-by", "cik": "0001034563"}]


@pytest.mark.parametrize("sql", [
    "COPY filings TO 'out.csv'",
    "COPY (SELECT 1) TO 'out.parquet' (FORMAT parquet)",
    "INSERT INTO filings SELECT * FROM filings",
    "ATTACH 'other.duckdb' AS other",
    "INSTALL fts",
    "LOAD fts",
    "CREATE TABLE t AS SELECT 1",
    "DELETE FROM filings",
    "SET enable_external_access = true",
    "EXPORT DATABASE 'dump'",
    "SELECT 1; DROP VIEW filings",
])
def test_query_refuses_statements_that_write_copy_attach_or_load(tmp_path, sql):
    append_rows(tmp_path, "filings", [_filing("0000320193-25-000001")])
    with pytest.raises(QueryRefused):
        query(tmp_path, sql)
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "other.duckdb").exists()


def test_query_cannot_read_files_outside_the_catalog(tmp_path):
    outside = tmp_path.parent / f"{tmp_path.name}-secret.csv"
    outside.write_text("a\n1\n")
    catalog = tmp_path / "catalog"
    with pytest.raises(QueryFailed, match="disabled|Permission"):
        query(catalog, f"SELECT * FROM read_csv('{outside}')")


def test_files_of_an_older_schema_version_still_read(tmp_path):
    old = pa.table({"accession": ["0000950129-95-001652"], "form_type": ["24F-2NT"],
                    "recorded_at": pa.array([datetime(2025, 1, 1, tzinfo=UTC)],
                                            pa.timestamp("us", tz="UTC"))})
    old = old.replace_schema_metadata({"salvage.table": "filings",
                                       "salvage.schema_version": "0"})
    (tmp_path / "filings").mkdir()
    pq.write_table(old, tmp_path / "filings" / "old.parquet")
    append_rows(tmp_path, "filings", [_filing("0000320193-25-000001")])
    got = query(tmp_path, "SELECT accession, dialect, filers FROM filings ORDER BY accession")
    assert got.column("accession").to_pylist() == ["0000320193-25-000001",
                                                    "0000950129-95-001652"]
    assert got.column("filers").to_pylist()[1] is None
    assert read_table(tmp_path, "filings").num_rows == 2


def test_compact_merges_files_without_changing_a_row_and_audits_it(tmp_path):
    catalog, audit = tmp_path / "catalog", AuditLog(tmp_path / "audit.jsonl")
    for n in range(6):
        append_rows(catalog, "filings", [_filing(f"0000320193-25-00000{n}")])
    append_rows(catalog, "documents", [{"accession": "x", "ordinal": 1, "text": "hello"}])
    sql = "SELECT * FROM filings_history ORDER BY accession"
    before = query(catalog, sql)
    [filings] = [r for r in compact(catalog, audit) if r.table == "filings"]
    assert filings.replaced == 6 and filings.rows == 6
    assert len(table_files(catalog, "filings")) == 1
    assert query(catalog, sql).equals(before)
    [event] = [e for e in audit.entries() if e["event"] == "catalog.compacted"]
    assert event["table"] == "filings" and len(event["replaced"]) == 6
    assert all(len(r["sha256"]) == 64 for r in event["replaced"])
    assert audit.verify() == []
    assert len(table_files(catalog, "documents")) == 1  # a single file is left alone


def test_a_compaction_cut_short_is_finished_and_never_shows_a_row_twice(tmp_path):
    catalog, audit = tmp_path / "catalog", AuditLog(tmp_path / "audit.jsonl")
    for n in range(3):
        append_rows(catalog, "filings", [_filing(f"0000320193-25-00000{n}")])
    originals = {p.name: p.read_bytes() for p in table_files(catalog, "filings")}
    compact(catalog, audit)
    for name, data in originals.items():  # as if the process died before its deletes
        (catalog / "filings" / name).write_bytes(data)
    assert query(catalog, "SELECT count(*) FROM filings_history").column(0)[0].as_py() == 3
    [report] = [r for r in compact(catalog, audit) if r.table == "filings"]
    assert report.replaced == 3
    assert sorted(p.name for p in (catalog / "filings").glob("*.parquet"))[0].startswith(
        "compact-")
    assert len(list((catalog / "filings").glob("*.parquet"))) == 1


def test_catalog_python_api_returns_arrow(tmp_path):
    append_rows(tmp_path, "filings", [_filing("0000320193-25-000001")])
    table = Catalog(tmp_path).query("SELECT accession, filed_as_of FROM filings")
    assert isinstance(table, pa.Table)
    assert table.to_pylist() == [{"accession": "0000320193-25-000001",
                                  "filed_as_of": date(2025, 1, 10)}]
