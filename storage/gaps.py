"""Data gaps: what EDGAR lists that the archive lacks, what it captured and then lost or saw
change, what a watched issuer owes, and what the watchlist saw removed or altered.

`detect_gaps` reads the catalog (read-only DuckDB over the Parquet tables, `storage.query.Catalog`)
and returns `Finding`s, one per gap, each keyed `gap:<type>:<entity>:<period>` so a re-run finds
the same keys and `storage/incidents.py` opens each incident once:

- `filing.missing`: an accession some index or JSON lists (`expected_filings`, any kind) whose
  complete submission `.txt` has no good capture (the rule of `archive.edgar.captured_accessions`:
  a 200 response or a revisit, no soft error, not cut short), once `grace` has passed since its
  acceptance (else its filing date's end, else its listing). Paper filings (the `paper` flag,
  accessions `9999999997…`) are not expected online: they are `paper`, awaiting a scan, until a
  `drops` row ties one to them.
- `filing.incomplete`: an archived submission with fewer `<DOCUMENT>`s than its PUBLIC DOCUMENT
  COUNT, or a document its captured index page lists that is neither in the `.txt` nor captured.
- `filing.removed`: a filing whose folder's URLs (`/Archives/edgar/data/…`: `.txt`, index page,
  documents) were captured good and whose latest conclusive capture is 404/410 or S3's
  NoSuchKey page; one finding per filing, every such URL in its evidence.
- `filing.altered`: consecutive good captures of a filing's URL with different payload digests,
  with a short diff of their extracted text; one finding per filing and recapture time.
- `filing.late`: for watched CIKs, a 10-K/10-Q past its deadline, an NT 10-K/10-Q notice, an 8-K
  filed after its deadline (`storage/deadlines.py`).
- `page.removed` / `page.altered`: from the watchlist's `watch_events`.

The heavy part (a million expected filings against the captures) is one scan of `captures` into a
compact in-memory table (URL hashes, flags and the accession a `.txt` URL names), then anti-joins
and aggregates over it; URLs and digests are read back only for the few captures a finding cites.
"""

from __future__ import annotations

import difflib
import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path

import duckdb
import pyarrow as pa

from archive.home import Home
from extract.edgar_text import EASTERN
from storage.deadlines import Lateness, lateness
from storage.findings import Finding
from storage.query import Catalog

CHECKS = ("filing.missing", "filing.incomplete", "filing.removed", "filing.altered",
          "filing.late", "page.removed", "page.altered")
"""What `detect_gaps` can look for (its `checks`)."""

GRACE = timedelta(days=1)
"""How long a listed filing may stay uncaptured before it is missing (and a deadline late)."""
DIFF_LINES = 8
"""Changed lines quoted in an alteration's diff summary."""
DIFF_MAX_LINES = 20_000
"""Texts longer than this (in lines, both sides) are compared by line counts, not aligned."""
ATTEMPTS = 3
READ_BACK_TIMES = 2000
"""Up to this many capture times are looked up by value (pruning the catalog's row groups)."""
LISTINGS = 5
PAPER_PREFIX = "9999999997"

GOOD = ("(soft_error IS NULL AND truncated IS NULL AND (record_type = 'revisit' OR "
        "(record_type = 'response' AND status = 200)))")
"""A good capture: the rule of archive.edgar.captured_accessions."""
GONE = "(status IN (404, 410) OR coalesce(soft_error = 's3-nosuchkey', false))"
"""A capture saying the source no longer has the file."""
_TXT = r"/Archives/edgar/data/[0-9]{1,10}/[0-9]{18}/[0-9]{10}-[0-9]{2}-[0-9]{6}\.txt$"
_DATA = "/Archives/edgar/data/"
_GOOD_EVENTS = ("new", "changed", "unchanged")  # watch_events of a good capture
_LISTING_FILES = ("index.json", "index.xml", "index.html")  # folder listings change by design
_FILING_COLUMNS = ("accession, form_type, filed_as_of, acceptance_time, declared_documents, "
                   "documents_found, source_url, source_digest, recorded_at")


@dataclass(frozen=True)
class AwaitingScan:
    """A paper filing EDGAR lists, with no scan in the drop folder tied to it yet."""

    accession: str
    ciks: tuple[str, ...]
    form_type: str | None
    date_filed: date | None
    company_name: str | None
    listed_in: tuple[str, ...]
    captured_online: bool

    def as_dict(self) -> dict:
        row = asdict(self)
        row["date_filed"] = self.date_filed.isoformat() if self.date_filed else None
        return row


@dataclass
class GapReport:
    """What `detect_gaps` found: `findings`, paper filings awaiting a scan, `pending` (listed
    filings still within the grace period), counts per type and seconds per check."""

    findings: list[Finding] = field(default_factory=list)
    paper: list[AwaitingScan] = field(default_factory=list)
    pending: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, findings: Iterable[Finding]) -> None:
        for finding in findings:
            self.findings.append(finding)
            self.counts[finding.type] = self.counts.get(finding.type, 0) + 1


def detect_gaps(home: Home | Path | str, *, now: datetime, watched_ciks: Iterable[str | int] = (),
                grace: timedelta = GRACE, forms: Iterable[str] = (), since: date | None = None,
                as_of: datetime | None = None, checks: Iterable[str] | None = None,
                diff_lines: int = DIFF_LINES) -> GapReport:
    """Every gap the catalog of `home` shows at `now`.

    `watched_ciks`: issuers whose deadlines are checked (`[edgar] ciks`); `forms` and `since`
    narrow which listed filings are expected (as the ingestion's `forms` and first day do);
    `as_of` sees the catalog as it stood then (`salvage query --as-of`); `checks` runs a subset
    of CHECKS. Findings come sorted by key.
    """
    started = time.perf_counter()
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (e.g. datetime.now(UTC))")
    wanted = tuple(CHECKS if checks is None else checks)
    unknown = [c for c in wanted if c not in CHECKS]
    if unknown:
        raise ValueError(f"unknown check {unknown[0]!r}: one of {', '.join(CHECKS)}")
    root = home.root if isinstance(home, Home) else Path(home)
    report = GapReport()
    scope = _Scope(now, grace, tuple(_form(f) for f in forms), since,
                   tuple(sorted({_cik10(c) for c in watched_ciks})), diff_lines)
    with Catalog(root / "catalog", as_of).connect() as con:
        run = _Run(con, scope, report)
        if {"filing.missing", "filing.incomplete", "filing.removed", "filing.altered",
                "page.altered"} & set(wanted):
            run.timed("captures", run.load_captures)
        if "filing.missing" in wanted:
            run.timed("filing.missing", run.missing)
        if "filing.incomplete" in wanted:
            run.timed("filing.incomplete", run.incomplete)
        if {"filing.removed", "filing.altered"} & set(wanted):
            run.timed("filing.removed+altered",
                      lambda: run.removed_and_altered("filing.removed" in wanted,
                                                      "filing.altered" in wanted))
        if "filing.late" in wanted and scope.watched:
            run.timed("filing.late", run.late)
        if {"page.removed", "page.altered"} & set(wanted):
            run.timed("page", lambda: run.pages("page.removed" in wanted,
                                                "page.altered" in wanted))
    report.findings.sort(key=lambda f: f.key)
    report.seconds = time.perf_counter() - started
    return report


# -- the run ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scope:
    now: datetime
    grace: timedelta
    forms: tuple[str, ...]
    since: date | None
    watched: tuple[str, ...]
    diff_lines: int


class _Run:
    """One detection: a connection, its temporary tables, and the report being filled."""

    def __init__(self, con: duckdb.DuckDBPyConnection, scope: _Scope, report: GapReport):
        self.con, self.scope, self.report = con, scope, report
        self.tables: dict[str, pa.Table] = {}

    def table(self, name: str, sql: str, params: list | None = None) -> int:
        """Run `sql` and keep its result as the table `name` (Arrow, registered on the
        connection: built on every core, unlike a DuckDB temporary table); its row count."""
        data = self.con.sql(sql, params=params or None).to_arrow_table()
        self.tables[name] = data
        self.con.register(name, data)
        return data.num_rows

    def timed(self, name: str, step) -> None:
        started = time.perf_counter()
        step()
        self.report.timings[name] = time.perf_counter() - started

    def rows(self, sql: str, params: list | None = None) -> list[dict]:
        cursor = self.con.execute(sql, params or [])
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    # -- the captures, once ------------------------------------------------------------------------

    def load_captures(self) -> None:
        """`cap`: every response, revisit and resource as a URL hash, a time and flags, with the
        accession a complete submission URL names (`.txt` under its own folder). Captures
        outside filing folders (indexes, JSON, pages: few) keep their URL, digest and WARC
        location; a filing folder's capture is found again by (URL hash, WARC-Date)."""
        self.table("cap", f"""
            SELECT h, warc_date, record_type = 'revisit' AS revisit,
                   record_type = 'resource' AS resource, good, gone, data, accession, status,
                   CASE WHEN NOT good THEN soft_error END AS soft_error,
                   CASE WHEN NOT good THEN truncated END AS truncated,
                   CASE WHEN NOT data THEN url END AS url,
                   CASE WHEN NOT data THEN digest END AS digest,
                   CASE WHEN NOT data THEN filename END AS filename,
                   CASE WHEN NOT data THEN "offset" END AS "offset"
            FROM (SELECT *, hash(url) AS h, {GOOD} AS good, {GONE} AS gone,
                         contains(url, '{_DATA}') AS data,
                         CASE WHEN suffix(url, '.txt') AND regexp_matches(url, '{_TXT}')
                                   AND url[-43:-26] = replace(url[-24:-5], '-', '')
                              THEN url[-24:-5] END AS accession
                  FROM captures
                  WHERE record_type IN ('response', 'revisit', 'resource'))""")

    def read_back(self, keys: Iterable[tuple[int, datetime]]) -> dict[tuple[int, datetime],
                                                                    list[dict]]:
        """The captures named by (URL hash, WARC-Date), with URL, digest and WARC location. The
        times are given as constants, so only the catalog row groups holding them are read."""
        keys = sorted(set(keys), key=lambda k: (k[1], k[0]))
        if not keys:
            return {}
        hashes, moments = zip(*keys, strict=True)
        self.table("wanted", "SELECT unnest(?::UBIGINT[]) AS h, unnest(?::TIMESTAMPTZ[]) AS "
                   "warc_date", [list(hashes), list(moments)])
        times = sorted(set(moments))
        if len(times) <= READ_BACK_TIMES:
            pruned = "c.warc_date IN (" + ", ".join(map(_timestamp, times)) + ")"
        else:
            pruned = f"c.warc_date BETWEEN {_timestamp(times[0])} AND {_timestamp(times[-1])}"
        out: dict[tuple[int, datetime], list[dict]] = defaultdict(list)
        for r in self.rows(f"""
                SELECT w.h, c.warc_date, c.url, c.digest, c.filename, c."offset",
                       c.record_type, c.status, c.soft_error, {GOOD} AS good, {GONE} AS gone
                FROM captures c JOIN wanted w ON w.warc_date = c.warc_date AND w.h = hash(c.url)
                WHERE {pruned}"""):
            out[(r["h"], r["warc_date"])].append(r)
        return out

    def filing_facts(self, accessions: Iterable[str]) -> dict[str, dict]:
        """Form type and every CIK EDGAR lists for each accession (any index, JSON or page)."""
        wanted = sorted(set(accessions))
        if not wanted:
            return {}
        return {r["accession"]: r for r in self.rows("""
            SELECT accession, max(form_type) AS form_type,
                   list_sort(list_distinct(list(cik))) AS ciks
            FROM expected_filings_history
            WHERE accession IN (SELECT unnest(?::VARCHAR[])) AND cik IS NOT NULL
            GROUP BY accession""", [wanted])}

    def pick_cik(self, ciks: list[str | None]) -> str | None:
        """The CIK a finding is about: a watched one if the filing has one, else the first."""
        ciks = [c for c in ciks if c]
        if self.scope.watched:
            return next((c for c in ciks if c in self.scope.watched), ciks[0] if ciks else None)
        return ciks[0] if ciks else None

    # -- filing.missing ----------------------------------------------------------------------------

    def _expected_scope(self, alias: str = "e") -> tuple[str, list]:
        where, params = [f"{alias}.accession IS NOT NULL"], []
        if self.scope.forms:
            where.append(f"upper({alias}.form_type) IN (SELECT unnest(?::VARCHAR[]))")
            params.append(list(self.scope.forms))
        if self.scope.since:
            where.append(f"({alias}.date_filed IS NULL OR {alias}.date_filed >= ?)")
            params.append(self.scope.since)
        return " AND ".join(where), params

    def missing(self) -> None:
        """Listed accessions without a good `.txt` capture (and every paper one): `unlisted`."""
        where, params = self._expected_scope()
        self.table("unlisted", f"""
            SELECT * FROM (
                SELECT e.accession, e.cik, e.company_name, e.form_type, e.date_filed, e.path,
                       e.index_kind, e.acceptance_time, e.source_url, e.source_digest,
                       e.recorded_at,
                       coalesce(e.paper, false) OR starts_with(e.accession, '{PAPER_PREFIX}')
                           AS paper,
                       e.accession IN (SELECT accession FROM cap
                                       WHERE good AND accession IS NOT NULL) AS online
                FROM expected_filings_history e
                WHERE {where})
            WHERE paper OR NOT online""", params)
        self.paper()
        self.table("unfetched", """
            SELECT accession, min(date_filed) AS date_filed, min(acceptance_time) AS accepted,
                   max(form_type) AS form_type, max(company_name) AS company_name,
                   list_sort(list_distinct(list(cik))) AS ciks,
                   coalesce(min(acceptance_time), CAST(min(date_filed) + 1 AS TIMESTAMPTZ),
                            min(recorded_at)) AS since
            FROM unlisted
            WHERE NOT paper
            GROUP BY accession""")
        due = self.scope.now - self.scope.grace
        self.table("missing_now", "SELECT * FROM unfetched WHERE since <= ? ORDER BY accession",
                   [due])
        waiting = self.tables["unfetched"].num_rows
        late = self.tables["missing_now"].num_rows
        self.report.pending += waiting - late
        if not late:
            return
        sources = self.rows("""
            SELECT DISTINCT u.source_url, u.source_digest
            FROM unlisted u SEMI JOIN missing_now m ON m.accession = u.accession
            WHERE NOT u.paper""")
        found = self.locate({(r["source_url"], r["source_digest"]) for r in sources})
        rows = list(found.values())
        self.table("sources", """
            SELECT unnest(?::VARCHAR[]) AS url, unnest(?::VARCHAR[]) AS digest,
                   unnest(?::VARCHAR[]) AS filename, unnest(?::BIGINT[]) AS "offset" """,
                   [[r[k] for r in rows] for k in ("url", "digest", "filename", "offset")])
        self.report.add(self._missing_finding(f) for f in self.rows(f"""
            WITH listed AS (
                SELECT u.accession, row_number() OVER (
                           PARTITION BY u.accession ORDER BY u.recorded_at, u.index_kind, u.cik)
                           AS n,
                       {{'index_kind': u.index_kind, 'path': u.path,
                        'date_filed': CAST(u.date_filed AS VARCHAR), 'cik': u.cik,
                        'source_url': u.source_url, 'source_digest': u.source_digest,
                        'filename': s.filename, 'offset': s."offset"}} AS listing
                FROM unlisted u SEMI JOIN missing_now m ON m.accession = u.accession
                LEFT JOIN sources s ON s.url = u.source_url AND s.digest = u.source_digest
                WHERE NOT u.paper),
            tried AS (
                SELECT c.accession, row_number() OVER (
                           PARTITION BY c.accession ORDER BY c.warc_date DESC) AS n,
                       {{'captured': {_sql_iso("c.warc_date")},
                        'record_type': CASE WHEN c.revisit THEN 'revisit' ELSE 'response' END,
                        'status': c.status, 'soft_error': c.soft_error,
                        'truncated': c.truncated}} AS attempt
                FROM cap c SEMI JOIN missing_now m ON m.accession = c.accession)
            SELECT m.accession, m.form_type, m.company_name, m.ciks, m.date_filed, m.since,
                   CAST(m.date_filed AS VARCHAR) AS filed, {_sql_iso("m.accepted")} AS accepted,
                   CAST(to_json(coalesce((SELECT list(listing ORDER BY n) FROM listed l
                             WHERE l.accession = m.accession AND n <= {LISTINGS}), []))
                        AS VARCHAR) AS listed,
                   CAST(to_json(coalesce((SELECT list(attempt ORDER BY n) FROM tried t
                             WHERE t.accession = m.accession AND n <= {ATTEMPTS}), []))
                        AS VARCHAR) AS attempts
            FROM missing_now m ORDER BY m.accession"""))

    def locate(self, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], dict]:
        """The first capture (a response or resource) of each (URL, payload digest)."""
        pairs = {p for p in pairs if p[0] and p[1]}
        if not pairs:
            return {}
        urls, digests = zip(*sorted(pairs), strict=True)
        self.table("located", "SELECT unnest(?::VARCHAR[]) AS url, unnest(?::VARCHAR[]) AS digest",
                   [list(urls), list(digests)])
        found = self.rows("""
            SELECT c.url, c.digest, c.filename, c."offset", c.warc_date FROM cap c
            SEMI JOIN located l ON l.url = c.url AND l.digest = c.digest
            WHERE NOT c.revisit""")
        keys = [(r["h"], r["warc_date"]) for r in self.rows("""
            SELECT c.h, c.warc_date FROM cap c
            SEMI JOIN (SELECT hash(url) AS h FROM located WHERE contains(url, ?)) l USING (h)
            WHERE NOT c.revisit""", [_DATA])]
        for captures in self.read_back(keys).values():
            found += [c for c in captures if c["record_type"] != "revisit"]
        out: dict[tuple[str, str], dict] = {}
        for c in found:
            key = (c["url"], c["digest"])
            if key in pairs and (key not in out or c["warc_date"] < out[key]["warc_date"]):
                out[key] = c
        return out

    def _missing_finding(self, f: dict) -> Finding:
        filed, attempts = f["date_filed"], json.loads(f["attempts"])
        what = f"{f['form_type'] or 'filing'} {f['accession']}"
        who = f" by {f['company_name']}" if f["company_name"] else ""
        tried = (f"; {len(attempts)} capture attempt{'s' * (len(attempts) != 1)} failed"
                 if attempts else "; never fetched")
        return Finding(
            type="filing.missing", entity=f["accession"],
            period=(filed or f["since"].date()).isoformat(),
            subject=f"{what} filed {filed or 'on an unknown day'}{who} is listed by EDGAR but "
                    f"its complete submission is not archived{tried}",
            window_start=_utc(f["since"]), window_end=_utc(f["since"] + self.scope.grace),
            evidence={"accession": f["accession"], "ciks": f["ciks"], "date_filed": f["filed"],
                      "accepted": f["accepted"], "listed": json.loads(f["listed"]),
                      "attempts": attempts},
            form_type=f["form_type"], cik=self.pick_cik(f["ciks"]))

    def paper(self) -> None:
        """Paper filings EDGAR lists (the flag, or the accession prefix) with no scan tied."""
        rows = self.rows("""
            SELECT accession, list_sort(list_distinct(list(cik))) AS ciks,
                   max(form_type) AS form_type, min(date_filed) AS date_filed,
                   max(company_name) AS company_name,
                   list_sort(list_distinct(list(index_kind))) AS listed_in,
                   bool_or(online) AS online
            FROM unlisted
            WHERE paper
              AND accession NOT IN (SELECT accession FROM drops WHERE accession IS NOT NULL)
            GROUP BY accession ORDER BY accession""")
        self.report.paper = [AwaitingScan(r["accession"], tuple(r["ciks"]), r["form_type"],
                                          r["date_filed"], r["company_name"],
                                          tuple(r["listed_in"]), r["online"]) for r in rows]

    # -- filing.incomplete -------------------------------------------------------------------------

    def incomplete(self) -> None:
        """Submissions short of their declared documents, and documents their index page lists
        that neither the `.txt` nor a capture of their own holds."""
        counted = [r for r in self.rows(f"""
            SELECT {_FILING_COLUMNS} FROM filings_history
            WHERE accession IN (SELECT accession FROM filings_history
                                WHERE declared_documents > documents_found)
            QUALIFY row_number() OVER (PARTITION BY accession ORDER BY recorded_at DESC) = 1
            """) if r["declared_documents"] > r["documents_found"]]
        renderings = {r["source_digest"]: r["n"] for r in self.rows("""
            SELECT source_digest, count(*) AS n FROM documents_history
            WHERE source_digest IN (SELECT unnest(?::VARCHAR[]))
              AND description LIKE 'IDEA: XBRL DOCUMENT%'
            GROUP BY source_digest""", [[r["source_digest"] for r in counted]])}
        short = {}
        for r in counted:  # EDGAR counts one XBRL rendering that the .txt does not hold
            r["renderings"] = renderings.get(r["source_digest"], 0)
            if r["declared_documents"] > r["documents_found"] + (r["renderings"] > 0):
                short[r["accession"]] = r
        not_archived: dict[str, list[dict]] = defaultdict(list)
        inside = self.table("not_inside", """
                WITH listed AS (
                    SELECT DISTINCT i.accession, i.seq, i.document, i.url, i.type, i.description
                    FROM index_documents_history i
                    WHERE i.accession IS NOT NULL AND i.seq IS NOT NULL AND i.url IS NOT NULL
                      AND i.document IS NOT NULL AND NOT contains(i.url, '/xsl')
                      AND i.accession IN (SELECT accession FROM filings_history)),
                inside AS (
                    SELECT DISTINCT accession, filename FROM documents_history
                    WHERE accession IN (SELECT accession FROM listed))
                SELECT l.* FROM listed l
                ANTI JOIN inside i ON i.accession = l.accession AND i.filename = l.document""")
        if inside:  # listed, not in the .txt: archived only if its own URL was captured
            for r in self.rows("""
                    SELECT * FROM not_inside l
                    WHERE NOT EXISTS (SELECT 1 FROM cap c WHERE c.h = hash(l.url) AND c.good)
                    ORDER BY l.accession, l.seq, l.document"""):
                not_archived[r.pop("accession")].append(_plain(r))
        extra = set(not_archived) - set(short)
        if extra:
            for r in self.rows(f"""
                    SELECT {_FILING_COLUMNS}
                    FROM filings_history WHERE accession IN (SELECT unnest(?::VARCHAR[]))
                    QUALIFY row_number() OVER (PARTITION BY accession
                                               ORDER BY recorded_at DESC) = 1""",
                               [sorted(extra)]):
                short[r["accession"]] = {**r, "renderings": 0, "count_ok": True}
        facts = self.filing_facts(short)
        self.report.add(self._incomplete_finding(r, not_archived.get(a, []), facts.get(a, {}))
                        for a, r in sorted(short.items()))

    def _incomplete_finding(self, f: dict, not_archived: list[dict], facts: dict) -> Finding:
        parts = []
        if not f.get("count_ok"):
            parts.append(f"{f['documents_found']} of {f['declared_documents']} declared "
                         "documents are in its complete submission")
        if not_archived:
            names = ", ".join(d["document"] for d in not_archived[:5])
            parts.append(f"{len(not_archived)} document{'s' * (len(not_archived) != 1)} its "
                         f"index page lists {'are' if len(not_archived) != 1 else 'is'} not "
                         f"archived ({names})")
        filed = f["filed_as_of"]
        start = f["acceptance_time"] or (datetime.combine(filed, clock(), UTC) if filed else None)
        return Finding(
            type="filing.incomplete", entity=f["accession"],
            period=filed.isoformat() if filed else "undated",
            subject=f"{f['form_type'] or 'filing'} {f['accession']}: " + "; ".join(parts),
            window_start=_utc(start), window_end=_utc(f["recorded_at"]),
            evidence={"accession": f["accession"], "declared_documents": f["declared_documents"],
                      "documents_found": f["documents_found"],
                      "xbrl_renderings": f["renderings"], "not_archived": not_archived,
                      "submission": {"url": f["source_url"], "digest": f["source_digest"]},
                      "ciks": facts.get("ciks", [])},
            form_type=f["form_type"], cik=self.pick_cik(facts.get("ciks", [])))

    # -- filing.removed, filing.altered ------------------------------------------------------------

    def removed_and_altered(self, removed: bool, altered: bool) -> None:
        """URLs with more than one capture are the only candidates; their captures are then read
        in time order."""
        rows = self.rows("""
            WITH candidates AS (
                SELECT h FROM cap
                WHERE data AND NOT revisit AND NOT resource AND (good OR gone)
                GROUP BY h HAVING count(*) > 1)
            SELECT c.h, c.warc_date
            FROM cap c SEMI JOIN candidates USING (h)
            WHERE c.data AND NOT c.resource AND (c.good OR c.gone)""")
        if not rows:
            return
        by_url: dict[str, list[dict]] = defaultdict(list)
        for captures in self.read_back((r["h"], r["warc_date"]) for r in rows).values():
            for c in captures:
                if c["record_type"] != "resource" and (c["good"] or c["gone"]) and \
                        _accession_in(c["url"]) and not _listing_file(c["url"]):
                    by_url[c["url"]].append(c)  # a file of a filing's folder
        removals: dict[str, list[tuple[dict, dict, dict]]] = defaultdict(list)
        changes: dict[tuple[str, str], list[tuple[dict, dict]]] = defaultdict(list)
        for url, captures in by_url.items():
            captures.sort(key=lambda c: (c["warc_date"], c["filename"], c["offset"]))
            filing = _accession_in(url)
            if removed and (gone := _removal(captures)):
                removals[filing].append(gone)
            if altered:
                good = [c for c in captures if c["good"] and c["digest"]]
                for a, b in zip(good, good[1:], strict=False):
                    if a["digest"] != b["digest"]:
                        changes[(filing, _stamp(b["warc_date"]))].append((a, b))
        facts = self.filing_facts(filter(None, (_accession_in(u) for u in by_url)))
        texts = self.texts({c["digest"] for pairs in changes.values() for pair in pairs
                            for c in pair})
        self.report.add(self._removed_finding(filing, gone, facts)
                        for filing, gone in removals.items())
        self.report.add(self._altered_finding(filing, period, pairs, texts, facts)
                        for (filing, period), pairs in changes.items())

    def _filing(self, accession: str, urls: list[str], facts: dict[str, dict]
                ) -> tuple[str | None, str | None]:
        """(form type, CIK) of a filing, from its listings, else the folders of its URLs."""
        known = facts.get(accession, {})
        ciks = known.get("ciks") or [c for c in map(_folder_cik, urls) if c]
        return known.get("form_type"), self.pick_cik(ciks)

    def _removed_finding(self, filing: str, gone: list[tuple[dict, dict, dict]],
                         facts: dict[str, dict]) -> Finding:
        """One per filing: every URL of its folder whose latest answer is a removal."""
        gone = sorted(gone, key=lambda g: (g[1]["warc_date"], g[1]["url"]))
        urls = [g[0]["url"] for g in gone]
        form_type, cik = self._filing(filing, urls, facts)
        first = gone[0][1]
        how = f"HTTP {first['status']}" + (f" ({first['soft_error']})"
                                           if first["soft_error"] else "")
        names = ", ".join(u.rsplit("/", 1)[-1] for u in urls[:5])
        return Finding(
            type="filing.removed", entity=filing, period=_stamp(first["warc_date"]),
            subject=f"filing {filing}: {names} answered {how} on {_stamp(first['warc_date'])} "
                    f"after a good capture on {_stamp(gone[0][0]['warc_date'])}",
            window_start=_utc(min(g[0]["warc_date"] for g in gone)),
            window_end=_utc(first["warc_date"]),
            evidence={"accession": filing, "urls": urls,
                      "removed": [{"url": last["url"], "last_good": _where(last),
                                   "removed": _where(first_gone), "latest": _where(latest)}
                                  for last, first_gone, latest in gone]},
            form_type=form_type, cik=cik)

    def _altered_finding(self, filing: str, period: str, pairs: list[tuple[dict, dict]],
                         texts: dict[str, str | None], facts: dict[str, dict]) -> Finding:
        """One per filing and recapture time: every URL of its folder that changed then."""
        pairs = sorted(pairs, key=lambda p: p[1]["url"])
        urls = [b["url"] for _, b in pairs]
        form_type, cik = self._filing(filing, urls, facts)
        found = [{"url": b["url"], "before": _where(a), "after": _where(b),
                  "diff": diff_summary(texts.get(a["digest"]), texts.get(b["digest"]),
                                       self.scope.diff_lines)} for a, b in pairs]
        names = ", ".join(u.rsplit("/", 1)[-1] for u in urls[:5])
        before = min(a["warc_date"] for a, _ in pairs)
        return Finding(
            type="filing.altered", entity=filing, period=period,
            subject=f"filing {filing}: {names} changed between {_stamp(before)} and {period}: "
                    f"{_diff_words(found[0]['diff'])}",
            window_start=_utc(before), window_end=_utc(pairs[0][1]["warc_date"]),
            evidence={"accession": filing, "urls": urls, "changes": found},
            form_type=form_type, cik=cik)

    def texts(self, digests: set[str]) -> dict[str, str | None]:
        """The extracted text of each payload (documents in order; several are headed by their
        file names); None for a payload never extracted."""
        if not digests:
            return {}
        parts: dict[str, list[tuple[str | None, str]]] = defaultdict(list)
        for r in self.rows("""
                SELECT source_digest, ordinal, filename, text FROM documents_history
                WHERE source_digest IN (SELECT unnest(?::VARCHAR[]))
                QUALIFY row_number() OVER (PARTITION BY source_digest, ordinal
                                           ORDER BY recorded_at DESC) = 1
                ORDER BY source_digest, ordinal""", [sorted(digests)]):
            parts[r["source_digest"]].append((r["filename"], r["text"] or ""))
        out: dict[str, str | None] = dict.fromkeys(digests)
        for digest, documents in parts.items():
            out[digest] = documents[0][1] if len(documents) == 1 else "\n".join(
                f"[{name or n}]\n{text}" for n, (name, text) in enumerate(documents, 1))
        return out

    # -- filing.late -------------------------------------------------------------------------------

    def late(self) -> None:
        """Each watched issuer's filings (every listing, report dates from the JSON or the
        filings) against its deadlines, as of the New York date `grace` before `now`."""
        watched = list(self.scope.watched)
        history: dict[str, dict[str, dict]] = defaultdict(dict)
        for r in self.rows("""
                SELECT e.cik, e.accession, max(e.form_type) AS form_type,
                       coalesce(max(e.report_date), max(f.period_of_report)) AS report_date,
                       min(coalesce(e.date_filed, f.filed_as_of)) AS date_filed,
                       any_value(e.items) AS items
                FROM expected_filings_history e
                LEFT JOIN (SELECT accession, period_of_report, filed_as_of FROM filings_history
                           WHERE accession IN (SELECT accession FROM expected_filings_history
                                               WHERE cik IN (SELECT unnest(?::VARCHAR[]))))
                     f USING (accession)
                WHERE e.cik IN (SELECT unnest(?::VARCHAR[])) AND e.accession IS NOT NULL
                GROUP BY e.cik, e.accession""", [watched, watched]):
            history[r["cik"]][r["accession"]] = r
        issuers = {r["cik"]: r for r in self.rows(
            "SELECT cik, name, category, fiscal_year_end FROM issuers "
            "WHERE cik IN (SELECT unnest(?::VARCHAR[]))", [watched])}
        today = (self.scope.now - self.scope.grace).astimezone(EASTERN).date()
        for cik in watched:
            issuer = issuers.get(cik, {})
            filings = list(history.get(cik, {}).values())
            found = lateness(filings, issuer.get("category"), issuer.get("fiscal_year_end"), today)
            self.report.add(self._late_finding(cik, issuer, late) for late in found)

    def _late_finding(self, cik: str, issuer: dict, late: Lateness) -> Finding:
        name = issuer.get("name") or f"CIK {cik}"
        due = late.deadline.due
        filing = _plain(late.filing) if late.filing else None
        if late.kind == "filed-late":
            entity = late.filing["accession"]
            subject = (f"{name} filed 8-K {entity} on {late.filing['date_filed']} for an event "
                       f"on {late.period_end}, after its deadline {due}")
            start = _end_of(due)
            end = _end_of(late.filing["date_filed"]) if late.filing["date_filed"] else None
        else:  # the report was due in the window from its period's end to its deadline's
            entity = f"{cik}/{late.report}/{late.period_end.isoformat()}"
            start, end = _end_of(late.period_end), _end_of(due)
            if late.kind == "notice":
                subject = (f"{name} filed {late.filing['form_type']} "
                           f"{late.filing['accession']}: its {late.report} for the period "
                           f"ended {late.period_end} misses its deadline {due} (extended to "
                           f"{late.extended.due})")
            else:
                subject = (f"{name}'s {late.report} for the period ended about "
                           f"{late.period_end} was due {due} and is not listed")
        return Finding(
            type="filing.late", entity=entity, period=due.isoformat(), subject=subject,
            window_start=start, window_end=end,
            evidence={"cik": cik, "kind": late.kind, "report": late.report,
                      "period_end": late.period_end.isoformat(),
                      "deadline": late.deadline.as_dict(),
                      "extended": late.extended.as_dict() if late.extended else None,
                      "filer_category": issuer.get("category"),
                      "fiscal_year_end": issuer.get("fiscal_year_end"),
                      "filing": filing, "last_periodic": _plain(late.last) if late.last else None},
            form_type=late.report, cik=cik)

    # -- page.removed, page.altered ----------------------------------------------------------------

    def pages(self, removed: bool, altered: bool) -> None:
        """From the watchlist's ledger: the pages whose last answer is a removal (since its
        first 404), and every good capture unlike the good one before it."""
        events = self.rows("""
            SELECT url, event, status, digest, previous_digest, soft_error, via, filename,
                   "offset", observed_at
            FROM watch_events
            WHERE event IN ('new', 'changed', 'unchanged', 'removed', 'redirected')
            ORDER BY url, observed_at, recorded_at""")
        by_url: dict[str, list[dict]] = defaultdict(list)
        for e in events:
            by_url[e["url"]].append(e)
        changes: list[tuple[dict, dict | None, str]] = []
        for url, seen in by_url.items():
            if removed and seen[-1]["event"] == "removed":  # failures do not count, answers do
                good = [e for e in seen if e["event"] in _GOOD_EVENTS]
                last = good[-1] if good else None
                streak = len(seen) - 1  # the removal began with the first 404 of the last run
                while streak > 0 and seen[streak - 1]["event"] == "removed":
                    streak -= 1
                self.report.add([self._page_removed(url, last, seen[streak], seen[-1])])
            if altered:  # a good capture whose digest differs from the good one before it
                previous = None
                for e in seen:
                    if e["event"] not in _GOOD_EVENTS:
                        continue
                    before = previous["digest"] if previous else (
                        e["previous_digest"] if e["event"] == "changed" else None)
                    if before and e["digest"] and e["digest"] != before:
                        changes.append((e, previous, before))
                    previous = e
        if not changes:
            return
        where = self.locate({(e["url"], before) for e, _, before in changes})
        texts = self.texts({d for e, _, before in changes for d in (e["digest"], before)})
        for e, previous, before in changes:
            found = where.get((e["url"], before)) or {}
            self.report.add([self._page_altered(e, previous, before, found, texts)])

    def _page_removed(self, url: str, last: dict | None, first: dict, latest: dict) -> Finding:
        return Finding(
            type="page.removed", entity=url, period=_stamp(first["observed_at"]),
            subject=f"watched page {url} answered HTTP {first['status']} on "
                    f"{_stamp(first['observed_at'])}"
                    + (f" after a good capture on {_stamp(last['observed_at'])}" if last else ""),
            window_start=_utc(last["observed_at"]) if last else None,
            window_end=_utc(first["observed_at"]),
            evidence={"url": url, "via": first["via"],
                      "last_good": _event(last) if last else None, "removed": _event(first),
                      "latest": _event(latest)})

    def _page_altered(self, e: dict, previous: dict | None, digest: str, before: dict,
                      texts: dict[str, str | None]) -> Finding:
        diff = diff_summary(texts.get(digest), texts.get(e["digest"]), self.scope.diff_lines)
        start = previous["observed_at"] if previous else before.get("warc_date")
        return Finding(
            type="page.altered", entity=e["url"], period=_stamp(e["observed_at"]),
            subject=f"watched page {e['url']} changed on {_stamp(e['observed_at'])}: "
                    f"{_diff_words(diff)}",
            window_start=_utc(start), window_end=_utc(e["observed_at"]),
            evidence={"url": e["url"], "via": e["via"],
                      "before": {"digest": digest,
                                 "filename": before.get("filename"),
                                 "offset": before.get("offset"),
                                 "captured": _iso(before.get("warc_date"))},
                      "after": _event(e), "diff": diff})


# -- text differences ------------------------------------------------------------------------------


def diff_summary(old: str | None, new: str | None, lines: int = DIFF_LINES) -> dict:
    """Lines removed and added between two extracted texts, and the first `lines` changed lines
    (`-`/`+`, each cut at 200 characters). `extracted` is false when either text is unknown."""
    if old is None or new is None:
        return {"extracted": False, "lines_removed": None, "lines_added": None, "excerpt": []}
    a, b = old.splitlines(), new.splitlines()
    removed, added = Counter(a) - Counter(b), Counter(b) - Counter(a)
    if len(a) + len(b) <= DIFF_MAX_LINES:
        changed = (line for line in difflib.unified_diff(a, b, n=0, lineterm="")
                   if line[:1] in "+-" and not line.startswith(("+++", "---")))
    else:  # too long to align quickly: the changed lines in their order of appearance
        changed = _unmatched(a, removed, "-") + _unmatched(b, added, "+")
    excerpt = []
    for line in changed:
        if len(excerpt) >= lines:
            break
        excerpt.append(line if len(line) <= 200 else line[:199] + "…")
    return {"extracted": True, "lines_removed": sum(removed.values()),
            "lines_added": sum(added.values()), "excerpt": excerpt}


def _unmatched(lines: list[str], counts: Counter, sign: str) -> list[str]:
    left, out = dict(counts), []
    for line in lines:
        if left.get(line):
            left[line] -= 1
            out.append(sign + line)
    return out


def _diff_words(diff: dict) -> str:
    if not diff["extracted"]:
        return "payload digest differs (text not extracted)"
    if not diff["lines_removed"] and not diff["lines_added"]:
        return "payload digest differs, same extracted text"
    return f"{diff['lines_removed']} lines removed, {diff['lines_added']} added"


# -- small helpers ---------------------------------------------------------------------------------


def _removal(captures: list[dict]) -> tuple[dict, dict, dict] | None:
    """(last good, first gone after it, latest) when the latest conclusive capture is gone."""
    if not captures[-1]["gone"]:
        return None
    good = [i for i, c in enumerate(captures) if c["good"]]
    if not good:
        return None
    after = captures[good[-1] + 1:]
    return captures[good[-1]], after[0], captures[-1]


def _listing_file(url: str) -> bool:
    return url.split("?", 1)[0].rsplit("/", 1)[-1] in _LISTING_FILES


def _accession_in(url: str) -> str | None:
    parts = url.split("?", 1)[0].split("/")
    if "data" in parts:
        at = parts.index("data")
        folder = parts[at + 2] if len(parts) > at + 2 else ""
        if len(folder) == 18 and folder.isdigit():
            return f"{folder[:10]}-{folder[10:12]}-{folder[12:]}"
    return None


def _folder_cik(url: str) -> str | None:
    parts = url.split("?", 1)[0].split("/")
    if "data" in parts and len(parts) > parts.index("data") + 1:
        cik = parts[parts.index("data") + 1]
        return cik.zfill(10) if cik.isdigit() and len(cik) <= 10 else None
    return None


def _where(capture: dict) -> dict:
    return {"digest": capture["digest"], "status": capture["status"],
            "soft_error": capture["soft_error"], "filename": capture["filename"],
            "offset": capture["offset"], "captured": _iso(capture["warc_date"])}


def _event(e: dict) -> dict:
    return {"event": e["event"], "status": e["status"], "digest": e["digest"],
            "soft_error": e["soft_error"], "filename": e["filename"], "offset": e["offset"],
            "observed": _iso(e["observed_at"])}


def _plain(row: dict) -> dict:
    """A row as JSON-able values (dates and times as ISO 8601)."""
    return {k: _iso(v) if isinstance(v, date) else (list(v) if isinstance(v, tuple) else v)
            for k, v in row.items()}


def _iso(value: date | datetime | None) -> str | None:
    """A date as `2025-01-10`, a time as `2025-01-10T21:07:30Z` (`.235000Z` when it has a
    fraction of a second); `_sql_iso` writes the same in SQL."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value.isoformat() if isinstance(value, date) else value


def _sql_iso(column: str) -> str:
    return (f"CASE WHEN epoch_us({column}) % 1000000 = 0 "
            f"THEN strftime({column}, '%Y-%m-%dT%H:%M:%SZ') "
            f"ELSE strftime({column}, '%Y-%m-%dT%H:%M:%S.%fZ') END")


def _stamp(moment: datetime) -> str:
    """A capture time as it appears in keys: `2025-01-10T16:29:40Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _utc(moment: datetime | None) -> datetime | None:
    return moment.astimezone(UTC) if moment is not None else None


def _end_of(day: date) -> datetime:
    """The end of an EDGAR business day (midnight, New York time), in UTC."""
    return datetime.combine(day + timedelta(days=1), clock(), EASTERN).astimezone(UTC)


def _timestamp(moment: datetime) -> str:
    return f"TIMESTAMPTZ '{moment.astimezone(UTC).isoformat()}'"


def _form(text: str) -> str:
    return " ".join(str(text).split()).upper()


def _cik10(cik: str | int) -> str:
    text = str(cik).strip()
    if not (text.isascii() and text.isdigit() and 0 < len(text) <= 10):
        raise ValueError(f"CIK {cik!r} is not a number of up to 10 digits")
    return text.zfill(10)
