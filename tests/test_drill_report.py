"""The drill report: the HTML page (parsed), the PDF (rasterised with pdftoppm), sizes, writes."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from storage import drill_report
from storage.drill_report import item_passed, render_html, render_pdf, write_report

SCENARIOS = ["filings", "pages", "orderbook", "store"]
LOSSES = {
    "filings": "documents removed from the scratch store; the source answers 404",
    "pages": "WARC records truncated mid-payload",
    "orderbook": "one day of ITCH messages deleted",
    "store": "the Parquet store's newest partition deleted",
}
METHODS = {
    "filings": "rebuilt from our WARC captures",
    "pages": "re-read from the replica",
    "orderbook": "replayed from the checkpoint and the raw feed",
    "store": "restored from the S3 replica",
}


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def make_items(count: int) -> list[dict]:
    """`count` items over the four scenarios; every 7th fails (digest mismatch or not detected)."""
    items = []
    for n in range(count):
        scenario = SCENARIOS[n % 4]
        failed = n % 7 == 3
        expected = _sha(f"item {n}")
        items.append(
            {
                "scenario": scenario,
                "item": f"0001104659-25-{n:06d}",
                "stratum": f"10-K 2025-{n % 12 + 1:02d}",
                "loss": LOSSES[scenario],
                "method": METHODS[scenario],
                "source_warc": f"salvage-20261129130000-{n % 3:05d}.warc.gz",
                "source_offset": 1234 + 977 * n,
                "expected_sha256": expected,
                "actual_sha256": _sha(f"bad {n}") if failed else expected,
                "detected": True,
                "detect_s": 0.41,
                "recover_s": round(0.3 + (n % 13) * 0.37, 2),
                "rpo_s": 86400.0,
                "recovery_point": "2026-11-29T13:00:00Z",
                "success": not failed,
                "byte_exact": not failed,
                "book_accuracy": None,
                "note": "digest differs from the pre-loss copy" if failed else "",
            }
        )
    return items


def make_result(items: list[dict]) -> dict:
    passed = sum(i["success"] for i in items)
    return {
        "id": "DRILL-20261130T130000Z-3f2a1b",
        "started_at": "2026-11-30T13:00:00Z",
        "finished_at": "2026-11-30T13:04:12Z",
        "seed": 42,
        "sample": "25",
        "sample_method": "stratified by form type and month, seeded",
        "scenarios": SCENARIOS,
        "home": "/srv/salvage/home",
        "verdict": "pass" if passed == len(items) else "fail",
        "rto_s": 12.3,
        "rpo_s": 86400.0,
        "targets": {"byte_exact_pct": 100.0, "rto_s": 900.0},
        "checks": [
            {
                "name": "filings byte-exact",
                "target": "100%",
                "actual": f"{100 * passed / max(len(items), 1):.0f}% ({passed}/{len(items)})",
                "passed": passed == len(items),
            },
            {"name": "RTO within target", "target": "≤ 900 s", "actual": "12.3 s", "passed": True},
        ],
        "items": items,
        "versions": {
            "salvage": "0.1.0",
            "python": "3.11.7",
            "pyarrow": "18.1.0",
            "tesseract": "5.3",
        },
        "deviations": ["the orderbook scenario ran on a 1-hour slice instead of a full day"],
        "report": {
            "html": "drills/DRILL-20261130T130000Z-3f2a1b/report.html",
            "pdf": "drills/DRILL-20261130T130000Z-3f2a1b/report.pdf",
        },
    }


HISTORY = [
    {
        "id": "DRILL-20260831T130000Z-aa01",
        "finished_at": "2026-08-31T13:05:00Z",
        "verdict": "pass",
        "rto_s": 20.5,
        "items": 25,
        "passed": 25,
    },
    {
        "id": "DRILL-20260930T130000Z-bb02",
        "finished_at": "2026-09-30T13:05:00Z",
        "verdict": "fail",
        "rto_s": 1200.0,
        "items": 25,
        "passed": 21,
    },
    {
        "id": "DRILL-20261031T130000Z-cc03",
        "finished_at": "2026-10-31T13:05:00Z",
        "verdict": "pass",
        "rto_s": 15.0,
        "items": 25,
        "passed": 25,
    },
]


class _Page(HTMLParser):
    """Collects the evidence table's rows (cell texts and classes), the badge and svg counts."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[tuple[str, str]]] = []
        self.badges: list[tuple[str, str]] = []
        self.svgs = 0
        self.scripts = 0
        self._evidence = self._body = self._badge = False
        self._cell: tuple[str, list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        cls = a.get("class") or ""
        if tag == "svg":
            self.svgs += 1
        elif tag == "script":
            self.scripts += 1
        elif tag == "table" and "evidence" in cls.split():
            self._evidence = True
        elif self._evidence and tag == "tbody":
            self._body = True
        elif self._body and tag == "tr":
            self.rows.append([])
        elif self._body and tag == "td" and self._cell is None:
            self._cell = (cls, [])
        elif tag == "span" and "badge" in cls.split():
            self._badge = True
            self.badges.append((cls, ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.rows[-1].append((self._cell[0], "".join(self._cell[1])))
            self._cell = None
        elif tag == "tbody":
            self._body = False
        elif tag == "table":
            self._evidence = False
        elif tag == "span":
            self._badge = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell[1].append(data)
        if self._badge:
            cls, text = self.badges[-1]
            self.badges[-1] = (cls, text + data)


def _parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    parser.close()
    return parser


def _pdftoppm(pdf: Path, out: Path) -> list[Path]:
    if shutil.which("pdftoppm") is None:
        pytest.fail("pdftoppm is missing: apt-get install -y poppler-utils")
    subprocess.run(["pdftoppm", "-png", "-r", "50", str(pdf), str(out / "page")], check=True)
    return sorted(out.glob("page-*.png"))


def _ink(png: Path) -> float:
    """The share of a page's pixels that are not white."""
    from PIL import Image

    with Image.open(png) as img:
        gray = img.convert("L")
        hist = gray.histogram()
    return 1 - sum(hist[245:]) / sum(hist)


def test_html_holds_the_evidence_badge_and_charts() -> None:
    items = make_items(25)
    result = make_result(items)
    page = render_html(result, HISTORY)
    parsed = _parse(page)

    assert parsed.badges == [("badge fail", "FAIL")]
    assert parsed.svgs == 3
    assert parsed.scripts == 0
    assert "<link" not in page and "src=" not in page  # self-contained

    assert len(parsed.rows) == 25
    for item, row in zip(items, parsed.rows, strict=True):
        cells = {cls.split()[1] if " " in cls else cls: text for cls, text in row}
        assert row[1][1].startswith(item["item"])
        assert cells["expected"] == item["expected_sha256"]  # in full
        assert cells["actual"] == item["actual_sha256"]
        assert cells["byte-exact"] == ("yes" if item["byte_exact"] else "no")
        assert cells["offset"] == str(item["source_offset"])
    mismatched = [r for r in parsed.rows if "bad" in r[7][0]]
    assert len(mismatched) == sum(not i["byte_exact"] for i in items) == 4

    # sections in order, the checks table and the sign-off
    order = [page.index(f'id="{a}"') for a in ("scope", "sample", "lost", "recovery", "checks")]
    order += [page.index(f'id="chart-{c}"') for c in ("histogram", "scenarios", "trend")]
    order += [page.index(f'id="{a}"') for a in ("evidence", "versions", "deviations", "signoff")]
    assert order == sorted(order)
    assert "filings byte-exact" in page and "Report sha256: see the audit log." in page
    assert "No earlier drills" not in page


def test_an_item_passes_when_recovered_and_byte_exact() -> None:
    assert item_passed({"success": True, "byte_exact": True})
    assert item_passed({"success": True, "byte_exact": None})  # judged on something else
    assert not item_passed({"success": True, "byte_exact": False})
    assert not item_passed({"success": False, "byte_exact": True})  # restored but not detected
    assert not item_passed({})


def test_html_escapes_values_and_handles_missing_ones(tmp_path: Path) -> None:
    items = make_items(5)
    items[3].update(recover_s=float("nan"), rpo_s=None, recovery_point=None)
    items[4].update(recover_s=None, source_offset=None, method=None)
    items[0].update(item="<script>alert(1)</script>", note="Société Générale — Ωmega — 東京")
    items[1].update(expected_sha256=None, actual_sha256=None, byte_exact=None, source_warc=None)
    items[2].update(item="x" * 400)
    result = make_result(items)
    result["rpo_s"] = None
    result["home"] = '/srv/"home" & <more>'
    page = render_html(result, [])
    parsed = _parse(page)
    assert parsed.scripts == 0
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Société Générale — Ωmega — 東京" in page
    assert "/srv/&quot;home&quot; &amp; &lt;more&gt;" in page
    assert "No earlier drills: the trend shows this drill only." in page
    assert parsed.rows[1][6][1] == "—" and parsed.rows[1][8][1] == "—"
    assert parsed.svgs == 3
    odd = [{"id": "DRILL-x", "finished_at": None, "verdict": None, "rto_s": None, "items": 0}]
    assert render_pdf(result, odd, tmp_path / "r.pdf").read_bytes().startswith(b"%PDF-")
    assert _parse(render_html(result, odd)).svgs == 3


def test_pdf_renders_pages_with_content(tmp_path: Path) -> None:
    items = make_items(60)
    items[5].update(item="Ünïcødé — Москва — " + "y" * 300, expected_sha256=None)
    result = make_result(items)
    result["rpo_s"] = None
    pdf = render_pdf(result, HISTORY, tmp_path / "report.pdf")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")

    pages = _pdftoppm(pdf, tmp_path)
    assert len(pages) >= 3
    for png in pages:
        assert png.stat().st_size > 2_000
        assert _ink(png) > 0.005, png.name
    # the same result renders to the same bytes (the audit log's sha256 can be re-checked)
    assert render_pdf(result, HISTORY, tmp_path / "again.pdf").read_bytes() == data


def test_a_thousand_items_render_quickly(tmp_path: Path) -> None:
    import pypdfium2 as pdfium

    result = make_result(make_items(1000))
    started = time.perf_counter()
    page = render_html(result, HISTORY)
    pdf = render_pdf(result, HISTORY, tmp_path / "report.pdf")
    elapsed = time.perf_counter() - started
    assert elapsed < 5, elapsed
    assert len(_parse(page).rows) == 1000

    doc = pdfium.PdfDocument(str(pdf))
    try:
        total = len(doc)
        assert total > 20  # the evidence table spans pages
        texts = [doc[k].get_textpage().get_text_range() for k in range(total)]
    finally:
        doc.close()
    evidence = [t for t in texts if "0001104659-25-" in t]
    assert len(evidence) > 20
    assert all("Expected sha256" in t for t in evidence)  # the header repeats on every page
    assert all(f"of {total}" in t and result["id"] in t for t in texts)  # the footer
    assert "0001104659-25-000999" in evidence[-1]


def test_no_items_render(tmp_path: Path) -> None:
    result = make_result([])
    result.update(verdict="pass", rto_s=None, rpo_s=None, checks=[], deviations=[], versions={})
    parsed = _parse(render_html(result, []))
    assert parsed.rows == [[("note", "No items.")]]
    assert parsed.svgs == 3
    assert parsed.badges == [("badge pass", "PASS")]
    pages = _pdftoppm(render_pdf(result, [], tmp_path / "report.pdf"), tmp_path)
    assert len(pages) >= 2


def test_write_report_writes_three_files_and_no_temp_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = make_result(make_items(12))
    folder = tmp_path / "drills" / result["id"]
    paths = write_report(result, HISTORY, folder)
    assert paths == {
        "html": folder / "report.html",
        "pdf": folder / "report.pdf",
        "json": folder / "result.json",
    }
    assert sorted(p.name for p in folder.iterdir()) == ["report.html", "report.pdf", "result.json"]
    text = paths["json"].read_text("utf-8")
    assert json.loads(text) == result
    assert text == json.dumps(result, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    assert paths["html"].read_text("utf-8").startswith("<!DOCTYPE html>")
    assert paths["pdf"].read_bytes().startswith(b"%PDF-")

    # a failure while rendering leaves the earlier files whole and no temp file behind
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    def broken(*args: object) -> bytes:
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr(drill_report, "_pdf_bytes", broken)
    with pytest.raises(RuntimeError):
        write_report(result, HISTORY, folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
