"""OCR of scanned pages and images with the real Tesseract: pages rendered here from known text
(Pillow, not Tesseract) and a real 300 dpi two-column scan, straight and skewed."""

from __future__ import annotations

import io
import re
from collections import Counter
from pathlib import Path

import pytesseract
import pytest
from PIL import Image, ImageDraw, ImageFont
from rapidfuzz.distance import Levenshtein

from extract.errors import ExtractError
from extract.ocr import OcrError, OcrPage, OcrSettings, ocr_image, ocr_pdf_pages, tesseract_version

SCANS = Path(__file__).parent / "fixtures" / "scans"
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")  # Debian's fonts-dejavu-core
DPI = 300
SIZE = 42  # 10 pt at 300 dpi

FILING = [
    "The registrant filed its annual report on Form 10-K on March 15, 2024.",
    "Net revenue rose 12.4% to $1,284.6 million; operating expenses fell to $902.1 million.",
    "The board declared a quarterly dividend of $0.42 per share, payable April 30.",
    "Trading volume averaged 4,215,300 shares a day during the fourth quarter.",
    "Holders of record at the close of business on April 12 will receive the dividend.",
]
PAGES = [
    ["Page one: the issuer reported net income of $41.7 million for fiscal 2023.",
     "Its auditor issued an unqualified opinion on the consolidated statements."],
    ["Page two: the credit agreement was amended on June 3, 2022 to extend its term.",
     "The revolving facility now matures in 2027 and bears interest at SOFR plus 1.25%."],
    ["Page three: 18,988,001 shares of common stock were outstanding on May 1, 2024.",
     "The transfer agent is Computershare Trust Company, N.A., of Canton, Massachusetts."],
    ["Page four: the chief financial officer resigned effective September 30, 2021.",
     "The company has begun a search for a successor and named an interim officer."],
]


def font(size: int = SIZE) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if DEJAVU.exists():
        return ImageFont.truetype(str(DEJAVU), size)
    return ImageFont.load_default(size)  # Pillow's own scalable font


def render(lines: list[str], mode: str = "L") -> Image.Image:
    """A clean 300 dpi scan of the lines: Letter width, as tall as the text needs."""
    spacing = SIZE // 2
    image = Image.new(mode, (8 * DPI + DPI // 2, 2 * DPI // 2 + len(lines) * (SIZE + spacing)),
                      "white" if mode != "RGBA" else (255, 255, 255, 0))
    ImageDraw.Draw(image).multiline_text((DPI // 2, DPI // 2), "\n".join(lines), font=font(),
                                         fill="black", spacing=spacing)
    return image


def encode(image: Image.Image, format: str = "PNG", **params) -> bytes:
    out = io.BytesIO()
    image.save(out, format, dpi=(DPI, DPI), **params)
    return out.getvalue()


def pdf_of(images: list[Image.Image]) -> bytes:
    out = io.BytesIO()
    images[0].save(out, "PDF", save_all=True, append_images=images[1:], resolution=DPI)
    return out.getvalue()


def cer(reading: str, truth: str) -> float:
    """Character error rate with whitespace collapsed: edits over the length of the truth."""
    reading, truth = " ".join(reading.split()), " ".join(truth.split())
    return Levenshtein.distance(reading, truth) / len(truth)


def word_overlap(reading: str, truth: str) -> float:
    """Bag-of-words similarity, blind to reading order: shared words over the larger count."""
    ours, theirs = (Counter(re.findall(r"\w+", t.lower())) for t in (reading, truth))
    return sum((ours & theirs).values()) / max(sum(ours.values()), sum(theirs.values()))


def assert_well_formed(page: OcrPage, width: int, height: int) -> None:
    assert page.method == "ocr" and page.language == "eng" and page.dpi == DPI
    assert 0 <= page.low_confidence_share <= 1 and 0 < page.mean_confidence <= 100
    assert page.seconds > 0 and page.words
    for word in page.words:
        assert word.text.strip() and 0 <= word.confidence <= 100
        assert word.left >= 0 and word.left + word.width <= width
        assert word.top >= 0 and word.top + word.height <= height


@pytest.fixture(scope="module")
def linn_png() -> OcrPage:
    (page,) = ocr_image((SCANS / "linn.png").read_bytes())
    return page


def test_clean_render_reads_with_under_two_percent_cer():
    image = render(FILING, "RGBA")  # black text on a transparent page: read as paper, not ink
    (page,) = ocr_image(encode(image))
    assert cer(page.text, "\n".join(FILING)) < 0.02
    assert page.rotated == 0 and page.mean_confidence > 85
    assert page.text.splitlines()[0] == FILING[0]
    assert_well_formed(page, *image.size)


def test_pdf_pages_run_in_parallel_and_come_back_in_order():
    pdf = pdf_of([render(lines) for lines in PAGES])
    pages = ocr_pdf_pages(pdf, [1, 2, 3, 4], OcrSettings(jobs=2))
    assert [p.number for p in pages] == [1, 2, 3, 4]
    for page, lines in zip(pages, PAGES, strict=True):
        assert cer(page.text, "\n".join(lines)) < 0.02
        assert page.dpi == DPI and page.method == "ocr"
    assert [p.number for p in ocr_pdf_pages(pdf, [3, 1])] == [3, 1]


def test_pdf_pages_follow_the_asked_dpi():
    pdf = pdf_of([render(PAGES[0])])
    (page,) = ocr_pdf_pages(pdf, [1], OcrSettings(dpi=200))
    assert page.dpi == 200 and cer(page.text, "\n".join(PAGES[0])) < 0.02
    assert max(w.left + w.width for w in page.words) <= 8.5 * 200


@pytest.mark.parametrize(("turned", "rotated"), [(180, 180), (90, 90), (270, 270)])
def test_a_page_on_its_side_or_upside_down_is_turned_upright(turned: int, rotated: int):
    image = render(FILING).rotate(turned, expand=True)  # counter-clockwise
    (page,) = ocr_image(encode(image))
    assert page.rotated == rotated
    assert cer(page.text, "\n".join(FILING)) < 0.02
    assert_well_formed(page, *(image.size if turned == 180 else image.size[::-1]))


def test_multipage_tiff_gives_one_page_per_frame():
    frames = [render(PAGES[0]), render(PAGES[1]).convert("1")]
    tiff = encode(frames[0], "TIFF", save_all=True, append_images=frames[1:])
    pages = ocr_image(tiff)
    assert [p.number for p in pages] == [1, 2]
    assert cer(pages[0].text, "\n".join(PAGES[0])) < 0.02
    assert cer(pages[1].text, "\n".join(PAGES[1])) < 0.02


def test_jpeg_is_turned_by_its_exif_orientation_first():
    exif = Image.Exif()
    exif[0x0112] = 3  # Orientation: the camera held upside down, shown turned 180
    jpeg = encode(render(PAGES[2]).rotate(180), "JPEG", exif=exif, quality=90)
    (page,) = ocr_image(jpeg)
    assert page.rotated == 0 and cer(page.text, "\n".join(PAGES[2])) < 0.02


def test_a_page_that_takes_too_long_fails_instead_of_hanging():
    with pytest.raises(OcrError, match="no reading within 0.05 s"):
        ocr_image(encode(render(FILING)), OcrSettings(timeout=0.05))


def test_a_blank_page_gives_no_words():
    (page,) = ocr_image(encode(Image.new("L", (1200, 800), 255)))
    assert page.text == "" and page.words == [] and page.rotated == 0
    assert page.mean_confidence == 0 and page.low_confidence_share == 0


def test_two_column_scan_against_its_earlier_ocr(linn_png: OcrPage):
    truth = (SCANS / "linn.txt").read_text()
    overlap = word_overlap(linn_png.text, truth)
    print(f"linn.png: bag-of-words overlap with linn.txt {overlap:.3f}, "
          f"mean confidence {linn_png.mean_confidence}")
    assert overlap > 0.9
    assert linn_png.mean_confidence > 85 and linn_png.low_confidence_share < 0.1
    assert linn_png.text.startswith("The LinnSequencer")
    with Image.open(SCANS / "linn.png") as image:
        assert_well_formed(linn_png, *image.size)


def test_skewed_scan_reads_like_the_straight_one(linn_png: OcrPage):
    (page,) = ocr_pdf_pages((SCANS / "skew.pdf").read_bytes(), [1])
    overlap = word_overlap(page.text, linn_png.text)
    print(f"skew.pdf: bag-of-words overlap with linn.png's reading {overlap:.3f}")
    assert overlap > 0.9 and page.rotated == 0


@pytest.mark.skipif(not DEJAVU.exists(), reason="needs Cyrillic glyphs: fonts-dejavu-core")
def test_very_low_confidence_is_read_again_with_the_other_languages():
    if "rus" not in pytesseract.get_languages():
        pytest.skip("needs Tesseract's Russian pack: apt-get install tesseract-ocr-rus")
    russian = ["Совет директоров утвердил годовой отчёт компании.",
               "Выручка выросла на двенадцать процентов."]
    (english_only,) = ocr_image(encode(render(russian)))
    (page,) = ocr_image(encode(render(russian)), OcrSettings(languages=("eng", "rus")))
    assert english_only.language == "eng" and english_only.mean_confidence < 50
    assert page.language == "rus" and page.mean_confidence > 80
    assert cer(page.text, "\n".join(russian)) < 0.02


def test_unreadable_images_are_ocr_errors():
    with pytest.raises(OcrError, match="not an image"):
        ocr_image(b"this is not an image at all")
    png = encode(render(FILING))
    with pytest.raises(OcrError, match="frame 1 cannot be decoded") as caught:
        ocr_image(png[: len(png) // 2])  # the header reads, the pixels are cut short
    assert isinstance(caught.value, ExtractError) and caught.value.reason


def test_missing_language_pack_names_the_apt_package():
    with pytest.raises(OcrError, match="apt-get install tesseract-ocr-xyz"):
        ocr_image(encode(render(FILING)), OcrSettings(languages=("xyz",)))
    with pytest.raises(OcrError, match="tesseract-ocr-chi-sim"):
        ocr_pdf_pages(pdf_of([render(FILING)]), [1], OcrSettings(languages=("eng", "chi_sim")))


def test_missing_tesseract_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", "/nonexistent/tesseract")
    with pytest.raises(OcrError, match="install tesseract-ocr; `make setup` does"):
        ocr_image(encode(render(FILING)))
    with pytest.raises(OcrError, match="install tesseract-ocr"):
        tesseract_version()


def test_pages_outside_the_pdf_and_broken_pdfs_are_ocr_errors():
    pdf = pdf_of([render(FILING)])
    with pytest.raises(OcrError, match="no page 2"):
        ocr_pdf_pages(pdf, [1, 2])
    with pytest.raises(OcrError, match="PDF cannot be opened"):
        ocr_pdf_pages(b"%PDF-1.7 but nothing else", [1])
    assert ocr_pdf_pages(pdf, []) == []


def test_tesseract_version_is_five_or_later():
    assert int(tesseract_version().split(".")[0]) >= 5
