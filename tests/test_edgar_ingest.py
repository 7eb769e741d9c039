"""EDGAR discovery and capture against the local EDGAR (samples/site served by flows.mirror):
daily indexes, submissions JSON, the Atom feed, throttling, removals, re-runs and resumed runs."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pyarrow.compute as pc
import pytest
import requests

from archive.capture import Capturer, CaptureSettings
from archive.edgar import (
    BadCik,
    DiscoveryFormatError,
    EdgarSource,
    SourceUnavailable,
    calendar_days,
    captured_accessions,
    discover_ciks,
    discover_day,
    discover_feed,
    ingest_edgar,
    read_feed,
)
from archive.home import Home
from archive.lookup import Index
from archive.payload import stream_payload
from flows.mirror import EDGAR_ROUTES, THROTTLE_PAGE, Mirror
from storage.tables import read_table

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "samples" / "site"
SETTINGS = CaptureSettings(user_agent="Salvage tests test@example.com", backoff=0.01, retries=2,
                           default_rate=None)
BACKFILL = calendar_days(date(2024, 12, 27), date(2025, 1, 10))
SC_TO, FORM_4, BANCORP_8K = "0001104659-25-002604", "0001127602-25-001055", "0000943374-24-000509"
DAY_ACCESSIONS = {BANCORP_8K, SC_TO, FORM_4}
BANCORP_TXT = "/Archives/edgar/data/1847360/000094337424000509/0000943374-24-000509.txt"


@pytest.fixture
def mirror():
    with Mirror(SITE) as running:
        yield running


@pytest.fixture
def source(mirror) -> EdgarSource:
    return EdgarSource(archives=mirror.url, data=mirror.url)


def _captures(home: Home) -> list[dict]:
    return read_table(home.catalog, "captures").select(
        ["url", "record_type", "status", "soft_error"]).to_pylist()


def _paths(rows: list[dict], mirror: Mirror) -> list[str]:
    return [r["url"].removeprefix(mirror.url) for r in rows]


def test_a_backfill_captures_each_filing_once_and_counts_days_without_an_index_as_empty(
        home, mirror, source):
    report = ingest_edgar(home, SETTINGS, source, BACKFILL)
    assert report.ok, report.as_dict()
    assert report.days == 15 and len(report.empty_days) == 13
    assert date(2024, 12, 27) not in report.empty_days
    assert report.discovered == 3 and report.filings.filings == 3
    assert sorted(report.filings.captured) == sorted(DAY_ACCESSIONS)
    assert captured_accessions(home) == DAY_ACCESSIONS
    paths = _paths([r for r in _captures(home) if r["status"] == 200], mirror)
    txts = [p for p in paths if p.endswith(".txt")]
    assert len(txts) == 3  # the SC TO-T/A, listed under two CIKs, is fetched once
    assert f"/Archives/edgar/data/1034563/000110465925002604/{SC_TO}.txt" in txts
    for document in ("000110465925002604/tm252901d1_sctota.htm",  # Seq 1, Type SC TO-T/A
                     "000112760225001055/form4.xml", "000094337424000509/form8k_122024.htm"):
        assert any(p.endswith(document) for p in paths), document
    assert not any(p.endswith(("_ex99-a5c.htm", "doc1.htm", ".xsd")) for p in paths)
    assert report.filings.documents == 3 and report.filings.failures == []


def test_a_rerun_adds_nothing_but_revisits_of_the_indexes(home, mirror, source):
    ingest_edgar(home, SETTINGS, source, BACKFILL)
    before = len(_captures(home))
    again = ingest_edgar(home, SETTINGS, source, BACKFILL)
    new = _captures(home)[before:]
    assert again.ok and again.skipped == 3 and again.filings.filings == 0
    assert again.filings.requests == 0
    assert not any("/Archives/edgar/data/" in r["url"] for r in new)
    indexes = [r for r in new if r["status"] != 404]
    assert len(indexes) == 2 and {r["record_type"] for r in indexes} == {"revisit"}
    assert again.discovery_revisits == 2
    assert captured_accessions(home) == DAY_ACCESSIONS


@pytest.mark.parametrize("status", [200, 403])
def test_a_throttled_filing_is_retried_never_counted_and_captured_by_a_later_run(
        home, mirror, source, status):
    mirror.state.throttled.add(BANCORP_TXT)
    mirror.state.throttle_status = status
    throttled = ingest_edgar(home, SETTINGS, source, [date(2024, 12, 27)])
    assert mirror.state.hits[BANCORP_TXT] == SETTINGS.retries + 1
    [failure] = throttled.filings.failures
    assert failure.accession == BANCORP_8K and failure.kind == "throttled"
    assert "10 minutes" in failure.reason and throttled.stopped and not throttled.ok
    assert throttled.filings.filings == 0 and captured_accessions(home) == set()
    kept = [r for r in _captures(home) if r["url"].endswith(BANCORP_TXT)]
    assert {(r["status"], r["soft_error"]) for r in kept} == {(status, "edgar-rate-limit")}

    mirror.state.throttled.clear()
    later = ingest_edgar(home, SETTINGS, source, [date(2024, 12, 27)])
    assert later.ok and later.filings.captured == [BANCORP_8K]
    assert captured_accessions(home) == {BANCORP_8K}


def test_a_throttle_stops_the_run_and_leaves_the_rest_for_the_next(home, mirror, source):
    mirror.state.throttled.add(f"/Archives/edgar/data/1034563/000110465925002604/{SC_TO}-index.htm")
    mirror.state.throttle_status = 403
    report = ingest_edgar(home, SETTINGS, source, [date(2025, 1, 10)])
    kinds = {f.accession: f.kind for f in report.filings.failures}
    assert kinds == {SC_TO: "throttled", FORM_4: "not-attempted"}
    assert report.stopped and captured_accessions(home) == set()
    mirror.state.throttled.clear()
    assert ingest_edgar(home, SETTINGS, source, [date(2025, 1, 10)]).filings.filings == 2


def test_a_removed_filing_is_reported_and_the_others_are_captured(home, mirror, source):
    removed = f"/Archives/edgar/data/1750/000112760225001055/{FORM_4}.txt"
    mirror.state.removed.add(removed)
    report = ingest_edgar(home, SETTINGS, source, [date(2025, 1, 10)])
    [failure] = report.filings.failures
    assert (failure.accession, failure.kind) == (FORM_4, "missing")
    assert failure.url.endswith(removed) and "404" in failure.reason
    assert report.filings.captured == [SC_TO] and captured_accessions(home) == {SC_TO}


def test_a_daily_index_that_keeps_failing_is_a_typed_error(home, mirror, source):
    index = "/Archives/edgar/daily-index/2025/QTR1/master.20250110.idx"
    mirror.state.failing.add(index)
    with Capturer(home, SETTINGS, sleep=lambda seconds: None) as capturer:
        found = discover_day(capturer, source, date(2025, 1, 10))
    [error] = found.errors
    assert isinstance(error, SourceUnavailable) and "503" in error.reason
    assert found.targets == [] and found.missing == []
    assert mirror.state.hits[index] == SETTINGS.retries + 1


def test_submissions_json_discovery_follows_every_older_page_and_merges_ciks(
        home, mirror, source):
    with Capturer(home, SETTINGS) as capturer:
        found = discover_ciks(capturer, source, ["320193", "1376139", "0001034563"])
        recent = discover_ciks(capturer, source, ["320193"], forms=["8-k"],
                               since=date(2020, 1, 1))
    assert found.errors == []
    apple = json.loads((SITE / "submissions/CIK0000320193.json").read_text())
    older = json.loads((SITE / "submissions/CIK0000320193-submissions-001.json").read_text())
    expected = set(apple["filings"]["recent"]["accessionNumber"]) | set(older["accessionNumber"])
    by_accession = {t.accession: t for t in found.targets}
    assert expected | {SC_TO} == set(by_accession)
    assert by_accession[SC_TO].ciks == ("0001034563", "0001376139")
    oldest = by_accession[older["accessionNumber"][-1]]
    assert oldest.ciks == ("0000320193",) and oldest.company == "Apple Inc."
    assert oldest.found_in[0].endswith("/submissions/CIK0000320193-submissions-001.json")
    assert len(found.documents) == 4 and found.listed == len(expected) + 2
    assert recent.targets and all(t.form == "8-K" and t.filed >= date(2020, 1, 1)
                                  for t in recent.targets)
    assert recent.revisits == 2  # the same JSON and page again, by conditional GET


def test_the_atom_feed_gives_each_filing_once_with_all_its_filers(home, mirror, source):
    with Capturer(home, SETTINGS) as capturer:
        found = discover_feed(capturer, source)
        form4 = discover_feed(capturer, source, forms=["4"])
    assert found.errors == [] and found.listed == 6
    by_accession = {t.accession: t for t in found.targets}
    assert set(by_accession) == DAY_ACCESSIONS | {"0001213900-25-032135"}
    assert by_accession[SC_TO].ciks == ("0001034563", "0001376139")
    assert by_accession[SC_TO].form == "SC TO-T/A"
    assert by_accession[SC_TO].filed == date(2025, 1, 10)
    assert [t.accession for t in form4.targets] == [FORM_4]
    report = ingest_edgar(home, SETTINGS, source, feed=True, forms=["8-K"])
    assert sorted(report.filings.captured) == [BANCORP_8K, "0001213900-25-032135"]


def test_a_malformed_feed_is_a_typed_error_and_its_bytes_are_archived(home, tmp_path):
    broken = b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><entry><title>8-K'
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "feed.atom").write_bytes(broken)
    routes = dict.fromkeys(EDGAR_ROUTES, "feed.atom")
    with Mirror(tmp_path / "site", routes=routes) as mirror, Capturer(home, SETTINGS) as capturer:
        source = EdgarSource(mirror.url, mirror.url)
        found = discover_feed(capturer, source)
    [error] = found.errors
    assert isinstance(error, DiscoveryFormatError) and "not well-formed XML" in error.reason
    assert error.where is not None and error.where[0] in error.reason
    with Index(home) as index:
        line = index.closest(source.feed())
        assert line is not None and b"".join(stream_payload(home, line)) == broken


RUN_CUT_SHORT = """
import os, sys
from datetime import date
from pathlib import Path
from archive.capture import Capturer, CaptureSettings
from archive.edgar import EdgarSource, capture_filings, discover_day
from archive.home import Home
settings = CaptureSettings(user_agent="Salvage tests test@example.com", default_rate=None)
source = EdgarSource(sys.argv[2], sys.argv[2])
capturer = Capturer(Home(Path(sys.argv[1])), settings)
found = discover_day(capturer, source, date(2025, 1, 10))
done = capture_filings(capturer, source, found.targets[:1])
print(done.captured[0], flush=True)
os._exit(9)  # killed: the WARC is left open, never indexed
"""


def test_a_run_killed_half_way_is_finished_by_the_next(home, mirror, source):
    killed = subprocess.run([sys.executable, "-c", RUN_CUT_SHORT, str(home.root), mirror.url],
                            capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert killed.returncode == 9, killed.stderr
    first = killed.stdout.strip()
    assert list(home.warcs.glob("*.open")) and captured_accessions(home) == set()

    resumed = ingest_edgar(home, SETTINGS, source, [date(2025, 1, 10)])
    assert not list(home.warcs.glob("*.open"))
    assert resumed.ok and resumed.skipped == 1
    assert resumed.filings.captured == sorted({SC_TO, FORM_4} - {first})
    assert captured_accessions(home) == {SC_TO, FORM_4}
    txts = read_table(home.catalog, "captures").filter(
        pc.match_substring(pc.field("url"), ".txt"))
    assert txts.num_rows == 2  # nothing fetched twice


def test_bad_input_is_refused_with_a_typed_error(home, source):
    with pytest.raises(BadCik, match="not a number of up to 10 digits"):
        ingest_edgar(home, SETTINGS, source, [date(2025, 1, 10)], ciks=["AAPL"])
    bomb = b'<?xml version="1.0"?><!DOCTYPE f [<!ENTITY a "aaaa">]><feed>&a;</feed>'
    with pytest.raises(DiscoveryFormatError, match="declares entities"):
        read_feed(bomb)
    with pytest.raises(DiscoveryFormatError, match="not an Atom feed"):
        read_feed(b"<html><body>Latest Filings</body></html>")
    targets, problems = read_feed(
        b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>4 - X (0000000001) (Issuer)'
        b'</title><link href="https://www.sec.gov/Archives/edgar/data/1/"/></entry></feed>')
    assert targets == [] and problems == ["entry 1 ('4 - X (0000000001) (Issuer)') names no "
                                          "filing index link"]


def test_the_mirror_answers_like_edgar(mirror):
    url = f"{mirror.url}/Archives/edgar/daily-index/2025/QTR1/master.20250110.idx"
    first = requests.get(url, timeout=10)
    assert first.status_code == 200 and first.headers["Content-Type"] == "text/plain"
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    for headers in ({"If-None-Match": etag}, {"If-None-Match": f'"other", W/{etag}'},
                    {"If-Modified-Since": modified}):
        answer = requests.get(url, headers=headers, timeout=10)
        assert answer.status_code == 304 and answer.content == b"", headers
        assert answer.headers["ETag"] == etag
    stale = {"If-None-Match": '"other"', "If-Modified-Since": modified}  # the ETag decides
    assert requests.get(url, headers=stale, timeout=10).status_code == 200
    old = {"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}
    assert requests.get(url, headers=old, timeout=10).content == first.content
    feed = requests.get(EdgarSource(mirror.url).feed(), timeout=10)
    assert feed.headers["Content-Type"] == "application/atom+xml"
    assert feed.content == (SITE / "cgi-bin/browse-edgar-getcurrent.atom").read_bytes()
    path = "/Archives/edgar/daily-index/2025/QTR1/master.20250110.idx"
    mirror.state.delayed[path] = 0.2
    mirror.state.throttled.add(path)
    mirror.state.throttle_statuses[path] = 403
    throttled = requests.get(url, timeout=10)
    assert throttled.status_code == 403 and throttled.content == THROTTLE_PAGE
    assert b"Request Rate Threshold Exceeded" in THROTTLE_PAGE
