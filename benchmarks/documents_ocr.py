"""Benchmark 2 of bench_documents: OCR of a scanned 10-page PDF.

Ten Letter pages of known text (filing-like prose with figures and dates) are rendered with Pillow
at 300 dpi, each a little skewed, blurred and noisy, and saved by Pillow as one image-only PDF of
greyscale JPEGs (about 1 MB a page, like an office scanner's). Timed on the same file in the same
run, once each:

(a) baseline: `ocrmypdf --jobs N --skip-text --sidecar out.txt in.pdf out.pdf` (from .venv-interop,
    or PATH), N = the cores (b) uses;
(b) `extract.ocr.ocr_pdf_pages` on every page, jobs = all cores.

Both texts are scored against the known text: character error rate (Levenshtein distance over the
length of the known text, whitespace collapsed). Goal: (b) in at most 0.8x (a)'s wall time at a CER
no worse than (a)'s.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import unicodedata
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont
from rapidfuzz.distance import Levenshtein

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from extract.ocr import OcrSettings, ocr_pdf_pages, tesseract_version  # noqa: E402

OCRMYPDF = ROOT / ".venv-interop" / "bin" / "ocrmypdf"
GOAL = 0.8
DPI = 300
PAGE = (8 * DPI + DPI // 2, 11 * DPI)  # Letter
MARGIN = DPI
FONT_SIZE = 42  # 10 pt at 300 dpi
NOISE = 12  # sigma of the Gaussian noise, in grey levels
JPEG_QUALITY = 60
SERIF = Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf")

_SUBJECTS = ["The company", "The registrant", "The board of directors", "Management",
             "The audit committee", "The issuer", "Its largest subsidiary", "The trustee",
             "The underwriters", "The transfer agent", "Our independent auditor"]
_VERBS = ["reported", "approved", "disclosed", "recorded", "announced", "reviewed", "restated",
          "estimated", "confirmed", "deferred"]
_OBJECTS = ["net revenue of ${m} million", "a quarterly dividend of ${c} per share",
            "an amendment to the revolving credit agreement", "operating income of ${m} million",
            "an impairment charge of ${m} million", "{n} shares of common stock outstanding",
            "a gross margin of {p}%", "the repurchase of {n} shares at an average price of ${c}",
            "interest expense of ${m} million", "a change in its fiscal year end",
            "the resignation of its chief financial officer",
            "capital expenditures of ${m} million"]
_TAILS = ["for the quarter ended {d}", "on {d}", "during fiscal {y}",
          "compared with the prior year", "as of {d}", "in its annual report on Form 10-K",
          "in a current report on Form 8-K filed on {d}", "subject to shareholder approval",
          "before the market opened on {d}", "under Rule 10b5-1 of the Exchange Act"]
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"]


def _sentence(rng: random.Random) -> str:
    fill = {"m": f"{rng.randint(1, 9999):,}.{rng.randint(0, 9)}", "c": f"{rng.random() * 9:.2f}",
            "n": f"{rng.randint(10_000, 99_999_999):,}", "p": f"{rng.uniform(5, 80):.1f}",
            "d": f"{rng.choice(_MONTHS)} {rng.randint(1, 28)}, {rng.randint(1994, 2025)}",
            "y": str(rng.randint(1994, 2025))}
    words = (rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_OBJECTS), rng.choice(_TAILS))
    return " ".join(words).format(**fill) + "."


def known_pages(count: int, seed: int = 2024) -> list[str]:
    """`count` pages of prose, each as the lines it is printed in."""
    rng = random.Random(seed)
    font = _font()
    width = (PAGE[0] - 2 * MARGIN) / font.getlength("n")  # characters a line holds, roughly
    lines_per_page = (PAGE[1] - 2 * MARGIN) // int(FONT_SIZE * 1.4)
    pages = []
    for _ in range(count):
        lines: list[str] = []
        while len(lines) < lines_per_page - 4:
            paragraph = " ".join(_sentence(rng) for _ in range(rng.randint(2, 5)))
            lines += [*textwrap.wrap(paragraph, int(width * 0.92)), ""]
        pages.append("\n".join(lines).strip())
    return pages


def _font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if SERIF.exists():
        return ImageFont.truetype(str(SERIF), FONT_SIZE)
    return ImageFont.load_default(size=FONT_SIZE)


def scan(text: str, rng: random.Random) -> Image.Image:
    """A page of `text` as a scanner would give it: slightly skewed, blurred and noisy greyscale."""
    page = Image.new("L", PAGE, 255)
    ImageDraw.Draw(page).multiline_text((MARGIN, MARGIN), text, font=_font(), fill=20,
                                        spacing=int(FONT_SIZE * 0.4))
    page = page.rotate(rng.uniform(-1.2, 1.2), resample=Image.Resampling.BICUBIC, fillcolor=255)
    page = page.filter(ImageFilter.GaussianBlur(0.7))
    noise = Image.effect_noise(PAGE, NOISE)
    return ImageChops.add(page, noise, scale=1.0, offset=-128)


def scanned_pdf(pages: list[str], seed: int = 7) -> bytes:
    """An image-only PDF of the pages (Pillow writes each page as a JPEG at 300 dpi)."""
    rng = random.Random(seed)
    images = [scan(text, rng) for text in pages]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "scan.pdf")
        images[0].save(path, save_all=True, append_images=images[1:], resolution=DPI,
                       quality=JPEG_QUALITY)
        return path.read_bytes()


def normalise(text: str) -> str:
    """Ligatures and typographic quotes and dashes as plain ASCII; whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text)
    text = text.translate(str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "—": "-",
                                         "–": "-"}))
    return " ".join(text.split())


def cer(reading: str, truth: str) -> float:
    """Character error rate: edits to turn the reading into the truth, over the truth's length."""
    reading, truth = normalise(reading), normalise(truth)
    return Levenshtein.distance(reading, truth) / max(1, len(truth))


def _ocrmypdf() -> str | None:
    if OCRMYPDF.exists():
        return str(OCRMYPDF)
    return shutil.which("ocrmypdf")


def baseline(pdf: bytes, jobs: int) -> tuple[float, str]:
    """(seconds, sidecar text) of one ocrmypdf run."""
    with tempfile.TemporaryDirectory() as folder:
        source, out, sidecar = (Path(folder, name) for name in ("in.pdf", "out.pdf", "out.txt"))
        source.write_bytes(pdf)
        started = time.perf_counter()
        subprocess.run([_ocrmypdf(), "--jobs", str(jobs), "--skip-text", "--sidecar", str(sidecar),
                        str(source), str(out)], check=True, capture_output=True)
        return time.perf_counter() - started, sidecar.read_text()


def ours(pdf: bytes, count: int) -> tuple[float, str, list]:
    """(seconds, text, pages) of one `ocr_pdf_pages` call over every page, on all cores."""
    started = time.perf_counter()
    pages = ocr_pdf_pages(pdf, list(range(1, count + 1)), OcrSettings(dpi=DPI))
    return time.perf_counter() - started, "\n".join(p.text for p in pages), pages


def run(quick: bool = False) -> dict:
    count = 4 if quick else 10
    truth = known_pages(count)
    pdf = scanned_pdf(truth)
    jobs = len(os.sched_getaffinity(0))
    known = "\n".join(truth)
    font = _font().getname()
    print(f"2. ocr: a scanned {count}-page PDF ({len(pdf) / 1e6:.1f} MB, {DPI} dpi, "
          f"{font[0]} {FONT_SIZE} px, skewed and noisy, {len(normalise(known)):,} characters "
          f"of known text); Tesseract {tesseract_version()}, {jobs} cores:")
    seconds, text, pages = ours(pdf, count)
    result = {"pages": count, "jobs": jobs, "font": " ".join(font),
              "ours_s": round(seconds, 2), "ours_s_page": round(seconds / count, 3),
              "ours_cer": round(cer(text, known), 4),
              "ours_mean_confidence": round(sum(p.mean_confidence for p in pages) / count, 1),
              "goal": GOAL}
    if _ocrmypdf() is None:
        print("   (a) ocrmypdf is not installed: run `make setup` (it fills .venv-interop)")
        result.update(baseline_s=None, passed=None)
    else:
        base_seconds, base_text = baseline(pdf, jobs)
        ratio = seconds / base_seconds
        base_cer = cer(base_text, known)
        passed = ratio <= GOAL and result["ours_cer"] <= round(base_cer, 4)
        result.update(baseline_s=round(base_seconds, 2),
                      baseline_s_page=round(base_seconds / count, 3),
                      baseline_cer=round(base_cer, 4), ratio=round(ratio, 2), passed=passed)
        label = f"ocrmypdf --jobs {jobs} --skip-text --sidecar"
        print(f"   (a) {label:<40} {base_seconds:6.1f} s  {base_seconds / count:5.2f} s/page   "
              f"CER {base_cer:.2%}")
    label = f"ocr_pdf_pages, jobs={jobs}"
    print(f"   (b) {label:<40} {seconds:6.1f} s  {seconds / count:5.2f} s/page   "
          f"CER {result['ours_cer']:.2%}   mean confidence {result['ours_mean_confidence']}")
    if result.get("ratio") is not None:
        print(f"   time ratio (b)/(a) {result['ratio']:.2f}x   goal <= {GOAL}x at no worse CER   "
              f"{'PASS' if result['passed'] else 'FAIL'}")
    return result


if __name__ == "__main__":
    run("--quick" in sys.argv)
