"""Salvage flow benchmark: one EDGAR day ingested through the Prefect flow and through a plain
Python loop calling the same domain functions, side by side in one run.

    .venv/bin/python benchmarks/bench_flows.py            # 200 filings, about a minute
    .venv/bin/python benchmarks/bench_flows.py --quick    # 30 filings

The day: the sample day's real complete submissions (an 8-K, an SC TO-T/A with three filers, a
Form 4 with its power of attorney) cloned under new accession numbers into one day of N filings,
built into an EDGAR-layout site by samples/build_sample_day.py's own functions (daily indexes,
index pages, split documents) and served by the local mirror, unpaced.

(a) plain loop: `archive.edgar.ingest_edgar(home, settings, source, [day])`, then
    `extract.run.extract_home(home)`;
(b) flow: `flows.ingest.ingest_edgar(day=day, feed=False)` under a local Prefect API started
    before timing (as `salvage serve` or `salvage run` would have it).

Each side runs on a fresh home, twice, alternating; the better run counts. Reported: filings per
minute, the orchestration overhead (b - a) and its share. Goal: (b) >= 90% of (a)'s throughput.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "samples"))

from bench_archive import machine  # noqa: E402
from build_sample_day import read_filing, site_files, source_file, write  # noqa: E402

DAY = date(2025, 1, 10)
TEMPLATES = ("0000943374-24-000509", "0001104659-25-002604", "0001127602-25-001055")
GOAL = 0.90


def cloned_day(count: int, day: date = DAY) -> list:
    """`count` filings on `day`, cloned from the templates under new accession numbers."""
    stamp = day.strftime("%Y%m%d").encode()
    filings = []
    for n in range(count):
        template = TEMPLATES[n % len(TEMPLATES)]
        raw = source_file(template).read_bytes()
        new = f"0009{n:06d}-{day:%y}-{n:06d}"
        raw = raw.replace(template.encode(), new.encode())
        raw = raw.replace(template.replace("-", "").encode(), new.replace("-", "").encode())
        raw = re.sub(rb"(FILED AS OF DATE:\s*)\d{8}", rb"\g<1>" + stamp, raw)
        raw = re.sub(rb"(<ACCEPTANCE-DATETIME>)\d{8}", rb"\g<1>" + stamp, raw)
        filings.append(read_filing(raw))
    return filings


def plain(home: Path, url: str) -> tuple[float, int]:
    from archive.capture import CaptureSettings
    from archive.edgar import EdgarSource, ingest_edgar
    from archive.home import Home
    from extract.run import extract_home

    settings = CaptureSettings(user_agent="Salvage bench bench@example.com", default_rate=None)
    started = time.perf_counter()
    h = Home(home).ensure()
    report = ingest_edgar(h, settings, EdgarSource(url, url), [DAY])
    extract_home(h)
    return time.perf_counter() - started, report.filings.filings


def flowed(home: Path) -> tuple[float, int]:
    from flows.ingest import ingest_edgar

    started = time.perf_counter()
    result = ingest_edgar(day=DAY, feed=False, home=str(home))
    return time.perf_counter() - started, result["filings"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--filings", type=int)
    args = parser.parse_args()
    count = args.filings or (30 if args.quick else 200)
    info = machine()
    print(f"Salvage flow benchmark: {info.get('cpu', '?')}, {info['nproc']} CPUs, "
          f"Python {info['python']}, {info['date']}")
    work = Path(tempfile.mkdtemp(prefix="salvage-bench-flows-"))
    try:
        files = site_files(cloned_day(count))
        write(work / "site", files)
        print(f"a day of {count} filings: {len(files)} files, "
              f"{sum(map(len, files.values())) / 1e6:.1f} MB in an EDGAR-layout site")
        return _run(work, count)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(work: Path, count: int) -> int:
    from flows.mirror import Mirror
    from flows.serve import api_server, free_port

    with Mirror(work / "site") as mirror:
        os.environ.update({"SALVAGE_EDGAR__ARCHIVES_URL": mirror.url,
                           "SALVAGE_EDGAR__DATA_URL": mirror.url,
                           "SALVAGE_CAPTURE__DEFAULT_RATE": "0",
                           "SALVAGE_USER_AGENT": "Salvage bench bench@example.com",
                           "PREFECT_LOGGING_LEVEL": "WARNING"})
        from archive.home import Home

        with api_server(Home(work / "prefect-home").ensure(), free_port()) as api:
            os.environ["PREFECT_API_URL"] = api
            best: dict[str, tuple[float, int]] = {}
            for attempt in range(2):
                for name in ("plain", "flow"):
                    home = work / f"{name}-{attempt}"
                    seconds, filings = plain(home, mirror.url) if name == "plain" \
                        else flowed(home)
                    if filings != count:
                        print(f"   {name}: captured {filings} of {count} filings: FAILED")
                        return 1
                    print(f"   run {attempt + 1} {name:<5} {seconds:6.2f} s")
                    if name not in best or seconds < best[name][0]:
                        best[name] = (seconds, filings)
    (a, _), (b, _) = best["plain"], best["flow"]
    share = a / b
    print(f"\n(a) plain loop  {a:6.2f} s  {count / a * 60:8.0f} filings/minute")
    print(f"(b) Prefect flow {b:6.2f} s  {count / b * 60:8.0f} filings/minute")
    print(f"orchestration overhead {b - a:+.2f} s ({(b - a) / b:+.1%} of the flow's time); "
          f"flow throughput {share:.1%} of the plain loop's   goal >= {GOAL:.0%}   "
          f"{'PASS' if share >= GOAL else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
