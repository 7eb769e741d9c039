"""The scan drop folder: paper filings scanned into a folder are archived as WARC `resource`
records, moved to processed/, tied to their filings, and OCR'd by `extract` (real files, real
WARCs, real Parquet, real Tesseract; scans rendered here from known text with Pillow)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import time
from datetime import date
from pathlib import Path

import pytest
from conftest import interop_tool, salvage
from PIL import Image, ImageDraw, ImageFont
from warcio.archiveiterator import ArchiveIterator

from archive.drop import (
    BadAccession,
    UnknownDrop,
    accession_of,
    archive_drops,
    current_drops,
    find_drops,
    mime_of,
    scan_drop,
    tie_drop,
    untied_drops,
)
from archive.errors import SalvageError
from archive.home import Home
from archive.lookup import Index
from archive.payload import stream_payload
from extract.run import extract_home
from storage.query import query
from storage.search import SearchIndex

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")  # Debian's fonts-dejavu-core
DPI = 300
SIZE = 42  # 10 pt at 300 dpi
LETTER = ["Harrowgate Mills received the notice of its special meeting by mail.",
          "The board declared a quarterly dividend of forty cents per share."]
SIDECAR = {"accession": "0001234567-24-000123", "cik": 320193, "form": "10-K",
           "received": "2024-03-15"}


def render(lines: list[str]) -> Image.Image:
    """A clean 300 dpi scan of the lines: Letter width, as tall as the text needs."""
    font = ImageFont.truetype(str(DEJAVU), SIZE) if DEJAVU.exists() \
        else ImageFont.load_default(SIZE)
    image = Image.new("L", (8 * DPI + DPI // 2, DPI + len(lines) * (SIZE * 3 // 2)), "white")
    ImageDraw.Draw(image).multiline_text((DPI // 2, DPI // 2), "\n".join(lines), font=font,
                                         fill="black", spacing=SIZE // 2)
    return image


def encoded(image: Image.Image, fmt: str) -> bytes:
    """The image as an image-only PDF, PNG or TIFF (no text layer: only OCR can read it)."""
    out = io.BytesIO()
    if fmt == "PDF":
        image.save(out, "PDF", resolution=DPI)
    else:
        image.save(out, fmt, dpi=(DPI, DPI))
    return out.getvalue()


def tiny(fmt: str, shade: int) -> bytes:
    """A small distinct image (no OCR is run on it)."""
    return encoded(Image.new("L", (40, 20), shade), fmt)


def drop(folder: Path, name: str, data: bytes, age: float = 3600.0) -> Path:
    """A file put in the drop folder `age` seconds ago."""
    path = folder / name
    path.write_bytes(data)
    moment = time.time() - age
    os.utime(path, (moment, moment))
    return path


def records(home: Home) -> list[tuple[str, dict[str, list[str]], bytes]]:
    """Every record of the home's WARCs: type, headers (name -> values), content."""
    out = []
    for path in sorted(home.warcs.glob("*.warc.gz")):
        with open(path, "rb") as fh:
            for rec in ArchiveIterator(fh):
                headers: dict[str, list[str]] = {}
                for name, value in rec.rec_headers.headers:
                    headers.setdefault(name, []).append(value)
                out.append((rec.rec_type, headers, rec.content_stream().read()))
    return out


def of_uri(home: Home, uri: str, rec_type: str = "resource") -> list[dict[str, list[str]]]:
    return [h for t, h, _ in records(home) if t == rec_type and h["WARC-Target-URI"] == [uri]]


def visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "drop"
    path.mkdir()
    return path


def test_a_mailed_scan_with_its_sidecar_is_archived_moved_tied_then_ocrd_and_searchable(
        home: Home, folder: Path):
    scan = encoded(render(LETTER), "PDF")
    sidecar = json.dumps(SIDECAR, indent=2).encode()
    drop(folder, "scan.pdf", scan)
    drop(folder, "scan.pdf.json", sidecar)

    report = scan_drop(home, folder)

    assert report.ok and not report.problems and not report.already
    [row] = report.archived
    sha = hashlib.sha256(scan).hexdigest()
    uri = f"urn:salvage:drop:{sha}"
    assert (row["sha256"], row["uri"], row["mime"], row["size"]) == (
        sha, uri, "application/pdf", len(scan))
    assert (row["tied_by"], row["accession"], row["cik"], row["form_type"], row["received"]) == (
        "sidecar", "0001234567-24-000123", "0000320193", "10-K", date(2024, 3, 15))
    assert row["sidecar_name"] == "scan.pdf.json"
    # moved, whole, with its sidecar; nothing left behind but the folder's lock file
    processed = Path(report.processed)
    assert processed.parent == folder / "processed"
    assert Path(row["processed_path"]) == processed / "scan.pdf"
    assert (processed / "scan.pdf").read_bytes() == scan
    assert (processed / "scan.pdf.json").read_bytes() == sidecar
    assert visible(folder) == ["processed"]

    # the WARC: the scan, the sidecar as evidence, and the metadata record tying them
    [resource] = of_uri(home, uri)
    assert resource["Content-Type"] == ["application/pdf"]
    assert resource["WARC-Payload-Digest"] == [f"sha256:{sha}"]
    assert resource["WARC-Record-ID"] == [row["record_id"]]
    side_uri = f"urn:salvage:drop:{hashlib.sha256(sidecar).hexdigest()}"
    [side] = of_uri(home, side_uri)
    assert side["Content-Type"] == ["application/json"]
    assert side["WARC-Concurrent-To"] == [row["record_id"]]
    [(headers, fields)] = [(h, c) for t, h, c in records(home) if t == "metadata"]
    assert headers["WARC-Refers-To"] == [row["record_id"]]
    assert headers["WARC-Concurrent-To"] == [row["record_id"], side["WARC-Record-ID"][0]]
    assert headers["Content-Type"] == ["application/warc-fields"]
    text = fields.decode()
    for line in ("original-name: scan.pdf", f"size: {len(scan)}", f"sha256: {sha}",
                 f"drop-folder: {folder.resolve()}", "sidecar-name: scan.pdf.json",
                 "accession: 0001234567-24-000123", "tied-by: sidecar"):
        assert line + "\r\n" in text
    assert json.loads(text.split("\r\nsidecar: ", 1)[1].split("\r\n", 1)[0]) == SIDECAR

    # warcio checks every record and digest
    warcs = [str(p) for p in sorted(home.warcs.glob("*.warc.gz"))]
    proc = subprocess.run([interop_tool("warcio"), "check", "-v", *warcs], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("digest pass") == 3 and "fail" not in proc.stdout

    # `salvage lookup`/`get` find it under its URI, byte for byte
    with Index(home) as index:
        line = index.closest(uri)
    assert line is not None and line.filename == row["filename"] and line.offset == row["offset"]
    assert b"".join(stream_payload(home, line)) == scan

    # extract OCRs it (the sidecar is no document) and search finds its words
    extracted = extract_home(home)
    assert extracted.extracted == 1 and not extracted.quarantined and not extracted.unreadable
    [doc] = query(home.catalog, "SELECT method, ocr_pages, mime FROM documents "
                  f"WHERE source_digest = 'sha256:{sha}'").to_pylist()
    assert doc == {"method": "pdf+ocr", "ocr_pages": 1, "mime": "application/pdf"}
    [page] = query(home.catalog, "SELECT method, text FROM pages "
                   f"WHERE source_digest = 'sha256:{sha}' AND chosen").to_pylist()
    assert page["method"] == "ocr" and "Harrowgate" in page["text"]
    hits = SearchIndex(home.root / "search").search("Harrowgate")
    assert [h.url for h in hits] == [uri]

    # and researchers see the drop in SQL, joined to its capture
    assert query(home.catalog, "SELECT d.original_name, d.tied_by, c.record_type FROM drops d "
                 "JOIN captures c USING (filename, \"offset\")").to_pylist() == [
        {"original_name": "scan.pdf", "tied_by": "sidecar", "record_type": "resource"}]


def test_an_accession_in_the_file_name_ties_the_scan_and_scan_json_is_a_sidecar_too(
        home: Home, folder: Path):
    drop(folder, "0001234567-24-000123 cover letter.pdf", b"%PDF-1.4\n% cover letter\n")
    drop(folder, "scan_000123456724000124.tif", tiny("TIFF", 40))
    drop(folder, "letter.pdf", b"%PDF-1.4\n% letter\n")
    drop(folder, "letter.json", json.dumps({"accession": "0000320193-24-000007",
                                            "received": "2025-01-10T23:07:30-05:00"}).encode())
    drop(folder, "0001234567-24-000001 and 0001234567-24-000002.pdf", b"%PDF-1.4\n% two\n")

    report = scan_drop(home, folder)

    ties = {r["original_name"]: (r["tied_by"], r["accession"]) for r in report.archived}
    assert ties == {
        "0001234567-24-000123 cover letter.pdf": ("filename", "0001234567-24-000123"),
        "scan_000123456724000124.tif": ("filename", "0001234567-24-000124"),
        "letter.pdf": ("sidecar", "0000320193-24-000007"),
        "0001234567-24-000001 and 0001234567-24-000002.pdf": (None, None),
    }
    received = {r["original_name"]: r["received"] for r in report.archived}
    assert received["letter.pdf"] == date(2025, 1, 10)  # the date as written, not in UTC
    [problem] = report.problems
    assert "several accession numbers" in problem["problem"]
    assert {r["original_name"]: r["mime"] for r in report.archived}[
        "scan_000123456724000124.tif"] == "image/tiff"
    assert sorted(visible(Path(report.processed))) == sorted(
        [*ties, "letter.json"])


def test_an_untied_scan_is_listed_then_tied_by_hand_and_the_latest_tie_wins(
        home: Home, folder: Path):
    image = tiny("PNG", 200)
    drop(folder, "photo.png", image)
    scan_drop(home, folder)
    sha = hashlib.sha256(image).hexdigest()
    [untied] = untied_drops(home)
    assert (untied["original_name"], untied["sha256"], untied["mime"]) == (
        "photo.png", sha, "image/png")

    row = tie_drop(home, "photo.png", "000999999924000001", cik=320193, form="10-K")

    assert (row["tied_by"], row["accession"], row["cik"], row["form_type"]) == (
        "manual", "0009999999-24-000001", "0000320193", "10-K")
    assert untied_drops(home) == []
    assert query(home.catalog, "SELECT tied_by FROM drops_history ORDER BY recorded_at")[
        "tied_by"].to_pylist() == [None, "manual"]
    # by sha256, then by its path in processed/: each a new row, the latest is the current one
    tie_drop(home, f"sha256:{sha}", "0009999999-24-000002")
    tie_drop(home, row["processed_path"], "0009999999-24-000002", form="10-Q")
    [current] = current_drops(home)
    assert (current["accession"], current["cik"], current["form_type"]) == (
        "0009999999-24-000002", None, "10-Q")
    assert query(home.catalog, "SELECT accession, form_type FROM drops").to_pylist() == [
        {"accession": "0009999999-24-000002", "form_type": "10-Q"}]
    assert query(home.catalog, "SELECT count(*) AS n FROM drops_history")["n"][0].as_py() == 4


def test_tying_an_unknown_file_or_a_malformed_accession_is_refused_with_what_to_do(
        home: Home, folder: Path):
    drop(folder, "photo.png", tiny("PNG", 100))
    scan_drop(home, folder)
    with pytest.raises(UnknownDrop) as unknown:
        tie_drop(home, "nothing-like-it.pdf", "0001234567-24-000123")
    assert isinstance(unknown.value, SalvageError)
    assert "nothing-like-it.pdf" in str(unknown.value)
    assert "salvage drop list" in str(unknown.value)
    with pytest.raises(BadAccession, match="0001234567-24-000123"):
        tie_drop(home, "photo.png", "1234-24-1")
    with pytest.raises(BadAccession, match="CIK"):
        tie_drop(home, "photo.png", "0001234567-24-000123", cik="AAPL")
    assert [r["tied_by"] for r in current_drops(home)] == [None]


BAD_SIDECARS = {
    "invalid.pdf": (b"{not json", "not valid JSON"),
    "types.pdf": (b'{"accession": 1234567, "cik": "abc"}', "accession 1234567"),
    "malformed.pdf": (b'{"accession": "0001234567-24-12"}', "'0001234567-24-12'"),
    "list.pdf": (b"[1, 2]", "JSON list"),
    "0001234567-24-000125.pdf": (b'{"received": "yesterday"}', "received 'yesterday'"),
}


def test_a_bad_sidecar_never_stops_the_scan_the_file_is_archived_untied_with_the_problem(
        home: Home, folder: Path):
    for name, (sidecar, _) in BAD_SIDECARS.items():
        drop(folder, name, b"%PDF-1.4\n% " + name.encode() + b"\n")
        drop(folder, name + ".json", sidecar)

    report = scan_drop(home, folder)

    assert report.ok
    rows = {r["original_name"]: r for r in report.archived}
    assert set(rows) == set(BAD_SIDECARS)
    problems = {p["name"]: p["problem"] for p in report.problems}
    for name, (_, says) in BAD_SIDECARS.items():
        assert rows[name]["tied_by"] is None, name  # a bad sidecar wins over the file name
        assert says in rows[name]["problem"] and says in problems[name], name
    assert {r["original_name"] for r in untied_drops(home)} == set(BAD_SIDECARS)
    assert visible(folder) == ["processed"]


def test_hidden_partial_recent_and_lone_sidecar_files_are_left_alone(home: Home, folder: Path):
    left = {".hidden.pdf": 3600, "scan.pdf.part": 3600, "upload.tmp": 3600, "~draft.pdf": 3600,
            "lonely.pdf.json": 3600, "fresh.pdf": 0, "half.pdf": 3600, "half.pdf.json": 0,
            "late.pdf": 3600, "late.pdf.json.part": 3600}
    for n, (name, age) in enumerate(left.items()):
        drop(folder, name, f"%PDF-1.4\n% {n}\n".encode(), age=age)
    (folder / "inbox").mkdir()
    drop(folder / "inbox", "nested.pdf", b"%PDF-1.4\n% nested\n")
    (folder / "link.pdf").symlink_to(folder / "half.pdf")
    drop(folder, "ready.pdf", b"%PDF-1.4\n% ready\n")
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}

    report = scan_drop(home, folder, settle_seconds=600)

    assert [r["original_name"] for r in report.archived] == ["ready.pdf"]
    assert {s["name"] for s in report.skipped} == set(left) - {"half.pdf.json"} | {"link.pdf"}
    for name, data in before.items():
        if name != "ready.pdf":
            assert (folder / name).read_bytes() == data, name
    assert (folder / "inbox" / "nested.pdf").exists()
    assert not (folder / "ready.pdf").exists()


def test_a_scan_archived_but_not_moved_before_a_crash_is_moved_without_a_second_record(
        home: Home, folder: Path):
    scan = tiny("PNG", 60)
    drop(folder, "scan.png", scan)
    drop(folder, "scan.png.json", json.dumps(SIDECAR).encode())
    uri = f"urn:salvage:drop:{hashlib.sha256(scan).hexdigest()}"
    found, _ = find_drops(folder)
    archive_drops(home, found)  # ... and the process dies here: nothing recorded, nothing moved
    assert len(of_uri(home, uri)) == 1 and current_drops(home) == []
    assert visible(folder) == ["scan.png", "scan.png.json"]

    report = scan_drop(home, folder)

    assert report.ok and not report.archived
    [row] = report.already
    assert (row["uri"], row["tied_by"]) == (uri, "sidecar")
    assert [t for t, _, _ in records(home)] == ["warcinfo", "resource", "resource", "metadata"]
    [current] = current_drops(home)
    assert current["processed_path"] == row["processed_path"]
    assert Path(row["processed_path"]).read_bytes() == scan
    assert visible(folder) == ["processed"]


def test_a_name_taken_in_processed_gets_a_suffix_and_nothing_is_overwritten(
        home: Home, folder: Path, tmp_path: Path):
    done = tmp_path / "done"
    first, second = tiny("PNG", 10), tiny("PNG", 20)
    drop(folder, "scan.png", first)
    drop(folder, "scan.json", b'{"accession": "0001234567-24-000001"}')
    scan_drop(home, folder, processed=done)
    drop(folder, "scan.png", second)
    drop(folder, "scan.json", b'{"accession": "0001234567-24-000002"}')
    report = scan_drop(home, folder, processed=done)
    # the same bytes dropped again: recognised, moved, not archived again
    drop(folder, "scan.png", first)
    again = scan_drop(home, folder, processed=done)

    assert Path(report.processed).parent == done  # <processed>/<YYYY-MM-DD>/
    done = Path(report.processed)
    assert Path(report.archived[0]["processed_path"]) == done / "scan-1.png"
    assert Path(again.already[0]["processed_path"]) == done / "scan-2.png"
    assert not again.archived
    assert [(done / n).read_bytes() for n in ("scan.png", "scan-1.png", "scan-2.png")] == [
        first, second, first]
    assert json.loads((done / "scan-1.json").read_bytes())["accession"].endswith("000002")
    assert len([t for t, _, _ in records(home) if t == "resource"]) == 4  # 2 scans, 2 sidecars
    assert {r["accession"] for r in current_drops(home)} == {
        "0001234567-24-000001", "0001234567-24-000002"}


@pytest.mark.parametrize(("head", "name", "mime"), [
    (b"%PDF-1.7\n", "scan", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n....", "scan.pdf", "image/png"),
    (b"\xff\xd8\xff\xe0", "page.bin", "image/jpeg"),
    (b"II*\x00", "page", "image/tiff"),
    (b"plain words", "notes.txt", "text/plain"),
    (b"\x00\x01", "blob", "application/octet-stream"),
])
def test_the_type_comes_from_the_content_then_the_name(head: bytes, name: str, mime: str):
    assert mime_of(head, name) == mime


@pytest.mark.parametrize(("given", "accession"), [
    ("0001234567-24-000123", "0001234567-24-000123"),
    ("000123456724000123", "0001234567-24-000123"),
    (" 0001234567-24-000123 ", "0001234567-24-000123"),
    ("0001234567-24-00012", None), ("1234567-24-000123", None), ("0001234567/24/000123", None),
])
def test_accession_numbers_are_read_in_both_forms(given: str, accession: str | None):
    assert accession_of(given) == accession


def test_drop_scan_list_and_tie_on_the_command_line(tmp_path: Path):
    home = tmp_path / "home"
    folder = home / "drop"
    folder.mkdir(parents=True)
    drop(folder, "0001234567-24-000123.pdf", b"%PDF-1.4\n% cli\n")
    drop(folder, "photo.png", tiny("PNG", 90))

    scanned = salvage("--home", str(home), "drop", "scan", "--json")  # default: <home>/drop
    assert scanned.returncode == 0, scanned.stderr
    report = json.loads(scanned.stdout)
    assert sorted(r["original_name"] for r in report["archived"]) == [
        "0001234567-24-000123.pdf", "photo.png"]
    assert report["archived"][0]["mtime"][10] == "T"  # ISO 8601

    untied = salvage("--home", str(home), "drop", "list", "--untied", "--json")
    assert [r["original_name"] for r in json.loads(untied.stdout)] == ["photo.png"]

    tied = salvage("--home", str(home), "drop", "tie", "photo.png", "0001234567-24-000124",
                   "--cik", "320193", "--form", "10-K")
    assert tied.returncode == 0, tied.stderr
    assert "tied photo.png" in tied.stdout
    listed = json.loads(salvage("--home", str(home), "drop", "list", "--json").stdout)
    assert {r["original_name"]: (r["tied_by"], r["cik"]) for r in listed} == {
        "0001234567-24-000123.pdf": ("filename", None), "photo.png": ("manual", "0000320193")}
    assert "photo.png" in salvage("--home", str(home), "drop", "list").stdout

    unknown = salvage("--home", str(home), "drop", "tie", "missing.pdf", "0001234567-24-000124")
    message = " ".join(unknown.stderr.split())
    assert unknown.returncode == 1 and "missing.pdf" in message and "salvage drop list" in message
    malformed = salvage("--home", str(home), "drop", "tie", "photo.png", "12-34")
    assert malformed.returncode == 1 and "accession" in malformed.stderr
    nowhere = salvage("--home", str(home), "drop", "scan", str(tmp_path / "nowhere"))
    assert nowhere.returncode == 1 and "no drop folder" in " ".join(nowhere.stderr.split())
