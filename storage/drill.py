"""Forensic drills: prove, with evidence, that what the archive holds can be recovered.

A drill samples what the home holds (reproducibly: the same seed gives the same sample;
stratified: form types and months for filings), simulates its loss in a scratch copy of the home
outside it, recovers it with the production code, verifies each item against its recorded
digest, measures time to detect, time to recover (RTO) and the age of the capture used (RPO),
and returns one JSON-able result that `drill_report` renders.

The scratch copy: WARC files (closed, never written again) are hard-linked, every other file is
copied; a file the drill damages is first replaced by a real copy (`_private`), so the real home
is byte-identical after a drill. The drill writes only `drills/<id>/`, its `drills` row and an
audit line in the real home.

Scenarios:
- filings: the sampled filings' recovered copies are removed from the scratch store and their
  complete submission `.txt` is captured again from a source that answers 404 (the caller's
  `make_unavailable` switches a real source, e.g. the local mirror; otherwise the capturer's
  transport answers 404 itself: "source unavailable", recorded as such in the WARC); detection is
  `storage.gaps.detect_gaps` (filing.removed), recovery `archive.recover.recover_filings`; an item
  passes when the filing is recovered and its `.txt` has the sha256 of the capture it came from.
- store: one sampled WARC file of the scratch copy is corrupted (a byte flipped in a real copy)
  and one deleted; detection is `archive.restore.fixity_findings`, recovery
  `restore_from_replica` from the configured replica; an item passes when the file is back with
  its recorded sha256.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import random
import re
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3 import HTTPResponse

from archive.capture import Capturer, CaptureSettings
from archive.errors import SalvageError
from archive.home import Home
from storage.query import query

SCENARIOS = ("filings", "pages", "orderbook", "store")
"""The scenarios `--scenario all` runs, in order; each is a `Scenario` in `registry()`."""
DRILLS = "drills"
TXT_URL = re.compile(r"/Archives/edgar/data/\d+/(\d{18})/(\d{10}-\d{2}-\d{6})\.txt$")
LINKED = (".warc.gz", ".warc")
"""Files the scratch copy hard-links: closed WARCs are never written again."""
LINKED_FOLDERS = ("recovered",)
"""Folders whose files the scratch copy hard-links too: a recovery writes a filing's folder
aside and swaps it in by rename, never writing into a file that exists (88% of a large home's
copy was `recovered/`)."""


class DrillError(SalvageError):
    """A drill cannot run as asked (bad sample, unknown scenario, nothing to sample)."""


@dataclass(frozen=True)
class Targets:
    """What a drill must show (`[drill]` in the configuration)."""

    byte_exact_pct: float = 100.0
    rto_s: float = 900.0


@dataclass
class Context:
    """What every scenario's `run` is given besides the homes and its sample."""

    now: datetime
    settings: CaptureSettings
    replica: str | None = None
    replica_keys: dict[str, str | None] = field(default_factory=dict)
    make_unavailable: Callable[[list[str]], None] | None = None


@dataclass(frozen=True)
class Scenario:
    """One kind of loss: what can be sampled in the real home (`candidates`: dicts with at
    least `item`), its strata, and `run(home, scratch, chosen, ctx) -> items` that loses the
    chosen ones in `scratch`, detects, recovers and verifies them (items as in the result:
    scenario, item, stratum, loss, method, source_warc, source_offset, expected_sha256,
    actual_sha256, detected, detect_s, recover_s, recovery_point, rpo_s, success, byte_exact,
    book_accuracy, note). `most`: a cap on the sample (None: as asked)."""

    name: str
    candidates: Callable[[Home], list[dict]]
    stratum: Callable[[dict], str]
    run: Callable[[Home, Home, list[dict], Context], list[dict]]
    most: int | None = None


def registry() -> dict[str, Scenario]:
    """Every scenario by name."""
    from orderbook.drill import run_books, window_candidates
    from storage.drill_pages import page_candidates, run_pages

    return {
        "filings": Scenario("filings", filing_candidates,
                            lambda i: f"{i['form_type']} {i['month']}", _filings),
        "store": Scenario("store", warc_candidates, lambda i: i["stratum"], _store, most=2),
        "orderbook": Scenario("orderbook", window_candidates, lambda i: i["stratum"], run_books,
                              most=10),
        "pages": Scenario("pages", page_candidates, lambda i: i["stratum"], run_pages),
    }


def parse_sample(text: str | int) -> tuple[int | None, float | None]:
    """`25` (items per scenario) or `10%` (of what each scenario could sample)."""
    value = str(text).strip()
    try:
        if value.endswith("%"):
            pct = float(value[:-1])
            if not 0 < pct <= 100:
                raise ValueError
            return None, pct
        count = int(value)
        if count < 1:
            raise ValueError
        return count, None
    except ValueError as exc:
        raise DrillError(f"--sample {value!r}: give a count (25) or a share (10%)") from exc


def stratified(items: list[dict], key: Callable[[dict], str], sample: tuple[int | None,
               float | None], seed: int) -> list[dict]:
    """A reproducible stratified sample: each stratum's share of the total (largest remainders),
    at least one from each stratum while the sample is at least the number of strata; within a
    stratum, a seeded choice from its items in a stable order."""
    count, pct = sample
    n = len(items) if count is None and pct is None else (
        count if count is not None else max(1, round(len(items) * pct / 100)))
    n = min(n, len(items))
    groups: dict[str, list[dict]] = defaultdict(list)
    for item in sorted(items, key=lambda i: (key(i), i["item"])):
        groups[key(item)].append(item)
    names = sorted(groups)
    if n >= len(names):
        quota = {g: 1 for g in names}
        rest = n - len(names)
        shares = {g: rest * (len(groups[g]) - 1) / max(1, len(items) - len(names)) for g in names}
    else:
        quota = {g: 0 for g in names}
        rest = n
        shares = {g: n * len(groups[g]) / len(items) for g in names}
    floors = {g: min(int(shares[g]), len(groups[g]) - quota[g]) for g in names}
    for g in names:
        quota[g] += floors[g]
    left = n - sum(quota.values())
    rnd = random.Random(seed)
    tie = {g: rnd.random() for g in names}  # equal remainders: a seeded draw decides
    for g in sorted(names, key=lambda g: (-round(shares[g] - int(shares[g]), 9), tie[g])):
        if left <= 0:
            break
        if quota[g] < len(groups[g]):
            quota[g] += 1
            left -= 1
    chosen = []
    for g in names:
        chosen += rnd.sample(groups[g], quota[g])
    return sorted(chosen, key=lambda i: i["item"])


# -- the scratch copy ------------------------------------------------------------------------------


def scratch_copy(home: Home, dest: Path) -> Home:
    """A copy of `home` at `dest`: closed WARCs and recovered filings hard-linked (copied across
    file systems), everything else copied; the drills folder left out."""
    src = home.root
    for folder, dirs, files in os.walk(src):
        rel = Path(folder).relative_to(src)
        if rel.parts[:1] == (DRILLS,):
            dirs[:] = []
            continue
        (dest / rel).mkdir(parents=True, exist_ok=True)
        linked = rel.parts[:1] and rel.parts[0] in LINKED_FOLDERS
        for name in files:
            a, b = Path(folder) / name, dest / rel / name
            if linked or name.endswith(LINKED):
                try:
                    os.link(a, b)
                    continue
                except OSError:
                    pass
            shutil.copy2(a, b)
    return Home(dest)


def _private(path: Path) -> None:
    """Make `path` a file of its own before it is damaged (a hard link becomes a real copy)."""
    if path.stat().st_nlink > 1:
        tmp = path.with_name(path.name + ".drill-copy")
        shutil.copy2(path, tmp)
        os.replace(tmp, path)


def tree_digest(root: Path, skip: Iterable[str] = (DRILLS, "tmp", "locks")) -> str:
    """sha256 over every file's relative path and content below `root` (but `skip` folders and
    empty `.lock` files, which readers create to take a shared lock): equal before and after a
    drill."""
    skipped = set(skip)
    h = hashlib.sha256()
    for folder, dirs, files in sorted(os.walk(root)):
        dirs.sort()
        rel = Path(folder).relative_to(root)
        if rel.parts[:1] and rel.parts[0] in skipped:
            dirs[:] = []
            continue
        for name in sorted(files):
            path = Path(folder) / name
            if name.endswith(".lock") and path.stat().st_size == 0:
                continue
            h.update(f"{rel / name}\0".encode())
            with open(path, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    h.update(chunk)
    return h.hexdigest()


# -- sources that answer 404 ---------------------------------------------------------------------


class Unavailable(HTTPAdapter):
    """A transport whose every answer is 404: the "source unavailable" switch of a drill run
    without a local mirror (no request leaves the machine; the answer says it is a drill's)."""

    BODY = b"Not Found (a Salvage drill: the source is unavailable)\n"

    def send(self, request, **kwargs):  # noqa: ANN001 - requests' adapter interface
        raw = HTTPResponse(body=io.BytesIO(self.BODY), status=404, reason="Not Found",
                           headers={"Content-Type": "text/plain",
                                    "Content-Length": str(len(self.BODY)),
                                    "X-Salvage-Drill": "source unavailable (simulated)"},
                           preload_content=False, decode_content=False)
        return self.build_response(request, raw)


@contextlib.contextmanager
def unavailable_source(scratch: Home, ctx: Context, urls: list[str]) -> Iterator[Capturer]:
    """A capturer on `scratch` whose source answers 404 for `urls`: the caller's real source
    switched (`ctx.make_unavailable`, e.g. the local mirror), else the `Unavailable`
    transport."""
    if ctx.make_unavailable is not None:
        ctx.make_unavailable(urls)
    with Capturer(scratch, ctx.settings) as capturer:
        if ctx.make_unavailable is None:
            capturer.session.mount("http://", Unavailable())
            capturer.session.mount("https://", Unavailable())
        yield capturer


# -- the filings scenario ------------------------------------------------------------------------


def filing_candidates(home: Home) -> list[dict]:
    """Filings whose complete submission `.txt` has a good capture: the newest one each, with
    its form type and month (the strata) where the catalog knows them."""
    rows = query(home.catalog, r"""
        SELECT c.url, c.digest, c.filename, c.offset, c.warc_date, f.form_type, f.filed_as_of
        FROM captures c
        LEFT JOIN filings f
          ON regexp_extract(c.url, '/(\d{10}-\d{2}-\d{6})\.txt$', 1) = f.accession
        WHERE c.record_type = 'response' AND c.status = 200 AND c.soft_error IS NULL
          AND c.truncated IS NULL AND c.url LIKE '%/Archives/edgar/data/%.txt'
        ORDER BY c.warc_date""").to_pylist()
    newest: dict[str, dict] = {}
    for r in rows:
        m = TXT_URL.search(r["url"].split("?", 1)[0])
        if not m or m.group(1) != m.group(2).replace("-", ""):
            continue
        filed = r["filed_as_of"]
        newest[m.group(2)] = {
            "item": m.group(2), "url": r["url"], "digest": r["digest"],
            "warc": r["filename"], "offset": r["offset"], "captured_at": r["warc_date"],
            "form_type": r["form_type"] or "unknown",
            "month": filed.strftime("%Y-%m") if filed else r["warc_date"].strftime("%Y-%m")}
    return list(newest.values())


def payload_sha256(home: Home, url: str, warc: str | None, offset: int | None) -> str | None:
    """The sha256 of a record's payload, read from `home` (read-only); None when there is no
    record or it cannot be read (the item then fails with that reason)."""
    from archive.cdxj import IndexLine
    from archive.payload import stream_payload

    if warc is None or offset is None:
        return None
    line = IndexLine("", "", {"url": url, "filename": warc, "offset": str(offset),
                              "length": "0", "mime": ""})
    h = hashlib.sha256()
    try:
        for chunk in stream_payload(home, line):
            h.update(chunk)
    except Exception:
        return None
    return h.hexdigest()


def _filings(home: Home, scratch: Home, chosen: list[dict], ctx: Context) -> list[dict]:
    from archive.recover import FOLDER, recover_filings
    from storage.gaps import detect_gaps

    now = ctx.now
    expected = {c["item"]: payload_sha256(home, c["url"], c["warc"], c["offset"])
                for c in chosen}
    for c in chosen:
        shutil.rmtree(scratch.root / FOLDER / c["item"], ignore_errors=True)
    started = time.perf_counter()
    urls = [c["url"] for c in chosen]
    with unavailable_source(scratch, ctx, urls) as capturer:
        answers = {u: capturer.capture_url(u) for u in urls}
    report = detect_gaps(scratch, now=now, checks=["filing.removed"])
    found = {f.entity for f in report.findings if f.type == "filing.removed"}
    detected_at = time.perf_counter()
    recoveries = {r.accession: r for r in recover_filings(scratch, [c["item"] for c in chosen])}
    recovered_at = time.perf_counter()
    detect_s = (detected_at - started) / max(1, len(chosen))
    recover_s = (recovered_at - detected_at) / max(1, len(chosen))
    items = []
    for c in chosen:
        rec = recoveries.get(c["item"])
        txt = next((f for f in (rec.files if rec else []) if f.filename == f"{c['item']}.txt"),
                   None)
        actual = txt.sha256 if txt else None
        exact = bool(rec and txt and actual == expected[c["item"]]
                     and all(f.verified for f in rec.files))
        answer = answers[c["url"]]
        items.append({
            "scenario": "filings", "item": c["item"], "stratum": f"{c['form_type']} {c['month']}",
            "loss": f"recovered copy removed from the scratch store; the source answered "
                    f"{answer.status or answer.error}",
            "method": txt.method if txt else None,
            "source_warc": txt.warc if txt else c["warc"],
            "source_offset": txt.offset if txt else c["offset"],
            "expected_sha256": expected[c["item"]], "actual_sha256": actual,
            "detected": c["item"] in found, "detect_s": round(detect_s, 4),
            "recover_s": round(recover_s, 4),
            "recovery_point": _iso(c["captured_at"]),
            "rpo_s": round((now - c["captured_at"]).total_seconds(), 3),
            "success": bool(rec and rec.status == "recovered" and c["item"] in found),
            "byte_exact": exact, "book_accuracy": None,
            "note": "" if rec is None else rec.status + (
                f"; missing {', '.join(rec.missing[:5])}" if rec.missing else "")})
    return items


# -- the store scenario --------------------------------------------------------------------------


def _store(home: Home, scratch: Home, chosen: list[dict], ctx: Context) -> list[dict]:
    from archive.restore import fixity_findings, restore_from_replica

    replica, keys = ctx.replica, ctx.replica_keys
    for k, c in enumerate(chosen):
        path = scratch.root / c["item"]
        if k % 2 == 0:  # corrupt a real copy
            _private(path)
            with open(path, "r+b") as fh:
                fh.seek(max(0, path.stat().st_size // 2))
                byte = fh.read(1)
                fh.seek(-len(byte), os.SEEK_CUR)
                fh.write(bytes([(byte[0] if byte else 0) ^ 0xFF]))
            c["loss"] = "one byte flipped in the scratch copy"
        else:
            path.unlink()
            c["loss"] = "deleted from the scratch copy"
    started = time.perf_counter()
    findings = fixity_findings(scratch, replica, **keys)
    found = {f.entity for f in findings}
    detected_at = time.perf_counter()
    restored = restore_from_replica(scratch, replica, [c["item"] for c in chosen], **keys)
    done_at = time.perf_counter()
    back = {r.file: r.sha256 for r in restored.restored}
    why = {u.file: u.reason for u in restored.unrecoverable}
    n = max(1, len(chosen))
    items = []
    for c in chosen:
        actual = back.get(c["item"])
        items.append({
            "scenario": "store", "item": c["item"], "stratum": c["stratum"], "loss": c["loss"],
            "method": f"restored from the replica {restored.replica}" if replica else None,
            "source_warc": c["item"], "source_offset": None,
            "expected_sha256": c["sha256"], "actual_sha256": actual,
            "detected": c["item"] in found, "detect_s": round((detected_at - started) / n, 4),
            "recover_s": round((done_at - detected_at) / n, 4), "recovery_point": None,
            "rpo_s": None, "success": actual is not None and c["item"] in found,
            "byte_exact": actual == c["sha256"] if actual else False, "book_accuracy": None,
            "note": why.get(c["item"], "")})
    return items


def warc_candidates(home: Home) -> list[dict]:
    """Closed WARC files that exist, with the sha256 the audit chain recorded when each was
    closed (the strata: the month it was closed)."""
    from archive.fixity import expected_files

    entries = home.audit.entries()
    when = {e.get("file"): str(e.get("at") or e.get("time") or "")[:7] for e in entries
            if e.get("event") == "warc.closed"}
    known, _ = expected_files(entries)
    return [{"item": name, "sha256": exp.sha256, "stratum": when.get(name) or "unknown"}
            for name, exp in sorted(known.items())
            if exp.event == "warc.closed" and exp.sha256 and (home.root / name).is_file()]


# -- the drill -----------------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


def drill_id(now: datetime, seed: int) -> str:
    tag = hashlib.sha256(f"{now.isoformat()}:{seed}".encode()).hexdigest()[:6]
    return f"DRILL-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{tag}"


def run_drill(home: Home, *, scenarios: Iterable[str] = SCENARIOS, sample: str | int = "25",
              seed: int | None = None, targets: Targets | None = None,
              settings: CaptureSettings | None = None, replica: str | None = None,
              replica_keys: dict[str, str | None] | None = None, now: datetime | None = None,
              make_unavailable: Callable[[list[str]], None] | None = None,
              scratch_root: Path | None = None) -> dict[str, Any]:
    """Run a drill over `home` and return its result (see the module docstring); nothing in
    `home` changes (the caller records the result: `record_drill`)."""
    wanted = list(dict.fromkeys(scenarios))
    known = registry()
    unknown = [s for s in wanted if s not in known]
    if unknown:
        raise DrillError(f"unknown scenario {unknown[0]!r}: choose from {', '.join(known)}")
    count, pct = parse_sample(sample)
    now = now or datetime.now(UTC)
    seed = seed if seed is not None else int(now.timestamp())
    targets = targets or Targets()
    ctx = Context(now, settings or CaptureSettings(default_rate=None, retries=0), replica,
                  replica_keys or {}, make_unavailable)
    started = time.perf_counter()
    samples = {}
    for name in wanted:
        scenario = known[name]
        cap = (min(count or scenario.most, scenario.most), None) if scenario.most else (count,
                                                                                       pct)
        samples[name] = stratified(scenario.candidates(home), scenario.stratum, cap, seed)
    items: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="salvage-drill-", dir=scratch_root) as tmp:
        scratch = scratch_copy(home, Path(tmp) / "home")
        for name in wanted:
            if samples[name]:
                items += known[name].run(home, scratch, samples[name], ctx)
    elapsed = time.perf_counter() - started
    return _result(drill_id(now, seed), now, elapsed, seed, sample, wanted, items, targets,
                   home)


def _result(id_: str, now: datetime, elapsed: float, seed: int, sample: str | int,
            scenarios: list[str], items: list[dict], targets: Targets, home: Home
            ) -> dict[str, Any]:
    checks = []
    empty = [s for s in scenarios if not any(i["scenario"] == s for i in items)]
    skipped = empty if len(empty) < len(scenarios) else []  # all empty: nothing was drilled
    for scenario in (s for s in scenarios if s not in skipped):
        mine = [i for i in items if i["scenario"] == scenario]
        exact = sum(1 for i in mine if i["byte_exact"])
        pct = 100.0 * exact / len(mine) if mine else 0.0
        checks.append({"name": f"{scenario} byte-exact", "target": f"{targets.byte_exact_pct:g}%",
                       "actual": f"{pct:.1f}% ({exact}/{len(mine)})",
                       "passed": bool(mine) and pct >= targets.byte_exact_pct})
    rto = sum(i["detect_s"] + i["recover_s"] for i in items)
    checks.append({"name": "RTO for the sample", "target": f"under {targets.rto_s:g} s",
                   "actual": f"{rto:.1f} s", "passed": rto < targets.rto_s})
    rpos = [i["rpo_s"] for i in items if i["rpo_s"] is not None]
    return {
        "id": id_, "started_at": _iso(now), "finished_at": _iso(datetime.now(UTC)),
        "seed": seed, "sample": str(sample),
        "sample_method": "stratified (filings: form type and month; pages: host and month; "
                         "order books: venue, symbol and month; store: month), seeded",
        "scenarios": scenarios, "home": str(home.root),
        "verdict": "pass" if all(c["passed"] for c in checks) else "fail",
        "rto_s": round(rto, 3), "rpo_s": max(rpos) if rpos else None,
        "elapsed_s": round(elapsed, 3),
        "targets": {"byte_exact_pct": targets.byte_exact_pct, "rto_s": targets.rto_s},
        "checks": checks, "items": items, "versions": versions(),
        "deviations": [f"{s}: nothing in this home to sample" for s in skipped],
    }


def versions() -> dict[str, str]:
    """The tools and libraries a drill's result depends on."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("salvage", "pyarrow", "duckdb", "warcio", "pypdfium2", "prefect", "numba"):
        with contextlib.suppress(PackageNotFoundError):
            out[name] = version(name)
    tesseract = shutil.which("tesseract")
    if tesseract:
        import subprocess

        done = subprocess.run([tesseract, "--version"], capture_output=True, text=True)
        out["tesseract"] = (done.stdout or done.stderr).split("\n", 1)[0].strip()
    return out


# -- recording a drill ---------------------------------------------------------------------------


def drill_history(home: Home) -> list[dict]:
    """Earlier drills, oldest first: id, finished_at, verdict, rto_s, items, passed, report."""
    from storage.tables import read_table

    rows = read_table(home.catalog, "drills").sort_by("finished_at").to_pylist()
    return [{"id": r["id"], "finished_at": _iso(r["finished_at"]), "verdict": r["verdict"],
             "rto_s": r["rto_s"], "rpo_s": r["rpo_s"], "items": r["items"],
             "passed": r["passed"], "report_html": r["report_html"],
             "report_sha256": r["report_sha256"]} for r in rows]


def record_drill(home: Home, result: dict[str, Any], *, tsa_url: str = "") -> dict[str, Any]:
    """Write the report (drills/<id>/ report.html, report.pdf, result.json), append its sha256
    to the audit chain, time-stamp it when `tsa_url` is set, and add the `drills` row. Returns
    the result with `report` (paths relative to the home) filled in."""
    from storage.drill_report import item_passed, write_report
    from storage.tables import append_rows

    folder = home.root / DRILLS / result["id"]
    folder.mkdir(parents=True, exist_ok=True)
    rel = {k: f"{DRILLS}/{result['id']}/{name}" for k, name in (
        ("html", "report.html"), ("pdf", "report.pdf"), ("json", "result.json"))}
    result = {**result, "report": rel}
    written = write_report(result, drill_history(home), folder)
    digest = hashlib.sha256(written["pdf"].read_bytes()).hexdigest()
    token = None
    if tsa_url:  # a TSA that is down costs the time stamp, not the drill's record
        from archive.timestamp import TimestampError, request_timestamp

        try:
            token = str(request_timestamp(written["pdf"], tsa_url).relative_to(home.root))
        except TimestampError as exc:
            result["deviations"] = [*result.get("deviations", []),
                                    f"the report could not be time-stamped: {exc}"]
    home.audit.append("drill.report", id=result["id"], verdict=result["verdict"],
                      file=rel["pdf"], sha256=digest, html=rel["html"],
                      html_sha256=hashlib.sha256(written["html"].read_bytes()).hexdigest(),
                      timestamp_token=token)
    passed = sum(1 for i in result["items"] if item_passed(i))
    append_rows(home.catalog, "drills", [{
        "id": result["id"], "started_at": _parse(result["started_at"]),
        "finished_at": _parse(result["finished_at"]), "verdict": result["verdict"],
        "seed": result["seed"], "sample": result["sample"], "scenarios": result["scenarios"],
        "items": len(result["items"]), "passed": passed, "rto_s": result["rto_s"],
        "rpo_s": result["rpo_s"], "checks": json.dumps(result["checks"]),
        "report_html": rel["html"], "report_pdf": rel["pdf"], "result_json": rel["json"],
        "report_sha256": digest, "timestamp_token": token}])
    return {**result, "report": {**rel, "sha256": digest, "timestamp_token": token}}


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def drill_subject(result: dict[str, Any]) -> dict[str, Any]:
    """What the incident sinks receive for a completed drill (`IncidentStore.announce`): shaped
    like an incident (id, key, type, severity, subject) with the drill's measures."""
    passed = sum(1 for i in result["items"] if i.get("success") and i.get("byte_exact"))
    return {"id": result["id"], "key": f"drill:{result['id']}", "type": "drill",
            "severity": "info" if result["verdict"] == "pass" else "high",
            "status": result["verdict"],
            "subject": f"forensic drill {result['id']}: {result['verdict']} ({passed}/"
                       f"{len(result['items'])} items recovered byte-exact, RTO "
                       f"{result['rto_s']:.1f} s)",
            "verdict": result["verdict"], "rto_s": result["rto_s"], "rpo_s": result["rpo_s"],
            "items": len(result["items"]), "passed": passed, "checks": result["checks"],
            "report": result.get("report", {})}
