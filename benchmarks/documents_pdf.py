"""Benchmark 1 of bench_documents: reading text-layer PDFs.

Two inputs: NASDAQ's 36-page TotalView-ITCH 5.0 specification (../shared/corpus/pdf, or the test
fixtures when the corpus is absent), and a generated 12-page PDF of known text (reportlab, 10 pt
Helvetica): four single-column pages, four two-column pages and four pages set at an angle (±3°,
±8°). Timed in this process, best of 3 (1 with --quick, where the spec is cut to its first 8 pages):

(a) baseline: `pdfplumber.open` and `extract_text()` on every page;
(b) `extract.pdf.read_pdf` (pypdfium2): words on, tables looked for on pages with ruling lines,
    metadata read.

Fidelity: the character error rate against the known text of the generated pages (whitespace
collapsed), (b) no worse than (a); and on the spec, the bag-of-words similarity of (b)'s text to
(a)'s, 2|A∩B| / (|A|+|B|) over the multisets of lower-case word tokens, at least 0.98.
Goal: (b) >= 5x (a)'s pages/s on both inputs.
"""

from __future__ import annotations

import io
import math
import random
import re
import sys
import time
from collections import Counter
from pathlib import Path

import pdfplumber
import pypdfium2 as pdfium
from rapidfuzz.distance import Levenshtein
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen import canvas

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from extract.pdf import read_pdf  # noqa: E402

SPEC = "NQTVITCHSpecification.pdf"
CORPUS = ROOT.parent / "shared" / "corpus" / "pdf" / SPEC
FIXTURE = ROOT / "tests" / "fixtures" / "pdf" / SPEC
GOAL = 5.0
SIMILARITY = 0.98
LETTER = (612, 792)
_VOCABULARY = """the registrant filed its annual report on form with net revenue of million per
share quarter ended dividend board directors approved amendment credit agreement market data feed
order book trade quote halt auction exchange venue symbol price timestamp sequence gap recovery
snapshot session participant"""
_WORDS = _VOCABULARY.split()


def _lines(rng: random.Random, count: int, width: float) -> list[str]:
    lines, line = [], ""
    while len(lines) < count:
        word = rng.choice(_WORDS)
        if rng.random() < 0.08:
            word = f"{rng.randint(1, 99_999):,}"
        if line and stringWidth(f"{line} {word}", "Helvetica", 10) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return lines


def generated(seed: int = 2024) -> tuple[bytes, list[str], list[str]]:
    """(PDF, known text per page, kind per page) of the 12 generated pages."""
    rng = random.Random(seed)
    out = io.BytesIO()
    page = canvas.Canvas(out, pagesize=LETTER)
    texts, kinds = [], []
    for kind in ("single", "columns", "skewed") * 4:
        page.setFont("Helvetica", 10)
        if kind == "single":
            lines = _lines(rng, 52, 460)
            for i, line in enumerate(lines):
                page.drawString(72, 720 - i * 12.5, line)
        elif kind == "columns":
            left, right = _lines(rng, 52, 220), _lines(rng, 52, 220)
            for x, column in ((72, left), (320, right)):
                for i, line in enumerate(column):
                    page.drawString(x, 720 - i * 12.5, line)
            lines = left + right
        else:
            lines = _lines(rng, 44, 400)
            page.translate(100, 700)
            page.rotate(rng.choice((-8, -3, 3, 8)))
            for i, line in enumerate(lines):
                page.drawString(0, -i * 14, line)
        texts.append("\n".join(lines))
        kinds.append(kind)
        page.showPage()
    page.save()
    return out.getvalue(), texts, kinds


def cer(truth: str, text: str) -> float:
    truth, text = " ".join(truth.split()), " ".join(text.split())
    return Levenshtein.distance(truth, text) / max(1, len(truth))


def bag_similarity(a: str, b: str) -> float:
    x, y = Counter(re.findall(r"\w+", a.lower())), Counter(re.findall(r"\w+", b.lower()))
    return 2 * sum((x & y).values()) / max(1, sum(x.values()) + sum(y.values()))


def plumber(data: bytes) -> list[str]:
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        return [page.extract_text() for page in pdf.pages]


def ours(data: bytes) -> list[str]:
    return [page.text for page in read_pdf(data).pages]


def _first_pages(data: bytes, count: int) -> bytes:
    source, part = pdfium.PdfDocument(data), pdfium.PdfDocument.new()
    try:
        part.import_pages(source, list(range(min(count, len(source)))))
        out = io.BytesIO()
        part.save(out)
        return out.getvalue()
    finally:
        part.close()
        source.close()


def _best(fn, data: bytes, runs: int) -> tuple[float, list[str]]:
    best, texts = math.inf, []
    for _ in range(runs):
        started = time.perf_counter()
        texts = fn(data)
        best = min(best, time.perf_counter() - started)
    return best, texts


def run(quick: bool = False) -> dict:
    runs = 1 if quick else 3
    path = CORPUS if CORPUS.exists() else FIXTURE
    spec = path.read_bytes()
    if quick:
        spec = _first_pages(spec, 8)
    made, known, kinds = generated()
    inputs = {"spec": spec, "generated": made}
    result: dict = {"source": str(path), "runs": runs, "goal": GOAL}
    print(f"1. pdf: the ITCH specification ({path.name}{', first 8 pages' if quick else ''}) and "
          f"12 generated pages of known text (single column, two columns, skewed), best of "
          f"{runs}:")
    passed = True
    for name, data in inputs.items():
        base_s, theirs = _best(plumber, data, runs)
        our_s, mine = _best(ours, data, runs)
        pages = len(mine)
        ratio = base_s / our_s
        figures = {"pages": pages, "baseline_pages_s": round(pages / base_s, 1),
                   "ours_pages_s": round(pages / our_s, 1), "ratio": round(ratio, 2)}
        label = f"{name} ({pages} pages)"
        print(f"   {label:<22} (a) pdfplumber extract_text {pages / base_s:7.1f} pages/s   "
              f"(b) read_pdf {pages / our_s:7.1f} pages/s   ratio {ratio:5.2f}x")
        if name == "spec":
            similarity = bag_similarity("\n".join(mine), "\n".join(theirs))
            figures["bag_of_words_similarity"] = round(similarity, 4)
            ok = similarity >= SIMILARITY
            print(f"   {'':<22} bag-of-words similarity of (b) to (a): {similarity:.4f}   "
                  f"goal >= {SIMILARITY}")
        else:
            by_kind = {}
            for kind in ("single", "columns", "skewed"):
                pick = [i for i, k in enumerate(kinds) if k == kind]
                truth = "\n".join(known[i] for i in pick)
                by_kind[kind] = (cer(truth, "\n".join(theirs[i] for i in pick)),
                                 cer(truth, "\n".join(mine[i] for i in pick)))
            base_cer, our_cer = cer("\n".join(known), "\n".join(theirs)), cer("\n".join(known),
                                                                               "\n".join(mine))
            figures.update(baseline_cer=round(base_cer, 4), ours_cer=round(our_cer, 4),
                           cer_by_kind={k: {"baseline": round(a, 4), "ours": round(b, 4)}
                                        for k, (a, b) in by_kind.items()})
            ok = our_cer <= base_cer
            print(f"   {'':<22} CER (a) {base_cer:.2%}  (b) {our_cer:.2%}   by kind: " + ", ".join(
                f"{k} {a:.2%} / {b:.2%}" for k, (a, b) in by_kind.items()))
        ok = ok and ratio >= GOAL
        figures["passed"] = ok
        passed = passed and ok
        result[name] = figures
    result["passed"] = passed
    print(f"   goal: (b) >= {GOAL:.0f}x (a)'s pages/s at equal fidelity   "
          f"{'PASS' if passed else 'FAIL'}")
    return result


if __name__ == "__main__":
    run("--quick" in sys.argv)
