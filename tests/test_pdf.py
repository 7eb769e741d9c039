"""Text-layer PDFs: reading order on generated pages of known text (two columns, skewed, sloping,
rotated), the corpus PDFs' metadata, tables and scans, typed errors, and incremental updates."""

from __future__ import annotations

import io
import random
import re
from collections import Counter
from pathlib import Path

import pdfplumber
import pytest
from PIL import Image
from rapidfuzz.distance import Levenshtein
from reportlab.lib.pdfencrypt import StandardEncryption
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen import canvas

from extract.errors import ExtractError
from extract.pdf import EncryptedPdf, MalformedPdf, PdfError, looks_like_pdf, read_pdf

PDFS = Path(__file__).parent / "fixtures" / "pdf"
LETTER = (612, 792)
WORDS = ["market", "data", "feed", "order", "book", "trade", "quote", "halt", "auction",
         "exchange", "venue", "symbol", "price", "timestamp", "sequence", "gap", "recovery",
         "snapshot", "message", "session", "participant", "cancel", "replace", "execute", "cross",
         "imbalance", "locate", "tracking", "nanosecond"]


def fixture(name: str) -> bytes:
    return (PDFS / name).read_bytes()


def cer(truth: str, text: str) -> float:
    """Character error rate, whitespace collapsed (line breaks and spaces are one)."""
    truth, text = " ".join(truth.split()), " ".join(text.split())
    return Levenshtein.distance(truth, text) / len(truth)


def bag_similarity(a: str, b: str) -> float:
    """2|A∩B| / (|A|+|B|) over the multisets of lower-case word tokens."""
    x, y = Counter(re.findall(r"\w+", a.lower())), Counter(re.findall(r"\w+", b.lower()))
    return 2 * sum((x & y).values()) / (sum(x.values()) + sum(y.values()))


def known_lines(count: int, width: float, seed: int) -> list[str]:
    """`count` lines of prose, each at most `width` points in 10 pt Helvetica."""
    rng, lines, line = random.Random(seed), [], ""
    while len(lines) < count:
        word = rng.choice(WORDS)
        if line and stringWidth(f"{line} {word}", "Helvetica", 10) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return lines


def make_pdf(draw, **options) -> bytes:
    out = io.BytesIO()
    page = canvas.Canvas(out, pagesize=LETTER, **options)
    page.setFont("Helvetica", 10)
    draw(page)
    page.showPage()
    page.save()
    return out.getvalue()


def hand_pdf(objects: list[bytes], trailer: bytes) -> bytes:
    """A PDF written by hand: object i+1 is objects[i], one classic xref section."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d %s >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, trailer,
                                                                       xref)
    return bytes(out)


def append_update(pdf: bytes, number: int, body: bytes, trailer: bytes) -> bytes:
    """An incremental update replacing object `number`: object, xref, trailer with /Prev."""
    prev = int(re.findall(rb"startxref\s+(\d+)", pdf)[-1])
    update = b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(pdf) + len(update)
    update += b"xref\n%d 1\n%010d 00000 n \n" % (number, len(pdf))
    update += b"trailer\n<< %s /Prev %d >>\nstartxref\n%d\n%%%%EOF\n" % (trailer, prev, xref)
    return pdf + update


XMP = b"""<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/"
 xmlns:pdf="http://ns.adobe.com/pdf/1.3/" xmlns:dc="http://purl.org/dc/elements/1.1/">
<xmp:CreateDate>2014-01-23T11:54:08-05:00</xmp:CreateDate>
<xmp:ModifyDate>2014-01-23T11:54:08-05:00</xmp:ModifyDate>
<pdf:Producer>Acme Writer 1.0</pdf:Producer>
<dc:title><rdf:Alt><rdf:li xml:lang="x-default">Quarterly &amp; annual report</rdf:li></rdf:Alt>
</dc:title></rdf:Description></rdf:RDF></x:xmpmeta>
<?xpacket end="w"?>"""


def forensic_pdf(info: bytes) -> bytes:
    content = b"BT /F1 12 Tf 72 700 Td (Quarterly report of the registrant) Tj ET"
    return hand_pdf([
        b"<< /Type /Catalog /Pages 2 0 R /Metadata 5 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 6 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        b"<< /Type /Metadata /Subtype /XML /Length %d >>\nstream\n%s\nendstream" % (len(XMP), XMP),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        info,
    ], b"/Root 1 0 R /Info 7 0 R")


# --- reading order on generated pages ---------------------------------------------------------


def test_two_columns_read_column_by_column():
    title = "Quarterly report on market data gaps and recoveries"
    columns = [known_lines(45, 220, seed) for seed in (1, 2)]

    def draw(page):
        page.setFont("Helvetica-Bold", 14)
        page.drawString(72, 720, title)
        page.setFont("Helvetica", 10)
        for x, lines in zip((72, 320), columns, strict=True):
            for i, line in enumerate(lines):
                page.drawString(x, 690 - i * 13, line)  # both columns on the same baselines

    data = make_pdf(draw)
    truth = "\n".join([title, *columns[0], *columns[1]])
    ours = read_pdf(data).pages[0].text
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        theirs = pdf.pages[0].extract_text()
    assert cer(truth, ours) < 0.01
    assert cer(truth, theirs) > 0.3  # pdfplumber reads across both columns


@pytest.mark.parametrize("angle", [3, -5, 12, 90])
def test_skewed_text_reads_line_by_line(angle):
    lines = known_lines(40, 430, seed=angle + 100)

    def draw(page):
        page.translate(90 if angle != 90 else 540, 700 if angle != 90 else 90)
        page.rotate(angle)
        for i, line in enumerate(lines):
            page.drawString(0, -i * 14, line)

    data = make_pdf(draw)
    ours = read_pdf(data).pages[0].text
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        theirs = pdf.pages[0].extract_text()
    assert cer("\n".join(lines), ours) < 0.01
    assert cer("\n".join(lines), theirs) > 0.3


def test_upright_words_on_sloping_lines_read_line_by_line():
    """A skewed scan's OCR layer: each word upright, the words of a line climbing."""
    lines = known_lines(40, 430, seed=7)

    def draw(page):
        for i, line in enumerate(lines):
            x = 72.0
            for word in line.split():
                page.drawString(x, 700 - i * 14 + 0.05 * (x - 72), word)
                x += stringWidth(word + " ", "Helvetica", 10)

    assert cer("\n".join(lines), read_pdf(make_pdf(draw)).pages[0].text) < 0.01


def test_words_have_boxes_from_the_top_left_of_the_displayed_page():
    def draw(page):
        page.drawString(100, 700, "Salvage archive")

    page = read_pdf(make_pdf(draw)).pages[0]
    first = page.words[0]
    assert [w.text for w in page.words] == ["Salvage", "archive"]
    assert first.x0 == pytest.approx(100, abs=0.5)
    assert first.bottom == pytest.approx(792 - 700, abs=3)  # the baseline, less the descent
    assert first.top < first.bottom and first.x1 < page.words[1].x0


def test_a_rotated_page_is_measured_as_displayed():
    content = b"BT /F1 12 Tf 72 700 Td (Landscape filing table) Tj ET"
    data = hand_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Rotate 90 /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ], b"/Root 1 0 R")
    page = read_pdf(data).pages[0]
    assert (page.width, page.height) == (792, 612)
    assert page.text == "Landscape filing table"
    first = page.words[0]  # turned a quarter clockwise: x from the user space's y, top from x
    assert first.x0 == pytest.approx(700 - 3, abs=1) and first.top == pytest.approx(72, abs=0.5)
    assert all(0 <= w.x0 < w.x1 <= 792 and 0 <= w.top < w.bottom <= 612 for w in page.words)


def test_words_off_keeps_the_text():
    def draw(page):
        page.drawString(72, 700, "Only the text is wanted here")

    page = read_pdf(make_pdf(draw), words=False, tables=False).pages[0]
    assert page.text == "Only the text is wanted here" and page.words == []


# --- scans and text layers --------------------------------------------------------------------


def scan_pdf(layers: list[str | None]) -> bytes:
    """One page per layer: a full-page image, with that invisible text layer (None: none)."""
    image = ImageReader(Image.new("L", (850, 1100), 235))
    out = io.BytesIO()
    page = canvas.Canvas(out, pagesize=LETTER)
    for layer in layers:
        page.drawImage(image, 0, 0, *LETTER)
        if layer is not None:
            text = page.beginText(72, 700)
            text.setTextRenderMode(3)  # invisible, as OCR layers are
            text.setFont("Helvetica", 10)
            for line in layer.split("\n"):
                text.textLine(line)
            page.drawText(text)
        page.showPage()
    page.save()
    return out.getvalue()


def test_scans_need_ocr_unless_their_layer_reads_as_words():
    clean = "The registrant filed its annual report on Form 10-K on March 15, 2024.\n" \
            "Net revenue rose 12.4% to $1,284.6 million; expenses fell."
    garbled = "sw | \\ +\n400 + 300 —esupport\nBH No vote{note 1]\n200 4 t= Oppose SeNet{note 2]"
    pages = read_pdf(scan_pdf([None, clean, garbled])).pages
    assert [p.has_text_layer for p in pages] == [False, True, True]
    assert all(p.image_coverage > 0.99 for p in pages)
    assert [p.garbled for p in pages] == [False, False, True]
    assert [p.needs_ocr for p in pages] == [True, False, True]
    assert pages[1].text.startswith("The registrant filed")


def test_multipage_scan_image_pages_and_its_garbled_ocr_layer():
    pages = read_pdf(fixture("multipage.pdf")).pages
    assert len(pages) == 6 and all(p.needs_ocr for p in pages)
    assert [p.has_text_layer for p in pages] == [False, False, False, True, False, False]
    chart = pages[3]  # a chart with a scanner's invisible OCR layer: "sw | \ + 400 + 300 ..."
    assert chart.garbled and chart.image_coverage == 1.0 and "Oppose" in chart.text


def test_text_pages_are_not_flagged():
    doc = read_pdf(fixture("federal-register-2020-17221.pdf"))
    assert not any(p.needs_ocr or p.garbled for p in doc.pages)


# --- corpus text PDFs -------------------------------------------------------------------------


def test_federal_register_reads_column_by_column():
    text = " ".join(read_pdf(fixture("federal-register-2020-17221.pdf")).pages[1].text.split())
    assert ("Investigation of the accident has been completed by the Indonesian authorities "
            "(Komite Nasional Keselamatan Transportasi (KNKT)) with assistance from the National "
            "Transportation Safety Board (NTSB)") in text  # six lines of the first column
    starts = [text.index(s) for s in ("Hatta International Airport in Jakarta",  # column 1
                                      "On November 7, 2018, the FAA issued",  # column 2
                                      "The data from the flight data recorders")]  # column 3
    assert starts == sorted(starts)
    assert text.startswith("Federal Register / Vol. 85, No. 152")
    assert text.endswith("jbell on DSKJLSW7X2PROD with PROPOSALS")  # printed up the margin


def test_itch_spec_words_match_pdfplumber():
    """pdfium drops space glyphs that the next glyph overlaps; the gap restores the space."""
    data = fixture("NQTVITCHSpecification.pdf")
    doc = read_pdf(data)
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        for number in (5, 21):
            theirs = pdf.pages[number - 1].extract_text()
            assert bag_similarity(doc.pages[number - 1].text, theirs) >= 0.98
    assert "For general product support and technical support for Nasdaq" in doc.pages[20].text
    table = doc.pages[4].text
    assert "Stock Locate 1 2 Integer Locate Code uniquely assigned" in table  # rows, not columns


def test_nics_ruled_table_comes_out_as_rows():
    page = read_pdf(fixture("nics-background-checks-2015-11.pdf")).pages[0]
    [table] = page.tables
    assert len(table) == 17 and all(len(row) == 25 for row in table)
    assert table[0][0] == "NICS Firearm Background Checks\nNovember - 2015"
    states = table[2][0].split("\n")
    assert states == ["Alabama", "Alaska", "Arizona", "Arkansas", "California"]
    assert table[2][1].split("\n")[:2] == ["18,870", "209"]  # Alabama's and Alaska's permits


def test_tables_off_and_shaded_boxes_left_out():
    assert read_pdf(fixture("nics-background-checks-2015-11.pdf"), tables=False).pages[0].tables \
        == []
    spec = read_pdf(fixture("NQTVITCHSpecification.pdf"))
    assert not any(p.tables for p in spec.pages)  # shaded headings are boxes, not tables
    asked = read_pdf(fixture("NQTVITCHSpecification.pdf"), tables=True)
    assert asked.pages[4].tables  # asked for: everything the finder draws, as pdfplumber does


# --- metadata ---------------------------------------------------------------------------------


def test_formc_dates_from_info_and_xmp_and_modified_long_after_creation():
    meta = read_pdf(fixture("formc.pdf")).metadata
    assert meta.info["CreationDate"] == "D:20140123115408-05'00'"
    assert meta.info["ModDate"] == "D:20230426154337-04'00'"
    assert meta.xmp["xmp:CreateDate"] == "2014-01-23T11:54:08-05:00"
    assert meta.xmp["xmp:ModifyDate"] == "2023-04-26T15:43:37-04:00"
    assert meta.xmp["dc:title"] == "Form C"
    assert meta.created.isoformat() == "2014-01-23T16:54:08+00:00"
    assert meta.modified.isoformat() == "2023-04-26T19:43:37+00:00"
    assert meta.producer == "Adobe PDF Library 15.0"
    assert meta.creator == "Adobe InDesign CC 13.1 (Windows)"
    assert meta.disagreements == []  # Info and XMP tell the same story
    assert meta.incremental_updates == 0  # linearized: two %%EOF, one revision
    assert any(s.startswith("modified long after creation") for s in meta.signals)


def test_epson_scan_has_no_info_dictionary():
    doc = read_pdf(fixture("epson.pdf"))
    assert doc.metadata.info == {} and doc.metadata.created is None
    assert "no Info dictionary" in doc.metadata.signals
    assert doc.pages[0].needs_ocr and not doc.pages[0].has_text_layer


def test_info_and_xmp_disagreements_are_reported():
    info = (b"<< /Producer (Other Tool 2.0) /CreationDate (D:20140123115408-05'00')"
            b" /ModDate (D:20230426154337-04'00') /Department (Filings) >>")
    meta = read_pdf(forensic_pdf(info)).metadata
    assert meta.info["Department"] == "Filings"  # a key outside the standard eight
    assert meta.xmp["dc:title"] == "Quarterly & annual report"
    assert meta.producer == "Other Tool 2.0"
    assert any(d.startswith("Info ModDate 2023-04-26T19:43:37Z vs XMP xmp:ModifyDate 2014-01-23")
               for d in meta.disagreements)
    assert "Producer differs: Info 'Other Tool 2.0' vs XMP pdf:Producer 'Acme Writer 1.0'" \
        in meta.disagreements
    assert not any(d.startswith("Info CreationDate") for d in meta.disagreements)


def test_incremental_update_is_counted_and_its_info_read():
    first = forensic_pdf(b"<< /Producer (Acme Writer 1.0) /ModDate (D:20140123115408-05'00') >>")
    assert read_pdf(first).metadata.incremental_updates == 0
    updated = append_update(first, 7, b"<< /Producer (Acme Writer 1.0)"
                            b" /ModDate (D:20240601090000Z) >>", b"/Size 8 /Root 1 0 R /Info 7 0 R")
    twice = append_update(updated, 7, b"<< /Producer (Editor 9) /ModDate (D:20250101000000Z) >>",
                          b"/Size 8 /Root 1 0 R /Info 7 0 R")
    assert read_pdf(updated).metadata.incremental_updates == 1
    meta = read_pdf(twice).metadata
    assert meta.incremental_updates == 2 and "incremental updates: 2" in meta.signals
    assert meta.producer == "Editor 9" and meta.modified.year == 2025  # the newest revision


def test_word_empty_update_section_and_federal_register_update():
    """Word appends an empty `xref 0 0` section (no revision); govinfo's file was updated once."""
    assert read_pdf(fixture("NQTVITCHSpecification.pdf")).metadata.incremental_updates == 0
    meta = read_pdf(fixture("federal-register-2020-17221.pdf")).metadata
    assert meta.incremental_updates == 1
    assert "digitally signed: 1 signature(s)" in meta.signals


# --- refusals ---------------------------------------------------------------------------------


def test_encrypted_pdf_is_refused_with_a_reason():
    with pytest.raises(EncryptedPdf) as refused:
        read_pdf(fixture("password-example.pdf"))
    assert "password" in refused.value.reason and isinstance(refused.value, ExtractError)


def test_empty_user_password_opens_and_is_recorded():
    def draw(page):
        page.drawString(72, 700, "Readable by anyone who opens it")

    doc = read_pdf(make_pdf(draw, encrypt=StandardEncryption("", ownerPassword="owner")))
    assert doc.metadata.encrypted
    assert doc.pages[0].text == "Readable by anyone who opens it"


def test_swapped_mediabox_is_read_and_flagged():
    """The corpus's "malformed" file (pdfplumber issue 932): its MediaBox lists the corners top
    first, which the PDF spec allows readers to normalise; pdfium and pdfplumber both read it."""
    doc = read_pdf(fixture("malformed-from-issue-932.pdf"))
    page = doc.pages[0]
    assert page.text == "2021 3 31" and page.needs_ocr and page.image_coverage == 1.0
    assert (page.width, page.height) == pytest.approx((631.08, 841.68))
    assert "MediaBox corners swapped on page(s) 1 (read normalised)" in doc.metadata.signals


@pytest.mark.parametrize("name", ["formc.pdf", "federal-register-2020-17221.pdf", "epson.pdf"])
@pytest.mark.parametrize("keep", [0.05, 0.5, 0.9, 0.999])
def test_truncated_pdf_is_malformed(name, keep):
    data = fixture(name)
    with pytest.raises(MalformedPdf) as refused:
        read_pdf(data[:int(len(data) * keep)])
    assert "truncated" in refused.value.reason


@pytest.mark.parametrize("data", [b"", b"%PDF", b"<html>not a pdf</html>", bytes(range(256)) * 8,
                                  b"%PDF-1.7\n" + random.Random(1).randbytes(5000) + b"\n%%EOF\n"])
def test_garbage_is_malformed(data):
    with pytest.raises(MalformedPdf) as refused:
        read_pdf(data)
    assert refused.value.reason


def test_damaged_pdfs_raise_only_pdf_errors():
    rng = random.Random(932)
    sources = [fixture(n) for n in ("epson.pdf", "nics-background-checks-2015-11.pdf",
                                    "password-example.pdf", "malformed-from-issue-932.pdf")]
    read = 0
    for _ in range(60):
        data = bytearray(rng.choice(sources))
        for _ in range(rng.randint(1, 40)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.3:
            start = rng.randrange(len(data))
            del data[start:start + rng.randint(1, 4000)]
        try:
            read_pdf(bytes(data))
            read += 1
        except PdfError as error:
            assert error.reason
    assert read  # most damage is repaired by pdfium, and read


def test_looks_like_pdf():
    assert looks_like_pdf(fixture("epson.pdf"))
    assert looks_like_pdf(b"\r\n%PDF-1.4\n")
    assert not looks_like_pdf(b"<html>")


def test_characters_beyond_the_basic_plane_are_one_character():
    """Form C's check boxes are U+100191, which pdfium reports as two UTF-16 halves."""
    doc = read_pdf(fixture("formc.pdf"))
    text = "".join(p.text for p in doc.pages)
    assert "(Mark one.)\n\U00100191 Form C" in text
    text.encode("utf-8")  # no lone surrogates
