"""The auditor-readable report of a forensic drill: one self-contained HTML page and a PDF.

Both are rendered from the same list of sections (`_sections`), so they say the same things in
the same order; the HTML draws its charts as inline SVG, the PDF with reportlab.graphics. Output
is deterministic (no clock, an invariant PDF), so re-rendering `result.json` reproduces the bytes
whose SHA-256 the audit log holds.
"""

from __future__ import annotations

import functools
import html
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from storage.atomic import write_atomic

DASH = "—"
PASS_COLOR = "#1b7f3b"
FAIL_COLOR = "#b3261e"
OTHER_COLOR = "#6b6b6b"
BAR_COLOR = "#3a6ea5"
TARGET_COLOR = "#d08000"
PDF_CELL_LINES = 8  # a PDF evidence cell is cut after this many lines (HTML and JSON stay whole)


# ---------------------------------------------------------------------------------------------
# Formatting


def _text(value: Any) -> str:
    """A value as display text: None and "" become a dash."""
    if value is None or value == "":
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _finite(value: Any) -> float | None:
    """A finite number as float; anything else (None, text, NaN, inf, bool) is None."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _yes_no(value: Any) -> str:
    return DASH if value is None else ("yes" if value else "no")


def _num(x: float) -> str:
    """A number without float noise: 0.30000000000000004 -> 0.3, 5.0 -> 5."""
    return f"{round(x, 6):g}"


def _human(seconds: float) -> str:
    s = int(round(seconds))
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def _seconds(value: Any) -> str:
    """Seconds for an auditor: `12.30 s`, `86,400.0 s (1 d 0 h)`; None is a dash."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return _text(value)
    text = f"{value:,.2f} s" if abs(value) < 10 else f"{value:,.1f} s"
    return f"{text} ({_human(value)})" if abs(value) >= 60 else text


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _duration(started: Any, finished: Any) -> str:
    a, b = _parse_time(started), _parse_time(finished)
    if a is None or b is None or (a.tzinfo is None) != (b.tzinfo is None):
        return DASH
    return _seconds((b - a).total_seconds())


def _verdict(result: dict) -> str:
    return str(result.get("verdict") or "unknown").upper()


def _verdict_color(verdict: str) -> str:
    return {"PASS": PASS_COLOR, "FAIL": FAIL_COLOR}.get(verdict.upper(), OTHER_COLOR)


def _nice_step(span: float, count: int) -> float:
    """A 1-2-2.5-5 step that cuts `span` into at most about `count` parts."""
    raw = span / max(count, 1) if span > 0 else 1.0
    mag = 10 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw * (1 - 1e-9))


def _axis(top: float, integer: bool = False) -> tuple[float, float]:
    """(axis maximum, tick step) for values from 0 to `top`."""
    step = _nice_step(top, 5)
    if integer:
        step = max(1.0, math.ceil(step))
    return max(step, math.ceil(top / step - 1e-9) * step), step


# ---------------------------------------------------------------------------------------------
# What the report says (shared by both renderers)


@dataclass
class Para:
    text: str
    style: str = "body"  # body | note


@dataclass
class KeyValues:
    rows: list[tuple[str, str]]


@dataclass
class Grid:
    header: list[str]
    rows: list[list[str]]
    status: list[bool | None] = field(default_factory=list)  # a row passed / failed / neither
    widths: list[float] = field(default_factory=list)  # relative PDF column widths


@dataclass
class Chart:
    kind: str  # histogram | scenarios | trend
    title: str
    data: Any
    note: str = ""


@dataclass
class Evidence:
    items: list[dict]


@dataclass
class SignOff:
    pass


@dataclass
class Section:
    anchor: str
    title: str
    blocks: list[Any]


def item_passed(item: dict) -> bool:
    """An item passes when it was detected and recovered (`success`) and its digest matched
    (`byte_exact` true, or None where the scenario is not judged on bytes). The report's charts,
    evidence and trend all count with this; `drills.passed` should too."""
    return item.get("success") is True and item.get("byte_exact") is not False


def _items(result: dict) -> list[dict]:
    return [i for i in result.get("items") or [] if isinstance(i, dict)]


def _scenario_order(result: dict) -> list[str]:
    order = [str(s) for s in result.get("scenarios") or []]
    for item in _items(result):
        name = _text(item.get("scenario"))
        if name not in order:
            order.append(name)
    return order


def _by_scenario(result: dict) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {name: [] for name in _scenario_order(result)}
    for item in _items(result):
        groups[_text(item.get("scenario"))].append(item)
    return groups


def _histogram(values: Sequence[float]) -> list[tuple[float, float, int]]:
    """Counts of `values` in equal bins of a round width: [(low, high, count)]."""
    if not values:
        return []
    low, high = min(0.0, min(values)), max(values)
    step = _nice_step(high - low, 10)
    low = math.floor(low / step) * step
    bins = max(1, math.floor((high - low) / step + 1e-9) + 1)
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int((v - low) // step))] += 1
    return [(low + k * step, low + (k + 1) * step, counts[k]) for k in range(bins)]


@dataclass
class TrendPoint:
    label: str
    drill: str
    rto_s: float | None
    pass_pct: float | None
    verdict: str
    current: bool


def _trend(result: dict, history: list[dict]) -> list[TrendPoint]:
    items = _items(result)
    this = {
        "id": result.get("id"),
        "finished_at": result.get("finished_at"),
        "verdict": result.get("verdict"),
        "rto_s": result.get("rto_s"),
        "items": len(items),
        "passed": sum(1 for i in items if item_passed(i)),
    }
    points = []
    for n, drill in enumerate([*history, this]):
        count, passed = drill.get("items"), drill.get("passed")
        if isinstance(count, list):
            count = len(count)
        ok = isinstance(count, int | float) and count > 0 and isinstance(passed, int | float)
        rto = drill.get("rto_s")
        finished = drill.get("finished_at")
        points.append(
            TrendPoint(
                label=str(finished)[:10] if finished else f"#{n + 1}",
                drill=_text(drill.get("id")),
                rto_s=_finite(rto),
                pass_pct=100.0 * passed / count if ok else None,
                verdict=str(drill.get("verdict") or "unknown").upper(),
                current=drill is this,
            )
        )
    return points


def _measure(name: str, measured: Any, target: Any) -> tuple[list[str], bool | None]:
    has_m, has_t = _finite(measured) is not None, _finite(target) is not None
    if not has_m:
        status, ok = "not measured", None
    elif not has_t:
        status, ok = "no target", None
    else:
        ok = measured < target  # "under the target", as the engine's checks say
        status = "met" if ok else "missed"
    return [name, _seconds(measured), _seconds(target) if has_t else DASH, status], ok


def _sections(result: dict, history: list[dict]) -> list[Section]:
    items = _items(result)
    groups = _by_scenario(result)
    targets = result.get("targets") or {}
    report = result.get("report") or {}

    scope = KeyValues(
        [
            ("Drill", _text(result.get("id"))),
            ("Verdict", _verdict(result)),
            ("Scenarios", ", ".join(_scenario_order(result)) or DASH),
            ("Home", _text(result.get("home"))),
            ("Started", _text(result.get("started_at"))),
            ("Finished", _text(result.get("finished_at"))),
            ("Duration", _duration(result.get("started_at"), result.get("finished_at"))),
            ("Report files", ", ".join(str(v) for v in report.values()) or DASH),
        ]
    )
    strata = {i.get("stratum") for i in items if i.get("stratum")}
    sample = KeyValues(
        [
            ("Method", _text(result.get("sample_method"))),
            ("Seed", _text(result.get("seed"))),
            ("Size asked", _text(result.get("sample"))),
            ("Items drawn", str(len(items))),
            ("Strata", str(len(strata))),
        ]
    )

    lost_rows = []
    for name, group in groups.items():
        losses: dict[str, int] = {}
        for item in group:
            loss = _text(item.get("loss"))
            losses[loss] = losses.get(loss, 0) + 1
        described = "; ".join(
            loss if n == len(group) else f"{loss} ({n})" for loss, n in losses.items()
        )
        detected = sum(1 for i in group if i.get("detected") is True)
        lost_rows.append([name, str(len(group)), str(detected), described or "no items sampled"])
    lost = Grid(["Scenario", "Items", "Detected", "What was lost"], lost_rows, [], [1, 0.6, 0.7, 4])

    point_rows = []
    for name, group in groups.items():
        points = sorted({str(i["recovery_point"]) for i in group if i.get("recovery_point")})
        if not points:
            used = DASH
        elif len(points) == 1:
            used = points[0]
        else:
            used = f"{len(points)} points, {points[0]} to {points[-1]}"
        rpos = [v for i in group if (v := _finite(i.get("rpo_s"))) is not None]
        rtos = [v for i in group if (v := _finite(i.get("recover_s"))) is not None]
        point_rows.append(
            [
                name,
                used,
                _seconds(max(rpos) if rpos else None),
                _seconds(max(rtos) if rtos else None),
            ]
        )
    points_grid = Grid(
        ["Scenario", "Recovery point used", "Worst RPO", "Slowest recovery"],
        point_rows,
        [],
        [1, 2.6, 1.4, 1.2],
    )
    rto_row, rto_ok = _measure("RTO", result.get("rto_s"), targets.get("rto_s"))
    rpo_row, rpo_ok = _measure("RPO", result.get("rpo_s"), targets.get("rpo_s"))
    measures = Grid(
        ["Measure", "Measured", "Target", "Status"],
        [rto_row, rpo_row],
        [rto_ok, rpo_ok],
        [1, 2, 2, 1],
    )

    check_rows, check_status = [], []
    for check in result.get("checks") or []:
        passed = check.get("passed")
        check_rows.append(
            [
                _text(check.get("name")),
                _text(check.get("target")),
                _text(check.get("actual")),
                {True: "PASS", False: "FAIL"}.get(passed, DASH),
            ]
        )
        check_status.append(passed if isinstance(passed, bool) else None)
    checks: list[Any] = (
        [Grid(["Check", "Target", "Actual", "Result"], check_rows, check_status, [3, 1.3, 2, 0.8])]
        if check_rows
        else [Para("No checks were recorded.", "note")]
    )

    times = [v for i in items if (v := _finite(i.get("recover_s"))) is not None]
    scenario_counts = [
        (
            name,
            sum(1 for i in g if item_passed(i)),
            sum(1 for i in g if not item_passed(i)),
        )
        for name, g in groups.items()
    ]
    trend = _trend(result, history)
    charts = [
        Chart(
            "histogram",
            "Recovery time per item (seconds)",
            _histogram(times),
            "" if times else "No item recovery times were recorded.",
        ),
        Chart(
            "scenarios",
            "Items recovered by scenario",
            scenario_counts,
            "" if items else "No items were sampled.",
        ),
        Chart(
            "trend",
            "Trend against earlier drills: RTO and pass rate",
            {"points": trend, "rto_target": targets.get("rto_s")},
            "" if history else "No earlier drills: the trend shows this drill only.",
        ),
    ]

    versions = result.get("versions") or {}
    deviations = [str(d) for d in result.get("deviations") or []]
    return [
        Section("scope", "Scope", [scope]),
        Section("sample", "Sample", [sample]),
        Section("lost", "What was lost", [lost]),
        Section("recovery", "Recovery points, RPO and RTO", [points_grid, measures]),
        Section("checks", "Checks", checks),
        Section("charts", "Charts", charts),
        Section(
            "evidence",
            "Evidence",
            [
                Para(
                    f"{len(items)} items. Digests are SHA-256 of the recovered bytes (actual) "
                    "against the bytes held before the loss (expected)."
                ),
                Evidence(items),
            ],
        ),
        Section(
            "versions",
            "Tool and extractor versions",
            [KeyValues([(str(k), _text(v)) for k, v in versions.items()])]
            if versions
            else [Para("No versions were recorded.", "note")],
        ),
        Section(
            "deviations",
            "Deviations",
            [Para(f"{n}. {d}") for n, d in enumerate(deviations, 1)]
            or [Para("None recorded.", "note")],
        ),
        Section("signoff", "Sign-off", [SignOff()]),
    ]


def _evidence_row(n: int, item: dict) -> dict[str, str]:
    offset = item.get("source_offset")
    warc = _text(item.get("source_warc"))
    return {
        "n": str(n),
        "item": _text(item.get("item")),
        "stratum": str(item.get("stratum") or ""),
        "note": str(item.get("note") or ""),
        "scenario": _text(item.get("scenario")),
        "method": _text(item.get("method")),
        "warc": warc,
        "offset": "" if offset is None else str(offset),
        "expected": _text(item.get("expected_sha256")),
        "actual": _text(item.get("actual_sha256")),
        "byte_exact": _yes_no(item.get("byte_exact")),
        "result": "pass" if item_passed(item) else "fail",
    }


def _digests_differ(item: dict) -> bool:
    e, a = item.get("expected_sha256"), item.get("actual_sha256")
    return bool(e and a and e != a)


SIGN_ROLES = ("Prepared by", "Reviewed by")
SIGN_FIELDS = ("Name", "Role", "Signature", "Date")
REPORT_SHA_LINE = "Report sha256: see the audit log."


# ---------------------------------------------------------------------------------------------
# HTML

_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif;
  color: #1d1d1d; max-width: 1100px; margin: 2em auto; padding: 0 1em; }
h1 { font-size: 1.6em; margin: 0 0 .3em; }
h2 { font-size: 1.2em; border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 1.6em; }
h3 { font-size: 1em; margin: 1em 0 .3em; }
.badge { display: inline-block; padding: .15em .7em; border-radius: .3em; color: #fff;
  font-weight: bold; letter-spacing: .05em; vertical-align: middle; }
.badge.pass { background: #1b7f3b; } .badge.fail { background: #b3261e; }
.badge.other { background: #6b6b6b; }
table { border-collapse: collapse; margin: .4em 0 1em; }
th, td { border: 1px solid #ccc; padding: .25em .5em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
table.kv th { width: 12em; }
tr.pass td.status { color: #1b7f3b; font-weight: bold; }
tr.fail td.status { color: #b3261e; font-weight: bold; }
tr.fail { background: #fdf0ef; }
td.bad { background: #f9d6d3; }
.evidence { font-size: 12px; width: 100%; }
.digest { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 11px;
  word-break: break-all; }
.wrap { word-break: break-word; overflow-wrap: anywhere; }
.small { color: #555; font-size: 11px; }
.note { color: #555; font-style: italic; }
figure { margin: .5em 0 1.2em; break-inside: avoid; }
figcaption { font-weight: bold; margin-bottom: .3em; }
svg { width: 100%; max-width: 720px; height: auto; font-family: sans-serif; }
.signoff td { height: 2.4em; min-width: 10em; }
@page { size: A4; margin: 15mm; }
@media print {
  body { margin: 0; max-width: none; font-size: 11px; }
  .badge { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  thead { display: table-header-group; }
  tr { break-inside: avoid; }
  h2 { break-after: avoid; }
}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _badge(verdict: str) -> str:
    kind = verdict.lower() if verdict in ("PASS", "FAIL") else "other"
    return f'<span class="badge {kind}" id="verdict">{_e(verdict)}</span>'


def _html_status(ok: bool | None) -> str:
    return "" if ok is None else ("pass" if ok else "fail")


def _html_block(block: Any) -> str:
    if isinstance(block, Para):
        cls = ' class="note"' if block.style == "note" else ""
        return f"<p{cls}>{_e(block.text)}</p>"
    if isinstance(block, KeyValues):
        rows = "".join(
            f'<tr><th scope="row">{_e(k)}</th><td class="wrap">{_e(v)}</td></tr>'
            for k, v in block.rows
        )
        return f'<table class="kv"><tbody>{rows}</tbody></table>'
    if isinstance(block, Grid):
        head = "".join(f'<th scope="col">{_e(h)}</th>' for h in block.header)
        body = []
        for n, row in enumerate(block.rows):
            ok = block.status[n] if n < len(block.status) else None
            cells = "".join(f'<td class="wrap">{_e(c)}</td>' for c in row[:-1])
            cls = f' class="{_html_status(ok)}"' if ok is not None else ""
            body.append(f'<tr{cls}>{cells}<td class="status">{_e(row[-1])}</td></tr>')
        return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    if isinstance(block, Chart):
        svg = {"histogram": _svg_histogram, "scenarios": _svg_scenarios, "trend": _svg_trend}[
            block.kind
        ](block)
        note = f'<p class="note">{_e(block.note)}</p>' if block.note else ""
        return (
            f'<figure id="chart-{block.kind}"><figcaption>{_e(block.title)}</figcaption>'
            f"{note}{svg}</figure>"
        )
    if isinstance(block, Evidence):
        return _html_evidence(block.items)
    if isinstance(block, SignOff):
        head = "".join(f"<th>{_e(f)}</th>" for f in SIGN_FIELDS)
        rows = "".join(
            f'<tr><th scope="row">{_e(r)}</th>' + "<td></td>" * len(SIGN_FIELDS) + "</tr>"
            for r in SIGN_ROLES
        )
        return (
            f'<table class="signoff"><thead><tr><th></th>{head}</tr></thead>'
            f"<tbody>{rows}</tbody></table><p>{_e(REPORT_SHA_LINE)}</p>"
        )
    raise TypeError(f"unknown block {block!r}")


def _html_evidence(items: list[dict]) -> str:
    head = (
        "<tr><th>#</th><th>Item</th><th>Scenario</th><th>Method</th><th>Source WARC</th>"
        "<th>Offset</th><th>Expected sha256</th><th>Actual sha256</th><th>Byte-exact</th>"
        "<th>Result</th></tr>"
    )
    out = []
    for n, item in enumerate(items, 1):
        r = _evidence_row(n, item)
        extra = "".join(f'<div class="small">{_e(t)}</div>' for t in (r["stratum"], r["note"]) if t)
        bad = " bad" if _digests_differ(item) else ""
        cls = f' class="{_html_status(item_passed(item))}"'
        out.append(
            f'<tr{cls}><td>{r["n"]}</td><td class="wrap item">{_e(r["item"])}{extra}</td>'
            f'<td>{_e(r["scenario"])}</td><td class="wrap">{_e(r["method"])}</td>'
            f'<td class="wrap warc">{_e(r["warc"])}</td><td class="offset">{_e(r["offset"])}</td>'
            f'<td class="digest expected">{_e(r["expected"])}</td>'
            f'<td class="digest actual{bad}">{_e(r["actual"])}</td>'
            f'<td class="byte-exact">{_e(r["byte_exact"])}</td>'
            f'<td class="status">{_e(r["result"])}</td></tr>'
        )
    body = "".join(out) or '<tr><td colspan="10" class="note">No items.</td></tr>'
    return f'<table class="evidence"><thead>{head}</thead><tbody>{body}</tbody></table>'


def _svg(width: int, height: int, title: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'font-family="DejaVu Sans, sans-serif" role="img" aria-label="{_e(title)}">'
        f"<title>{_e(title)}</title>"
        f'<rect width="{width}" height="{height}" fill="#fff"/>{"".join(body)}</svg>'
    )


def _svg_text(x: float, y: float, text: str, anchor: str = "middle", size: int = 11, **kw) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{_e(v)}"' for k, v in kw.items())
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}"{extra}>'
        f"{_e(text)}</text>"
    )


def _svg_frame(x0: float, y0: float, w: float, h: float, top: float, step: float) -> list[str]:
    """Horizontal grid lines and value labels for a plot area at (x0, y0) of size w x h."""
    out = []
    k = 0
    while k * step <= top + 1e-9:
        y = y0 + h - h * (k * step) / top
        out.append(
            f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + w}" y2="{y:.1f}" stroke="#ddd"/>'
            + _svg_text(x0 - 5, y + 4, _num(k * step), "end", 10)
        )
        k += 1
    out.append(f'<line x1="{x0}" y1="{y0 + h}" x2="{x0 + w}" y2="{y0 + h}" stroke="#333"/>')
    out.append(f'<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y0 + h}" stroke="#333"/>')
    return out


def _svg_bars(
    title: str, labels: list[str], series: list[tuple[str, str, list[int]]], y_title: str
) -> str:
    width, height, x0, y0 = 720, 280, 56, 30
    w, h = width - x0 - 16, height - y0 - 70
    totals = [sum(s[2][k] for s in series) for k in range(len(labels))]
    top, step = _axis(max(totals, default=0) or 1, integer=True)
    body = _svg_frame(x0, y0, w, h, top, step)
    body.append(
        _svg_text(14, y0 + h / 2, y_title, size=10, transform=f"rotate(-90 14 {y0 + h / 2})")
    )
    slot = w / max(len(labels), 1)
    bar = min(slot * 0.7, 80)
    rotate = len(labels) > 8 or any(len(label) > 12 for label in labels)
    for k, label in enumerate(labels):
        x, base = x0 + k * slot + (slot - bar) / 2, y0 + h
        for name, color, values in series:
            if values[k]:
                bh = h * values[k] / top
                base -= bh
                body.append(
                    f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar:.1f}" height="{bh:.1f}" '
                    f'fill="{color}"><title>{_e(f"{label}: {values[k]} {name}")}</title></rect>'
                )
        cx = x0 + (k + 0.5) * slot
        if rotate:
            body.append(
                _svg_text(
                    cx,
                    y0 + h + 14,
                    label,
                    "end",
                    10,
                    transform=f"rotate(-35 {cx:.1f} {y0 + h + 14})",
                )
            )
        else:
            body.append(_svg_text(cx, y0 + h + 16, label, size=10))
    if len(series) > 1:
        lx = x0 + w
        for name, color, _ in reversed(series):
            lx -= 14 + 7 * len(name) + 16
            body.append(
                f'<rect x="{lx:.1f}" y="8" width="12" height="12" fill="{color}"/>'
                + _svg_text(lx + 16, 18, name, "start", 11)
            )
    if not labels:
        body.append(_svg_text(x0 + w / 2, y0 + h / 2, "no data", fill="#777"))
    return _svg(width, height, title, body)


def _svg_histogram(chart: Chart) -> str:
    labels = [f"{_num(lo)}–{_num(hi)}" for lo, hi, _ in chart.data]
    counts = [c for _, _, c in chart.data]
    return _svg_bars(chart.title, labels, [("items", BAR_COLOR, counts)], "items")


def _svg_scenarios(chart: Chart) -> str:
    labels = [name for name, _, _ in chart.data]
    series = [
        ("passed", PASS_COLOR, [p for _, p, _ in chart.data]),
        ("failed", FAIL_COLOR, [f for _, _, f in chart.data]),
    ]
    return _svg_bars(chart.title, labels, series, "items")


def _svg_trend(chart: Chart) -> str:
    points: list[TrendPoint] = chart.data["points"]
    target = chart.data["rto_target"]
    width, height = 720, 280
    body: list[str] = []
    panels = [
        ("RTO (s)", [p.rto_s for p in points], _finite(target)),
        ("Pass rate (%)", [p.pass_pct for p in points], None),
    ]
    every = max(1, math.ceil(len(points) / 10))
    for n, (name, values, line) in enumerate(panels):
        x0, y0, w, h = 56 + n * 360, 30, 290, 170
        known = [v for v in values if v is not None]
        if name.startswith("Pass"):
            top, step = 100.0, 20.0
        else:
            top, step = _axis(max([*known, line or 0, 0]) or 1)
        body.extend(_svg_frame(x0, y0, w, h, top, step))
        body.append(_svg_text(x0 + w / 2, 18, name, size=12, font_weight="bold"))
        slot = w / len(points)

        def at(k: int, v: float, x0=x0, y0=y0, h=h, top=top, slot=slot) -> tuple[float, float]:
            return x0 + (k + 0.5) * slot, y0 + h - h * v / top

        if line is not None:
            y = at(0, line)[1]
            body.append(
                f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + w}" y2="{y:.1f}" stroke="{TARGET_COLOR}" '
                f'stroke-dasharray="5 3"/>'
                + _svg_text(
                    x0 + w - 2, y - 4, f"target {_num(line)} s", "end", 10, fill=TARGET_COLOR
                )
            )
        run: list[str] = []
        for k, v in enumerate([*values, None]):
            if v is not None:
                run.append("{:.1f},{:.1f}".format(*at(k, v)))
            elif run:
                body.append(f'<polyline points="{" ".join(run)}" fill="none" stroke="#444"/>')
                run = []
        for k, (p, v) in enumerate(zip(points, values, strict=True)):
            if v is not None:
                cx, cy = at(k, v)
                ring = ' stroke="#000" stroke-width="2"' if p.current else ""
                tip = f"{p.drill} ({p.verdict}): {_num(v)}"
                body.append(
                    f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{6 if p.current else 4}" '
                    f'fill="{_verdict_color(p.verdict)}"{ring}><title>{_e(tip)}</title></circle>'
                )
            if k % every == 0 or p.current:
                cx, ly = x0 + (k + 0.5) * slot, y0 + h + 14
                label = f"{p.label} (this)" if p.current else p.label
                body.append(
                    _svg_text(cx, ly, label, "end", 10, transform=f"rotate(-35 {cx:.1f} {ly})")
                )
    return _svg(width, height, chart.title, body)


def render_html(result: dict, history: list[dict]) -> str:
    """The drill report as one self-contained HTML page (inline CSS and SVG, no scripts)."""
    verdict = _verdict(result)
    drill = _text(result.get("id"))
    finished = _e(_text(result.get("finished_at")))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Drill report {_e(drill)} — {_e(verdict)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<header><h1>Recovery drill {_e(drill)} {_badge(verdict)}</h1>",
        f'<p class="small">Salvage forensic drill report. Finished {finished}.</p></header>',
    ]
    for n, section in enumerate(_sections(result, history), 1):
        parts.append(f'<section id="{section.anchor}"><h2>{n}. {_e(section.title)}</h2>')
        parts.extend(_html_block(b) for b in section.blocks)
        parts.append("</section>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------------
# PDF

_FONT_DIRS = (
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/dejavu",
    "/usr/share/fonts/TTF",
    "/usr/local/share/fonts",
)


@functools.cache
def _fonts() -> tuple[str, str, str]:
    """(regular, bold, mono) font names: DejaVu when installed (wide Unicode coverage), else the
    PDF standard fonts (Latin-1 only)."""
    from reportlab.lib.fonts import addMapping
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    files = {
        "SalvageSans": "DejaVuSans.ttf",
        "SalvageSans-Bold": "DejaVuSans-Bold.ttf",
        "SalvageMono": "DejaVuSansMono.ttf",
    }
    for folder in _FONT_DIRS:
        paths = {name: Path(folder) / file for name, file in files.items()}
        if all(p.is_file() for p in paths.values()):
            for name, p in paths.items():
                pdfmetrics.registerFont(TTFont(name, str(p)))
            for bold, italic, face in (
                (0, 0, "SalvageSans"),
                (1, 0, "SalvageSans-Bold"),
                (0, 1, "SalvageSans"),
                (1, 1, "SalvageSans-Bold"),
            ):
                addMapping("SalvageSans", bold, italic, face)
            return "SalvageSans", "SalvageSans-Bold", "SalvageMono"
    return "Helvetica", "Helvetica-Bold", "Courier"


def _x(value: Any) -> str:
    """Text escaped for reportlab's paragraph markup."""
    return html.escape(str(value), quote=False)


def _wrap(text: str, font: str, size: float, width: float, max_lines: int = PDF_CELL_LINES) -> str:
    """`text` broken into lines that fit `width` (long words are cut), at most `max_lines`."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    lines: list[str] = []
    for para in text.splitlines() or [""]:
        line = ""
        for word in para.split(" "):
            candidate = f"{line} {word}" if line else word
            if stringWidth(candidate, font, size) <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            line = ""
            while stringWidth(word, font, size) > width:
                cut = max(1, int(len(word) * width / stringWidth(word, font, size)))
                while cut > 1 and stringWidth(word[:cut], font, size) > width:
                    cut -= 1
                lines.append(word[:cut])
                word = word[cut:]
            line = word
        lines.append(line)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][:-1] + "…" if len(lines[-1]) > 1 else "…"
    return "\n".join(lines)


def _digest_cell(value: str) -> str:
    return (
        value
        if len(value) <= 32
        else f"{value[:32]}\n{value[32:64]}" + (f"\n{value[64:]}" if len(value) > 64 else "")
    )


class _Styles:
    def __init__(self) -> None:
        from reportlab.lib.styles import ParagraphStyle

        self.sans, self.bold, self.mono = _fonts()
        self.body = ParagraphStyle("body", fontName=self.sans, fontSize=9, leading=12, spaceAfter=4)
        self.note = ParagraphStyle("note", parent=self.body, textColor="#555555")
        self.cell = ParagraphStyle("cell", parent=self.body, fontSize=8, leading=10, spaceAfter=0)
        self.head = ParagraphStyle("head", parent=self.cell, fontName=self.bold)
        self.h1 = ParagraphStyle(
            "h1", parent=self.body, fontName=self.bold, fontSize=17, leading=22
        )
        self.h2 = ParagraphStyle(
            "h2",
            parent=self.body,
            fontName=self.bold,
            fontSize=12,
            leading=15,
            spaceBefore=10,
            keepWithNext=1,
        )
        self.badge = ParagraphStyle(
            "badge", parent=self.h1, textColor="#ffffff", alignment=1, fontSize=15
        )
        self.chart = ParagraphStyle("chart", parent=self.body, fontName=self.bold, keepWithNext=1)
        self.chart_note = ParagraphStyle("chart_note", parent=self.note, keepWithNext=1)


def _pdf_table_style(s: _Styles, header: bool = True) -> list[tuple]:
    cmds: list[tuple] = [
        ("FONT", (0, 0), (-1, -1), s.sans, 8),
        ("GRID", (0, 0), (-1, -1), 0.4, "#bbbbbb"),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
    ]
    if header:
        cmds += [("BACKGROUND", (0, 0), (-1, 0), "#eeeeee"), ("FONT", (0, 0), (-1, 0), s.bold, 8)]
    return cmds


def _pdf_block(block: Any, s: _Styles, width: float) -> list[Any]:
    from reportlab.platypus import Paragraph, Spacer, Table, TableStyle

    if isinstance(block, Para):
        return [Paragraph(_x(block.text), s.note if block.style == "note" else s.body)]
    if isinstance(block, KeyValues):
        rows = [[Paragraph(_x(k), s.head), Paragraph(_x(v), s.cell)] for k, v in block.rows]
        table = Table(rows, colWidths=[width * 0.25, width * 0.75], hAlign="LEFT")
        style = _pdf_table_style(s, header=False) + [("BACKGROUND", (0, 0), (0, -1), "#f4f4f4")]
        table.setStyle(TableStyle(style))
        return [table, Spacer(1, 6)]
    if isinstance(block, Grid):
        rel = block.widths or [1.0] * len(block.header)
        widths = [width * r / sum(rel) for r in rel]
        rows = [[Paragraph(_x(h), s.head) for h in block.header]]
        rows += [[Paragraph(_x(c), s.cell) for c in row] for row in block.rows]
        style = _pdf_table_style(s)
        for n, ok in enumerate(block.status, 1):
            if ok is not None:
                color = PASS_COLOR if ok else FAIL_COLOR
                style.append(("BACKGROUND", (-1, n), (-1, n), color))
                rows[n][-1] = Paragraph(
                    f'<font color="#ffffff"><b>{_x(block.rows[n - 1][-1])}</b></font>', s.cell
                )
        table = Table(rows, colWidths=widths, repeatRows=1, hAlign="LEFT")
        table.setStyle(TableStyle(style))
        return [table, Spacer(1, 6)]
    if isinstance(block, Chart):
        # title and note keep with the drawing (and a section heading with them)
        parts: list[Any] = [Paragraph(_x(block.title), s.chart)]
        if block.note:
            parts.append(Paragraph(_x(block.note), s.chart_note))
        return [*parts, _pdf_chart(block, s, width), Spacer(1, 8)]
    if isinstance(block, Evidence):
        return _pdf_evidence(block.items, s)
    if isinstance(block, SignOff):
        rows = [["", *SIGN_FIELDS]] + [[r] + [""] * len(SIGN_FIELDS) for r in SIGN_ROLES]
        rel = [1.1, 1.6, 1.3, 2.2, 1]
        table = Table(rows, colWidths=[width * r / sum(rel) for r in rel], rowHeights=[14, 34, 34])
        table.setStyle(TableStyle(_pdf_table_style(s) + [("FONT", (0, 1), (0, -1), s.bold, 8)]))
        return [table, Spacer(1, 8), Paragraph(_x(REPORT_SHA_LINE), s.body)]
    raise TypeError(f"unknown block {block!r}")


_EVIDENCE_COLUMNS = (  # key, header, width (points; landscape A4 less margins is 770)
    ("n", "#", 26),
    ("item", "Item", 120),
    ("scenario", "Scenario", 54),
    ("method", "Method", 100),
    ("warc", "Source WARC @ offset", 134),
    ("expected", "Expected sha256", 124),  # 32 monospaced characters at 6 pt a line
    ("actual", "Actual sha256", 124),
    ("byte_exact", "Byte-\nexact", 42),
    ("result", "Result", 36),
)


def _pdf_evidence(items: list[dict], s: _Styles) -> list[Any]:
    from reportlab.platypus import NextPageTemplate, PageBreak, Paragraph, Table, TableStyle

    size, pad = 7.0, 3.0
    widths = [w for _, _, w in _EVIDENCE_COLUMNS]
    data: list[list[str]] = [[h for _, h, _ in _EVIDENCE_COLUMNS]]
    style = _pdf_table_style(s) + [
        ("FONT", (0, 1), (-1, -1), s.sans, size, size + 1.5),
        ("FONT", (5, 1), (6, -1), s.mono, 6, 7.5),
        ("LEFTPADDING", (0, 0), (-1, -1), pad),
        ("RIGHTPADDING", (0, 0), (-1, -1), pad),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), ["#ffffff", "#f6f6f6"]),
    ]
    for n, item in enumerate(items, 1):
        r = _evidence_row(n, item)
        item_text = "\n".join(t for t in (r["item"], r["stratum"], r["note"]) if t)
        warc = r["warc"] + (f" @ {r['offset']}" if r["offset"] else "")
        cells = {
            **r,
            "item": item_text,
            "warc": warc,
            "expected": _digest_cell(r["expected"]),
            "actual": _digest_cell(r["actual"]),
        }
        row = []
        for (key, _, w), col in zip(_EVIDENCE_COLUMNS, range(len(widths)), strict=True):
            font, fsize = (s.mono, 6) if col in (5, 6) else (s.sans, size)
            row.append(_wrap(cells[key], font, fsize, w - 2 * pad))
        data.append(row)
        if _digests_differ(item):
            style.append(("BACKGROUND", (6, n), (6, n), "#f9d6d3"))
        for col, key in ((7, "byte_exact"), (8, "result")):
            if r[key] in ("no", "fail"):
                style.append(("TEXTCOLOR", (col, n), (col, n), FAIL_COLOR))
                style.append(("FONT", (col, n), (col, n), s.bold, size))
    table = Table(data, colWidths=widths, repeatRows=1, hAlign="LEFT")
    table.setStyle(TableStyle(style))
    out: list[Any] = [NextPageTemplate("landscape"), PageBreak(), table]
    if not items:
        out.append(Paragraph("No items.", s.note))
    return [*out, NextPageTemplate("portrait"), PageBreak()]


def _pdf_chart(chart: Chart, s: _Styles, width: float):
    from reportlab.graphics.shapes import Drawing, String

    height = 190
    d = Drawing(width, height)
    if chart.kind == "trend":
        _pdf_trend(d, chart, s, width, height)
        return d
    if chart.kind == "histogram":
        labels = [f"{_num(lo)}–{_num(hi)}" for lo, hi, _ in chart.data]
        series = [("items", BAR_COLOR, [c for _, _, c in chart.data])]
    else:
        labels = [name for name, _, _ in chart.data]
        series = [
            ("passed", PASS_COLOR, [p for _, p, _ in chart.data]),
            ("failed", FAIL_COLOR, [f for _, _, f in chart.data]),
        ]
    if not labels:
        d.add(
            String(
                width / 2, height / 2, "no data", fontName=s.sans, fontSize=9, textAnchor="middle"
            )
        )
        return d
    from reportlab.graphics.charts.barcharts import VerticalBarChart
    from reportlab.graphics.charts.legends import Legend
    from reportlab.lib import colors

    bc = VerticalBarChart()
    bc.x, bc.y, bc.width, bc.height = 40, 45, width - 60, height - 70
    bc.data = [values for _, _, values in series]
    top, step = _axis(max(map(sum, zip(*bc.data, strict=True))) or 1, integer=True)
    bc.valueAxis.valueMin, bc.valueAxis.valueMax, bc.valueAxis.valueStep = 0, top, step
    bc.valueAxis.labels.fontName = s.sans
    bc.valueAxis.labels.fontSize = 7
    bc.valueAxis.visibleGrid = True
    bc.valueAxis.gridStrokeColor = colors.HexColor("#dddddd")
    bc.categoryAxis.categoryNames = labels
    bc.categoryAxis.labels.fontName = s.sans
    bc.categoryAxis.labels.fontSize = 7
    if len(labels) > 8 or any(len(label) > 12 for label in labels):
        bc.categoryAxis.labels.angle = 30
        bc.categoryAxis.labels.boxAnchor = "ne"
    bc.barWidth = 10
    if len(series) > 1:
        bc.categoryAxis.style = "stacked"
    for k, (_, color, _) in enumerate(series):
        bc.bars[k].fillColor = colors.HexColor(color)
        bc.bars[k].strokeColor = None
    d.add(bc)
    if len(series) > 1:
        legend = Legend()
        legend.x, legend.y = width - 130, height - 4
        legend.columnMaximum, legend.alignment = 1, "right"
        legend.fontName, legend.fontSize = s.sans, 8
        legend.colorNamePairs = [(colors.HexColor(c), n) for n, c, _ in series]
        d.add(legend)
    return d


def _pdf_trend(d: Any, chart: Chart, s: _Styles, width: float, height: float) -> None:
    from reportlab.graphics.charts.lineplots import LinePlot
    from reportlab.graphics.shapes import String
    from reportlab.graphics.widgets.markers import makeMarker
    from reportlab.lib import colors

    points: list[TrendPoint] = chart.data["points"]
    target = chart.data["rto_target"]
    target = _finite(target)
    every = max(1, math.ceil(len(points) / 10))
    panel = (width - 40) / 2
    panels = [
        ("RTO (s)", [p.rto_s for p in points], target),
        ("Pass rate (%)", [p.pass_pct for p in points], None),
    ]
    for n, (name, values, line) in enumerate(panels):
        x0 = 40 + n * (panel + 20)
        lp = LinePlot()
        lp.x, lp.y, lp.width, lp.height = x0, 50, panel - 40, height - 75
        known = [(k, v) for k, v in enumerate(values) if v is not None]
        if name.startswith("Pass"):
            top, step = 100.0, 20.0
        else:
            top, step = _axis(max([v for _, v in known] + [line or 0, 0]) or 1)
        lines = [known] if known else [[(0, 0)]]
        if line is not None:
            lines.append([(-0.5, line), (len(points) - 0.5, line)])
        lp.data = lines
        lp.xValueAxis.valueMin, lp.xValueAxis.valueMax = -0.5, len(points) - 0.5
        lp.xValueAxis.valueSteps = list(range(0, len(points), every))
        lp.xValueAxis.labelTextFormat = lambda k: points[int(round(k))].label
        lp.xValueAxis.labels.fontName, lp.xValueAxis.labels.fontSize = s.sans, 7
        lp.xValueAxis.labels.angle, lp.xValueAxis.labels.boxAnchor = 30, "ne"
        lp.yValueAxis.valueMin, lp.yValueAxis.valueMax, lp.yValueAxis.valueStep = 0, top, step
        lp.yValueAxis.labels.fontName, lp.yValueAxis.labels.fontSize = s.sans, 7
        lp.yValueAxis.visibleGrid = True
        lp.yValueAxis.gridStrokeColor = colors.HexColor("#dddddd")
        lp.lines[0].strokeColor = colors.HexColor("#444444") if known else None
        lp.lines[0].symbol = None
        if line is not None:
            lp.lines[1].strokeColor = colors.HexColor(TARGET_COLOR)
            lp.lines[1].strokeDashArray = [4, 2]
            lp.lines[1].symbol = None
        d.add(lp)
        # points coloured by verdict, the current drill ringed
        scale_x = lp.width / len(points)
        for k, v in known:
            marker = makeMarker("Circle")
            marker.x = lp.x + (k + 0.5) * scale_x
            marker.y = lp.y + lp.height * v / top
            marker.size = 7 if points[k].current else 5
            marker.fillColor = colors.HexColor(_verdict_color(points[k].verdict))
            marker.strokeColor = colors.black if points[k].current else None
            d.add(marker)
        d.add(
            String(
                x0 + lp.width / 2,
                height - 12,
                name,
                fontName=s.bold,
                fontSize=9,
                textAnchor="middle",
            )
        )
        if line is not None:
            y = lp.y + lp.height * line / top
            d.add(
                String(
                    lp.x + lp.width - 2,
                    y + 3,
                    f"target {_num(line)} s",
                    fontName=s.sans,
                    fontSize=7,
                    fillColor=colors.HexColor(TARGET_COLOR),
                    textAnchor="end",
                )
            )
        if not known:
            d.add(
                String(
                    x0 + lp.width / 2,
                    lp.y + lp.height / 2,
                    "not recorded",
                    fontName=s.sans,
                    fontSize=8,
                    textAnchor="middle",
                )
            )


def _numbered_canvas(footer: str, font: str):
    """A canvas class that writes `footer` and "page N of M" on every page once all are laid out."""
    from reportlab.pdfgen.canvas import Canvas

    class NumberedCanvas(Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict] = []

        def showPage(self) -> None:  # noqa: N802 (reportlab's name)
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for number, state in enumerate(self._pages, 1):
                self.__dict__.update(state)
                w, _ = self._pagesize
                self.saveState()
                self.setFont(font, 7.5)
                self.setFillColorRGB(0.35, 0.35, 0.35)
                self.drawString(36, 20, footer)
                self.drawRightString(w - 36, 20, f"Page {number} of {total}")
                self.restoreState()
                super().showPage()
            super().save()

    return NumberedCanvas


def _pdf_bytes(result: dict, history: list[dict]) -> bytes:
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.platypus import (
        BaseDocTemplate,
        Frame,
        PageTemplate,
        Paragraph,
        Spacer,
        Table,
        TableStyle,
    )

    s = _Styles()
    drill = _text(result.get("id"))
    verdict = _verdict(result)
    margin = 36
    buf = io.BytesIO()
    doc = BaseDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=margin,
        rightMargin=margin,
        topMargin=margin,
        bottomMargin=margin + 10,
        title=f"Drill report {drill}",
        author="Salvage",
        subject=f"Forensic recovery drill {drill}: {verdict}",
        invariant=1,
    )
    templates = []
    for name, size in (("portrait", A4), ("landscape", landscape(A4))):
        frame = Frame(margin, margin + 10, size[0] - 2 * margin, size[1] - 2 * margin - 10, id=name)
        templates.append(PageTemplate(id=name, frames=[frame], pagesize=size))
    doc.addPageTemplates(templates)
    width = A4[0] - 2 * margin

    title = Table(
        [[Paragraph(f"Recovery drill {_x(drill)}", s.h1), Paragraph(_x(verdict), s.badge)]],
        colWidths=[width - 80, 80],
    )
    title.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (1, 0), (1, 0), _verdict_color(verdict)),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("LEFTPADDING", (0, 0), (0, 0), 0),
            ]
        )
    )
    story: list[Any] = [
        title,
        Paragraph(
            f"Salvage forensic drill report. Finished {_x(_text(result.get('finished_at')))}.",
            s.note,
        ),
        Spacer(1, 6),
    ]
    for n, section in enumerate(_sections(result, history), 1):
        heading = Paragraph(f"{n}. {_x(section.title)}", s.h2)
        if isinstance(section.blocks[-1], Evidence):
            # the heading goes with the table onto the first landscape page
            before = [b for blk in section.blocks[:-1] for b in _pdf_block(blk, s, width)]
            table = _pdf_evidence(section.blocks[-1].items, s)
            story += [*table[:2], heading, *before, *table[2:]]
            continue
        story.append(heading)
        for block in section.blocks:
            story += _pdf_block(block, s, width)
    doc.build(story, canvasmaker=_numbered_canvas(f"Salvage drill report · {drill}", s.sans))
    return buf.getvalue()


def render_pdf(result: dict, history: list[dict], path: Path) -> Path:
    """Render the drill report as a PDF and write it to `path` crash-safely."""
    path = Path(path)
    write_atomic(path, _pdf_bytes(result, history))
    return path


def write_report(result: dict, history: list[dict], folder: Path) -> dict[str, Path]:
    """Write `folder`/report.html, report.pdf and result.json, each crash-safely."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "html": folder / "report.html",
        "pdf": folder / "report.pdf",
        "json": folder / "result.json",
    }
    data = json.dumps(result, sort_keys=True, indent=2, ensure_ascii=False, default=str) + "\n"
    write_atomic(paths["json"], data.encode("utf-8"))
    write_atomic(paths["html"], render_html(result, history).encode("utf-8"))
    render_pdf(result, history, paths["pdf"])
    return paths
