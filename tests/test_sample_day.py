"""The sample days of the local EDGAR: built from real submissions by samples/build_sample_day.py,
byte for byte reproducible, and readable by our own EDGAR readers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

from extract.edgar_index import parse_filing_index_json, parse_index_file, parse_submissions_json
from extract.html import read_filing_index_page, read_index_headers_page
from extract.sgml import parse_submission

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "samples" / "site"
DROP = ROOT / "samples" / "drop"
ARCHIVES = SITE / "Archives" / "edgar"
SC_TO = "0001104659-25-002604"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("built")
    subprocess.run([sys.executable, str(ROOT / "samples" / "build_sample_day.py"),
                    "--site", str(out / "site"), "--drop", str(out / "drop")],
                   check=True, capture_output=True, cwd=out, timeout=120)
    return out


def _files(folder: Path) -> dict[str, Path]:
    return {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_builder_reproduces_the_committed_sample_days_byte_for_byte(built):
    for name, committed in (("site", SITE), ("drop", DROP)):
        made = _files(built / name)
        assert made, f"the builder wrote nothing into {name}/"
        for rel, path in made.items():
            assert (committed / rel).is_file(), f"samples/{name}/{rel} is not committed"
            assert (committed / rel).read_bytes() == path.read_bytes(), \
                f"samples/{name}/{rel} differs: run samples/build_sample_day.py"


def test_every_file_the_samples_had_before_is_kept():
    for rel in ("Archives/edgar/data/51143/000156218017002633/0001562180-17-002633-index.htm",
                "Archives/edgar/data/320193/000032019319000119/0000320193-19-000119-index.htm",
                "Archives/edgar/data/1127602/000112760225001055/0001127602-25-001055.txt",
                "Archives/edgar/daily-index/2018/QTR4/master.20181231.idx",
                "submissions/CIK0000320193.json", "scans/linn-sequencer",
                "documents/nics-background-checks-2015-11.pdf", "pages/BuckleInc.8-K.html"):
        assert (SITE / rel).is_file(), rel


def test_daily_indexes_parse_and_list_every_filer_of_each_filing():
    days = {"2024/QTR4/%s.20241227.idx": {"0000943374-24-000509"},
            "2025/QTR1/%s.20250110.idx": {SC_TO, "0001127602-25-001055"},
            "2025/QTR2/%s.20250415.idx": {"0001213900-25-032135"}}
    for pattern, accessions in days.items():
        form = parse_index_file((ARCHIVES / "daily-index" / (pattern % "form")).read_bytes())
        master = parse_index_file((ARCHIVES / "daily-index" / (pattern % "master")).read_bytes())
        assert {r["index_kind"] for r in form} == {"form-idx"}
        assert {r["index_kind"] for r in master} == {"master-idx"}
        key = ("accession", "cik", "company_name", "form_type", "date_filed", "path")
        assert sorted(tuple(r[k] for k in key) for r in form) == \
            sorted(tuple(r[k] for k in key) for r in master)
        assert {r["accession"] for r in master} == accessions
        for row in master:  # every row points at a file the mirror serves
            folder = row["accession"].replace("-", "")
            assert (ARCHIVES / "data" / str(int(row["cik"])) / folder /
                    f"{row['accession']}.txt").is_file()
    rows = parse_index_file((ARCHIVES / "daily-index/2025/QTR1/master.20250110.idx").read_bytes())
    assert sorted(r["cik"] for r in rows if r["accession"] == SC_TO) == \
        ["0001034563", "0001376139"]


def test_index_pages_parse_and_list_documents_that_exist():
    pages = sorted(ARCHIVES.glob("data/*/*/*-index.htm"))
    built_pages = [p for p in pages if (p.parent / "index.json").is_file()]
    assert len(built_pages) == 6  # 4 filings, 6 filer folders
    for page_path in built_pages:
        url = "https://www.sec.gov/" + page_path.relative_to(SITE).as_posix()
        page = read_filing_index_page(page_path.read_bytes(), url)
        submission = parse_submission(page_path.with_name(f"{page.accession}.txt").read_bytes())
        assert page.accession == submission.accession
        assert page.form_type == submission.form_type
        assert page.filing_date == submission.filed_as_of
        assert page.accepted == submission.acceptance_time
        assert page.period_of_report == submission.period_of_report
        assert {f["cik"] for f in page.filers} == {f.cik for f in submission.filers}
        assert page.documents and page.documents[0]["seq"] == 1
        for doc in page.documents:
            local = SITE / doc["href"].removeprefix("https://www.sec.gov/")
            assert local.is_file(), doc["href"]
            if doc["seq"] is not None:
                assert local.stat().st_size == doc["size"]
        listing = parse_filing_index_json((page_path.parent / "index.json").read_bytes())
        assert listing["accession"] == page.accession
        names = {d["name"] for d in listing["documents"]}
        assert all((page_path.parent / n).is_file() for n in names)
        assert {d.filename for d in submission.documents} <= names
        headers = read_index_headers_page(
            page_path.with_name(f"{page.accession}-index-headers.html").read_bytes())
        assert headers["submission"]["accession"] == page.accession
        assert headers["submission"]["acceptance_time"] == page.accepted


def test_split_documents_are_the_submissions_own_bytes():
    folder = ARCHIVES / "data" / "1847360" / "000094337424000509"
    submission = parse_submission((folder / "0000943374-24-000509.txt").read_bytes())
    for doc in submission.documents:
        assert (folder / doc.filename).read_bytes() == doc.payload()
    assert (folder / "Financial_Report.xlsx").read_bytes()[:2] == b"PK"  # uudecoded


def test_submissions_json_parse_per_filer_cik():
    expected = {"0001376139": SC_TO, "0001034563": SC_TO, "0000001750": "0001127602-25-001055",
                "0001806647": "0001127602-25-001055", "0001847360": "0000943374-24-000509",
                "0001173313": "0001213900-25-032135"}
    for cik, accession in expected.items():
        issuer, rows, pages = parse_submissions_json(
            (SITE / "submissions" / f"CIK{cik}.json").read_bytes())
        assert issuer["cik"] == cik and pages == []
        [row] = rows
        assert row["accession"] == accession and row["cik"] == cik
        primary = SITE / "Archives" / row["path"]
        assert primary.is_file(), row["path"]
    _, rows, _ = parse_submissions_json((SITE / "submissions/CIK0001847360.json").read_bytes())
    assert rows[0]["items"] == ["5.02"] and rows[0]["report_date"].isoformat() == "2024-12-20"
    apple, _, older = parse_submissions_json((SITE / "submissions/CIK0000320193.json").read_bytes())
    assert all((SITE / "submissions" / name).is_file() for name in older)


def test_the_atom_feed_is_edgars_format_with_one_entry_per_filer():
    atom = "{http://www.w3.org/2005/Atom}"
    root = ElementTree.fromstring((SITE / "cgi-bin/browse-edgar-getcurrent.atom").read_bytes())
    entries = root.findall(f"{atom}entry")
    titles = [e.findtext(f"{atom}title") for e in entries]
    assert "SC TO-T/A - CVR ENERGY INC (0001376139) (Subject)" in titles
    assert "SC TO-T/A - ICAHN ENTERPRISES HOLDINGS L.P. (0001034563) (Filed by)" in titles
    assert "4 - AAR CORP (0000001750) (Issuer)" in titles
    updated = [e.findtext(f"{atom}updated") for e in entries]
    assert updated == sorted(updated, reverse=True)
    for entry in entries:
        accession = entry.findtext(f"{atom}id").rpartition("=")[2]
        href = entry.find(f"{atom}link").get("href")
        assert href.endswith(f"/{accession}-index.htm")
        assert (SITE / href.removeprefix("https://www.sec.gov/")).is_file()
        assert f"AccNo:</b> {accession}" in entry.findtext(f"{atom}summary")


def test_the_drop_folder_holds_image_only_scans_tied_to_filings():
    sidecar = json.loads((DROP / "aar-power-of-attorney.json").read_text())
    assert set(sidecar) == {"accession", "cik", "form", "received"}
    folder = ARCHIVES / "data" / str(int(sidecar["cik"])) / sidecar["accession"].replace("-", "")
    assert (folder / f"{sidecar['accession']}.txt").is_file()
    scans = sorted(DROP.glob("*.pdf"))
    assert any(SC_TO in p.name for p in scans)
    for scan in scans:
        data = scan.read_bytes()
        assert data.startswith(b"%PDF") and len(data) < 300_000
        assert b"/DCTDecode" in data and b"/DeviceGray" in data and b"/Font" not in data
