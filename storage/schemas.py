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

# Provenance columns every derived table ends with: which capture the rows came from, which
# extractor (name/version) made them, and when Salvage recorded them (the `--as-of` clock).
_PROVENANCE = [
    pa.field("source_url", pa.string()),
    pa.field("source_digest", pa.string()),
    pa.field("extractor", pa.string()),
    pa.field("recorded_at", pa.timestamp("us", tz="UTC"), nullable=False),
]


def _table(name: str, version: int, fields: list[pa.Field], provenance: bool = True) -> pa.Schema:
    columns = fields + (_PROVENANCE if provenance else [])
    meta = {"salvage.table": name, "salvage.schema_version": str(version)}
    return pa.schema(columns, metadata=meta)


FILER = pa.struct(
    [
        pa.field("role", pa.string()),
        pa.field("cik", pa.string()),
        pa.field("name", pa.string()),
        pa.field("sic", pa.string()),
        pa.field("state_of_incorporation", pa.string()),
        pa.field("fiscal_year_end", pa.string()),
        pa.field("irs_number", pa.string()),
        pa.field("form_type", pa.string()),
        pa.field("file_number", pa.string()),
        pa.field("film_number", pa.string()),
        pa.field("former_names", pa.list_(pa.string())),
    ]
)

FILINGS_VERSION = 1
FILINGS = _table(
    "filings",
    FILINGS_VERSION,
    [
        pa.field("accession", pa.string(), nullable=False),
        pa.field("form_type", pa.string()),
        pa.field("period_of_report", pa.date32()),
        pa.field("filed_as_of", pa.date32()),
        pa.field("date_as_of_change", pa.date32()),
        pa.field("acceptance_time", pa.timestamp("us", tz="UTC")),
        pa.field("items", pa.list_(pa.string())),
        pa.field("file_numbers", pa.list_(pa.string())),
        pa.field("film_numbers", pa.list_(pa.string())),
        pa.field("declared_documents", pa.int32()),
        pa.field("documents_found", pa.int32()),
        pa.field("group_members", pa.list_(pa.string())),
        pa.field("filers", pa.list_(FILER)),
        pa.field("dialect", pa.string()),
    ],
)

DOCUMENTS_VERSION = 2  # 2: PDF metadata, OCR confidence, HTML links/meta, XBRL facts (issue 4)
DOCUMENTS = _table(
    "documents",
    DOCUMENTS_VERSION,
    [
        pa.field("accession", pa.string()),
        pa.field("ordinal", pa.int32(), nullable=False),
        pa.field("sequence", pa.int32()),
        pa.field("type", pa.string()),
        pa.field("filename", pa.string()),
        pa.field("description", pa.string()),
        pa.field("sha256", pa.string()),
        pa.field("bytes", pa.int64()),
        pa.field("mime", pa.string()),
        pa.field("text", pa.large_string()),
        pa.field("method", pa.string()),
        pa.field("page_count", pa.int32()),
        pa.field("ocr_pages", pa.int32()),
        pa.field("mean_confidence", pa.float32()),
        pa.field("producer", pa.string()),
        pa.field("creator", pa.string()),
        pa.field("created", pa.timestamp("us", tz="UTC")),
        pa.field("modified", pa.timestamp("us", tz="UTC")),
        pa.field("incremental_updates", pa.int32()),
        pa.field("encrypted", pa.bool_()),
        pa.field("signals", pa.list_(pa.string())),
        pa.field("links", pa.list_(pa.string())),
        pa.field("meta", pa.map_(pa.string(), pa.string())),
        pa.field("facts", pa.map_(pa.string(), pa.string())),
    ],
)

WORD = pa.struct(
    [
        pa.field("text", pa.string()),
        pa.field("confidence", pa.float32()),
        pa.field("x0", pa.float32()),
        pa.field("top", pa.float32()),
        pa.field("x1", pa.float32()),
        pa.field("bottom", pa.float32()),
    ]
)

PAGES_VERSION = 1
PAGES = _table(
    "pages",
    PAGES_VERSION,
    [
        pa.field("accession", pa.string()),
        pa.field("ordinal", pa.int32(), nullable=False),
        pa.field("page", pa.int32(), nullable=False),
        pa.field("method", pa.string(), nullable=False),
        pa.field("chosen", pa.bool_(), nullable=False),
        pa.field("text", pa.large_string()),
        pa.field("mean_confidence", pa.float32()),
        pa.field("low_confidence_share", pa.float32()),
        pa.field("language", pa.string()),
        pa.field("rotated", pa.int16()),
        pa.field("width", pa.float32()),
        pa.field("height", pa.float32()),
        pa.field("image_coverage", pa.float32()),
        pa.field("garbled", pa.bool_()),
        pa.field("words", pa.list_(WORD)),
        pa.field("tables", pa.list_(pa.list_(pa.list_(pa.string())))),
    ],
)

FORMER_NAME = pa.struct(
    [pa.field("name", pa.string()), pa.field("from", pa.string()), pa.field("to", pa.string())]
)

ISSUERS_VERSION = 2  # 2: category (filer category, for filing deadlines)
ISSUERS = _table(
    "issuers",
    ISSUERS_VERSION,
    [
        pa.field("cik", pa.string(), nullable=False),
        pa.field("name", pa.string()),
        pa.field("entity_type", pa.string()),
        pa.field("category", pa.string()),
        pa.field("sic", pa.string()),
        pa.field("sic_description", pa.string()),
        pa.field("tickers", pa.list_(pa.string())),
        pa.field("exchanges", pa.list_(pa.string())),
        pa.field("former_names", pa.list_(FORMER_NAME)),
        pa.field("state_of_incorporation", pa.string()),
        pa.field("fiscal_year_end", pa.string()),
        pa.field("ein", pa.string()),
    ],
)

EXPECTED_FILINGS_VERSION = 1
EXPECTED_FILINGS = _table(
    "expected_filings",
    EXPECTED_FILINGS_VERSION,
    [
        pa.field("accession", pa.string()),
        pa.field("cik", pa.string()),
        pa.field("company_name", pa.string()),
        pa.field("form_type", pa.string()),
        pa.field("date_filed", pa.date32()),
        pa.field("path", pa.string()),
        pa.field("index_kind", pa.string(), nullable=False),
        pa.field("acceptance_time", pa.timestamp("us", tz="UTC")),
        pa.field("report_date", pa.date32()),
        pa.field("primary_document", pa.string()),
        pa.field("items", pa.list_(pa.string())),
        pa.field("file_number", pa.string()),
        pa.field("film_number", pa.string()),
        pa.field("size", pa.int64()),
        pa.field("paper", pa.bool_()),
    ],
)

# The documents table of each captured filing index page (`<accession>-index.htm`), one row each.
INDEX_DOCUMENTS_VERSION = 1
INDEX_DOCUMENTS = _table(
    "index_documents",
    INDEX_DOCUMENTS_VERSION,
    [
        pa.field("accession", pa.string()),
        pa.field("cik", pa.string()),
        pa.field("seq", pa.int32()),
        pa.field("description", pa.string()),
        pa.field("document", pa.string()),
        pa.field("url", pa.string()),
        pa.field("type", pa.string()),
        pa.field("size", pa.int64()),
        pa.field("listing", pa.string()),
        pa.field("inline_xbrl", pa.bool_()),
    ],
)

EXTRACTIONS_VERSION = 1
EXTRACTIONS = _table(
    "extractions",
    EXTRACTIONS_VERSION,
    [
        pa.field("digest", pa.string(), nullable=False),
        pa.field("version", pa.int32(), nullable=False),
        pa.field("kind", pa.string()),
        pa.field("status", pa.string(), nullable=False),
        pa.field("rows", pa.int32()),
    ],
)

QUARANTINE_VERSION = 1
QUARANTINE = _table(
    "quarantine",
    QUARANTINE_VERSION,
    [
        pa.field("stage", pa.string(), nullable=False),
        pa.field("error_type", pa.string(), nullable=False),
        pa.field("reason", pa.string()),
        pa.field("filename", pa.string()),
        pa.field("offset", pa.int64()),
        pa.field("length", pa.int64()),
    ],
)

WATCH_EVENTS_VERSION = 1
WATCH_EVENTS = _table(
    "watch_events",
    WATCH_EVENTS_VERSION,
    [
        pa.field("url", pa.string(), nullable=False),
        pa.field("event", pa.string(), nullable=False),
        pa.field("status", pa.int16()),
        pa.field("digest", pa.string()),
        pa.field("previous_digest", pa.string()),
        pa.field("record_type", pa.string()),
        pa.field("soft_error", pa.string()),
        pa.field("error", pa.string()),
        pa.field("via", pa.string()),
        pa.field("filename", pa.string()),
        pa.field("offset", pa.int64()),
        pa.field("observed_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("recorded_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ],
    provenance=False,
)

# One row per file archived from the scan drop folder (archive/drop.py); a later tie is a new row.
DROPS_VERSION = 1
DROPS = _table(
    "drops",
    DROPS_VERSION,
    [
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("original_name", pa.string(), nullable=False),
        pa.field("size", pa.int64(), nullable=False),
        pa.field("mtime", pa.timestamp("us", tz="UTC")),
        pa.field("mime", pa.string()),
        pa.field("uri", pa.string(), nullable=False),
        pa.field("filename", pa.string()),
        pa.field("offset", pa.int64()),
        pa.field("record_id", pa.string()),
        pa.field("drop_folder", pa.string()),
        pa.field("processed_path", pa.string()),
        pa.field("sidecar_name", pa.string()),
        pa.field("sidecar_sha256", pa.string()),
        pa.field("accession", pa.string()),
        pa.field("cik", pa.string()),
        pa.field("form_type", pa.string()),
        pa.field("received", pa.date32()),
        pa.field("tied_by", pa.string()),
        pa.field("problem", pa.string()),
        pa.field("recorded_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ],
    provenance=False,
)

# Data-gap incidents (storage/incidents.py): every lifecycle event, and what each sink did with it.
INCIDENT_EVENTS_VERSION = 1
INCIDENT_EVENTS = _table(
    "incident_events",
    INCIDENT_EVENTS_VERSION,
    [
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("incident_id", pa.string(), nullable=False),
        pa.field("seq", pa.int32(), nullable=False),
        pa.field("key", pa.string(), nullable=False),
        pa.field("type", pa.string(), nullable=False),
        pa.field("severity", pa.string(), nullable=False),
        pa.field("subject", pa.string()),
        pa.field("entity", pa.string(), nullable=False),
        pa.field("period", pa.string(), nullable=False),
        pa.field("window_start", pa.timestamp("us", tz="UTC")),
        pa.field("window_end", pa.timestamp("us", tz="UTC")),
        pa.field("status", pa.string(), nullable=False),
        pa.field("event", pa.string(), nullable=False),
        pa.field("note", pa.string()),
        pa.field("evidence", pa.string()),
        pa.field("form_type", pa.string()),
        pa.field("cik", pa.string()),
        pa.field("at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("recorded_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ],
    provenance=False,
)

DELIVERIES_VERSION = 1
DELIVERIES = _table(
    "deliveries",
    DELIVERIES_VERSION,
    [
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("incident_id", pa.string(), nullable=False),
        pa.field("sink", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("event", pa.string(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("attempts", pa.int32(), nullable=False),
        pa.field("http_status", pa.int16()),
        pa.field("error", pa.string()),
        pa.field("at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("recorded_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ],
    provenance=False,
)

# One row per filing rebuilt by archive/recover.py (`salvage recover`): what the manifest says.
RECOVERED_FILE = pa.struct(
    [
        pa.field("filename", pa.string()),
        pa.field("sha256", pa.string()),
        pa.field("bytes", pa.int64()),
        pa.field("method", pa.string()),
        pa.field("warc", pa.string()),
        pa.field("offset", pa.int64()),
        pa.field("record_digest", pa.string()),
        pa.field("verified", pa.bool_()),
        pa.field("reason", pa.string()),
    ]
)

RECOVERIES_VERSION = 1
RECOVERIES = _table(
    "recoveries",
    RECOVERIES_VERSION,
    [
        pa.field("accession", pa.string(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("files", pa.list_(RECOVERED_FILE)),
        pa.field("missing", pa.list_(pa.string())),
        pa.field("refused", pa.list_(pa.string())),
        pa.field("listed_by", pa.string()),
        pa.field("manifest", pa.string()),
        pa.field("manifest_sha256", pa.string()),
        pa.field("at", pa.timestamp("us", tz="UTC")),
        pa.field("recovered_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("recorded_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ],
    provenance=False,
)

# One row per (feed file, symbol) imported by `salvage book import` (orderbook/store.py); a file
# that could not be read at all has one row with a null symbol and its error.
FEED_ERROR = pa.struct([pa.field("line", pa.int64()), pa.field("reason", pa.string())])

BOOK_FILES_VERSION = 2  # 2: size_scale, lines (A/B captures merged into one stream)
BOOK_FILES = _table(
    "book_files",
    BOOK_FILES_VERSION,
    [
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("original_name", pa.string(), nullable=False),
        pa.field("size", pa.int64(), nullable=False),
        pa.field("format", pa.string(), nullable=False),
        pa.field("venue", pa.string()),
        pa.field("symbol", pa.string()),
        pa.field("date", pa.date32()),
        pa.field("events", pa.int64(), nullable=False),
        pa.field("first_ts", pa.int64()),  # ns since the epoch, UTC, as the events' `ts`
        pa.field("last_ts", pa.int64()),
        pa.field("price_scale", pa.int64()),
        pa.field("size_scale", pa.int64()),  # feed size units per share/coin; null: 1
        pa.field("checkpoints", pa.int32()),
        pa.field("checkpoint_every", pa.int64()),
        pa.field("events_path", pa.string()),
        pa.field("checkpoints_path", pa.string()),
        pa.field("levels_path", pa.string()),
        pa.field("error_count", pa.int64(), nullable=False),
        pa.field("errors", pa.list_(FEED_ERROR)),
        pa.field("error_type", pa.string()),
        pa.field("uri", pa.string(), nullable=False),
        pa.field("filename", pa.string()),
        pa.field("offset", pa.int64()),
        pa.field("record_id", pa.string()),
        pa.field("companion_name", pa.string()),
        pa.field("companion_sha256", pa.string()),
        # redundant captures of one feed merged into this stream: each line's name and sha256
        # (`sha256` above is then the hash of the lines' hashes); null for a single file
        pa.field("lines", pa.list_(pa.string())),
        pa.field("line_sha256s", pa.list_(pa.string())),
        pa.field("recorded_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ],
    provenance=False,
)

# What a feed reader found about a feed's integrity (orderbook.events.FeedFinding): sequence
# gaps, ranges filled from another line, checksum mismatches, stale snapshots, windows of unknown
# book state, resynchronisations and snapshot checks. One row per finding; `sha256` is the
# book_files row's. Book gap detection turns them into incidents.
FEED_FINDINGS_VERSION = 1
FEED_FINDINGS = _table(
    "feed_findings",
    FEED_FINDINGS_VERSION,
    [
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("original_name", pa.string(), nullable=False),
        pa.field("format", pa.string(), nullable=False),
        pa.field("venue", pa.string()),
        pa.field("symbol", pa.string()),   # null: the whole feed (a MoldUDP64 sequence gap)
        pa.field("date", pa.date32()),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("line", pa.int64(), nullable=False),
        pa.field("last_line", pa.int64()),
        pa.field("first_seq", pa.int64()),
        pa.field("last_seq", pa.int64()),
        pa.field("from_ts", pa.int64()),    # ns since the epoch, UTC
        pa.field("to_ts", pa.int64()),
        pa.field("source", pa.string()),
        pa.field("detail", pa.string(), nullable=False),
        pa.field("recorded_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ],
    provenance=False,
)

# One row per forensic drill (`salvage drill`, storage/drill.py): its verdict, measures and the
# report written under drills/<id>/ (its sha256 is also in the audit chain).
DRILLS_VERSION = 1
DRILLS = _table(
    "drills",
    DRILLS_VERSION,
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("started_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("finished_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("verdict", pa.string(), nullable=False),   # pass | fail
        pa.field("seed", pa.int64(), nullable=False),
        pa.field("sample", pa.string(), nullable=False),
        pa.field("scenarios", pa.list_(pa.string())),
        pa.field("items", pa.int64(), nullable=False),
        pa.field("passed", pa.int64(), nullable=False),     # detected, recovered, byte-exact
        pa.field("rto_s", pa.float64()),
        pa.field("rpo_s", pa.float64()),
        pa.field("checks", pa.string()),                    # JSON: name, target, actual, passed
        pa.field("report_html", pa.string()),               # relative to the home
        pa.field("report_pdf", pa.string()),
        pa.field("result_json", pa.string()),
        pa.field("report_sha256", pa.string()),
        pa.field("timestamp_token", pa.string()),           # RFC 3161 reply beside the report
        pa.field("recorded_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ],
    provenance=False,
)

TABLES: dict[str, pa.Schema] = {
    "captures": CAPTURES,
    "filings": FILINGS,
    "documents": DOCUMENTS,
    "pages": PAGES,
    "issuers": ISSUERS,
    "expected_filings": EXPECTED_FILINGS,
    "index_documents": INDEX_DOCUMENTS,
    "extractions": EXTRACTIONS,
    "quarantine": QUARANTINE,
    "drops": DROPS,
    "recoveries": RECOVERIES,
    "watch_events": WATCH_EVENTS,
    "incident_events": INCIDENT_EVENTS,
    "deliveries": DELIVERIES,
    "book_files": BOOK_FILES,
    "feed_findings": FEED_FINDINGS,
    "drills": DRILLS,
}
