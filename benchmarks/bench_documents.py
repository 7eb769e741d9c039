"""Salvage document benchmarks, side by side with their baselines, in one run.

    .venv/bin/python benchmarks/bench_documents.py            # full run
    .venv/bin/python benchmarks/bench_documents.py --quick    # smoke run

1. pdf - text-layer PDFs (the 36-page ITCH specification and a generated 12-page PDF of known
         text, one and two columns and skewed lines): pages/s of extract.pdf.read_pdf against
         pdfplumber's extract_text(), with the CER of both against the known text and the
         bag-of-words similarity to pdfplumber's text on the specification. Goal: >= 5x.
2. ocr - a scanned 10-page PDF rendered from known text: wall time of extract.ocr against
         `ocrmypdf --jobs N --skip-text --sidecar`, with both CERs. Goal: <= 0.8x its time.

`--only pdf,ocr` runs a subset; `--json PATH` writes every figure as JSON.
"""

from __future__ import annotations

import sys

from sections import main

if __name__ == "__main__":
    sys.exit(main("Salvage document benchmarks", __doc__,
                  {"pdf": "documents_pdf", "ocr": "documents_ocr"}))
