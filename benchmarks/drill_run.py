"""Benchmark section of bench_drill: one forensic drill over a synthetic home, timed phase by
phase, against recovering the same filings one at a time.

    .venv/bin/python benchmarks/drill_run.py            # 1,000 of 5,000 filings
    .venv/bin/python benchmarks/drill_run.py --quick    # 100 of 500 filings

The home: the sample day's real complete submissions (an 8-K with 12 documents, an SC TO-T/A
filed under two CIKs, a Form 4) cloned under new accession numbers and spread over the 12 months
of 2025 (36 form-type x month strata), served by the local mirror and captured as ingest captures
them (benchmarks/gaps_recover.capture: 50 filings a WARC), extracted (`filings` table: the form
types), every filing recovered once (`recovered/`), two LOBSTER message files imported as
`salvage book import` imports them (the corpus's hour of AAPL, 60 one-minute windows, when
../shared/corpus has it; the tests' 999-event pair with LOBSTER's orderbook file, 8 windows), and
the home replicated to a folder. It is
built in a child process and cached under `$TMPDIR/salvage-bench-drill/` keyed by its
parameters; each run works on a fresh copy of it (WARCs hard-linked), so `record_drill` never
touches the cache.

(a) the drill, as `salvage drill` runs it: `storage.drill.run_drill(home, sample=N, seed=9,
    replica=...)` (scenarios "filings", "orderbook" when the registry has it, and "store":
    1,000 filings, 10 windows, 2 WARCs; the home has no watched pages),
    then `record_drill` (report HTML + PDF + result.json, audit line, `drills` row). Timed
    inside by wrapping `scratch_copy`, each scenario's `candidates` and `run`, `detect_gaps` and
    `recover_filings` (the wrappers only read the clock). Peak RSS is VmHWM, reset
    (`/proc/self/clear_refs`) just before the drill.
(b) baseline: the same filings lost the same way in another scratch copy (recovered folders
    removed, the `.txt` captured again from a source answering 404), then
    `archive.recover.recover_filing` per accession, one call at a time (no batching).

Checked outside the timing: the verdict is pass, every item byte-exact, detected and successful,
every window's book exact at every moment compared, (b) rebuilt
each `.txt` with the sha256 (a) verified, and `tree_digest` of the home is the same before and
after `run_drill` (`record_drill` then adds `drills/<id>/`, one audit line and one `drills` row).
Goal: the drill (run + record) under 2 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "samples"))

BUILD_VERSION = 2  # bump when the home's recipe changes: the cache key includes it
MONTHS = 12
SEED = 9
GOAL_S = 120.0
FULL = {"filings": 5000, "sample": 1000}
BOOK_CORPUS = ROOT.parent / "shared" / "corpus" / "orderbook"
BOOK_HOUR = "AAPL_2012-06-21_34200000_37800000_message_50.csv"  # 91,997 events, 09:30-10:30
BOOK_PAIR = ("AAPL_2012-06-21_34200000_57600000_message_10.csv",  # 999 events over 49 s,
             "AAPL_2012-06-21_34200000_57600000_orderbook_10.csv")  # with LOBSTER's own book
QUICK = {"filings": 500, "sample": 100}


# -- the synthetic home ----------------------------------------------------------------------------


def cloned_months(count: int) -> list:
    """`count` filings cloned from bench_flows' templates (form types in turn) under new
    accession numbers, filed on the 10th of each month of 2025 (every form type every month)."""
    from bench_flows import TEMPLATES
    from build_sample_day import read_filing, source_file

    raws = {t: source_file(t).read_bytes() for t in TEMPLATES}
    filings = []
    for n in range(count):
        template = TEMPLATES[n % len(TEMPLATES)]
        day = date(2025, 1 + (n // len(TEMPLATES)) % MONTHS, 10)
        stamp = day.strftime("%Y%m%d").encode()
        new = f"0009{n:06d}-{day:%y}-{n:06d}"
        raw = raws[template].replace(template.encode(), new.encode())
        raw = raw.replace(template.replace("-", "").encode(), new.replace("-", "").encode())
        raw = re.sub(rb"(FILED AS OF DATE:\s*)\d{8}", rb"\g<1>" + stamp, raw)
        raw = re.sub(rb"(<ACCEPTANCE-DATETIME>)\d{8}", rb"\g<1>" + stamp, raw)
        filings.append(read_filing(raw))
    return filings


def build(folder: Path, count: int) -> dict:
    """Capture, extract, recover and replicate `count` filings into `folder`/home and
    `folder`/replica; the seconds each step took."""
    from build_sample_day import site_files, write
    from gaps_recover import capture

    from archive.recover import recover_filings
    from archive.replicate import replicate
    from extract.run import extract_home
    from flows.mirror import Mirror

    took = {}
    started = time.perf_counter()
    filings = cloned_months(count)
    write(folder / "site", site_files(filings))
    with Mirror(folder / "site") as mirror:
        home, captured = capture(folder / "home", mirror.url, filings)
    if captured != count:
        raise SystemExit(f"captured {captured} of {count} filings")
    took["capture_s"] = time.perf_counter() - started
    started = time.perf_counter()
    extract_home(home)
    took["extract_s"] = time.perf_counter() - started
    started = time.perf_counter()
    done = recover_filings(home, [f.accession for f in filings])
    if any(r.status != "recovered" for r in done):
        raise SystemExit("the home's filings did not all recover")
    took["recover_s"] = time.perf_counter() - started
    started = time.perf_counter()
    books = import_books(home, folder / "feeds")
    took["books_s"] = time.perf_counter() - started
    started = time.perf_counter()
    if not replicate(home, str(folder / "replica")).ok:
        raise SystemExit("replication of the synthetic home failed")
    took["replicate_s"] = time.perf_counter() - started
    shutil.rmtree(folder / "site")
    shutil.rmtree(folder / "feeds", ignore_errors=True)
    warcs = list(home.warcs.glob("*.warc.gz"))
    return {"filings": count, "warcs": len(warcs),
            "warc_mb": round(sum(p.stat().st_size for p in warcs) / 1e6, 1), "books": books,
            **{k: round(v, 1) for k, v in took.items()}}


def import_books(home, folder: Path) -> list[str]:
    """Import LOBSTER message files as `salvage book import` does: the corpus's hour of AAPL
    (60 one-minute windows) when it is there, and the tests' sample pair with its orderbook file
    (8 windows of whole seconds). The names imported."""
    from orderbook.store import import_feeds

    fixtures = ROOT / "tests" / "fixtures" / "orderbook"
    sources = [BOOK_CORPUS / BOOK_HOUR] if (BOOK_CORPUS / BOOK_HOUR).is_file() else []
    sources += [fixtures / name for name in BOOK_PAIR]
    folder.mkdir(parents=True, exist_ok=True)
    messages = []
    for path in sources:
        shutil.copy(path, folder / path.name)
        if "_message_" in path.name:
            messages.append(folder / path.name)
    if not import_feeds(home, messages, "lobster").ok:
        raise SystemExit("the order-book import failed")
    return [p.name for p in messages]


def cached_home(count: int) -> tuple[Path, dict, bool]:
    """The cached home for `count` filings (built in a child process when missing): its folder
    (home/, replica/), what was built, and whether it was built now."""
    folder = (Path(tempfile.gettempdir()) / "salvage-bench-drill"
              / f"v{BUILD_VERSION}-{count}-filings-{MONTHS}-months")
    meta = folder / "built.json"
    if meta.is_file():
        return folder, json.loads(meta.read_text()), False
    partial = folder.with_name(folder.name + ".part")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    subprocess.run([sys.executable, __file__, "--build", str(count), str(partial)], check=True)
    shutil.rmtree(folder, ignore_errors=True)
    partial.replace(folder)
    return folder, json.loads(meta.read_text()), True


# -- measuring -------------------------------------------------------------------------------------


def _status_kb(field: str) -> int | None:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return None


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
        return True
    except OSError:
        return False


@contextlib.contextmanager
def clocked(spans: dict[str, list[tuple[float, float]]]):
    """Wrap the drill's parts so each call's (start, end) lands in `spans` under its name;
    restored on exit."""
    import archive.recover
    import storage.drill
    import storage.gaps

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spans.setdefault(name, []).append((started, time.perf_counter()))
        return wrapper

    saved = (storage.drill.scratch_copy, storage.drill.registry, archive.recover.recover_filings,
             storage.gaps.detect_gaps, storage.drill._txt_sha256)
    real_registry = storage.drill.registry

    def counted(name, fn):
        def wrapper(home):
            found = fn(home)
            spans.setdefault(name, []).append((0.0, float(len(found))))
            return found
        return wrapper

    def registry():
        return {name: dataclasses.replace(
            s, candidates=counted(f"{name}.count", timed(f"{name}.candidates", s.candidates)),
            run=timed(f"{name}.run", s.run)) for name, s in real_registry().items()}

    storage.drill.scratch_copy = timed("scratch_copy", storage.drill.scratch_copy)
    storage.drill.registry = registry
    archive.recover.recover_filings = timed("recover_filings", archive.recover.recover_filings)
    storage.gaps.detect_gaps = timed("detect_gaps", storage.gaps.detect_gaps)
    storage.drill._txt_sha256 = timed("expected_sha256", storage.drill._txt_sha256)
    try:
        yield spans
    finally:
        (storage.drill.scratch_copy, storage.drill.registry, archive.recover.recover_filings,
         storage.gaps.detect_gaps, storage.drill._txt_sha256) = saved


def _total(spans: dict, name: str) -> float:
    return sum(b - a for a, b in spans.get(name, []))


def baseline(home, accessions: list[str], urls: list[str], work: Path) -> tuple[float, dict]:
    """The same loss in a fresh scratch copy, then recover_filing one accession at a time:
    seconds and the `.txt` sha256 of each."""
    from archive.capture import Capturer, CaptureSettings
    from archive.recover import FOLDER, recover_filing
    from storage.drill import Unavailable, scratch_copy

    scratch = scratch_copy(home, work / "baseline")
    for acc in accessions:
        shutil.rmtree(scratch.root / FOLDER / acc, ignore_errors=True)
    with Capturer(scratch, CaptureSettings(default_rate=None, retries=0)) as capturer:
        capturer.session.mount("http://", Unavailable())
        capturer.session.mount("https://", Unavailable())
        for url in urls:
            capturer.capture_url(url)
    os.sync()
    found = {}
    started = time.perf_counter()
    for acc in accessions:
        r = recover_filing(scratch, acc)
        found[acc] = next((f.sha256 for f in r.files if f.filename == f"{acc}.txt"), None) \
            if r.status == "recovered" else None
    seconds = time.perf_counter() - started
    shutil.rmtree(work / "baseline", ignore_errors=True)
    return seconds, found


def measure(cache: Path, sample: int) -> dict:
    """One drill (run + record) on a fresh copy of the cached home, then the baseline."""
    from archive.home import Home
    from storage.drill import (
        SCENARIOS,
        record_drill,
        registry,
        run_drill,
        scratch_copy,
        tree_digest,
    )

    known = registry()
    scenarios = [s for s in SCENARIOS if s in known and s != "pages"]  # the home has no pages
    work = Path(tempfile.mkdtemp(prefix="salvage-bench-drill-run-"))
    try:
        home = scratch_copy(Home(cache / "home"), work / "home")
        replica = str(cache / "replica")
        t = time.perf_counter()
        before = tree_digest(home.root)
        digest_s = time.perf_counter() - t
        os.sync()
        load = os.getloadavg()
        reset = _reset_peak()
        rss0 = _status_kb("VmRSS")
        spans: dict = {}
        with clocked(spans):
            t0 = time.perf_counter()
            result = run_drill(home, scenarios=scenarios, sample=str(sample), seed=SEED,
                               replica=replica)
            t1 = time.perf_counter()
            after = tree_digest(home.root)  # outside the timing
            t2 = time.perf_counter()
            recorded = record_drill(home, result)
            t3 = time.perf_counter()
        peak = _status_kb("VmHWM")
        files = {k: (home.root / recorded["report"][k]).stat().st_size
                 for k in ("html", "pdf", "json")}
        items = result["items"]
        filings = [i for i in items if i["scenario"] == "filings"]
        accessions = [i["item"] for i in filings]
        urls = _txt_urls(home, accessions)
        base_s, base = baseline(home, accessions, urls, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"result": result, "spans": spans, "t": (t0, t1, t2, t3), "before": before,
            "after": after, "digest_s": digest_s, "load": load, "peak_kb": peak,
            "rss0_kb": rss0, "peak_reset": reset, "files": files, "baseline_s": base_s,
            "baseline": base, "scenarios": scenarios}


def _txt_urls(home, accessions: list[str]) -> list[str]:
    from storage.drill import filing_candidates

    by = {c["item"]: c["url"] for c in filing_candidates(home)}
    return [by[a] for a in accessions]


def _files(root: Path) -> tuple[int, int, int]:
    """Files below `root` (the drills folder aside), how many the scratch copy hard-links, and
    the bytes it copies."""
    from storage.drill import DRILLS, LINKED

    n = linked = copied = 0
    for folder, dirs, names in os.walk(root):
        if Path(folder) == root and DRILLS in dirs:
            dirs.remove(DRILLS)
        for name in names:
            n += 1
            if name.endswith(LINKED):
                linked += 1
            else:
                copied += (Path(folder) / name).stat().st_size
    return n, linked, copied


def run(quick: bool) -> dict:
    size = QUICK if quick else FULL
    count, sample = size["filings"], size["sample"]
    from storage.drill import registry

    has_books = "orderbook" in registry()
    print(f"drill: {sample:,} of {count:,} sampled filings, 2 WARCs"
          + (" and 10 order-book windows" if has_books else
             " (no \"orderbook\" scenario in storage.drill.registry() yet)")
          + f", seed {SEED}; recovery against recover_filing one filing at a time")
    cache, built, now = cached_home(count)
    print(f"   home: {built['filings']:,} filings over {MONTHS} months, "
          f"LOBSTER {' and '.join(built['books'])}, {built['warcs']} WARCs, "
          f"{built['warc_mb']:.1f} MB; "
          + (f"built now in {sum(v for k, v in built.items() if k.endswith('_s')):.0f} s "
             f"(capture {built['capture_s']:.0f} s, extract {built['extract_s']:.0f} s, "
             f"recover {built['recover_s']:.0f} s, books {built['books_s']:.0f} s, "
             f"replicate {built['replicate_s']:.0f} s)" if now else f"cached in {cache}"))
    n_files, n_linked, copied = _files(cache / "home")
    m = measure(cache, sample)
    result, spans, (t0, t1, t2, t3) = m["result"], m["spans"], m["t"]
    items = result["items"]
    drill_s, record_s = t1 - t0, t3 - t2
    total = drill_s + record_s
    print(f"   load average {m['load'][0]:.2f} at the start "
          f"({m['load'][1]:.2f} over 5 min, {m['load'][2]:.2f} over 15)")

    scratch_a, scratch_b = spans["scratch_copy"][0]
    runs = {name: spans[f"{name}.run"][0] for name in m["scenarios"] if f"{name}.run" in spans}
    phases = {"sampling": scratch_a - t0,
              "scratch_copy": scratch_b - scratch_a,
              **{name: b - a for name, (a, b) in runs.items()},
              "cleanup": t1 - max([scratch_b, *(b for _, b in runs.values())])}
    per = {}
    for name in m["scenarios"]:
        mine = [i for i in items if i["scenario"] == name]
        per[name] = {"items": len(mine), "candidates": int(_total(spans, f"{name}.count")),
                     "candidates_s": round(_total(spans, f"{name}.candidates"), 3),
                     "run_s": round(phases.get(name, 0.0), 3),
                     "detect_s": round(sum(i["detect_s"] for i in mine), 3),
                     "recover_s": round(sum(i["recover_s"] for i in mine), 3),
                     "byte_exact": sum(1 for i in mine if i["byte_exact"]),
                     "detected": sum(1 for i in mine if i["detected"])}
    fil = per.get("filings", {})
    detect_gaps_s = _total(spans, "detect_gaps")
    recover_s = _total(spans, "recover_filings")
    expected_s = _total(spans, "expected_sha256")
    if "filings" in runs:
        fa, fb = runs["filings"]
        first_detect = spans["detect_gaps"][0][0]
        fil.update(expected_sha256_s=round(expected_s, 3),
                   loss_s=round(first_detect - fa - expected_s, 3),
                   detect_gaps_s=round(detect_gaps_s, 3),
                   recover_filings_s=round(recover_s, 3),
                   verify_s=round(fb - spans["recover_filings"][-1][1], 3))

    print(f"   run_drill            {drill_s:7.2f} s")
    print(f"     sampling           {phases['sampling']:7.2f} s   candidates: "
          + ", ".join(f"{n} {p['candidates_s']:.2f} s" for n, p in per.items())
          + "; stratified draw")
    print(f"     scratch copy       {phases['scratch_copy']:7.2f} s   {n_files:,} files, "
          f"{n_linked} WARCs hard-linked, {copied / 1e6:.1f} MB copied")
    for name, p in per.items():
        print(f"     {name:<18} {p['run_s']:7.2f} s   {p['items']:,} of {p['candidates']:,} "
              f"items: detect {p['detect_s']:.2f} s, recover {p['recover_s']:.2f} s, loss and "
              f"verification {p['run_s'] - p['detect_s'] - p['recover_s']:.2f} s")
    if "loss_s" in fil:
        print(f"       filings: expected sha256 (read from the home) "
              f"{fil['expected_sha256_s']:.2f} s, loss (folders removed, .txt captured as 404) "
              f"{fil['loss_s']:.2f} s, "
              f"detect_gaps {fil['detect_gaps_s']:.2f} s, recover_filings "
              f"{fil['recover_filings_s']:.2f} s, items built {fil['verify_s']:.2f} s")
    print(f"     scratch removal    {phases['cleanup']:7.2f} s")
    print(f"   record_drill         {record_s:7.2f} s   report.html "
          f"{m['files']['html'] / 1e3:,.0f} kB, report.pdf {m['files']['pdf'] / 1e3:,.0f} kB, "
          f"result.json "
          f"{m['files']['json'] / 1e3:,.0f} kB for {len(items):,} items")
    print(f"   total                {total:7.2f} s   {len(items) / total:,.1f} items/s"
          f"   peak RSS {m['peak_kb'] / 1024:,.0f} MiB (VmHWM"
          + (f", reset at {m['rss0_kb'] / 1024:,.0f} MiB before the drill)" if m["peak_reset"]
             else ", not reset: includes what came before)"))

    print(f"   RTO for the sample (the drill's: its items' detect + recover) "
          f"{result['rto_s']:.2f} s")

    base = m["baseline"]
    n = len(base)
    a, b = fil.get("recover_filings_s", 0.0), m["baseline_s"]
    print(f"(a) recover_filings in the drill {a:7.2f} s  {n / a:7.1f} filings/s")
    print(f"(b) recover_filing one at a time {b:7.2f} s  {n / b:7.1f} filings/s")
    print(f"the drill's batched recovery is {b / a:.1f}x one-at-a-time; the drill with (b) "
          f"would take {total - a + b:.1f} s")

    exact = sum(1 for i in items if i["byte_exact"])
    succeeded = sum(1 for i in items if i["success"])
    books = [i for i in items if i["scenario"] == "orderbook"]
    book_exact = sum(1 for i in books if i["book_accuracy"] == 1.0)
    detected = sum(1 for i in items if i["detected"])
    drill_sha = {i["item"]: i["actual_sha256"] for i in items if i["scenario"] == "filings"}
    same = sum(1 for acc, sha in base.items() if sha and sha == drill_sha.get(acc))
    unchanged = m["before"] == m["after"]
    print(f"checks: verdict {result['verdict']}; {exact:,}/{len(items):,} items byte-exact, "
          f"{detected:,} detected, {succeeded:,} successful"
          + (f", {book_exact}/{len(books)} windows' books exact at every moment" if books else "")
          + f"; (b) rebuilt {same:,}/{n:,} .txt with the drill's sha256; "
          f"real home {'unchanged' if unchanged else 'CHANGED'} by run_drill (tree_digest "
          f"{m['before'][:12]}…, {m['digest_s']:.1f} s)")
    met = total < GOAL_S
    print(f"goal: drill (run + record) under {GOAL_S:.0f} s: {total:.1f} s — "
          f"{'met' if met else 'NOT met'}")
    out = {"filings_in_home": count, "sample": sample, "scenarios": m["scenarios"],
           "items": len(items), "home_built_now": now, "home": built,
           "load_average": [round(x, 2) for x in m["load"]],
           "run_drill_s": round(drill_s, 3), "record_drill_s": round(record_s, 3),
           "total_s": round(total, 3), "items_per_s": round(len(items) / total, 1),
           "phases_s": {k: round(v, 3) for k, v in phases.items()}, "scenario": per,
           "scratch_files": n_files, "scratch_linked": n_linked,
           "scratch_copied_mb": round(copied / 1e6, 1),
           "report_bytes": m["files"], "peak_rss_mib": round(m["peak_kb"] / 1024, 1),
           "baseline_s": round(b, 3), "recover_filings_s": round(a, 3),
           "ratio": round(b / a, 2), "rto_s": result["rto_s"], "verdict": result["verdict"],
           "byte_exact": exact,
           "detected": detected, "successful": succeeded, "books_exact": book_exact,
           "baseline_same_sha256": same, "home_unchanged": unchanged,
           "goal_met": met}
    ok = (result["verdict"] == "pass" and exact == succeeded == detected == len(items)
          and book_exact == len(books) and same == n and unchanged)
    if not ok:
        raise SystemExit("the drill did not pass as it should: see the checks above")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100 of 500 filings")
    parser.add_argument("--build", nargs=2, metavar=("FILINGS", "FOLDER"),
                        help=argparse.SUPPRESS)  # the child that builds the cached home
    args = parser.parse_args()
    if args.build:
        folder = Path(args.build[1])
        built = build(folder, int(args.build[0]))
        (folder / "built.json").write_text(json.dumps(built))
    else:
        run(args.quick)
