"""Read-only SQL over the catalog (DuckDB), as the catalog stood at any recorded moment.

Every table is a view over its Parquet batches. Derived tables (those with `recorded_at`) have a
`<table>_history` view of every row and a `<table>` view of the latest row per key; with `as_of`,
rows recorded after that moment are invisible to both, so a backtest sees only what Salvage had.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from archive.errors import SalvageError
from storage.schemas import TABLES
from storage.tables import catalog_lock, table_files

CURRENT_KEYS: dict[str, tuple[str, ...]] = {
    "filings": ("accession",),
    "documents": ("source_digest", "ordinal"),
    "pages": ("source_digest", "ordinal", "page", "method"),
    "issuers": ("cik",),
    "expected_filings": ("coalesce(accession, path)", "cik", "index_kind"),
    "index_documents": ("source_digest", "coalesce(url, document)"),
    "drops": ("sha256",),
    "recoveries": ("accession",),
    "deliveries": ("event_id", "sink"),
    "book_files": ("sha256", "coalesce(symbol, '')"),
}
"""The key whose latest row is the current one; tables not listed are plain ledgers."""

TIME_COLUMN = {"captures": "warc_date"}
"""What `as_of` compares for tables without `recorded_at` (captures exist from their WARC-Date)."""

READ_ONLY = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}

FILERS_VIEW = """
CREATE VIEW filing_filers AS
SELECT accession, form_type AS filing_form_type, filed_as_of, acceptance_time,
       filer.role, filer.cik, filer.name, filer.sic, filer.state_of_incorporation,
       filer.fiscal_year_end, filer.irs_number, filer.form_type, filer.file_number,
       filer.film_number, recorded_at
FROM (SELECT *, unnest(filers) AS filer FROM filings)
"""

TICKER_KEY = "upper(regexp_replace(trim({}), '[./ _]+', '-', 'g'))"
"""How a feed symbol meets an EDGAR ticker: case, and the share-class separator (`BRK.B`,
`BRK/B`, `BRK B` and EDGAR's `BRK-B` are one key)."""

BOOK_ISSUERS_VIEW = f"""
CREATE VIEW book_issuers AS
SELECT b.venue, b.symbol, i.cik, i.name AS issuer_name, i.tickers, i.exchanges, i.recorded_at
FROM (SELECT DISTINCT venue, symbol FROM book_files WHERE symbol IS NOT NULL) AS b
JOIN issuers AS i
  ON list_contains(list_transform(i.tickers, lambda t: {TICKER_KEY.format('t')}),
                   {TICKER_KEY.format('b.symbol')})
"""
"""Every imported book symbol with the filer (issuers.cik) whose EDGAR tickers name it."""


INCIDENT_VIEWS = ("""
CREATE VIEW incidents AS
WITH times AS (
    SELECT incident_id, count(*) AS events,
           min("at") FILTER (WHERE event = 'opened') AS detected_at,
           min("at") FILTER (WHERE event = 'acknowledged') AS acknowledged_at,
           min("at") FILTER (WHERE event = 'recovered') AS recovered_at,
           min("at") FILTER (WHERE event = 'resolved') AS resolved_at
    FROM incident_events GROUP BY incident_id),
latest AS (
    SELECT * EXCLUDE (event_id, seq, event, note, evidence, "at", recorded_at) FROM incident_events
    QUALIFY row_number() OVER (PARTITION BY incident_id ORDER BY seq DESC) = 1)
SELECT latest.*, times.detected_at, times.acknowledged_at, times.recovered_at,
       times.resolved_at, times.events,
       epoch(times.detected_at) - epoch(coalesce(latest.window_end, latest.window_start))
           AS ttd_seconds,
       epoch(times.resolved_at) - epoch(times.detected_at) AS ttr_seconds
FROM latest JOIN times USING (incident_id)
""", """
CREATE VIEW incident_metrics AS
SELECT type, count(*) AS incidents, count(*) FILTER (WHERE status <> 'resolved') AS open,
       count(resolved_at) AS resolved, avg(ttd_seconds) AS mttd_seconds,
       avg(ttr_seconds) AS mttr_seconds
FROM incidents GROUP BY type
""")
"""Incidents as they stand (latest event per incident, with its times) and MTTD/MTTR by type:
TTD = detected - window end (when the gap began to matter), TTR = resolved - detected."""


class QueryRefused(SalvageError):
    """A statement that would change, copy, attach or load something."""


class QueryFailed(SalvageError):
    """DuckDB could not run the query (syntax, unknown column...)."""


def _literal(moment: datetime) -> str:
    return f"TIMESTAMPTZ '{moment.astimezone(UTC).isoformat()}'"


def _files_sql(files: list[Path]) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in files) + "]"


class Catalog:
    """The catalog of one home as DuckDB views; `as_of` fixes the moment it is seen from."""

    def __init__(self, catalog: Path, as_of: datetime | None = None):
        self.path = Path(catalog)
        self.as_of = as_of

    def _connect(self) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect(":memory:", config={"threads": 2})
        con.execute("SET TimeZone = 'UTC'")
        for table, schema in TABLES.items():
            self._create_views(con, table, schema)
        con.execute(FILERS_VIEW)
        con.execute(BOOK_ISSUERS_VIEW)
        for view in INCIDENT_VIEWS:
            con.execute(view)
        folder = str(self.path.resolve()) + "/"
        con.execute(f"SET allowed_directories = ['{folder.replace(chr(39), chr(39) * 2)}']")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        return con

    def _create_views(self, con: duckdb.DuckDBPyConnection, table: str, schema: pa.Schema) -> None:
        con.register(f"_empty_{table}", schema.empty_table())
        files = table_files(self.path, table)
        source = f"SELECT * FROM _empty_{table}"
        if files:
            source += (f" UNION ALL BY NAME SELECT * FROM read_parquet({_files_sql(files)},"
                       " union_by_name = true)")
        column = TIME_COLUMN.get(table, "recorded_at")
        where = f" WHERE {column} <= {_literal(self.as_of)}" if self.as_of else ""
        keys = CURRENT_KEYS.get(table)
        if keys:
            con.execute(f"CREATE VIEW {table}_history AS SELECT * FROM ({source}){where}")
            con.execute(
                f"CREATE VIEW {table} AS SELECT * FROM {table}_history QUALIFY row_number() "
                f"OVER (PARTITION BY {', '.join(keys)} ORDER BY recorded_at DESC) = 1"
            )
        else:
            con.execute(f"CREATE VIEW {table} AS SELECT * FROM ({source}){where}")

    @contextlib.contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One connection with every view, for a program that runs several statements (its own
        temporary tables too): the catalog is locked for reading until it is closed. Nothing
        outside the catalog folder can be read or written through it."""
        with catalog_lock(self.path):
            con = self._connect()
            try:
                yield con
            finally:
                con.close()

    def query(self, sql: str) -> pa.Table:
        """Run one read-only statement; refuse anything that writes, copies, attaches or loads."""
        with catalog_lock(self.path):
            con = self._connect()
            try:
                statements = con.extract_statements(sql)
            except duckdb.Error as exc:
                raise QueryFailed(f"cannot parse the query: {exc}") from exc
            if len(statements) != 1:
                raise QueryRefused(
                    f"give exactly one SQL statement (got {len(statements)})")
            if statements[0].type not in READ_ONLY:
                verb = statements[0].query.split(None, 1)[0].upper()
                raise QueryRefused(
                    f"{verb} statements are refused: `salvage query` is read-only "
                    "(SELECT and EXPLAIN only); to export, use --format csv|json|parquet")
            try:
                return con.sql(sql).to_arrow_table()
            except duckdb.Error as exc:
                raise QueryFailed(str(exc).splitlines()[0]) from exc
            finally:
                con.close()


def query(catalog: Path, sql: str, as_of: datetime | None = None) -> pa.Table:
    """Researchers' entry point: the result of one read-only SQL statement as an Arrow table."""
    return Catalog(catalog, as_of).query(sql)
