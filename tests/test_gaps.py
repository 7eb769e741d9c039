"""Gap detection end to end: real filings captured from the local EDGAR (samples/site, copied so a
test may change it), extracted by the real extractors, then read back as findings."""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from archive.capture import Capturer, CaptureSettings
from archive.drop import scan_drop
from archive.edgar import EdgarSource, ingest_edgar
from archive.watch import capture_watchlist
from extract.run import extract_home
from flows.mirror import Mirror
from storage.deadlines import (
    add_business_days,
    federal_holidays,
    filer_class,
    next_business_day,
    report_deadline,
)
from storage.gaps import detect_gaps, diff_summary
from storage.query import query

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "samples" / "site"
SETTINGS = CaptureSettings(user_agent="Salvage tests test@example.com", backoff=0.01, retries=1,
                           default_rate=None)
SC_TO, FORM_4, BANCORP_8K = "0001104659-25-002604", "0001127602-25-001055", "0000943374-24-000509"
DAY = date(2025, 1, 10)
FORM_4_TXT = f"/Archives/edgar/data/1750/000112760225001055/{FORM_4}.txt"
SC_TO_TXT = f"/Archives/edgar/data/1034563/000110465925002604/{SC_TO}.txt"
BANCORP_DOC = "/Archives/edgar/data/1847360/000094337424000509/form8k_122024.htm"
EXHIBIT = "tm252901d1_ex99-a5c.htm"
LATER = datetime(2025, 1, 20, tzinfo=UTC)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    copy = tmp_path / "site"
    shutil.copytree(SITE, copy)
    return copy


@pytest.fixture
def mirror(site: Path):
    with Mirror(site) as running:
        yield running


@pytest.fixture
def source(mirror: Mirror) -> EdgarSource:
    return EdgarSource(archives=mirror.url, data=mirror.url)


def ingest(home, source: EdgarSource, *days: date) -> None:
    ingest_edgar(home, SETTINGS, source, list(days))
    extract_home(home)


def recapture(home, *urls: str) -> None:
    with Capturer(home, SETTINGS) as capturer:
        for url in urls:
            capturer.capture_url(url)
    extract_home(home)


def by_type(report, kind: str) -> dict[str, object]:
    return {f.entity: f for f in report.findings if f.type == kind}


def keys(report) -> list[str]:
    return [f.key for f in report.findings]


# -- filing.missing, the grace period --------------------------------------------------------------


def test_a_filing_removed_before_capture_is_missing_with_where_it_was_listed(home, mirror,
                                                                              source):
    mirror.state.removed.add(FORM_4_TXT)
    ingest(home, source, DAY)
    report = detect_gaps(home, now=LATER)
    missing = by_type(report, "filing.missing")
    assert set(missing) == {FORM_4}  # the SC TO-T/A and its two filers are archived
    finding = missing[FORM_4]
    assert finding.key == f"gap:filing.missing:{FORM_4}:2025-01-10"
    assert finding.form_type == "4" and finding.cik == "0000001750"
    evidence = finding.evidence
    assert evidence["ciks"] == ["0000001750", "0001806647"]
    assert evidence["accepted"] == "2025-01-10T21:07:30Z"  # 16:07:30 New York time
    kinds = {row["index_kind"] for row in evidence["listed"]}
    assert kinds == {"master-idx", "filing-index-htm"}
    daily = next(row for row in evidence["listed"] if row["index_kind"] == "master-idx")
    assert daily["source_url"].endswith("/daily-index/2025/QTR1/master.20250110.idx")
    assert (home.root / daily["filename"]).is_file() and daily["offset"] >= 0
    [attempt] = evidence["attempts"]
    assert (attempt["status"], attempt["soft_error"]) == (404, "s3-nosuchkey")
    assert finding.window_start == datetime(2025, 1, 10, 21, 7, 30, tzinfo=UTC)
    assert finding.window_end == finding.window_start + timedelta(days=1)  # + the grace
    json.dumps(evidence)  # evidence is JSON as it is
    assert detect_gaps(home, now=LATER).findings == report.findings  # a re-run: the same keys


def test_a_filing_listed_minutes_ago_is_pending_not_missing(home, mirror, source):
    mirror.state.removed.add(FORM_4_TXT)
    ingest(home, source, DAY)
    accepted = datetime(2025, 1, 10, 21, 7, 30, tzinfo=UTC)
    soon = detect_gaps(home, now=accepted + timedelta(minutes=20), checks=["filing.missing"])
    assert soon.findings == [] and soon.pending == 1
    impatient = detect_gaps(home, now=accepted + timedelta(minutes=20),
                            grace=timedelta(minutes=10), checks=["filing.missing"])
    assert [f.entity for f in impatient.findings] == [FORM_4] and impatient.pending == 0
    later = detect_gaps(home, now=accepted + timedelta(days=1, minutes=1),
                        checks=["filing.missing"])
    assert [f.entity for f in later.findings] == [FORM_4]
    scoped = detect_gaps(home, now=LATER, forms=["8-K"], checks=["filing.missing"])
    assert scoped.findings == []  # the ingestion only takes 8-Ks: a Form 4 is not expected


# -- filing.removed --------------------------------------------------------------------------------


def test_a_filing_removed_after_capture_and_recaptured_is_removed(home, mirror, source):
    ingest(home, source, DAY)
    assert detect_gaps(home, now=LATER).findings == []
    before = datetime.now(UTC)
    mirror.state.removed.add(SC_TO_TXT)
    recapture(home, mirror.url + SC_TO_TXT)
    report = detect_gaps(home, now=LATER)
    [finding] = report.findings  # not missing: the archive holds its good capture
    assert (finding.type, finding.entity) == ("filing.removed", SC_TO)
    assert (finding.cik, finding.form_type) == ("0001034563", "SC TO-T/A")
    assert finding.evidence["urls"] == [mirror.url + SC_TO_TXT]
    [gone] = finding.evidence["removed"]
    assert (gone["removed"]["status"], gone["removed"]["soft_error"]) == (404, "s3-nosuchkey")
    assert gone["last_good"]["status"] == 200 and gone["last_good"]["digest"]
    assert (home.root / gone["removed"]["filename"]).is_file()
    assert finding.window_start < finding.window_end
    assert finding.period == gone["removed"]["captured"][:19] + "Z"
    assert detect_gaps(home, now=LATER, as_of=before).findings == []  # as the catalog stood
    assert finding.key == f"gap:filing.removed:{finding.entity}:{finding.period}"
    recapture(home, mirror.url + SC_TO_TXT)  # still gone: the same gap, the same key
    assert keys(detect_gaps(home, now=LATER)) == [finding.key]
    mirror.state.removed.clear()
    recapture(home, mirror.url + SC_TO_TXT)  # back again: no longer removed
    assert detect_gaps(home, now=LATER, checks=["filing.removed"]).findings == []


# -- filing.altered --------------------------------------------------------------------------------


def test_a_document_changed_between_two_captures_is_altered_with_a_diff(home, site, mirror,
                                                                        source):
    ingest(home, source, date(2024, 12, 27))
    document = site / BANCORP_DOC.lstrip("/")
    document.write_text(document.read_text().replace("Departure of Directors",
                                                     "Resignation of Directors"))
    recapture(home, mirror.url + BANCORP_DOC)
    report = detect_gaps(home, now=LATER)
    [finding] = report.findings
    assert (finding.type, finding.entity) == ("filing.altered", BANCORP_8K)
    assert (finding.cik, finding.form_type) == ("0001847360", "8-K")
    [change] = finding.evidence["changes"]
    assert change["url"] == mirror.url + BANCORP_DOC
    assert change["before"]["digest"] != change["after"]["digest"]
    diff = change["diff"]
    assert diff["extracted"] and (diff["lines_removed"], diff["lines_added"]) == (1, 1)
    assert diff["excerpt"][0].startswith("-Item 5.02. | Departure of Directors")
    assert diff["excerpt"][1].startswith("+Item 5.02. | Resignation of Directors")
    assert "1 lines removed, 1 added" in finding.subject
    assert finding.period == change["after"]["captured"][:19] + "Z"
    recapture(home, mirror.url + BANCORP_DOC)  # unchanged since: a revisit, nothing new
    assert keys(detect_gaps(home, now=LATER)) == [finding.key]


# -- filing.incomplete -----------------------------------------------------------------------------


def test_an_exhibit_lost_at_the_source_makes_its_filing_incomplete(home, site, source):
    for folder in ("1034563", "1376139"):  # EDGAR lost the exhibit: its file and its <DOCUMENT>
        filing = site / f"Archives/edgar/data/{folder}/000110465925002604"
        (filing / EXHIBIT).unlink()
        txt = filing / f"{SC_TO}.txt"
        text = txt.read_text(encoding="latin-1")
        txt.write_text(re.sub(r"<DOCUMENT>\n<TYPE>EX-99.*?</DOCUMENT>\n", "", text, flags=re.S),
                       encoding="latin-1")
    ingest(home, source, date(2024, 12, 27), DAY)
    report = detect_gaps(home, now=LATER)
    assert set(by_type(report, "filing.incomplete")) == {SC_TO}  # not the 8-K (see below)
    finding = by_type(report, "filing.incomplete")[SC_TO]
    evidence = finding.evidence
    assert (evidence["declared_documents"], evidence["documents_found"]) == (2, 1)
    [lost] = evidence["not_archived"]
    assert (lost["document"], lost["type"], lost["seq"]) == (EXHIBIT, "EX-99.(A)(5)(C)", 2)
    assert lost["url"].endswith(f"/1034563/000110465925002604/{EXHIBIT}")
    assert "1 of 2 declared documents" in finding.subject and EXHIBIT in finding.subject
    assert finding.key == f"gap:filing.incomplete:{SC_TO}:2025-01-10"
    assert evidence["ciks"] == ["0001034563", "0001376139"]
    watched = detect_gaps(home, now=LATER, watched_ciks=[1376139], checks=["filing.incomplete"])
    assert [f.cik for f in watched.findings] == ["0001376139"]  # the watched filer of the two
    # the 8-K's header counts 13 documents and its .txt holds 12: EDGAR counts an XBRL
    # rendering it does not put in the file; every document its index page lists is there
    [bancorp] = query(home.catalog, "SELECT declared_documents, documents_found FROM filings "
                      f"WHERE accession = '{BANCORP_8K}'").to_pylist()
    assert (bancorp["declared_documents"], bancorp["documents_found"]) == (13, 12)


# -- paper -----------------------------------------------------------------------------------------


def test_a_paper_filing_awaits_a_scan_and_is_never_missing(home, site, source, tmp_path):
    paper = "9999999997-25-000123"
    index = site / "Archives/edgar/daily-index/2025/QTR1/master.20250110.idx"
    listing = f"1750|AAR CORP|10-K|20250110|edgar/data/1750/{paper}.txt\n"
    index.write_text(index.read_text() + listing)
    ingest(home, source, DAY)
    report = detect_gaps(home, now=LATER)
    assert paper not in by_type(report, "filing.missing") and report.findings == []
    [waiting] = report.paper
    assert (waiting.accession, waiting.ciks, waiting.form_type) == (paper, ("0000001750",), "10-K")
    assert waiting.date_filed == DAY and waiting.listed_in == ("master-idx",)
    assert not waiting.captured_online and json.dumps(waiting.as_dict())
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / f"{paper} annual report.pdf").write_bytes(b"%PDF-1.4\n% the scan of a paper 10-K\n")
    scan_drop(home, drop, settle_seconds=0)
    assert detect_gaps(home, now=LATER).paper == []  # a scan is tied to it now


# -- filing.late -----------------------------------------------------------------------------------


def _submissions(cik: int, name: str, category: str, filings: list[tuple]) -> dict:
    """A submissions JSON in data.sec.gov's layout: (form, period, filed, items) per filing."""
    columns = {k: [] for k in ("accessionNumber", "filingDate", "reportDate",
                               "acceptanceDateTime", "form", "items", "primaryDocument")}
    for n, (form, period, filed, items) in enumerate(filings, 1):
        columns["accessionNumber"].append(f"{cik:010d}-{filed[2:4]}-{n:06d}")
        columns["filingDate"].append(filed)
        columns["reportDate"].append(period)
        columns["acceptanceDateTime"].append(f"{filed}T16:30:00.000Z")
        columns["form"].append(form)
        columns["items"].append(items)
        columns["primaryDocument"].append(f"doc{n}.htm")
    return {"cik": str(cik), "entityType": "operating", "sic": "7372", "name": name,
            "tickers": [], "exchanges": [], "category": category, "fiscalYearEnd": "1231",
            "formerNames": [], "filings": {"recent": columns, "files": []}}


def test_a_watched_issuer_with_an_overdue_10q_and_an_nt_10k_is_late(home, site, source):
    smallco = _submissions(999001, "SMALLCO INC", "Non-accelerated filer<br>Smaller reporting "
                           "company", [
        ("10-Q", "2023-09-30", "2023-11-14", ""),
        ("NT 10-K", "2023-12-31", "2024-04-01", ""),
        ("10-K", "2023-12-31", "2024-04-12", ""),
        ("10-Q", "2024-09-30", "2024-11-14", ""),
        ("10-K", "2024-12-31", "2025-03-28", ""),
        ("8-K", "2025-02-03", "2025-02-12", "5.02"),   # due in 4 business days: Feb 7
        ("8-K", "2025-02-03", "2025-02-14", "7.01"),   # Regulation FD: no deadline
        ("8-K", "2025-02-14", "2025-02-21", "2.02"),   # Presidents' Day: due Feb 21, on time
    ])
    (site / "submissions/CIK0000999001.json").write_text(json.dumps(smallco))
    recapture(home, source.submissions(999001), source.submissions(320193))
    [category] = query(home.catalog, "SELECT category FROM issuers WHERE cik = "
                       "'0000999001'").column(0).to_pylist()
    assert category.startswith("Non-accelerated filer")

    report = detect_gaps(home, now=datetime(2025, 5, 20, 12, tzinfo=UTC),
                         watched_ciks=[999001, "320193"], checks=["filing.late"])
    late = by_type(report, "filing.late")
    assert set(late) == {"0000999001/10-Q/2025-03-31", "0000999001/10-K/2023-12-31",
                         "0000999001-25-000006", "0000320193/10-K/2023-09-30"}
    overdue = late["0000999001/10-Q/2025-03-31"]
    assert overdue.key == "gap:filing.late:0000999001/10-Q/2025-03-31:2025-05-15"
    assert overdue.evidence["deadline"]["days"] == 45  # a non-accelerated filer's 10-Q
    assert overdue.evidence["last_periodic"]["form_type"] == "10-K"
    notice = late["0000999001/10-K/2023-12-31"]
    assert notice.period == "2024-04-01"  # 90 days on is Saturday March 30: due Monday
    assert notice.evidence["deadline"]["rolled_to_business_day"]
    assert notice.evidence["extended"]["due"] == "2024-04-16"  # Rule 12b-25: 15 days more
    assert notice.evidence["filing"]["form_type"] == "NT 10-K"
    assert late["0000999001-25-000006"].period == "2025-02-07"
    apple = late["0000320193/10-K/2023-09-30"]  # Apple's own history ends in August 2023
    assert apple.period == "2023-11-29" and apple.evidence["deadline"]["days"] == 60
    assert apple.evidence["filer_category"] == "Large accelerated filer"

    on_the_day = detect_gaps(home, now=datetime(2025, 5, 16, 12, tzinfo=UTC),
                             watched_ciks=[999001], checks=["filing.late"])
    assert "0000999001/10-Q/2025-03-31" not in by_type(on_the_day, "filing.late")
    again = detect_gaps(home, now=datetime(2025, 5, 20, 12, tzinfo=UTC),
                        watched_ciks=[999001, "320193"], checks=["filing.late"])
    assert keys(again) == keys(report)


# -- page.removed, page.altered --------------------------------------------------------------------


def test_a_watched_page_removed_or_changed_is_a_page_gap(home, tmp_path):
    folder = tmp_path / "pages"
    folder.mkdir()
    (folder / "a.html").write_text("<html><title>A</title><body><p>Alpha notice</p></body></html>")
    (folder / "b.html").write_text("<html><title>B</title><body><p>Bravo notice</p>"
                                   "<p>Closing date March 3</p></body></html>")
    with Mirror(folder) as pages:
        urls = [f"{pages.url}/a.html", f"{pages.url}/b.html"]
        with Capturer(home, SETTINGS) as capturer:
            capture_watchlist(capturer, urls)
        extract_home(home)
        (folder / "b.html").write_text("<html><title>B</title><body><p>Bravo notice</p>"
                                       "<p>Closing date March 10</p></body></html>")
        pages.state.removed.add("/a.html")
        for _ in range(2):  # a's second 404 is the same removal
            with Capturer(home, SETTINGS) as capturer:
                capture_watchlist(capturer, urls)
        extract_home(home)
    report = detect_gaps(home, now=datetime.now(UTC))
    assert report.counts == {"page.removed": 1, "page.altered": 1}
    removed = by_type(report, "page.removed")[urls[0]]
    assert removed.evidence["removed"]["status"] == 404
    assert removed.evidence["last_good"]["event"] == "new"
    altered = by_type(report, "page.altered")[urls[1]]
    assert altered.evidence["diff"]["excerpt"] == ["-Closing date March 3",
                                                   "+Closing date March 10"]
    assert altered.evidence["before"]["digest"] != altered.evidence["after"]["digest"]
    assert (home.root / altered.evidence["before"]["filename"]).is_file()
    assert keys(detect_gaps(home, now=datetime.now(UTC))) == keys(report)


# -- the parts -------------------------------------------------------------------------------------


def test_deadlines_move_past_weekends_and_federal_holidays():
    assert date(2025, 1, 20) in federal_holidays(2025)  # Martin Luther King Jr. Day
    assert date(2021, 12, 31) in federal_holidays(2021)  # New Year's Day 2022, a Saturday
    assert next_business_day(date(2025, 7, 4)) == date(2025, 7, 7)
    assert add_business_days(date(2024, 11, 26), 4) == date(2024, 12, 3)  # Thanksgiving
    assert report_deadline("10-K", date(2024, 12, 31), "Large accelerated filer").due == \
        date(2025, 3, 3)  # 60 days is Saturday March 1
    assert report_deadline("10-Q", date(2025, 3, 31), "Accelerated filer").due == date(2025, 5, 12)
    assert [filer_class(c) for c in ("Large accelerated filer", "Accelerated filer",
                                     "Non-accelerated filer", None)] == [
        "large accelerated", "accelerated", "other", "other"]


def test_a_diff_summary_is_short():
    lines = [f"line {n}" for n in range(100)]
    old = "\n".join(lines)
    lines[7], lines[70] = "line seven", "line seventy"
    new = "\n".join([*lines, "the end"])
    diff = diff_summary(old, new, lines=3)
    assert (diff["lines_removed"], diff["lines_added"]) == (2, 3)
    assert diff["excerpt"] == ["-line 7", "+line seven", "-line 70"]
    assert diff_summary(None, new)["extracted"] is False
