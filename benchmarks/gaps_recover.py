"""Benchmark section of bench_gaps: filings rebuilt from the WARCs, per second.

    .venv/bin/python benchmarks/gaps_recover.py            # 1,000 filings
    .venv/bin/python benchmarks/gaps_recover.py --quick    # 100 filings

The filings: the sample day's real complete submissions (an 8-K with 12 documents, uuencoded
xlsx and zip among them; an SC TO-T/A filed under two CIKs; a Form 4 with its power of attorney)
cloned under new accession numbers (bench_flows.cloned_day), built into an EDGAR-layout site,
served by the local mirror and captured into a temp home as ingest captures them (index page,
primary documents, then the `.txt`: exhibits exist only inside it), one WARC per 50 filings as
successive runs leave them.

(a) `archive.recover.recover_filings(home, accessions)`: one scan of the catalog's captures for
    every accession, one open handle per WARC, records read whole by offset and length, folders
    written aside, made durable with one syncfs per chunk, swapped in, one catalog batch;
(b) baseline, a straightforward per-document loop: for each filing, `Index.closest` of its index
    page and `.txt` (under the URL it was captured from), then of each document URL it lists,
    `payload_line` + `stream_payload(decode=True)`, the document split out of the `.txt` when it
    was never captured; each file written crash-safely (temp + fsync + rename), then a manifest.

Each side runs twice, alternating, on a fresh output folder; the better run counts. Both must write
the same files with the same bytes. Reported: filings/s of each and the ratio (a)/(b).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_flows import cloned_day  # noqa: E402
from build_sample_day import site_files, write  # noqa: E402  (bench_flows puts samples/ on the path)

PER_WARC = 50


def capture(home_root: Path, url: str, filings: list) -> tuple:
    from archive.capture import Capturer, CaptureSettings
    from archive.edgar import EdgarSource, FilingTarget, capture_filings
    from archive.home import Home

    home = Home(home_root).ensure()
    settings = CaptureSettings(user_agent="Salvage bench bench@example.com", default_rate=None)
    source = EdgarSource(url, url)
    targets = [FilingTarget(f.accession, tuple(f.ciks), form=f.form) for f in filings]

    def one_warc(group: list) -> int:
        with Capturer(home, settings) as capturer:
            return capture_filings(capturer, source, group).filings

    groups = [targets[i:i + PER_WARC] for i in range(0, len(targets), PER_WARC)]
    with ThreadPoolExecutor(8) as pool:  # the mirror answers slowly, not the archive
        return home, sum(pool.map(one_warc, groups))


def recover(home, accessions: list[str]) -> tuple[float, dict]:
    from archive.recover import FOLDER, recover_filings

    shutil.rmtree(home.root / FOLDER, ignore_errors=True)
    os.sync()  # the removal's writes are not the run's
    started = time.perf_counter()
    done = recover_filings(home, accessions)
    seconds = time.perf_counter() - started
    assert all(r.status == "recovered" for r in done), [r.summary for r in done
                                                        if r.status != "recovered"][:3]
    return seconds, {r.accession: {f.filename: f.sha256 for f in r.files} for r in done}


def _get(home, index, url: str) -> bytes | None:
    from archive.payload import payload_line, stream_payload

    line = index.closest(url)
    if line is None:
        return None
    return b"".join(stream_payload(home, payload_line(home, index, line), decode=True))


def baseline(home, out: Path, url: str, filings: list) -> tuple[float, dict]:
    """The per-document loop: one Index.closest per URL, one file opened per record."""
    from archive.lookup import Index
    from extract.html import read_filing_index_page
    from extract.sgml import parse_submission
    from storage.atomic import atomic_file, fsync_dir

    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    os.sync()
    found: dict[str, dict[str, str]] = {}
    started = time.perf_counter()
    with Index(home) as index:
        for filing in filings:
            acc = filing.accession
            base = f"{url}/Archives/edgar/data/{int(filing.ciks[0])}/{acc.replace('-', '')}/"
            txt = _get(home, index, f"{base}{acc}.txt")
            split = {d.filename: d for d in parse_submission(txt).documents if d.filename}
            page = _get(home, index, f"{base}{acc}-index.htm")
            listed = [d["href"].rsplit("/", 1)[-1] for d in
                      read_filing_index_page(page, f"{base}{acc}-index.htm").documents
                      if d["href"]] if page else []
            names = list(dict.fromkeys([*listed, *split, f"{acc}.txt"]))
            target = out / acc
            target.mkdir()
            files = {}
            for name in names:
                data = txt if name == f"{acc}.txt" else _get(home, index, base + name)
                if data is None and name in split:
                    data = split[name].payload()
                if data is None:
                    continue
                with atomic_file(target / name) as fh:
                    fh.write(data)
                files[name] = hashlib.sha256(data).hexdigest()
            with atomic_file(target / "manifest.json") as fh:
                fh.write(json.dumps({"accession": acc, "files": files}).encode())
            fsync_dir(out)
            found[acc] = files
    return time.perf_counter() - started, found


def run(quick: bool) -> dict:
    from flows.mirror import Mirror

    count = 100 if quick else 1000
    print(f"recover: {count} filings rebuilt from WARCs, recover_filings against a "
          "per-document Index.closest loop")
    work = Path(tempfile.mkdtemp(prefix="salvage-bench-recover-"))
    try:
        filings = cloned_day(count)
        write(work / "site", site_files(filings))
        with Mirror(work / "site") as mirror:
            started = time.perf_counter()
            home, captured = capture(work / "home", mirror.url, filings)
            took = time.perf_counter() - started
            if captured != count:
                raise SystemExit(f"captured {captured} of {count} filings")
            warcs = len(list(home.warcs.glob("*.warc.gz")))
            size = sum(p.stat().st_size for p in home.warcs.glob("*.warc.gz"))
            print(f"   captured {count} filings in {took:.1f} s: {warcs} WARCs, "
                  f"{size / 1e6:.1f} MB")
            accessions = [f.accession for f in filings]
            best: dict[str, float] = {}
            outputs: dict[str, dict] = {}
            for attempt in range(2):
                for name in ("recover", "baseline"):
                    seconds, files = recover(home, accessions) if name == "recover" else \
                        baseline(home, work / "baseline", mirror.url, filings)
                    print(f"   run {attempt + 1} {name:<8} {seconds:6.2f} s")
                    best[name] = min(best.get(name, seconds), seconds)
                    outputs[name] = files
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if outputs["recover"] != outputs["baseline"]:
        raise SystemExit("recover_filings and the baseline wrote different files")
    files = sum(len(f) for f in outputs["recover"].values())
    a, b = best["recover"], best["baseline"]
    result = {"filings": count, "files": files, "recover_seconds": round(a, 3),
              "baseline_seconds": round(b, 3), "recover_filings_per_s": round(count / a, 1),
              "baseline_filings_per_s": round(count / b, 1), "ratio": round(b / a, 2)}
    print(f"(a) recover_filings {a:6.2f} s  {count / a:7.1f} filings/s  ({files} files)")
    print(f"(b) per-document    {b:6.2f} s  {count / b:7.1f} filings/s")
    print(f"recover_filings is {b / a:.2f}x the baseline's throughput")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100 filings instead of 1,000")
    run(parser.parse_args().quick)
