"""Reconstruction of filings from the archives (archive/recover.py, `salvage recover`), against the
local EDGAR (samples/site served by flows.mirror) captured into a temp home, imported third-party
WARCs written with warcio, and real scans OCR'd by Tesseract."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from conftest import salvage
from warcgen import write_revisit
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from archive.capture import Capturer, CaptureSettings
from archive.cdxj import IndexEntry
from archive.drop import scan_drop
from archive.edgar import EdgarSource, ingest_edgar
from archive.home import Home
from archive.importer import import_file
from archive.recover import (
    FOLDER,
    MANIFEST,
    RecoveryError,
    recover_filing,
    recover_filings,
)
from archive.writer import WarcWriter
from extract.run import extract_home
from flows.mirror import Mirror
from storage.query import query

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "samples" / "site"
SETTINGS = CaptureSettings(user_agent="Salvage tests test@example.com", backoff=0.01, retries=2,
                           default_rate=None)
SC_TO, FORM_4, BANCORP_8K = "0001104659-25-002604", "0001127602-25-001055", "0000943374-24-000509"
FOLDERS = {SC_TO: "1376139/000110465925002604", FORM_4: "1750/000112760225001055",
           BANCORP_8K: "1847360/000094337424000509"}
SEC = "https://www.sec.gov"
KEYS = {"accession", "status", "files", "missing"}
FILE_KEYS = {"filename", "sha256", "bytes", "method", "warc", "offset", "record_digest"}


@pytest.fixture
def mirror():
    with Mirror(SITE) as running:
        yield running


def site_folder(accession: str, site: Path = SITE) -> Path:
    return site / "Archives" / "edgar" / "data" / FOLDERS[accession]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def capture_folder(home: Home, base: str, accession: str, names: list[str] | None = None,
                   times: int = 1, site: Path = SITE) -> None:
    """Capture files of a filing's folder from a mirror of `site` (every file by default)."""
    folder = site_folder(accession, site)
    names = names or sorted(p.name for p in folder.iterdir())
    with Capturer(home, SETTINGS) as capturer:
        for _ in range(times):
            for name in names:
                result = capturer.capture_url(f"{base}/Archives/edgar/data/{FOLDERS[accession]}/"
                                              f"{name}")
                assert result.ok and result.status in (200, 304), result.as_dict()


def manifest_of(home: Home, accession: str) -> dict:
    return json.loads((home.root / FOLDER / accession / MANIFEST).read_text())


def assert_manifest_matches_folder(home: Home, manifest: dict) -> None:
    folder = home.root / FOLDER / manifest["accession"]
    assert set(manifest) >= KEYS and manifest["status"] in ("recovered", "partial",
                                                            "unrecoverable")
    for f in manifest["files"]:
        assert set(f) >= FILE_KEYS
        data = (folder / f["filename"]).read_bytes()
        assert (sha256(data), len(data)) == (f["sha256"], f["bytes"])
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [MANIFEST, *(f["filename"] for f in manifest["files"])])


def archive_state(home: Home) -> dict[str, str]:
    """SHA-256 of every file of the archive proper: WARCs, imports, indexes, captures, audit."""
    state = {}
    for part in ("warcs", "imported", "indexes", "catalog/captures", "audit"):
        for path in sorted((home.root / part).rglob("*")):
            if path.is_file():
                state[str(path.relative_to(home.root))] = sha256(path.read_bytes())
    return state


def third_party_warc(path: Path, records: list[tuple[str, bytes, str]]) -> Path:
    """A WARC as another crawler writes it (warcio: gzip, sha1 base32 digests)."""
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for url, body, mime in records:
            head = StatusAndHeaders("200 OK", [("Content-Type", mime),
                                               ("Content-Length", str(len(body)))],
                                    protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(url, "response",
                                                          payload=io.BytesIO(body),
                                                          http_headers=head))
    return path


def test_a_fully_captured_filing_recovers_byte_exact_from_its_own_captures(home, mirror):
    for accession in (SC_TO, BANCORP_8K):
        capture_folder(home, mirror.url, accession, times=2)  # the second pass: 304 revisits
    before = archive_state(home)

    recoveries = recover_filings(home, [SC_TO, BANCORP_8K])

    for recovery in recoveries:
        manifest = manifest_of(home, recovery.accession)
        assert manifest == json.loads(json.dumps(recovery.manifest))
        assert manifest["status"] == "recovered" and manifest["missing"] == []
        assert_manifest_matches_folder(home, manifest)
        originals = site_folder(recovery.accession)
        for f in manifest["files"]:
            assert f["sha256"] == sha256((originals / f["filename"]).read_bytes()), f["filename"]
            assert f["method"] == "capture" and f["verified"] and f["warc"].startswith("warcs/")
            assert f["revisit"]["warc"].startswith("warcs/")  # the latest capture: a revisit
            assert f["url"].startswith(mirror.url)
    bancorp = {f["filename"] for f in manifest_of(home, BANCORP_8K)["files"]}
    assert {"Financial_Report.xlsx", "0000943374-24-000509-xbrl.zip", "R1.htm",
            f"{BANCORP_8K}.txt", "form8k_122024.htm"} <= bancorp  # binaries decoded
    assert manifest_of(home, SC_TO)["listed_by"] == "index-page+submission"
    assert archive_state(home) == before  # nothing in the archive changed
    rows = query(home.catalog, "SELECT accession, status, files, missing, manifest FROM "
                 "recoveries ORDER BY accession").to_pylist()
    assert [(r["accession"], r["status"]) for r in rows] == [(BANCORP_8K, "recovered"),
                                                             (SC_TO, "recovered")]
    assert rows[1]["manifest"] == f"recovered/{SC_TO}/manifest.json"
    assert {f["filename"] for f in rows[0]["files"]} == bancorp


def test_exhibits_never_captured_are_split_out_of_the_captured_txt(home, mirror):
    ingest_edgar(home, SETTINGS, EdgarSource(mirror.url, mirror.url), [date(2025, 1, 10)])

    for accession, exhibit in ((SC_TO, "tm252901d1_ex99-a5c.htm"), (FORM_4, "doc1.htm")):
        recovery = recover_filing(home, accession)
        assert recovery.status == "recovered", recovery.summary
        by_name = {f.filename: f for f in recovery.files}
        assert by_name[exhibit].method == "submission-split"
        assert by_name[exhibit].url.endswith(f"{accession}.txt")  # the bytes came from there
        assert by_name[f"{accession}.txt"].method == "capture"
        for f in recovery.files:  # byte-exact against the files EDGAR (the mirror) serves
            assert f.sha256 == sha256((site_folder(accession) / f.filename).read_bytes())
            assert f.verified
        assert_manifest_matches_folder(home, manifest_of(home, accession))
    form4 = {f.filename: f for f in recover_filing(home, FORM_4).files}["form4.xml"]
    assert form4.method == "capture"  # a primary document: captured, checked against the split
    assert [c["against"] for c in form4.checks] == ["record", "payload", "submission"]


def test_a_filing_held_only_by_an_imported_third_party_warc_is_recovered_from_it(
        home, tmp_path):
    sc_to, form_4 = site_folder(SC_TO), site_folder(FORM_4)
    url = f"{SEC}/Archives/edgar/data/"
    records = [(f"{url}{FOLDERS[SC_TO]}/{p.name}", p.read_bytes(), "text/html")
               for p in sorted(sc_to.iterdir()) if p.suffix in (".htm", ".txt")]
    records += [(f"{url}{FOLDERS[FORM_4]}/{name}", (form_4 / name).read_bytes(), "text/html")
                for name in (f"{FORM_4}-index.htm", "form4.xml", "doc1.htm")]  # no .txt
    report = import_file(home, third_party_warc(tmp_path / "crawl.warc.gz", records))
    assert report.ok, report.summary

    recovery = recover_filing(home, SC_TO)
    assert recovery.status == "recovered", recovery.summary
    for f in recovery.files:
        assert f.warc.startswith("imported/") and f.verified
        assert f.sha256 == sha256((sc_to / f.filename).read_bytes())
    methods = {f.filename: f.method for f in recovery.files}
    assert methods[f"{SC_TO}.txt"] == "third-party"
    assert methods["tm252901d1_sctota.htm"] == "submission-split"  # the .txt is preferred
    txt = next(f for f in recovery.files if f.method == "third-party")
    assert [c["expected"][:5] for c in txt.checks] == ["sha25", "sha1:"]  # warcio's digest

    partial = recover_filing(home, FORM_4)
    assert partial.status == "partial" and partial.missing == [f"{FORM_4}.txt"]
    assert {f.filename: f.method for f in partial.files} == {
        "form4.xml": "third-party", "doc1.htm": "third-party"}
    assert all(f.verified and f.sha256 == sha256((form_4 / f.filename).read_bytes())
               for f in partial.files)


def test_a_filing_known_only_from_a_dropped_scan_is_a_partial_recovery_by_ocr(home, tmp_path):
    folder = tmp_path / "drop"
    folder.mkdir()
    scan = ROOT / "samples" / "drop" / f"{SC_TO}-press-release.pdf"
    shutil.copy(scan, folder / scan.name)
    assert scan_drop(home, folder, settle_seconds=0).ok

    waiting = recover_filing(home, SC_TO)  # archived, not OCR'd yet
    assert waiting.status == "unrecoverable" and waiting.files == []
    [source] = [s for s in waiting.sources if s["kind"] == "drop"]
    assert "salvage extract" in source["problem"]

    extract_home(home)  # Tesseract reads the scan into documents/pages
    recovery = recover_filing(home, SC_TO)
    assert recovery.status == "partial" and recovery.missing == [f"{SC_TO}.txt"]
    [ocr] = recovery.files
    assert ocr.method == "ocr" and ocr.filename == f"{SC_TO}-press-release.ocr.txt"
    assert ocr.verified and ocr.scan["sha256"] == sha256(scan.read_bytes())
    assert [c["against"] for c in ocr.checks] == ["record", "payload", "drop"]
    text = (home.root / FOLDER / SC_TO / ocr.filename).read_text()
    assert "Icahn" in text or "CVR" in text
    assert manifest_of(home, SC_TO)["files"][0]["method"] == "ocr"


def test_a_digest_mismatch_is_recorded_and_the_file_kept_as_evidence(home, tmp_path):
    site = tmp_path / "site"
    folder = site / "Archives" / "edgar" / "data" / FOLDERS[FORM_4]
    shutil.copytree(site_folder(FORM_4), folder)
    altered = (folder / "doc1.htm").read_bytes().replace(b"</BODY>", b"<P>added</P></BODY>", 1)
    assert altered != (folder / "doc1.htm").read_bytes()
    (folder / "doc1.htm").write_bytes(altered)  # served differently from the filing's .txt
    xml = (folder / "form4.xml").read_bytes()
    served = xml.removeprefix(b"<XML>\n").removesuffix(b"\n</XML>") + b"\n"
    assert served != xml
    (folder / "form4.xml").write_bytes(served)  # as EDGAR serves XML: unwrapped, newline-ended
    with Mirror(site) as mirror:
        capture_folder(home, mirror.url, FORM_4, site=site)
    extract_home(home)  # the catalog records documents.sha256 of the .txt's documents

    recovery = recover_filing(home, FORM_4)

    assert recovery.status == "partial" and recovery.missing == []
    files = {f.filename: f for f in recovery.files}
    doc1 = files["doc1.htm"]
    assert doc1.method == "capture" and doc1.sha256 == sha256(altered)
    assert not doc1.verified
    failed = {c["against"] for c in doc1.checks if not c["ok"]}
    assert failed == {"submission", "documents"} and "documents: expected" in doc1.reason
    assert (home.root / FOLDER / FORM_4 / "doc1.htm").read_bytes() == altered  # evidence
    form4 = files["form4.xml"]  # a difference the documented rule tolerates, and says so
    assert form4.verified and form4.sha256 == sha256(served)
    assert {c["note"] for c in form4.checks if c.get("note")} == {
        "equal but for the <XBRL>/<XML> wrapper or trailing line ends"}
    [row] = query(home.catalog, "SELECT files FROM recoveries").to_pylist()
    assert {f["filename"]: f["verified"] for f in row["files"]}["doc1.htm"] is False
    assert manifest_of(home, FORM_4)["files"][1]["reason"] == doc1.reason


def test_at_picks_the_capture_closest_to_that_moment_and_a_later_change_is_flagged(
        home, tmp_path):
    site = tmp_path / "site"
    folder = site / "Archives" / "edgar" / "data" / FOLDERS[FORM_4]
    shutil.copytree(site_folder(FORM_4), folder)
    with Mirror(site) as mirror:
        capture_folder(home, mirror.url, FORM_4, site=site)
        original = (folder / "doc1.htm").read_bytes()
        (folder / "doc1.htm").write_bytes(original.replace(b"Garascia", b"Someone Else"))
        capture_folder(home, mirror.url, FORM_4, names=["doc1.htm"], site=site)

    then = recover_filing(home, FORM_4, at=datetime(2025, 1, 10, tzinfo=UTC))  # the earliest
    assert then.status == "recovered"
    assert {f.filename: f.sha256 for f in then.files}["doc1.htm"] == sha256(original)
    latest = {f.filename: f for f in recover_filing(home, FORM_4).files}["doc1.htm"]
    assert latest.method == "capture" and not latest.verified  # it differs from the filing
    assert [c["against"] for c in latest.checks if not c["ok"]] == ["submission"]


def test_a_revisit_whose_original_is_lost_falls_back_to_the_split_checked_by_its_digest(
        home, mirror):
    ingest_edgar(home, SETTINGS, EdgarSource(mirror.url, mirror.url), [date(2025, 1, 10)])
    doc1 = (site_folder(FORM_4) / "doc1.htm").read_bytes()
    url = f"{mirror.url}/Archives/edgar/data/{FOLDERS[FORM_4]}/doc1.htm"
    lost = IndexEntry(urlkey="", timestamp="", url=url, record_id="<urn:uuid:lost>",
                      warc_date=datetime(2025, 1, 11, tzinfo=UTC), record_type="response",
                      filename="warcs/lost.warc.gz", offset=0, length=0, record_digest="",
                      digest="sha256:" + sha256(doc1))
    with WarcWriter(home) as writer:  # the original's WARC was lost; its revisit remains
        write_revisit(writer, url, lost)

    recovery = recover_filing(home, FORM_4)

    f = {f.filename: f for f in recovery.files}["doc1.htm"]
    assert f.method == "submission-split" and f.verified and recovery.status == "recovered"
    [rejected] = f.rejected
    assert "not in the archive" in rejected["reason"]
    assert [c for c in f.checks if c["against"] == "capture"][0]["ok"]


def test_an_accession_never_seen_is_unrecoverable_with_every_file_missing(home, mirror):
    with Capturer(home, SETTINGS) as capturer:  # what EDGAR lists for the Form 4's issuer
        assert capturer.capture_url(f"{mirror.url}/submissions/CIK0000001750.json").ok
    extract_home(home)

    listed = recover_filing(home, FORM_4)  # listed by EDGAR, never captured
    assert listed.status == "unrecoverable" and listed.files == []
    assert listed.missing == ["form4.xml", f"{FORM_4}.txt"] and listed.listed_by == "catalog"
    unknown = recover_filing(home, "0009999999-25-000001")
    assert (unknown.status, unknown.missing) == ("unrecoverable", ["0009999999-25-000001.txt"])
    assert manifest_of(home, "0009999999-25-000001")["files"] == []
    with pytest.raises(RecoveryError, match="not an accession number"):
        recover_filing(home, "../../etc")


def test_a_hostile_file_name_cannot_escape_the_folder(home, tmp_path):
    accession, folder = "0000000001-25-000001", "1/000000000125000001"
    base = f"{SEC}/Archives/edgar/data/{folder}"
    page = (b'<html><body><div id="formName"><strong>Form 8-K</strong></div>'
            b'<div id="secNum">SEC Accession No. 0000000001-25-000001</div>'
            b'<table class="tableFile" summary="Document Format Files">'
            b"<tr><th>Seq</th><th>Description</th><th>Document</th><th>Type</th><th>Size</th>"
            b'<tr><td>1</td><td>x</td><td><a href="..%2F..%2Fx">../../x</a></td><td>8-K</td>'
            b"<td>10</td></tr>"
            b'<tr><td>2</td><td>z</td><td><a href="/Archives/edgar/z">../../z</a></td>'
            b"<td>EX-99</td><td>10</td></tr></table></body></html>")
    txt = (b"<SEC-DOCUMENT>0000000001-25-000001.txt : 20250110\n<SEC-HEADER>\n"
           b"ACCESSION NUMBER:\t\t0000000001-25-000001\nCONFORMED SUBMISSION TYPE:\t8-K\n"
           b"PUBLIC DOCUMENT COUNT:\t\t1\nFILED AS OF DATE:\t\t20250110\n</SEC-HEADER>\n"
           b"<DOCUMENT>\n<TYPE>8-K\n<SEQUENCE>1\n<FILENAME>../../y.htm\n<TEXT>\n"
           b"<html>hostile</html>\n</TEXT>\n</DOCUMENT>\n</SEC-DOCUMENT>\n")
    import_file(home, third_party_warc(tmp_path / "hostile.warc.gz", [
        (f"{base}/{accession}-index.htm", page, "text/html"),
        (f"{base}/..%2F..%2Fx", b"escaped", "text/plain"),
        (f"{base}/{accession}.txt", txt, "text/plain")]))
    before = {p for p in tmp_path.rglob("*")}

    recovery = recover_filing(home, accession)

    assert {r["name"] for r in recovery.refused} == {"../../x", "../../z"}
    assert {f.filename for f in recovery.files} == {"y.htm", f"{accession}.txt"}
    assert recovery.status == "partial"
    out = home.root / FOLDER / accession
    new = {p for p in tmp_path.rglob("*")} - before
    allowed = (out, home.root / "catalog" / "recoveries")  # the folder, and the catalog row
    assert all(p in (out.parent, out.parent / ".lock", home.catalog / ".lock")
               or any(p == a or a in p.parents for a in allowed) for p in new), sorted(new)
    assert not [p for p in tmp_path.rglob("*") if p.name in ("x", "z", "y.htm")
                and p.parent != out]
    assert (out / "y.htm").read_bytes() == b"<html>hostile</html>"


def test_a_rerun_replaces_the_folder_and_adds_a_catalog_row(home, mirror):
    ingest_edgar(home, SETTINGS, EdgarSource(mirror.url, mirror.url), [date(2025, 1, 10)])
    first = recover_filing(home, FORM_4)
    stray = home.root / FOLDER / FORM_4 / "left-behind.txt"
    stray.write_text("not part of the filing")

    again = recover_filing(home, FORM_4)

    assert not stray.exists()
    assert [f.sha256 for f in again.files] == [f.sha256 for f in first.files]
    assert_manifest_matches_folder(home, manifest_of(home, FORM_4))
    assert not [p for p in (home.root / FOLDER).iterdir() if p.name.endswith((".new", ".old"))]
    history = query(home.catalog, "SELECT recovered_at FROM recoveries_history "
                    f"WHERE accession = '{FORM_4}'").to_pylist()
    assert len(history) == 2
    [current] = query(home.catalog, "SELECT recovered_at FROM recoveries").to_pylist()
    assert current["recovered_at"] == max(r["recovered_at"] for r in history)


def test_salvage_recover_on_the_command_line(home, mirror):
    from storage.findings import Finding
    from storage.incidents import IncidentStore

    ingest_edgar(home, SETTINGS, EdgarSource(mirror.url, mirror.url), [date(2025, 1, 10)])
    done = salvage("--home", str(home.root), "recover", SC_TO, FORM_4, "--json")
    assert done.returncode == 0, done.stderr
    manifests = json.loads(done.stdout)
    assert [(m["accession"], m["status"]) for m in manifests] == [(SC_TO, "recovered"),
                                                                  (FORM_4, "recovered")]
    assert manifests[0] == manifest_of(home, SC_TO)

    bad = salvage("--home", str(home.root), "recover", "12345")
    assert bad.returncode == 1 and "not an accession number" in bad.stderr
    none = salvage("--home", str(home.root), "recover", "0009999999-25-000001")
    assert none.returncode == 1 and "unrecoverable" in none.stdout

    IncidentStore(home).raise_findings([Finding(type="filing.missing", entity=FORM_4,
                                                period="2025-01-10", subject="Form 4 missing")])
    opened = salvage("--home", str(home.root), "recover", "--open", "--json")
    assert opened.returncode == 0, opened.stderr
    assert [m["accession"] for m in json.loads(opened.stdout)] == [FORM_4]
