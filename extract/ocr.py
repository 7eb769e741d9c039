"""Scanned PDF pages and images read with Tesseract: turned upright, words with boxes, confidence.

Pages run in parallel, one worker process per core, each Tesseract child limited to one OpenMP
thread (`OMP_THREAD_LIMIT=1`: 1.87 s/page against 9.3 s/page when every child takes all cores).
The caller's bytes go to a temporary file; a task is its path and a page number, and each worker
rasterises (pypdfium2) or decodes (Pillow) its own page, so memory is one page per worker.

A page is read as it lies first. Only a doubtful reading (low confidence, or word boxes taller than
wide: sideways text) asks Tesseract's orientation detection, which costs as much as a small page's
OCR; the page is then turned upright and read again, and the better reading is kept. A page whose
mean confidence stays under `retry_below` is read with the other configured languages too.
Every Tesseract run has a time limit, and a worker that dies fails its page: a call never hangs.
One page's failure fails the whole call with an `OcrError` naming the page.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import tempfile
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import pypdfium2 as pdfium
import pytesseract
from PIL import Image, ImageOps, UnidentifiedImageError

from extract.errors import ExtractError

LOW_CONFIDENCE = 60.0
"""A word under this confidence counts towards `low_confidence_share`."""
UPRIGHT_CONFIDENCE = 70.0
"""A reading under this mean confidence may be a page on its side or upside down: check it."""
MAX_PAGE_PIXELS = 100_000_000
"""A PDF page larger than this at the asked dpi is rasterised at a lower dpi (recorded per page)."""
POINTS_PER_INCH = 72

_TURN = {90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180,
         270: Image.Transpose.ROTATE_90}  # Tesseract's "Rotate: n" is clockwise, Pillow's is not
_MISSING = "Tesseract is not installed (or not on PATH): install tesseract-ocr; `make setup` does"


class OcrError(ExtractError):
    """A page or image could not be OCR'd; `reason` says which, why, and the fix if there is one."""


class OcrUnavailable(OcrError):
    """OCR cannot run here (Tesseract or a language pack missing, a worker killed): not the
    bytes' fault, so the payload is retried on the next run."""

    transient = True


@dataclass(slots=True)
class OcrWord:
    """One word as Tesseract read it; the box is in pixels of the upright page at its `dpi`."""

    text: str
    confidence: float
    left: int
    top: int
    width: int
    height: int


@dataclass(slots=True)
class OcrPage:
    """One page (or TIFF frame) of OCR: text in Tesseract's reading order, words and confidence."""

    number: int
    text: str
    method: str
    language: str
    mean_confidence: float
    low_confidence_share: float
    rotated: int
    words: list[OcrWord] = field(default_factory=list)
    dpi: int = 300
    seconds: float = 0.0


@dataclass(frozen=True)
class OcrSettings:
    """How to OCR. The first language is the default; the others are tried on low confidence."""

    languages: tuple[str, ...] = ("eng",)
    dpi: int = 300
    jobs: int = 0  # worker processes; 0 = all cores
    retry_below: float = 50.0
    timeout: float = 300.0  # seconds one Tesseract run may take before its page fails

    def __post_init__(self) -> None:
        if not self.languages or not all(self.languages):
            raise ValueError("OcrSettings.languages needs at least one language, e.g. ('eng',)")
        if not 50 <= self.dpi <= 1200 or self.jobs < 0 or self.timeout <= 0:
            raise ValueError(f"OcrSettings out of range: {self}")


@dataclass(frozen=True, slots=True)
class _Task:
    path: str
    kind: str  # "pdf" or "image"
    number: int  # 1-based page or frame
    scratch: str  # a folder for this page's rasters
    settings: OcrSettings
    command: str  # the tesseract binary (pytesseract.pytesseract.tesseract_cmd of the caller)


@dataclass(slots=True)
class _Reading:
    words: list[OcrWord]
    text: str
    language: str

    @property
    def mean(self) -> float:
        scored = [w.confidence for w in self.words if w.confidence >= 0]
        return sum(scored) / len(scored) if scored else 0.0


def tesseract_version() -> str:
    """The installed Tesseract's version, e.g. "5.3.0"."""
    try:
        return str(pytesseract.get_tesseract_version())
    except pytesseract.TesseractNotFoundError as exc:
        raise OcrUnavailable(_MISSING) from exc
    except SystemExit as exc:  # pytesseract exits on a version it cannot parse
        raise OcrUnavailable(f"Tesseract answered with an unknown version: {exc}") from exc


def ocr_pdf_pages(data: bytes, pages: list[int],
                  settings: OcrSettings = OcrSettings()) -> list[OcrPage]:
    """OCR the given 1-based pages of a PDF, rasterised with pypdfium2 at `settings.dpi`."""
    _check_tesseract(settings)
    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise OcrError(f"PDF cannot be opened for OCR: {exc}") from exc
    count = len(document)
    document.close()
    if bad := [p for p in pages if not 1 <= p <= count]:
        raise OcrError(f"PDF has {count} pages; there is no page {bad[0]}")
    return _run(data, "source.pdf", "pdf", pages, settings)


def ocr_image(data: bytes, settings: OcrSettings = OcrSettings()) -> list[OcrPage]:
    """OCR a PNG, JPEG or other image Pillow reads; a multi-page TIFF gives one page per frame."""
    _check_tesseract(settings)
    try:
        with Image.open(io.BytesIO(data)) as image:
            frames = getattr(image, "n_frames", 1) if image.format == "TIFF" else 1
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError) as exc:
        raise OcrError(f"not an image Pillow can read (PNG, JPEG, TIFF...): {exc}") from exc
    return _run(data, "source.img", "image", list(range(1, frames + 1)), settings)


def _check_tesseract(settings: OcrSettings) -> None:
    try:
        pytesseract.get_tesseract_version(cached=True)
        installed = set(pytesseract.get_languages())
    except pytesseract.TesseractNotFoundError as exc:
        raise OcrUnavailable(_MISSING) from exc
    except SystemExit as exc:  # pytesseract exits on a version it cannot parse or too old
        raise OcrUnavailable(f"Tesseract 4 or later is needed: {exc}; install tesseract-ocr"
                             ) from exc
    for code in ["osd", *(c for entry in settings.languages for c in entry.split("+"))]:
        if code not in installed:
            package = "tesseract-ocr-" + code.lower().replace("_", "-")
            have = ", ".join(sorted(installed))
            raise OcrUnavailable(f"Tesseract has no {code!r} language pack: install it with "
                           f"`apt-get install {package}` (installed: {have})")


def _run(data: bytes, name: str, kind: str, numbers: list[int],
         settings: OcrSettings) -> list[OcrPage]:
    if not numbers:
        return []
    jobs = settings.jobs or len(os.sched_getaffinity(0))
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    with tempfile.TemporaryDirectory(prefix="salvage-ocr-") as scratch:
        source = Path(scratch, name)
        source.write_bytes(data)
        command = pytesseract.pytesseract.tesseract_cmd
        tasks = [_Task(str(source), kind, n, scratch, settings, command) for n in numbers]
        with ProcessPoolExecutor(min(jobs, len(tasks)), mp_context=context,
                                 initializer=_start_worker) as pool:
            futures = [pool.submit(_read_page, task) for task in tasks]
            try:
                return [_result(future, task) for future, task in zip(futures, tasks, strict=True)]
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise


def _result(future: Future, task: _Task) -> OcrPage:
    try:
        return future.result()
    except OcrError:
        raise
    except BrokenProcessPool as exc:
        raise OcrUnavailable(f"page {task.number}: the OCR worker died (out of memory?): {exc}"
                             ) from exc
    except Exception as exc:
        raise OcrError(f"page {task.number}: {type(exc).__name__}: {exc}") from exc


def _start_worker() -> None:
    os.environ["OMP_THREAD_LIMIT"] = "1"  # read by the Tesseract children pytesseract starts


def _read_page(task: _Task) -> OcrPage:
    """In a worker: load one page, turn it upright if its reading is doubtful, retry languages."""
    started = time.perf_counter()
    pytesseract.pytesseract.tesseract_cmd = task.command
    settings = task.settings
    image, dpi, known_dpi = _load(task)
    config = f"--dpi {dpi}" if known_dpi else ""
    rasters = [_save(image, task)]
    try:
        reading = _recognise(rasters[0], settings.languages[0], config, task)
        rotated = 0
        if _doubtful(reading) and (turn := _orientation(rasters[0], config, task)):
            rasters.append(_save(image.transpose(_TURN[turn]), task))
            turned = _recognise(rasters[-1], settings.languages[0], config, task)
            if turned.mean >= reading.mean:
                reading, rotated = turned, turn
        del image
        if reading.words and reading.mean < settings.retry_below:
            for language in settings.languages[1:]:
                other = _recognise(rasters[-1 if rotated else 0], language, config, task)
                if other.mean > reading.mean:
                    reading = other
    finally:
        for raster in rasters:
            os.unlink(raster)
    low = sum(1 for w in reading.words if 0 <= w.confidence < LOW_CONFIDENCE)
    scored = sum(1 for w in reading.words if w.confidence >= 0)
    return OcrPage(number=task.number, text=reading.text, method="ocr", language=reading.language,
                   mean_confidence=round(reading.mean, 2),
                   low_confidence_share=round(low / scored, 4) if scored else 0.0,
                   rotated=rotated, words=reading.words, dpi=dpi,
                   seconds=round(time.perf_counter() - started, 3))


def _load(task: _Task) -> tuple[Image.Image, int, bool]:
    """The page as a greyscale image, its dpi, and whether that dpi is known (not assumed)."""
    if task.kind == "pdf":
        return _rasterise(task)
    try:
        with Image.open(task.path) as image:
            image.seek(task.number - 1)
            image.load()
            density = image.info.get("dpi")
            page = _grey(ImageOps.exif_transpose(image))
    except (Image.DecompressionBombError, OSError, EOFError, ValueError) as exc:
        raise OcrError(f"image frame {task.number} cannot be decoded: {exc}") from exc
    if density and density[0] and round(float(density[0])) >= 50:
        return page, round(float(density[0])), True
    return page, task.settings.dpi, False


def _rasterise(task: _Task) -> tuple[Image.Image, int, bool]:
    try:
        document = pdfium.PdfDocument(task.path)
        try:
            page = document[task.number - 1]
            width, height = page.get_size()
            dpi = task.settings.dpi
            if width * height * (dpi / POINTS_PER_INCH) ** 2 > MAX_PAGE_PIXELS:
                dpi = int(POINTS_PER_INCH * (MAX_PAGE_PIXELS / (width * height)) ** 0.5)
            bitmap = page.render(scale=dpi / POINTS_PER_INCH, grayscale=True)
            return bitmap.to_pil().convert("L"), dpi, True  # a copy: the bitmap's memory goes
        finally:
            document.close()
    except pdfium.PdfiumError as exc:
        raise OcrError(f"page {task.number} cannot be rasterised: {exc}") from exc


def _grey(image: Image.Image) -> Image.Image:
    """Greyscale on white: transparent parts become paper (Tesseract would see them black)."""
    if image.mode == "1":
        return image
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
    return image.convert("L")


def _save(image: Image.Image, task: _Task) -> str:
    """The raster as PBM/PGM: no compression to pay for, and Tesseract reads it as it is."""
    handle, path = tempfile.mkstemp(suffix=".pnm", prefix=f"{task.kind}-{task.number}-",
                                    dir=task.scratch)
    with os.fdopen(handle, "wb") as out:
        image.save(out, format="PPM")
    return path


def _recognise(path: str, language: str, config: str, task: _Task) -> _Reading:
    try:
        tsv = pytesseract.image_to_data(path, lang=language, config=config,
                                        timeout=task.settings.timeout)
    except RuntimeError as exc:  # pytesseract's timeout (it kills the child first)
        raise OcrError(f"page {task.number}: Tesseract gave no reading within "
                       f"{task.settings.timeout:g} s") from exc
    except pytesseract.TesseractError as exc:
        raise OcrError(f"page {task.number}: Tesseract failed: {exc.message}") from exc
    words, text = _parse_tsv(tsv)
    return _Reading(words, text, language)


def _parse_tsv(tsv: str) -> tuple[list[OcrWord], str]:
    """Words of Tesseract's TSV, and its text: words by spaces, lines by newlines, a blank line
    between paragraphs."""
    words: list[OcrWord] = []
    text: list[str] = []
    last_line = last_paragraph = None
    for row in tsv.splitlines()[1:]:
        cells = row.split("\t")
        if len(cells) < 12 or cells[0] != "5" or not cells[11].strip():
            continue
        left, top, width, height = (int(c) for c in cells[6:10])
        words.append(OcrWord(cells[11].strip(), float(cells[10]), left, top, width, height))
        paragraph, line = tuple(cells[1:4]), tuple(cells[1:5])
        if line != last_line and last_line is not None:
            text.append("\n\n" if paragraph != last_paragraph else "\n")
        elif last_line is not None:
            text.append(" ")
        text.append(words[-1].text)
        last_line, last_paragraph = line, paragraph
    return words, "".join(text)


def _doubtful(reading: _Reading) -> bool:
    """A reading that may come from a page on its side or upside down."""
    if not reading.words:
        return False
    long = [w for w in reading.words if len(w.text) >= 4]
    tall = sum(1 for w in long if w.height > w.width)
    return reading.mean < UPRIGHT_CONFIDENCE or (bool(long) and tall > len(long) / 2)


def _orientation(path: str, config: str, task: _Task) -> int:
    """Degrees (clockwise) Tesseract's OSD would turn the page; 0 when it cannot tell."""
    try:
        osd = pytesseract.image_to_osd(path, config=config, output_type=pytesseract.Output.DICT,
                                       timeout=task.settings.timeout)
    except (pytesseract.TesseractError, RuntimeError):
        return 0
    turn = int(osd.get("rotate", 0))
    return turn if turn in _TURN else 0
