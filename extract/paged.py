"""PDFs and images into catalog rows: one `documents` row and one `pages` row per page reading.

Importing this module registers its extractors (`pdf`, `image`) and the reader of PDF exhibits
inside submissions.

Text-layer pages are read as they are; pages without a usable layer are OCR'd (OCRmyPDF's
"skip text"); an image-covered page whose layer looks garbled is OCR'd too, both readings are
recorded and the better one is kept. The original bytes are never rewritten: OCR is derived data.
"""

from __future__ import annotations

from collections.abc import Callable

from extract.extractors import EMBEDDED, Extracted, Source, extractor, page_row
from extract.ocr import OcrPage, OcrSettings, ocr_image, ocr_pdf_pages
from extract.pdf import PdfDocument, PdfPage, read_pdf, word_counts

OcrPdf = Callable[[bytes, list[int]], list[OcrPage]]
"""What OCRs the given 1-based pages of a PDF (tests wrap the real one to count its calls)."""

POINTS_PER_INCH = 72.0


def text_score(text: str) -> int:
    """How much real text a reading holds: word-like tokens less garbled ones."""
    good, bad = word_counts(text)
    return good - bad


def _ocr_words(page: OcrPage) -> list[dict]:
    scale = POINTS_PER_INCH / page.dpi
    return [{"text": w.text, "confidence": w.confidence, "x0": w.left * scale,
             "top": w.top * scale, "x1": (w.left + w.width) * scale,
             "bottom": (w.top + w.height) * scale} for w in page.words]


def _ocr_row(page: OcrPage, method: str, chosen: bool) -> dict:
    return {"page": page.number, "method": method, "chosen": chosen, "text": page.text,
            "mean_confidence": page.mean_confidence,
            "low_confidence_share": page.low_confidence_share, "language": page.language,
            "rotated": page.rotated, "words": _ocr_words(page)}


def _layer_row(page: PdfPage, chosen: bool) -> dict:
    return {"page": page.number, "method": page.method, "chosen": chosen, "text": page.text,
            "width": page.width, "height": page.height, "image_coverage": page.image_coverage,
            "garbled": page.garbled, "tables": page.tables or None,
            "words": [{"text": w.text, "confidence": None, "x0": w.x0, "top": w.top, "x1": w.x1,
                       "bottom": w.bottom} for w in page.words]}


def pdf_rows(data: bytes, ocr: OcrPdf | None = None) -> tuple[dict, list[dict]]:
    """The `documents` fields and `pages` rows of one PDF."""
    doc: PdfDocument = read_pdf(data)
    redo = [p.number for p in doc.pages if p.needs_ocr]
    readings = {o.number: o for o in (ocr or _default_ocr)(data, redo)} if redo else {}
    rows, chosen_text, confidences = [], [], []
    for page in doc.pages:
        reading = readings.get(page.number)
        if reading is None:
            rows.append(_layer_row(page, True))
            chosen_text.append(page.text)
            continue
        use_ocr = not page.has_text_layer or text_score(reading.text) >= text_score(page.text)
        if page.has_text_layer:
            rows.append(_layer_row(page, not use_ocr))
        method = "ocr-redo" if page.has_text_layer else "ocr"
        row = _ocr_row(reading, method, use_ocr)
        row.update(width=page.width, height=page.height, image_coverage=page.image_coverage)
        rows.append(row)
        chosen_text.append(reading.text if use_ocr else page.text)
        if use_ocr:
            confidences.append(reading.mean_confidence)
    meta = doc.metadata
    fields = {
        "text": "\n\f\n".join(chosen_text), "method": "pdf+ocr" if readings else "pdf",
        "page_count": meta.page_count, "ocr_pages": len(confidences),
        "mean_confidence": sum(confidences) / len(confidences) if confidences else None,
        "producer": meta.producer, "creator": meta.creator, "created": meta.created,
        "modified": meta.modified, "incremental_updates": meta.incremental_updates,
        "encrypted": meta.encrypted, "signals": meta.signals + meta.disagreements,
    }
    return fields, rows


def image_rows(data: bytes, settings: OcrSettings | None = None) -> tuple[dict, list[dict]]:
    """The `documents` fields and `pages` rows of a PNG, JPEG or (multi-page) TIFF."""
    pages = ocr_image(data, settings or OcrSettings())
    rows = [_ocr_row(p, "ocr", True) for p in pages]
    mean = sum(p.mean_confidence for p in pages) / len(pages) if pages else None
    return {"text": "\n\f\n".join(p.text for p in pages), "method": "ocr",
            "page_count": len(pages), "ocr_pages": len(pages), "mean_confidence": mean}, rows


def _default_ocr(data: bytes, pages: list[int]) -> list[OcrPage]:
    return ocr_pdf_pages(data, pages, OcrSettings())


def _looks_like_pdf(data: bytes) -> bool:
    return data[:1024].lstrip().startswith(b"%PDF")


def _paged(data: bytes, src: Source, fields: dict, pages: list[dict]) -> Extracted:
    out = Extracted()
    row = page_row(data, src, fields.pop("text"), None, fields.pop("method"))
    out.add("documents", [{**row, **fields}])
    out.add("pages", [{**p, "accession": None, "ordinal": 1} for p in pages])
    return out


@extractor("pdf", 1, "pdf")
def pdf(data: bytes, src: Source) -> Extracted:
    return _paged(data, src, *pdf_rows(data))


@extractor("image-ocr", 1, "image")
def image(data: bytes, src: Source) -> Extracted:
    return _paged(data, src, *image_rows(data))


@extractor("binary-sniff", 1, "unknown")
def unknown(data: bytes, src: Source) -> Extracted:
    """Bytes no extractor reads: recorded in the ledger so they are not read again."""
    return Extracted()


EMBEDDED.append((_looks_like_pdf, pdf_rows))
