"""PDFs, scans and images end to end: served by a local site (some at URLs that say nothing of
what they hold), captured into WARCs, extracted with the real pdfium and Tesseract, and searched."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from conftest import salvage
from PIL import Image, ImageDraw, ImageFont
from rapidfuzz.distance import Levenshtein

from archive.capture import Capturer, CaptureSettings
from archive.home import Home
from extract.ocr import ocr_pdf_pages
from extract.paged import pdf_rows, text_score
from extract.run import extract_home
from flows.mirror import Mirror
from storage.query import query

FIXTURES = Path(__file__).parent / "fixtures"
PDFS = FIXTURES / "pdf"
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
DPI = 300
SCAN_TEXT = [
    "Quillfeather Holdings disclosed a material weakness in its controls.",
    "The audit committee retained counsel on August 14, 2023 to review it.",
    "Revenue for the quarter was $48.2 million against $51.9 million a year ago.",
]
IMAGE_TEXT = [
    "Notice of late filing: the annual report on Form 10-K for Marrowby Inc.",
    "will be filed within the fifteen day extension the rule allows.",
]
SCAN = "scans/download?id=0007"  # a scan behind a URL with no extension: served as octet-stream
SITE = {
    SCAN: None,
    "notices/late-filing.png": None,
    "docs/nics.pdf": PDFS / "nics-background-checks-2015-11.pdf",
    "docs/formc.pdf": PDFS / "formc.pdf",
    "docs/issue-932.pdf": PDFS / "malformed-from-issue-932.pdf",
    "docs/locked.pdf": PDFS / "password-example.pdf",
    "docs/cut.pdf": None,
    "blobs/data.bin": None,
}
SETTINGS = CaptureSettings(user_agent="Salvage tests test@example.com", backoff=0.01, retries=0,
                           default_rate=None)


def render(lines: list[str]) -> Image.Image:
    """A clean 300 dpi scan of the lines, drawn by Pillow (not by Tesseract)."""
    font = (ImageFont.truetype(str(DEJAVU), 42) if DEJAVU.exists()
            else ImageFont.load_default(42))
    image = Image.new("L", (int(8.5 * DPI), 11 * DPI), "white")
    ImageDraw.Draw(image).multiline_text((DPI, DPI), "\n".join(lines), font=font, fill="black",
                                         spacing=21)
    return image


def scanned_pdf(images: list[Image.Image]) -> bytes:
    out = io.BytesIO()
    images[0].save(out, "PDF", save_all=True, append_images=images[1:], resolution=DPI)
    return out.getvalue()


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", dpi=(DPI, DPI))
    return out.getvalue()


def cer(reading: str, truth: str) -> float:
    a, b = " ".join(reading.split()), " ".join(truth.split())
    return Levenshtein.distance(a, b) / len(b)


def _site(folder: Path) -> Path:
    formc = (PDFS / "formc.pdf").read_bytes()
    made = {SCAN: scanned_pdf([render(SCAN_TEXT)]),
            "notices/late-filing.png": png(render(IMAGE_TEXT)),
            "docs/cut.pdf": formc[: len(formc) * 2 // 3],  # a download cut short
            "blobs/data.bin": bytes(range(256)) * 64}
    for rel, source in SITE.items():
        path = folder / rel.split("?")[0]
        path.parent.mkdir(parents=True, exist_ok=True)
        if source is None:
            path.write_bytes(made[rel])
        else:
            shutil.copyfile(source, path)
    return folder


@pytest.fixture(scope="module")
def documents(tmp_path_factory):
    base = tmp_path_factory.mktemp("documents")
    home = Home(base / "home").ensure()
    with Mirror(_site(base / "site")) as mirror, Capturer(home, SETTINGS) as capturer:
        urls = {p: f"{mirror.url}/{p}" for p in SITE}
        results = capturer.capture_urls(list(urls.values()))
    assert all(r.ok for r in results), [r.error for r in results]
    return home, extract_home(home), urls


def _document(home: Home, url: str) -> dict:
    [row] = query(home.catalog, f"SELECT * FROM documents WHERE source_url = '{url}'").to_pylist()
    return row


def test_the_scan_behind_an_extensionless_url_is_ocrd_and_found_by_search(documents):
    home, report, urls = documents
    assert report.unreadable == []
    [capture] = query(home.catalog, f"SELECT mime FROM captures WHERE url = '{urls[SCAN]}' "
                      "AND record_type = 'response'").to_pylist()
    assert capture["mime"] == "application/octet-stream"
    doc = _document(home, urls[SCAN])
    assert doc["method"] == "pdf+ocr" and doc["ocr_pages"] == 1 and doc["page_count"] == 1
    assert cer(doc["text"], "\n".join(SCAN_TEXT)) < 0.02 and doc["mean_confidence"] > 80
    found = salvage("--home", str(home.root), "search", '"material weakness"', "--json")
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)
    assert [h["url"] for h in hits] == [urls[SCAN]] and "weakness" in hits[0]["snippet"]


def test_ocr_pages_keep_method_confidence_and_words(documents):
    home, _, urls = documents
    [page] = query(home.catalog, "SELECT * FROM pages WHERE source_url = "
                   f"'{urls[SCAN]}'").to_pylist()
    assert page["method"] == "ocr" and page["chosen"] and page["language"] == "eng"
    assert page["mean_confidence"] > 80 and 0 <= page["low_confidence_share"] < 0.1
    assert [w["text"] for w in page["words"][:2]] == ["Quillfeather", "Holdings"]
    first = page["words"][0]  # boxes in points of the page, from its top-left corner
    assert 60 < first["x0"] < first["x1"] < 612 and 60 < first["top"] < first["bottom"] < 200


def test_an_image_is_ocrd(documents):
    home, _, urls = documents
    doc = _document(home, urls["notices/late-filing.png"])
    assert doc["method"] == "ocr" and cer(doc["text"], "\n".join(IMAGE_TEXT)) < 0.02


def test_text_pdfs_are_read_without_ocr_with_tables_and_forensic_metadata(documents):
    home, _, urls = documents
    nics = _document(home, urls["docs/nics.pdf"])
    assert nics["method"] == "pdf" and nics["ocr_pages"] == 0
    [page] = query(home.catalog, "SELECT method, tables FROM pages WHERE source_url = "
                   f"'{urls['docs/nics.pdf']}'").to_pylist()
    assert page["method"] != "ocr" and len(page["tables"]) == 1 and len(page["tables"][0]) == 17
    formc = _document(home, urls["docs/formc.pdf"])
    assert formc["created"].year == 2014 and formc["modified"].year == 2023
    assert any("modified" in s for s in formc["signals"])


def test_encrypted_and_truncated_pdfs_are_quarantined_with_their_reason(documents):
    home, report, urls = documents
    refused = {q["url"]: q["error_type"] for q in report.quarantined}
    assert refused == {urls["docs/locked.pdf"]: "EncryptedPdf",
                       urls["docs/cut.pdf"]: "MalformedPdf"}
    rows = {r["source_url"]: r for r in query(
        home.catalog, "SELECT * FROM quarantine").to_pylist()}
    assert "password" in rows[urls["docs/locked.pdf"]]["reason"]
    assert "truncated" in rows[urls["docs/cut.pdf"]]["reason"]
    for row in rows.values():  # the untouched bytes stay in the WARC
        stored = salvage("--home", str(home.root), "get", row["source_url"], text=False)
        assert stored.returncode == 0 and stored.stdout.startswith(b"%PDF-")


def test_the_corpus_malformed_pdf_is_read_and_its_fault_recorded(documents):
    """Its only fault (MediaBox corners swapped) is one the PDF spec tells readers to normalise:
    the scan is read and OCR'd, and the fault is a signal (docs/DECISIONS.md)."""
    home, _, urls = documents
    doc = _document(home, urls["docs/issue-932.pdf"])
    assert any("MediaBox" in s for s in doc["signals"]) and doc["ocr_pages"] == 1


def test_bytes_no_extractor_reads_are_ledgered_once(documents):
    home, report, urls = documents
    [row] = query(home.catalog, "SELECT kind, status, rows FROM extractions WHERE source_url = "
                  f"'{urls['blobs/data.bin']}'").to_pylist()
    assert row == {"kind": "unknown", "status": "ok", "rows": 0}
    again = extract_home(home)
    assert again.extracted == 0 and again.already == report.candidates


def _mixed_pdf() -> tuple[bytes, list[int]]:
    """Text pages from the corpus with two scans put between them: pages 2 and 4 are images."""
    out = pdfium.PdfDocument.new()
    text = pdfium.PdfDocument((PDFS / "federal-register-2020-17221.pdf").read_bytes())
    scans = pdfium.PdfDocument(scanned_pdf([render(SCAN_TEXT), render(IMAGE_TEXT)]))
    out.import_pages(text, [0])
    out.import_pages(scans, [0])
    out.import_pages(text, [1])
    out.import_pages(scans, [1])
    buffer = io.BytesIO()
    out.save(buffer)
    return buffer.getvalue(), [2, 4]


def test_a_mixed_pdf_ocrs_only_its_image_pages():
    data, images = _mixed_pdf()
    calls: list[list[int]] = []

    def counting(data: bytes, pages: list[int]):
        calls.append(list(pages))
        return ocr_pdf_pages(data, pages)

    fields, rows = pdf_rows(data, ocr=counting)
    assert calls == [images]
    assert [(r["page"], r["method"]) for r in rows if r["chosen"]] == [
        (1, "text-layer"), (2, "ocr"), (3, "text-layer"), (4, "ocr")]
    assert fields["method"] == "pdf+ocr" and fields["ocr_pages"] == 2
    pages = fields["text"].split("\f")
    assert "Quillfeather" in pages[1] and "Marrowby" in pages[3]
    assert "Quillfeather" not in pages[0] + pages[2]


def test_a_garbled_scanner_layer_is_read_again_and_both_readings_kept():
    data = (PDFS / "multipage.pdf").read_bytes()
    asked: list[int] = []

    def counting(data: bytes, pages: list[int]):
        asked.extend(pages)
        return ocr_pdf_pages(data, pages)

    fields, rows = pdf_rows(data, ocr=counting)
    assert asked == [1, 2, 3, 4, 5, 6]  # five image-only pages and one with a garbled layer
    chart = [r for r in rows if r["page"] == 4]
    assert sorted(r["method"] for r in chart) == ["ocr-redo", "text-layer"]
    kept = next(r for r in chart if r["chosen"])
    dropped = next(r for r in chart if not r["chosen"])
    assert kept["method"] == "ocr-redo" and text_score(kept["text"]) > text_score(dropped["text"])
    chosen_ocr = [r for r in rows if r["chosen"] and r["method"] != "text-layer"]
    assert fields["ocr_pages"] == len(chosen_ocr)
