"""Text-layer PDFs read from bytes: reading-order text, words, ruled tables and forensic metadata.

pypdfium2 reads the glyphs, the images and the ruling lines (its text layer reads about 30x faster
than pdfminer, on which pdfplumber is built); pdfplumber contributes only its table algorithm, fed
with pdfium's ruling lines. Reading order is rebuilt from glyph boxes: lines by baseline along the
page's text direction (skewed and rotated text reads line by line), columns split at vertical
whitespace gutters (a three-column page reads column by column; a table's columns are not text
columns and read row by row). A page without a usable text layer, or whose layer over a scanned
image looks garbled, is flagged `needs_ocr` for `extract.ocr`; nothing is OCR'd here. pdfium is not
thread-safe: read PDFs in one thread per process.

Metadata is read as evidence: the Info dictionary and the XMP packet side by side, their
disagreements, the revisions appended after the first (incremental updates) and signals such as a
modification date years after creation. Coordinates are PDF points from the top-left corner of
the page as displayed (after /Rotate). Naive dates are read as UTC.
"""

from __future__ import annotations

import bisect
import ctypes
import html
import math
import re
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from statistics import median

import pypdfium2 as pdfium
import pypdfium2.raw as raw
from pdfplumber.table import (
    Table,
    cells_to_tables,
    edges_to_intersections,
    intersections_to_cells,
    merge_edges,
)
from pdfplumber.utils import filter_edges

from extract.errors import ExtractError

MIN_TEXT_CHARS = 20
"""A page with fewer non-space characters than this has no usable text layer."""
SCAN_COVERAGE = 0.8
"""A page whose images cover more than this share of it is a scan (its text may be an OCR layer)."""
GARBLED_BELOW = 0.5
"""A scan's text layer with a smaller share of word-like tokens than this is garbled."""
MODIFIED_LONG_AFTER = timedelta(days=30)
"""A modification date further than this after the creation date is a forensic signal."""
TABLE_EDGE_LIMIT = 3000
"""Pages with more ruling lines than this (drawings, charts) are not searched for tables."""

_SPACE_GAP = 0.05  # a gap wider than this many line heights between two glyphs is a word space
_MAX_SPACING = 0.6  # letter spacing never hides a gap wider than this many line heights
_LINE_TOL = 0.45  # baselines closer than this many line heights are one line
_GUTTER = 1.0  # a column gutter is at least one line height wide
_QUARTER = math.pi / 2
_SIZE = itemgetter(4)
_INVISIBLE = frozenset((0x200B, 0xFEFF, 0xFFFE, 0xFFFF))  # zero-width space, BOM, non-characters
_TURN = 2 * math.pi
_IMAGE, _PATH, _FORM = raw.FPDF_PAGEOBJ_IMAGE, raw.FPDF_PAGEOBJ_PATH, raw.FPDF_PAGEOBJ_FORM
_LINETO = raw.FPDF_SEGMENT_LINETO
_WORDLIKE = re.compile(r"[^\W\d_]{2,}")
_NUMBER = re.compile(r"[\d.,:/%$-]+")
_PUNCTUATION = ".,;:()[]{}\"'!?\u2018\u2019\u201c\u201d\u2014\u2013*"
_VOWEL = re.compile(r"[aeiouyAEIOUYàâäéèêëîïôöùûüÀ-ÖØ-öø-ÿ]")
_STARTXREF = re.compile(rb"startxref\s+(\d+)\s+%%EOF")
_EMPTY_UPDATE = re.compile(rb"xref\s+0\s+0\s+trailer")
_INFO_REF = re.compile(rb"/Info\s+(\d+)\s+(\d+)\s+R")
_KEY = re.compile(rb"/([A-Za-z][\w.#-]*)\s*[(<]")
_CATALOG = re.compile(rb"/Type\s*/Catalog\b")
_METADATA_REF = re.compile(rb"/Metadata\s+(\d+)\s+(\d+)\s+R")
_OBJ_START = re.compile(rb"\d+\s+\d+\s+obj\b")
_XMP_STREAM = re.compile(rb"/Subtype\s*/XML\b")
_XMP_PACKET = re.compile(rb"<x:x[am]pmeta\b.*?</x:x[am]pmeta>", re.S)
_XMP_LIST = re.compile(r"<([A-Za-z][\w.-]*:[\w.-]+)[^>]*>\s*<rdf:(Alt|Seq|Bag)>(.*?)</rdf:\2>",
                       re.S)
_XMP_ITEM = re.compile(r"<rdf:li[^>]*>([^<]*)</rdf:li>")
_XMP_ELEMENT = re.compile(r"<([A-Za-z][\w.-]*:[\w.-]+)(?:\s[^>]*)?>([^<]*)</\1>")
_XMP_ATTRIBUTE = re.compile(r"\s([A-Za-z][\w.-]*:[\w.-]+)=\"([^\"]*)\"")
_XMP_SKIP = ("rdf:", "x:", "xmlns:", "xml:", "stEvt:", "stRef:", "stDim:", "xmpG:")
_PDF_DATE = re.compile(r"\s*(?:D\s*:)?\s*(\d{4})(\d\d)?(\d\d)?(\d\d)?(\d\d)?(\d\d)?"
                       r"\s*(?:(Z)|([+-])(\d\d)'?(\d\d)?)?")
_INFO_KEYS = ("Title", "Author", "Subject", "Keywords", "Creator", "Producer", "CreationDate",
              "ModDate", "Trapped")


class PdfError(ExtractError):
    """A PDF could not be read; `reason` says why and what to do."""


class EncryptedPdf(PdfError):
    """The PDF needs a password to be opened (an empty user password is tried first)."""


class MalformedPdf(PdfError):
    """The bytes are not a readable PDF: truncated, corrupt, or not a PDF at all."""


@dataclass(slots=True)
class PdfWord:
    """One word and its box in points, top-left origin of the displayed page."""

    text: str
    x0: float
    top: float
    x1: float
    bottom: float


@dataclass(slots=True)
class PdfPage:
    """One page's text layer in reading order, and what tells whether it needs OCR."""

    number: int
    text: str
    method: str
    words: list[PdfWord]
    tables: list[list[list[str | None]]]
    has_text_layer: bool
    image_coverage: float
    garbled: bool
    needs_ocr: bool
    width: float
    height: float


@dataclass(slots=True)
class PdfMetadata:
    """What a PDF says about itself (Info and XMP) and the forensic signals read from its bytes."""

    page_count: int
    encrypted: bool
    info: dict[str, str]
    xmp: dict[str, str]
    producer: str | None
    creator: str | None
    created: datetime | None
    modified: datetime | None
    incremental_updates: int
    disagreements: list[str] = field(default_factory=list)
    signals: list[str] = field(default_factory=list)


@dataclass(slots=True)
class PdfDocument:
    """A PDF read: its metadata and every page, in order."""

    metadata: PdfMetadata
    pages: list[PdfPage]


def looks_like_pdf(data: bytes) -> bool:
    """True when the bytes start (within their first KiB) with a PDF header."""
    return b"%PDF-" in data[:1024]


def read_pdf(data: bytes, *, tables: bool | None = None, words: bool = True) -> PdfDocument:
    """Read every page's text layer and the document's metadata.

    `tables`: None looks for ruled tables on pages with ruling lines, True on every page, False
    never. `words=False` leaves `PdfPage.words` empty (the text is the same). Raises
    `EncryptedPdf` or `MalformedPdf`, never anything else.
    """
    if not looks_like_pdf(data):
        raise MalformedPdf("not a PDF: no %PDF- header in the first 1024 bytes")
    if b"%%EOF" not in data[-1024:]:
        raise MalformedPdf(f"truncated: no %%EOF in the last 1024 of {len(data)} bytes; the file "
                           "was cut short, fetch it again")
    pdf = _open(data)
    try:
        pages, swapped = [], []
        for index in range(len(pdf)):
            try:
                page, inverted = _read_page(pdf, index, tables, words)
            except pdfium.PdfiumError as exc:
                raise MalformedPdf(f"page {index + 1} of {len(pdf)} is unreadable: {exc}") from exc
            pages.append(page)
            if inverted:
                swapped.append(page.number)
        return PdfDocument(_metadata(pdf, data, swapped), pages)
    except PdfError:
        raise
    except Exception as exc:  # untrusted bytes: whatever pdfium or the layout trips on is reported
        raise MalformedPdf(f"unreadable PDF structure ({type(exc).__name__}: {exc})") from exc
    finally:
        pdf.close()


def _open(data: bytes) -> pdfium.PdfDocument:
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        code = getattr(exc, "err_code", None)
        if code == raw.FPDF_ERR_PASSWORD:
            raise EncryptedPdf("encrypted with a user password (the empty password does not "
                               "open it): ask the publisher for an unencrypted copy") from exc
        if code == raw.FPDF_ERR_SECURITY:
            raise EncryptedPdf("encrypted with an unsupported security handler") from exc
        raise MalformedPdf(f"not a readable PDF: {exc}") from exc


# --- metadata ---------------------------------------------------------------------------------


def _metadata(pdf: pdfium.PdfDocument, data: bytes, swapped: list[int]) -> PdfMetadata:
    has_info = _INFO_REF.search(data) is not None
    info = _info(pdf, data) if has_info else {}
    xmp = _xmp(data)
    created = _pdf_date(info.get("CreationDate")) or _xmp_date(xmp.get("xmp:CreateDate"))
    modified = _pdf_date(info.get("ModDate")) or _xmp_date(xmp.get("xmp:ModifyDate"))
    encrypted = raw.FPDF_GetSecurityHandlerRevision(pdf.raw) != -1
    updates = _incremental_updates(data)
    meta = PdfMetadata(
        page_count=len(pdf), encrypted=encrypted, info=info, xmp=xmp,
        producer=info.get("Producer") or xmp.get("pdf:Producer"),
        creator=info.get("Creator") or xmp.get("xmp:CreatorTool"),
        created=created, modified=modified, incremental_updates=updates,
        disagreements=_disagreements(info, xmp))
    signals = meta.signals
    if created and modified:
        if modified - created > MODIFIED_LONG_AFTER:
            signals.append(f"modified long after creation: {created:%Y-%m-%d} -> "
                           f"{modified:%Y-%m-%d} ({(modified - created).days} days)")
        elif created - modified > timedelta(seconds=2):
            signals.append(f"modified before creation: {modified:%Y-%m-%d %H:%M} < "
                           f"{created:%Y-%m-%d %H:%M}")
    future = datetime.now(UTC) + timedelta(days=1)
    if any(d and d > future for d in (created, modified)):
        signals.append("dated in the future")
    if updates:
        signals.append(f"incremental updates: {updates}")
    if not has_info:
        signals.append("no Info dictionary")
    if encrypted:
        signals.append("encrypted (opened with the empty user password)")
    if (signatures := raw.FPDF_GetSignatureCount(pdf.raw)) > 0:
        signals.append(f"digitally signed: {signatures} signature(s)")
    if swapped:
        signals.append(f"MediaBox corners swapped on page(s) {_numbers(swapped)} (read normalised)")
    return meta


def _info(pdf: pdfium.PdfDocument, data: bytes) -> dict[str, str]:
    """The Info dictionary's strings: the standard keys, and any other key found in its object."""
    keys = list(_INFO_KEYS)
    *_, ref = _INFO_REF.finditer(data)
    start = _last_object(data, int(ref.group(1)), int(ref.group(2)))
    if start is not None:
        end = data.find(b"endobj", start, start + 65536)
        for name in _KEY.findall(data[start:end if end > 0 else start + 4096])[:64]:
            key = name.decode("latin-1")
            if key not in keys:
                keys.append(key)
    values = ((key, pdf.get_metadata_value(key).strip("\x00").strip()) for key in keys)
    return {key: value for key, value in values if value}


def _last_object(data: bytes, number: int, generation: int) -> int | None:
    """Offset just past the last `number generation obj` (the newest revision's)."""
    plain = b"%d %d obj" % (number, generation)
    at = data.rfind(plain)
    if at > 0 and not data[at - 1:at].isdigit():
        return at + len(plain)
    found = list(re.finditer(rb"(?<!\d)%d\s+%d\s+obj\b" % (number, generation), data))
    return found[-1].end() if found else None


def _xmp(data: bytes) -> dict[str, str]:
    packet = _xmp_packet(data)
    if packet is None:
        return {}
    text = packet[:1 << 20].decode("utf-8", errors="replace")
    props: dict[str, str] = {}
    for name, _kind, body in _XMP_LIST.findall(text):
        items = [html.unescape(i).strip() for i in _XMP_ITEM.findall(body)]
        if items and any(items):
            props.setdefault(name, "; ".join(i for i in items if i))
    for name, value in _XMP_ELEMENT.findall(text) + _XMP_ATTRIBUTE.findall(text):
        value = html.unescape(value).strip()
        if value and not name.startswith(_XMP_SKIP):
            props.setdefault(name, value)
    return props


def _xmp_packet(data: bytes) -> bytes | None:
    """The document's XMP: the catalog's /Metadata stream, else the last packet with pdf: terms."""
    catalogs = list(_CATALOG.finditer(data))
    if catalogs:
        catalog = catalogs[-1]
        starts = [m.end() for m in _OBJ_START.finditer(data, max(0, catalog.start() - 4096),
                                                      catalog.start())]
        if starts:
            end = data.find(b"endobj", catalog.start(), catalog.start() + 65536)
            ref = _METADATA_REF.search(data, starts[-1], end if end > 0 else catalog.end() + 4096)
            if ref and (at := _last_object(data, int(ref.group(1)), int(ref.group(2)))):
                packet = _stream_packet(data, at)
                if packet:
                    return packet
    packets = [m.group(0) for m in _XMP_PACKET.finditer(data)]
    for m in list(_XMP_STREAM.finditer(data))[-64:]:
        if packet := _stream_packet(data, m.start()):
            packets.append(packet)
    documents = [p for p in packets if b"pdf:Producer" in p or b"<pdf:" in p]
    return documents[-1] if documents else None


def _stream_packet(data: bytes, at: int) -> bytes | None:
    """The XMP packet in the stream of the object whose dictionary is at `at` (Flate or plain)."""
    begin = data.find(b"stream", at, at + 8192)
    if begin < 0:
        return None
    begin += 6 + (2 if data[begin + 6:begin + 8] == b"\r\n" else 1)
    end = data.find(b"endstream", begin)
    body = data[begin:end if end > 0 else begin + (1 << 20)]
    if b"/FlateDecode" in data[at:begin]:
        try:
            body = zlib.decompressobj().decompress(body, 4 << 20)
        except zlib.error:
            return None
    m = _XMP_PACKET.search(body)
    return m.group(0) if m else None


def _pdf_date(value: str | None) -> datetime | None:
    """`D:YYYYMMDDHHmmSS+HH'mm'` (any tail may be missing) as UTC."""
    m = _PDF_DATE.match(value or "")
    if not m:
        return None
    year, month, day, hour, minute, second, zulu, sign, tzh, tzm = m.groups()
    try:
        when = datetime(int(year), int(month or 1), int(day or 1), int(hour or 0),
                        int(minute or 0), int(second or 0), tzinfo=UTC)
    except ValueError:
        return None
    if sign and not zulu:
        offset = timedelta(hours=int(tzh), minutes=int(tzm or 0))
        when -= offset if sign == "+" else -offset
    return when


def _xmp_date(value: str | None) -> datetime | None:
    """An XMP (ISO 8601) date as UTC."""
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return _pdf_date(re.sub(r"\D", "", value)[:14])
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _disagreements(info: dict[str, str], xmp: dict[str, str]) -> list[str]:
    found = []
    for key, prop in (("CreationDate", "xmp:CreateDate"), ("ModDate", "xmp:ModifyDate")):
        ours, theirs = _pdf_date(info.get(key)), _xmp_date(xmp.get(prop))
        if ours and theirs and abs(ours - theirs) > timedelta(seconds=2):
            found.append(f"Info {key} {ours:%Y-%m-%dT%H:%M:%SZ} vs XMP {prop} "
                         f"{theirs:%Y-%m-%dT%H:%M:%SZ}")
    for key, prop in (("Producer", "pdf:Producer"), ("Creator", "xmp:CreatorTool"),
                      ("Title", "dc:title")):
        ours, theirs = info.get(key), xmp.get(prop)
        if ours and theirs and ours.strip() != theirs.strip():
            found.append(f"{key} differs: Info {ours!r} vs XMP {prop} {theirs!r}")
    return found


def _incremental_updates(data: bytes) -> int:
    """Revisions appended after the first: sections ending in startxref/%%EOF, less a linearized
    file's first-page section and the empty `xref 0 0` section Microsoft Word appends."""
    sections = [int(m.group(1)) for m in _STARTXREF.finditer(data)]
    if len(sections) > 1 and b"/Linearized" in data[:1024]:
        sections = sections[1:]
    real = [s for s in sections if not _EMPTY_UPDATE.match(data, s, s + 64)]
    return max(0, len(real) - 1)


def _numbers(pages: list[int]) -> str:
    shown = ", ".join(map(str, pages[:10]))
    return shown + (f" and {len(pages) - 10} more" if len(pages) > 10 else "")


# --- pages ------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Word:
    """A word in its line's frame (u along the line, base down the page) and in page space."""

    text: str
    u0: float
    u1: float
    base: float
    size: float
    box: tuple[float, float, float, float]  # left, bottom, right, top in PDF user space
    turn: int  # quarter turns of its text against the page


@dataclass(slots=True)
class _Frag:
    """Words of one line with no column-wide gap between them."""

    words: list[_Word]
    u0: float
    u1: float
    base: float


def _read_page(pdf: pdfium.PdfDocument, index: int, tables: bool | None,
               want_words: bool) -> tuple[PdfPage, bool]:
    """One page, and whether its MediaBox has its corners swapped (pdfium normalises it)."""
    page = pdf[index]
    textpage = None
    try:
        box = [ctypes.c_float() for _ in range(4)]
        inverted = bool(raw.FPDFPage_GetMediaBox(page.raw, *box)) and (
            box[0].value > box[2].value or box[1].value > box[3].value)
        view = _View(page)
        textpage = page.get_textpage()
        words = _words(textpage.raw)
        coverage, edges = _graphics(page, view, tables is not False)
    finally:
        if textpage is not None:
            textpage.close()
        page.close()
    lines = [line for group in _orientation_groups(words) for line in _reading_order(group)]
    text = "\n".join(" ".join(w.text for w in line) for line in lines)
    page_words = [PdfWord(w.text, *view.box(w.box)) for line in lines for w in line]
    found = _tables(edges, page_words, keep_all=tables is True) if edges else []
    chars = sum(len(w.text) for w in words)
    garbled = coverage > SCAN_COVERAGE and chars > 0 and word_share(text) < GARBLED_BELOW
    return PdfPage(
        number=index + 1, text=text, method="text-layer",
        words=page_words if want_words else [], tables=found, has_text_layer=bool(words),
        image_coverage=round(coverage, 4), garbled=garbled,
        needs_ocr=chars < MIN_TEXT_CHARS or garbled, width=view.width, height=view.height,
    ), inverted


class _View:
    """Maps PDF user space to the displayed page: crop box origin, /Rotate, top-left origin."""

    def __init__(self, page: pdfium.PdfPage):
        self.left, self.bottom, self.right, self.top = page.get_bbox()
        self.rotation = page.get_rotation() % 360
        w, h = self.right - self.left, self.top - self.bottom
        self.width, self.height = (h, w) if self.rotation in (90, 270) else (w, h)

    def point(self, x: float, y: float) -> tuple[float, float]:
        if self.rotation == 90:
            return y - self.bottom, x - self.left
        if self.rotation == 180:
            return self.right - x, y - self.bottom
        if self.rotation == 270:
            return self.top - y, self.right - x
        return x - self.left, self.top - y

    def box(self, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        if not self.rotation:
            return (box[0] - self.left, self.top - box[3], box[2] - self.left, self.top - box[1])
        (ax, ay), (bx, by) = self.point(box[0], box[1]), self.point(box[2], box[3])
        return min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)


def _words(tp) -> list[_Word]:
    """The page's words in pdfium's order: glyphs split at spaces, gaps and baseline jumps.

    A glyph is (char, u0, u1, base, size, left, bottom, right, top, turn, space before): u along
    its line, base down the page, size its line height, then its box in PDF user space. Upright
    glyphs are measured as they are read; a page with turned ones is measured again in frames
    along its text directions."""
    n = raw.FPDFText_CountChars(tp)
    ox, oy, rect = ctypes.c_double(), ctypes.c_double(), raw.FS_RECTF()
    unicode, origin, loose = raw.FPDFText_GetUnicode, raw.FPDFText_GetCharOrigin, \
        raw.FPDFText_GetLooseCharBox
    runs: list[list[tuple]] = []  # glyphs between spaces, line breaks and jumps
    run: list[tuple] = []
    turned: dict[int, float] = {}  # glyph number: counter-clockwise angle
    count, gap, pu0, pbase, psize = 0, True, 0.0, 0.0, 0.0
    for i in range(n):
        code = unicode(tp, i)
        if 0xD800 <= code <= 0xDFFF:  # UTF-16: a character beyond U+FFFF takes two indices
            if code >= 0xDC00:
                continue  # the second half, already joined to its first (or a stray one)
            low = unicode(tp, i + 1) if i + 1 < n else 0
            code = (0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    if 0xDC00 <= low <= 0xDFFF else 0xFFFD)
        elif code == 2:  # pdfium's mark for a hyphen ending a line
            code = 0x2D
        elif code <= 32 or (code >= 0x7F and (code <= 0xA0 or code in _INVISIBLE)):
            gap = True
            continue
        origin(tp, i, ox, oy)
        loose(tp, i, rect)
        x, y, left, bottom, right, top = ox.value, oy.value, rect.left, rect.bottom, rect.right, \
            rect.top
        if not (-0.01 < left - x < 0.01 and bottom <= y <= top):  # not upright: how turned?
            angle = raw.FPDFText_GetCharAngle(tp, i)  # clockwise, in radians; -1 when unknown
            if angle > 0:
                turned[count] = (_TURN - angle) % _TURN
        size, base = top - bottom, -y
        height = size if size > psize else psize
        if gap or x < pu0 - 0.2 * height or abs(base - pbase) > 0.5 * height:
            run = []
            runs.append(run)
        run.append((chr(code), x, right, base, size, left, bottom, right, top, 0, gap))
        count, gap, pu0, pbase, psize = count + 1, False, x, base, size
    if turned:
        runs = _turned_runs([g for r in runs for g in r], turned)
    return [_word(part) for run in runs for part in _split_run(run)]


def _turned_runs(glyphs: list[tuple], turned: dict[int, float]) -> list[list[tuple]]:
    """Runs of a page with turned text, each glyph measured in the frame of its quarter turn."""
    frames = _frames([turned.get(i, 0.0) for i in range(len(glyphs))])
    runs: list[list[tuple]] = []
    prev = None
    for i, (ch, x, _, negative_y, _, left, bottom, right, top, _, space) in enumerate(glyphs):
        angle = turned.get(i, 0.0)
        turn = round(angle / _QUARTER) % 4 if angle else 0
        c, s = frames[turn]
        y = -negative_y
        u, base = x * c + y * s, x * s - y * c
        if angle:
            advance, size = _extent(right - left, top - bottom, angle)
        else:
            advance, size = right - left, top - bottom
        glyph = (ch, u, u + advance, base, size, left, bottom, right, top, turn, space)
        if prev is None or space or turn != prev[9] or u < prev[1] - 0.2 * max(size, prev[4]) \
                or abs(base - prev[3]) > 0.5 * max(size, prev[4]):
            runs.append([glyph])
        else:
            runs[-1].append(glyph)
        prev = glyph
    return runs


def _split_run(run: list[tuple]) -> list[list[tuple]]:
    """A run of glyphs cut into words at gaps wider than its letter spacing: pdfium drops space
    glyphs that the next glyph overlaps (justified Word output), leaving only a narrow gap."""
    if len(run) < 2:
        return [run]
    gaps = [b[1] - a[2] for a, b in zip(run, run[1:], strict=False)]
    if max(gaps) <= _SPACE_GAP * run[0][4]:
        return [run]
    spacing = max(0.0, median(gaps)) if len(gaps) >= 3 else 0.0  # letter-spaced text
    parts = [[run[0]]]
    for gap, glyph in zip(gaps, run[1:], strict=False):
        if gap > glyph[4] * max(_SPACE_GAP, min(_MAX_SPACING, 2.5 * spacing / glyph[4])):
            parts.append([glyph])
        else:
            parts[-1].append(glyph)
    return parts


def _frames(angles: list[float]) -> dict[int, tuple[float, float]]:
    """Per quarter turn, the cosine and sine of the text direction (the median glyph angle)."""
    by_turn: dict[int, list[float]] = {}
    for angle in angles:
        turn = round(angle / _QUARTER) % 4
        by_turn.setdefault(turn, []).append((angle - turn * _QUARTER + math.pi) % _TURN - math.pi)
    frames = {}
    for turn in range(4):
        theta = turn * _QUARTER + (median(by_turn[turn]) if turn in by_turn else 0.0)
        frames[turn] = (math.cos(theta), math.sin(theta))
    return frames


def _extent(width: float, height: float, angle: float) -> tuple[float, float]:
    """A glyph's advance and height from its axis-aligned box, undoing its rotation."""
    c, s = abs(math.cos(angle)), abs(math.sin(angle))
    det = c * c - s * s
    if s < 1e-3 or abs(det) < 0.2:
        return (width, height) if c >= s else (height, width)
    return max(0.0, (width * c - height * s) / det), max(0.0, (height * c - width * s) / det)


def _word(glyphs: list[tuple]) -> _Word:
    first = glyphs[0]
    if len(glyphs) == 1:
        return _Word(first[0], first[1], first[2], first[3], first[4], first[5:9], first[9])
    tallest = max(glyphs, key=_SIZE)
    return _Word(text="".join(g[0] for g in glyphs), u0=first[1], u1=max(g[2] for g in glyphs),
                 base=tallest[3], size=tallest[4],
                 box=(min(g[5] for g in glyphs), min(g[6] for g in glyphs),
                      max(g[7] for g in glyphs), max(g[8] for g in glyphs)), turn=first[9])


def _orientation_groups(words: list[_Word]) -> list[list[_Word]]:
    """Words by quarter turn, the page's main direction first."""
    groups: dict[int, list[_Word]] = {}
    for w in words:
        groups.setdefault(w.turn, []).append(w)
    return sorted(groups.values(), key=len, reverse=True)


def _reading_order(words: list[_Word]) -> list[list[_Word]]:
    """Lines of words in reading order: slope corrected, columns one after another, top-down."""
    if not words:
        return []
    _straighten(words)
    height = median(w.size for w in words) or 1.0
    frags: list[_Frag] = []
    for w in words:  # pdfium keeps a line's words together; a jump or a wide gap starts a fragment
        last = frags[-1] if frags else None
        if (last and abs(w.base - last.base) <= _LINE_TOL * height
                and -0.2 * height <= w.u0 - last.u1 <= _GUTTER * height):
            last.words.append(w)
            last.u1 = max(last.u1, w.u1)
        else:
            frags.append(_Frag([w], w.u0, w.u1, w.base))
    return [[w for f in line for w in f.words] for line in _layout(frags, height)]


def _straighten(words: list[_Word]) -> None:
    """Turn frame coordinates so that lines run level: the slope of neighbouring words' baselines
    (a skewed scan's OCR layer places upright words along sloping lines)."""
    slopes = []
    for a, b in zip(words, words[1:], strict=False):
        du = b.u0 - a.u0
        if du > 0 and -0.2 * a.size <= b.u0 - a.u1 <= 2 * a.size and abs(b.base - a.base) < du / 3:
            slopes.append((b.base - a.base) / du)
    if len(slopes) < 5:
        return
    slope = median(slopes)
    if abs(slope) < 0.002:
        return
    c, s = math.cos(math.atan(slope)), math.sin(math.atan(slope))
    for w in words:
        length = w.u1 - w.u0
        w.u0, w.base = w.u0 * c + w.base * s, -w.u0 * s + w.base * c
        w.u1 = w.u0 + length


def _layout(frags: list[_Frag], height: float) -> list[list[_Frag]]:
    """Lines of fragments in reading order (recursive): bands between full-width fragments,
    columns within a band, lines within a column."""
    if len(frags) < 4:
        return _lines(frags, height)
    gutters = _gutters(frags, height)
    if not gutters:
        return _lines(frags, height)
    crossing = [f for f in frags if any(f.u0 < b and f.u1 > a for a, b in gutters)]
    spans = _lines(crossing, height)
    spanning_bases = [min(f.base for f in line) for line in spans]
    bands: list[list[_Frag]] = [[] for _ in range(len(spans) + 1)]
    mids = [(a + b) / 2 for a, b in gutters]
    inside = set(map(id, crossing))
    for f in frags:
        if id(f) in inside:
            continue
        at = bisect.bisect_left(spanning_bases, f.base - _LINE_TOL * height)
        if at < len(spans) and abs(spanning_bases[at] - f.base) <= _LINE_TOL * height:
            spans[at].append(f)  # on a spanning line (a running head's page number)
        else:
            bands[at].append(f)
    lines: list[list[_Frag]] = []
    for at, band in enumerate(bands):
        columns: list[list[_Frag]] = [[] for _ in range(len(mids) + 1)]
        for f in band:
            columns[bisect.bisect(mids, (f.u0 + f.u1) / 2)].append(f)
        for column in columns:
            lines.extend(_layout(column, height))
        if at < len(spans):
            lines.append(sorted(spans[at], key=lambda f: f.u0))
    return lines


def _gutters(frags: list[_Frag], height: float) -> list[tuple[float, float]]:
    """Vertical whitespace gutters between text columns.

    A gutter is free of fragments once the few that span it (running heads, titles) are set
    aside, at least a line height wide, and has text columns on both sides: a table's columns
    (single words, or lines with wide gaps) are merged back and read row by row."""
    limit = max(1, len(frags) // 10)
    spanning = set()
    for a, b in _gaps(frags, limit):
        mid = (a + b) / 2
        spanning.update(id(f) for f in frags if f.u0 < mid < f.u1)
    rest = [f for f in frags if id(f) not in spanning]
    gutters = [(a, b) for a, b in _gaps(rest, 0) if b - a >= _GUTTER * height]
    if not gutters or len(frags) - len(rest) > 0.3 * len(frags):
        return []
    mids = [(a + b) / 2 for a, b in gutters]
    columns: list[list[_Frag]] = [[] for _ in range(len(gutters) + 1)]
    for f in rest:
        columns[bisect.bisect(mids, (f.u0 + f.u1) / 2)].append(f)
    textual = [_text_column(c, height) for c in columns]
    while gutters and not all(textual):
        i = textual.index(False)
        if i == len(gutters) or (i > 0 and gutters[i - 1][1] - gutters[i - 1][0]
                                 <= gutters[i][1] - gutters[i][0]):
            i -= 1  # merge with the left neighbour, across the narrower gutter
        columns[i:i + 2] = [columns[i] + columns[i + 1]]
        textual[i:i + 2] = [_text_column(columns[i], height)]
        del gutters[i]
    return gutters


def _gaps(frags: list[_Frag], limit: int) -> list[tuple[float, float]]:
    """Inner u-intervals covered by at most `limit` fragments (text on both sides), each narrowed
    to its least-covered stretch."""
    events = sorted([(f.u0, 1) for f in frags] + [(f.u1, -1) for f in frags])
    gaps: list[tuple[float, float]] = []
    depth, seen, run = 0, False, None  # run: [coverage, start, end] of the least-covered stretch
    for (u, step), (nxt, _) in zip(events, events[1:], strict=False):
        depth += step
        if nxt <= u:
            continue
        if depth > limit:
            if run:
                gaps.append((run[1], run[2]))
            seen, run = True, None
        elif seen:
            if run is None or depth < run[0]:
                run = [depth, u, nxt]
            elif depth == run[0] and run[2] == u:
                run[2] = nxt
    return gaps


def _text_column(frags: list[_Frag], height: float) -> bool:
    """Running text: two lines or more, three words a line, no wide gap inside a line."""
    lines = _lines(frags, height)
    if len(lines) < 2:
        return False
    split = sum(1 for line in lines if len(line) > 1 and any(
        b.u0 - a.u1 > _GUTTER * height for a, b in zip(line, line[1:], strict=False)))
    words = median(sum(len(f.words) for f in line) for line in lines)
    return split <= 0.25 * len(lines) and words >= 3


def _lines(frags: list[_Frag], height: float) -> list[list[_Frag]]:
    """Fragments grouped by baseline, top-down, each line left to right."""
    lines: list[list[_Frag]] = []
    anchor = None
    for f in sorted(frags, key=lambda f: f.base):
        if anchor is not None and f.base - anchor <= _LINE_TOL * height:
            lines[-1].append(f)
        else:
            lines.append([f])
            anchor = f.base
    for line in lines:
        line.sort(key=lambda f: f.u0)
    return lines


def word_counts(text: str) -> tuple[int, int]:
    """Tokens that look like words (letters with a vowel, hyphenated parts too) and tokens that
    do not; numbers count for neither."""
    good = bad = 0
    for token in text.split():
        token = token.strip(_PUNCTUATION)
        if _NUMBER.fullmatch(token):
            continue
        parts = re.split(r"[-/]", token)
        if all(_WORDLIKE.fullmatch(p) and _VOWEL.search(p) for p in parts):
            good += 1
        else:
            bad += 1
    return good, bad


def word_share(text: str) -> float:
    """Share of the non-number tokens that look like words: a garbled layer is low. 1.0 when
    there is nothing but numbers."""
    good, bad = word_counts(text)
    return good / (good + bad) if good + bad else 1.0


# --- images and ruling lines ------------------------------------------------------------------


def _graphics(page: pdfium.PdfPage, view: _View, want_edges: bool) -> tuple[float, list[dict]]:
    """Share of the page covered by images, and the horizontal and vertical ruling lines."""
    images: list[tuple[float, float, float, float]] = []
    edges: list[dict] = []
    _walk(page.raw, None, (1, 0, 0, 1, 0, 0), 0, images, edges if want_edges else None, view)
    left, bottom, right, top = view.left, view.bottom, view.right, view.top
    area = (right - left) * (top - bottom)
    clipped = [(max(a, left), max(b, bottom), min(c, right), min(d, top)) for a, b, c, d in images]
    clipped = [r for r in clipped if r[2] > r[0] and r[3] > r[1]]
    return (min(1.0, _union_area(clipped) / area) if area > 0 else 0.0), edges


def _walk(page, form, matrix: tuple, depth: int, images: list, edges: list | None,
          view: _View) -> None:
    count = raw.FPDFFormObj_CountObjects(form) if form else raw.FPDFPage_CountObjects(page)
    bounds = [ctypes.c_float() for _ in range(4)]
    for i in range(max(0, count)):
        obj = raw.FPDFFormObj_GetObject(form, i) if form else raw.FPDFPage_GetObject(page, i)
        if not obj:
            continue
        kind = raw.FPDFPageObj_GetType(obj)
        if kind == _IMAGE and raw.FPDFPageObj_GetBounds(obj, *bounds):
            x0, y0, x1, y1 = (v.value for v in bounds)
            corners = [_apply(matrix, x, y) for x, y in ((x0, y0), (x0, y1), (x1, y0), (x1, y1))]
            xs, ys = [p[0] for p in corners], [p[1] for p in corners]
            images.append((min(xs), min(ys), max(xs), max(ys)))
        elif kind == _PATH and edges is not None and len(edges) <= TABLE_EDGE_LIMIT:
            _path_edges(obj, matrix, edges, view)
        elif kind == _FORM and depth < 8:
            m = raw.FS_MATRIX()
            if raw.FPDFPageObj_GetMatrix(obj, m):
                inner = _compose((m.a, m.b, m.c, m.d, m.e, m.f), matrix)
                _walk(page, obj, inner, depth + 1, images, edges, view)


def _path_edges(path, matrix: tuple, edges: list, view: _View) -> None:
    """A painted path's horizontal and vertical straight segments, as pdfplumber edges."""
    fill, stroke = ctypes.c_int(), ctypes.c_int()
    if not raw.FPDFPath_GetDrawMode(path, fill, stroke) or (not fill.value and not stroke.value):
        return
    n = raw.FPDFPath_CountSegments(path)
    if n < 2 or n > 512:
        return
    m = raw.FS_MATRIX()
    if not raw.FPDFPageObj_GetMatrix(path, m):
        return
    full = _compose((m.a, m.b, m.c, m.d, m.e, m.f), matrix)
    x, y = ctypes.c_float(), ctypes.c_float()
    start = prev = None
    for i in range(n):
        seg = raw.FPDFPath_GetPathSegment(path, i)
        if not seg or not raw.FPDFPathSegment_GetPoint(seg, x, y):
            continue
        point = view.point(*_apply(full, x.value, y.value))
        if raw.FPDFPathSegment_GetType(seg) == _LINETO and prev is not None:
            _edge(prev, point, edges)
        else:
            start = point
        prev = point
        if raw.FPDFPathSegment_GetClose(seg) and start is not None:
            _edge(point, start, edges)


def _edge(a: tuple[float, float], b: tuple[float, float], edges: list) -> None:
    (x0, y0), (x1, y1) = a, b
    if abs(y0 - y1) < 0.01 and abs(x0 - x1) >= 1:
        x0, x1 = sorted((x0, x1))
        edges.append({"x0": x0, "x1": x1, "top": y0, "bottom": y0, "doctop": y0,
                      "width": x1 - x0, "height": 0.0, "orientation": "h", "object_type": "line"})
    elif abs(x0 - x1) < 0.01 and abs(y0 - y1) >= 1:
        y0, y1 = sorted((y0, y1))
        edges.append({"x0": x0, "x1": x0, "top": y0, "bottom": y1, "doctop": y0,
                      "width": 0.0, "height": y1 - y0, "orientation": "v", "object_type": "line"})


def _compose(inner: tuple, outer: tuple) -> tuple:
    a, b, c, d, e, f = inner
    A, B, C, D, E, F = outer
    return (a * A + b * C, a * B + b * D, c * A + d * C, c * B + d * D, e * A + f * C + E,
            e * B + f * D + F)


def _apply(m: tuple, x: float, y: float) -> tuple[float, float]:
    return m[0] * x + m[2] * y + m[4], m[1] * x + m[3] * y + m[5]


def _union_area(rects: list[tuple[float, float, float, float]]) -> float:
    """Area covered by axis-aligned rectangles (a sweep over x; a plain sum past 256 images)."""
    if len(rects) > 256:
        return sum((r[2] - r[0]) * (r[3] - r[1]) for r in rects)
    xs = sorted({v for r in rects for v in (r[0], r[2])})
    area = 0.0
    for x0, x1 in zip(xs, xs[1:], strict=False):
        spans = sorted((r[1], r[3]) for r in rects if r[0] <= x0 and r[2] >= x1)
        covered, reach = 0.0, -math.inf
        for lo, hi in spans:
            lo = max(lo, reach)
            if hi > lo:
                covered += hi - lo
                reach = hi
        area += covered * (x1 - x0)
    return area


# --- tables -----------------------------------------------------------------------------------


def _tables(edges: list[dict], words: list[PdfWord], *,
            keep_all: bool) -> list[list[list[str | None]]]:
    """pdfplumber's "lines" table finder over pdfium's ruling lines; cells hold the words whose
    centres they contain. Unless `keep_all`, tables of one row, one column or one filled cell
    (shaded headings, boxes) are left out."""
    edges = filter_edges(edges, min_length=1)
    if sum(e["orientation"] == "h" for e in edges) < 2 or \
            sum(e["orientation"] == "v" for e in edges) < 2:
        return []
    edges = filter_edges(merge_edges(edges, 3, 3, 3, 3), min_length=3)
    cells = intersections_to_cells(edges_to_intersections(edges, 3, 3))
    found = []
    for group in cells_to_tables(cells):
        rows = [[None if cell is None else _cell_text(cell, words) for cell in row.cells]
                for row in Table(None, group).rows]
        filled = sum(1 for row in rows for cell in row if cell)
        if keep_all or (len(rows) > 1 and len(rows[0]) > 1 and filled > 1):
            found.append(rows)
    return found


def _cell_text(cell: tuple[float, float, float, float], words: list[PdfWord]) -> str:
    x0, top, x1, bottom = cell
    inside = [w for w in words
              if x0 <= (w.x0 + w.x1) / 2 < x1 and top <= (w.top + w.bottom) / 2 < bottom]
    lines: list[list[PdfWord]] = []
    for w in sorted(inside, key=lambda w: w.bottom):
        if lines and w.bottom - lines[-1][0].bottom <= 3:
            lines[-1].append(w)
        else:
            lines.append([w])
    return "\n".join(" ".join(w.text for w in sorted(line, key=lambda w: w.x0)) for line in lines)
