"""Benchmark 1 of bench_gaps: gap detection over 1,000,000 expected filings, 990,000 archived.

A synthetic home written in the catalog's real schemas (storage.tables.write_batch, as extraction
and the capturer write them): 250 daily-index batches of 4,000 `expected_filings` rows, and one
`captures` batch per day (one WARC each) holding the daily index and each archived filing's
complete submission `.txt`, 1% recaptured as revisits, 404 (NoSuchKey) attempts for half the
missing filings, and 1 in 10,000 filings recaptured changed or gone. Every 100th filing was never
archived: 10,000 missing.

`storage.gaps.detect_gaps` is timed whole and for its missing-filings part, against a
straightforward Python baseline that reads both tables into sets and subtracts (expected accessions
minus `archive.edgar.captured_accessions`); both must name the same missing accessions.
Goal: the whole call under 2 s, and faster than the baseline.
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_archive import median_time  # noqa: E402

from archive.edgar import captured_accessions  # noqa: E402
from archive.home import Home  # noqa: E402
from storage.gaps import detect_gaps  # noqa: E402
from storage.schemas import CAPTURES, EXPECTED_FILINGS  # noqa: E402
from storage.tables import new_batch_id, read_table, write_batch  # noqa: E402

PER_DAY = 4_000
FIRST_DAY = date(2024, 1, 2)
FORMS = ["4", "8-K", "10-Q", "SC 13G/A", "424B2", "D", "10-K", "3", "S-1", "13F-HR"]
HOST = "https://www.sec.gov"


def _accession(n: int) -> str:
    return f"{1_000_000 + n % 5_000:010d}-{10 + n // 100_000:02d}-{n % 100_000:06d}"


def _digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _table(schema: pa.Schema, columns: dict) -> pa.Table:
    n = len(next(iter(columns.values())))
    return pa.table({f.name: pa.array(columns[f.name], f.type) if f.name in columns
                     else pa.nulls(n, f.type) for f in schema}, schema=schema)


def build(home: Home, filings: int) -> datetime:
    """Write the synthetic catalog; return the `now` to detect at (ten days after the last)."""
    days = filings // PER_DAY
    for d in range(days):
        day = FIRST_DAY + timedelta(days=d)
        first = d * PER_DAY
        numbers = range(first, first + PER_DAY)
        accessions = [_accession(n) for n in numbers]
        ciks = [str(1_000_000 + n % 5_000) for n in numbers]
        index_url = f"{HOST}/Archives/edgar/daily-index/{day.year}/QTR1/master.{day:%Y%m%d}.idx"
        recorded = datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC)
        write_batch(home.catalog, "expected_filings", _table(EXPECTED_FILINGS, {
            "accession": accessions, "cik": [c.zfill(10) for c in ciks],
            "company_name": [f"Company {c}" for c in ciks],
            "form_type": [FORMS[n % len(FORMS)] for n in numbers],
            "date_filed": [day] * PER_DAY,
            "path": [f"edgar/data/{c}/{a}.txt" for c, a in zip(ciks, accessions, strict=True)],
            "index_kind": ["master-idx"] * PER_DAY, "paper": [False] * PER_DAY,
            "source_url": [index_url] * PER_DAY, "source_digest": [_digest(index_url)] * PER_DAY,
            "extractor": ["edgar-index/1"] * PER_DAY, "recorded_at": [recorded] * PER_DAY,
        }), new_batch_id(recorded))
        write_batch(home.catalog, "captures", _captures(day, index_url, numbers, accessions,
                                                         ciks), f"warcs__day-{d:04d}.warc.gz")
    return datetime.combine(FIRST_DAY + timedelta(days=days + 10), datetime.min.time(), UTC)


def _captures(day: date, index_url: str, numbers: range, accessions: list[str],
              ciks: list[str]) -> pa.Table:
    rows: dict[str, list] = {k: [] for k in ("url", "warc_date", "record_type", "status",
                                             "digest", "soft_error")}

    def add(url: str, at: datetime, kind: str, status: int, digest: str | None,
            soft_error: str | None = None) -> None:
        for key, value in zip(rows, (url, at, kind, status, digest, soft_error), strict=True):
            rows[key].append(value)

    start = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=23)
    add(index_url, start, "response", 200, _digest(index_url))
    for i, (n, accession, cik) in enumerate(zip(numbers, accessions, ciks, strict=True)):
        folder = f"{HOST}/Archives/edgar/data/{cik}/{accession.replace('-', '')}/"
        txt = f"{folder}{accession}.txt"
        at = start + timedelta(milliseconds=10 * i)
        if n % 100 == 37:  # never archived; half were tried and got NoSuchKey
            if n % 200 == 37:
                add(txt, at, "response", 404, _digest("nosuchkey"), "s3-nosuchkey")
            continue
        add(txt, at, "response", 200, _digest(txt))
        later = at + timedelta(days=3)
        if n % 100 == 11:
            add(txt, later, "revisit", 200, _digest(txt))
        elif n % 10_000 == 23:
            add(txt, later, "response", 200, _digest(txt + " corrected"))
        elif n % 10_000 == 29:
            add(txt, later, "response", 404, _digest("nosuchkey"), "s3-nosuchkey")
    n = len(rows["url"])
    return _table(CAPTURES, {
        **rows, "urlkey": rows["url"],
        "timestamp": [t.strftime("%Y%m%d%H%M%S") for t in rows["warc_date"]],
        "record_digest": rows["digest"], "filename": [f"warcs/day-{day:%Y%m%d}.warc.gz"] * n,
        "offset": [1000 * i for i in range(n)], "length": [1000] * n,
        "mime": ["text/plain"] * n})


def baseline(home: Home) -> set[str]:
    """Expected accessions minus captured ones, as Python sets."""
    expected = set(read_table(home.catalog, "expected_filings")["accession"].to_pylist())
    expected.discard(None)
    return expected - captured_accessions(home)


def run(quick: bool = False) -> dict:
    filings, runs = (100_000, 3) if quick else (1_000_000, 3)
    with tempfile.TemporaryDirectory(prefix="salvage-gaps-") as tmp:
        home = Home(Path(tmp) / "home").ensure()
        t0 = time.perf_counter()
        now = build(home, filings)
        built = time.perf_counter() - t0
        missing_s, missing = median_time(
            lambda: detect_gaps(home, now=now, checks=("filing.missing",)), runs)
        whole_s, whole = median_time(lambda: detect_gaps(home, now=now), runs)
        base_s, base = median_time(lambda: baseline(home), runs)
    ours = {f.entity for f in missing.findings}
    same = ours == base
    archived = filings - len(base)
    result = {
        "expected": filings, "archived": archived, "missing": len(ours),
        "findings": whole.counts, "build_s": round(built, 1),
        "missing_s": round(missing_s, 3), "whole_s": round(whole_s, 3),
        "baseline_s": round(base_s, 3), "speedup_missing": round(base_s / missing_s, 2),
        "speedup_whole": round(base_s / whole_s, 2), "same_answer": same,
        "parts_s": {k: round(v, 3) for k, v in whole.timings.items()},
    }
    print(f"1. detect: {filings:,} expected filings, {archived:,} archived "
          f"(built in {built:.0f} s), median of {runs}:")
    print(f"   detect_gaps, missing filings only  {missing_s * 1000:8.1f} ms   "
          f"{len(ours):,} missing")
    print(f"   detect_gaps, every check           {whole_s * 1000:8.1f} ms   {whole.counts}")
    print(f"   Python sets (read, subtract)       {base_s * 1000:8.1f} ms   ratio "
          f"{base_s / missing_s:.2f}x (missing), {base_s / whole_s:.2f}x (whole)   "
          f"same answer: {same}   goal < 2000 ms")
    print("   parts: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in whole.timings.items()))
    if not same:
        print(f"   !! the answers differ: {len(ours - base)} only ours, "
              f"{len(base - ours)} only the baseline's", file=sys.stderr)
    return result


if __name__ == "__main__":
    run("--quick" in sys.argv)
