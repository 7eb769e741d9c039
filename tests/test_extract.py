"""`salvage extract`, `query` and `search` end to end: real EDGAR files served from a local
mirror in EDGAR's URL layout, captured into WARCs, extracted into Parquet, queried with DuckDB."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import salvage as run_salvage

from archive.capture import Capturer, CaptureSettings
from archive.home import Home
from extract.extractors import REGISTRY, Extractor
from extract.run import extract_home
from flows.mirror import Mirror
from storage.query import query
from storage.search import SearchIndex

ROOT = Path(__file__).resolve().parent.parent
EDGAR = ROOT / "tests" / "fixtures" / "edgar"
SITE = {
    "Archives/edgar/data/1376139/000110465925002604/0001104659-25-002604.txt":
        EDGAR / "submissions" / "0001104659-25-002604.txt",
    "Archives/edgar/data/1127602/000112760225001055/0001127602-25-001055.txt":
        EDGAR / "submissions" / "0001127602-25-001055.txt",
    "Archives/edgar/data/320193/000119312519292676/aapl-8k-20191115.txt":
        EDGAR / "submissions" / "aapl-8k-20191115.txt",
    "Archives/edgar/daily-index/2018/QTR4/master.20181231.idx":
        EDGAR / "index" / "master.20181231.idx",
    "submissions/CIK0000320193.json": EDGAR / "api" / "CIK0000320193.json",
    "pages/BuckleInc.8-K.html": ROOT / "samples" / "site" / "pages" / "BuckleInc.8-K.html",
}
GARBAGE = "Archives/edgar/data/1/000000000025000001/0000000000-25-000001.txt"
NOISE = "Archives/edgar/data/2/000000000025000002/0000000000-25-000002.txt"
BAD = (GARBAGE, NOISE)
SETTINGS = CaptureSettings(user_agent="Salvage tests test@example.com", backoff=0.01, retries=0,
                           default_rate=None)


def _site(folder: Path) -> Path:
    for rel, source in SITE.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, folder / rel)
    whole = (EDGAR / "submissions" / "0001127602-25-001055.txt").read_bytes()
    (folder / GARBAGE).parent.mkdir(parents=True, exist_ok=True)
    (folder / GARBAGE).write_bytes(whole[: len(whole) // 2])  # cut inside a document
    (folder / NOISE).parent.mkdir(parents=True, exist_ok=True)
    (folder / NOISE).write_bytes(bytes(range(256)) * 8)  # not a submission at all
    return folder


def _capture(home: Home, mirror: Mirror, paths) -> None:
    with Capturer(home, SETTINGS) as capturer:
        results = capturer.capture_urls([f"{mirror.url}/{p}" for p in paths])
    assert all(r.ok for r in results), [r.error for r in results]


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    """A home holding the site captured twice (the second time as revisits), extracted once."""
    base = tmp_path_factory.mktemp("extract")
    home = Home(base / "home").ensure()
    with Mirror(_site(base / "site")) as mirror:
        _capture(home, mirror, [*SITE, *BAD])
        report = extract_home(home)
        _capture(home, mirror, [*SITE, *BAD])
        mirror_url = mirror.url
    return home, report, mirror_url


def test_extract_fills_filings_documents_issuers_and_expected_filings(extracted):
    home, report, _ = extracted
    assert report.extracted == len(SITE) and report.unreadable == []
    assert len(report.quarantined) == len(BAD)
    filings = query(home.catalog, "SELECT accession, form_type, declared_documents, "
                    "documents_found FROM filings ORDER BY accession").to_pylist()
    assert [f["accession"] for f in filings] == [
        "0001104659-25-002604", "0001127602-25-001055", "0001193125-19-292676"]
    assert all(f["declared_documents"] == f["documents_found"] for f in filings)
    docs = query(home.catalog, "SELECT count(*) FROM documents WHERE accession IS NOT NULL")
    assert docs.column(0)[0].as_py() == sum(f["documents_found"] for f in filings)
    [apple] = query(home.catalog, "SELECT * FROM issuers").to_pylist()
    assert apple["cik"] == "0000320193" and "AAPL" in apple["tickers"]
    kinds = query(home.catalog, "SELECT index_kind, count(*) AS n FROM expected_filings "
                  "GROUP BY 1 ORDER BY 1").to_pylist()
    assert {k["index_kind"] for k in kinds} == {"master-idx", "submissions-json"}
    assert report.follow and report.follow[0].endswith("CIK0000320193-submissions-001.json")


def test_filers_keep_their_roles(extracted):
    home, _, _ = extracted
    rows = query(home.catalog, "SELECT role, cik FROM filing_filers WHERE accession = "
                 "'0001104659-25-002604' ORDER BY role, cik").to_pylist()
    assert {"role": "filed-by", "cik": "0001034563"} in rows
    assert {"role": "subject-company", "cik": "0001376139"} in rows


def test_truncated_and_garbage_submissions_are_quarantined_and_the_run_goes_on(extracted):
    home, report, _ = extracted
    kinds = {q["url"].rsplit("/", 1)[-1]: q["error_type"] for q in report.quarantined}
    assert kinds == {GARBAGE.rsplit("/", 1)[-1]: "TruncatedSubmission",
                     NOISE.rsplit("/", 1)[-1]: "MalformedSubmission"}
    rows = query(home.catalog, "SELECT * FROM quarantine ORDER BY error_type").to_pylist()
    assert [r["error_type"] for r in rows] == ["MalformedSubmission", "TruncatedSubmission"]
    for row in rows:  # the reason, and where the untouched bytes are in the archive
        assert row["reason"] and row["filename"].startswith("warcs/") and row["offset"] >= 0
        stored = salvage("--home", str(home.root), "get", row["source_url"])
        assert stored.returncode == 0 and len(stored.stdout) > 0
    ledger = query(home.catalog, "SELECT status, count(*) AS n FROM extractions GROUP BY 1 "
                   "ORDER BY 1").to_pylist()
    assert ledger == [{"status": "ok", "n": len(SITE)}, {"status": "quarantined", "n": len(BAD)}]


def test_the_same_bytes_are_never_parsed_twice(extracted):
    home, _, _ = extracted
    again = extract_home(home)  # the recapture made revisits: nothing new to read
    assert again.extracted == 0 and again.already == len(SITE) + len(BAD)


def test_search_finds_filing_text_and_pages(extracted):
    home, _, _ = extracted
    index = SearchIndex(home.root / "search")
    [hit] = index.search('"Icahn Enterprises Holdings"', form="SC TO-T/A", limit=1)
    assert hit.accession == "0001104659-25-002604" and "[" in hit.snippet
    pages = index.search("Buckle")
    assert any(h.url and h.url.endswith("BuckleInc.8-K.html") for h in pages)


def salvage(*args: str):
    return run_salvage(*args, text=False)


def test_cli_query_formats_and_as_of(extracted, tmp_path):
    home, _, _ = extracted
    sql = "SELECT accession, filed_as_of, filers FROM filings ORDER BY accession"
    as_json = salvage("--home", str(home.root), "query", sql, "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    rows = json.loads(as_json.stdout)
    assert rows[0]["accession"] == "0001104659-25-002604" and rows[0]["filed_as_of"] == "2025-01-10"
    as_csv = salvage("--home", str(home.root), "query", sql, "--format", "csv")
    assert as_csv.stdout.decode().splitlines()[0] == '"accession","filed_as_of","filers"'
    parquet = salvage("--home", str(home.root), "query", sql, "--format", "parquet")
    (tmp_path / "x.parquet").write_bytes(parquet.stdout)
    assert pq.read_table(tmp_path / "x.parquet").num_rows == 3
    before = salvage("--home", str(home.root), "query", "SELECT count(*) AS n FROM filings",
                     "--format", "json", "--as-of", "2000-01-01")
    assert json.loads(before.stdout) == [{"n": 0}]
    refused = salvage("--home", str(home.root), "query", "COPY filings TO 'x.csv'")
    assert refused.returncode == 1 and b"read-only" in refused.stderr


def test_cli_search_json(extracted):
    home, _, _ = extracted
    found = salvage("--home", str(home.root), "search", "tender offer", "--cik", "1376139",
                    "--json", "--limit", "3")
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)
    assert hits and all(h["accession"] == "0001104659-25-002604" for h in hits)
    assert {"score", "snippet", "document", "url"} <= set(hits[0])


def test_extract_all_redoes_everything_and_current_views_stay_one_row_per_key(extracted):
    home, _, _ = extracted
    before = query(home.catalog, "SELECT count(*) FROM documents").column(0)[0].as_py()
    redo = extract_home(home, redo_all=True)
    assert redo.extracted == len(SITE) and len(redo.quarantined) == len(BAD)
    assert query(home.catalog, "SELECT count(*) FROM documents").column(0)[0].as_py() == before
    history = query(home.catalog, "SELECT count(*) FROM documents_history").column(0)[0]
    assert history.as_py() == 2 * before


def test_a_new_extractor_version_redoes_only_its_own_payloads(extracted):
    home, _, _ = extracted
    page = REGISTRY["page"]
    REGISTRY["page"] = Extractor(page.name, page.version + 1, page.run)
    try:
        redo = extract_home(home)
    finally:
        REGISTRY["page"] = page
    assert redo.extracted == 1 and redo.rows == {"documents": 1}  # the Buckle page alone
    [method] = query(home.catalog, "SELECT DISTINCT extractor FROM documents "
                     "WHERE accession IS NULL").column(0).to_pylist()
    assert method == f"{page.name}/{page.version + 1}"  # the current row is the newest one


def _edgar_url(path: Path) -> str:
    """Where EDGAR serves a fixture of this kind."""
    folder, name = path.parent.name, path.name
    if folder == "index":
        return f"https://www.sec.gov/Archives/edgar/daily-index/2020/QTR1/{name}"
    if folder == "api" and name.startswith("CIK"):
        return f"https://data.sec.gov/submissions/{name}"
    return f"https://www.sec.gov/Archives/edgar/data/1213900/000121390024004875/{name}"


@pytest.mark.parametrize("path", sorted(p for p in EDGAR.rglob("*") if p.is_file()),
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_corpus_edgar_file_extracts(path):
    import mimetypes
    from datetime import UTC, datetime

    from extract.extractors import Source, kind_of, sniff

    url = _edgar_url(path)
    mime = mimetypes.guess_type(path.name)[0]
    data = path.read_bytes()
    kind = sniff(kind_of(url, mime), data)
    src = Source(url, "sha256:x", "warcs/x.warc.gz", 0, len(data), datetime.now(UTC), mime)
    out = REGISTRY[kind].run(data, src)
    rows = sum(len(r) for r in out.tables.values())
    expected = {"submissions": "submission", "index": "idx", "api": "json",
                "pages": "page", "html": "page"}[path.parent.name]
    assert expected in kind
    assert rows > 0 or path.name == "empty-form.idx"


def test_reindex_search_rebuilds_the_index_from_the_catalog(extracted):
    home, _, _ = extracted
    before = [h.key for h in SearchIndex(home.root / "search").search("tender offer", limit=50)]
    rebuilt = salvage("--home", str(home.root), "reindex", "--search")
    assert rebuilt.returncode == 0, rebuilt.stderr
    with_text = query(home.catalog, "SELECT count(*) FROM documents WHERE text IS NOT NULL")
    assert f"{with_text.column(0)[0].as_py()} documents".encode() in rebuilt.stderr
    index = SearchIndex(home.root / "search")
    assert len(index) == with_text.column(0)[0].as_py()
    assert [h.key for h in index.search("tender offer", limit=50)] == before


def test_cli_compact_keeps_every_row(extracted):
    home, _, _ = extracted
    sql = ("SELECT * EXCLUDE (text) FROM documents_history "
           "ORDER BY source_digest, ordinal, recorded_at")
    before = query(home.catalog, sql)
    done = salvage("--home", str(home.root), "compact", "--json")
    assert done.returncode == 0, done.stderr
    merged = {r["table"]: r for r in json.loads(done.stdout)}
    assert merged["documents"]["replaced"] >= 2 and "captures" not in merged
    assert query(home.catalog, sql).equals(before)
    assert salvage("--home", str(home.root), "verify").returncode == 0


def test_cli_query_prints_nanosecond_timestamps_as_text(extracted):
    home, _, _ = extracted
    done = salvage("--home", str(home.root), "query",
                   "SELECT make_timestamp_ns(1340285405123456789) AS t", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [{"t": "2012-06-21 13:30:05.123456789"}]
