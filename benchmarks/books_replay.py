"""Benchmark 1 of bench_books: replaying a LOBSTER message file into top-10 rows.

Input: AAPL_2012-06-21_34200000_37800000_message_50.csv from ../shared/corpus/orderbook (91,997
events, 3.7 MB; it has no orderbook file, so both sides start from an empty book). Ours:
`orderbook.replay.replay(read_lobster(path), 10)` — the compiled reader of clean LOBSTER files
(orderbook/lobsterfast.py; files with anything to report take pyarrow's careful path), then the
compiled book loop, the rows as an Arrow table. Baseline, same rows: `csv.reader`,
a dict of orders and a dict of levels per side with a sorted price list (bisect), the top 10
copied into 40 Python lists after each event, then `pa.table`. Both are timed from the file
name to the Arrow table (median of runs); the rows must be identical. Writing the rows to
Parquet is timed apart. Numba's compile cost is measured in fresh processes: with an empty cache
(compile), with the cache just written (load), and the second call in a process (warm).
Goal: >= 3,000,000 events/s and >= 5x the baseline.
"""

from __future__ import annotations

import bisect
import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_archive import median_time  # noqa: E402

from orderbook.events import level_columns  # noqa: E402
from orderbook.lobster import midnight_ns, parse_lobster_name, read_lobster  # noqa: E402
from orderbook.replay import replay, write_replay  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "orderbook"
FILE = CORPUS / "AAPL_2012-06-21_34200000_37800000_message_50.csv"
FALLBACK = (ROOT / "tests" / "fixtures" / "orderbook"
            / "AAPL_2012-06-21_34200000_57600000_message_10.csv")
DEPTH = 10
GOAL_RATE, GOAL_RATIO = 3_000_000, 5.0


def ours(path: Path) -> pa.Table:
    return replay(read_lobster(path), DEPTH, use_book=False).table


def baseline(path: Path) -> pa.Table:
    """The straightforward way: one Python row at a time."""
    _, day, _ = parse_lobster_name(path)
    midnight = midnight_ns(day)
    orders: dict[int, list] = {}
    sizes = {1: {}, -1: {}}
    prices = {1: [], -1: []}  # ascending; the best bid is the last, the best ask the first
    columns = {n: [] for n in ["ts", *level_columns(DEPTH)]}
    ts_out = columns["ts"]
    outs = [(columns[f"ask_price_{j}"], columns[f"ask_size_{j}"], columns[f"bid_price_{j}"],
             columns[f"bid_size_{j}"]) for j in range(1, DEPTH + 1)]

    def change(side: int, price: int, delta: int) -> None:
        level = sizes[side]
        left = level.get(price, 0) + delta
        if left > 0:
            if price not in level:
                bisect.insort(prices[side], price)
            level[price] = left
        elif price in level:
            del level[price]
            ladder = prices[side]
            del ladder[bisect.bisect_left(ladder, price)]

    with open(path, newline="") as fh:
        for row in csv.reader(fh):
            if not row:
                continue
            kind, oid, size, price = int(row[1]), int(row[2]), int(row[3]), int(row[4])
            side = int(row[5])
            if kind == 1:
                orders[oid] = [side, price, size]
                change(side, price, size)
            elif kind in (2, 3, 4) and oid in orders:
                order = orders[oid]
                taken = order[2] if kind == 3 else min(size, order[2])
                change(order[0], order[1], -taken)
                order[2] -= taken
                if order[2] == 0:
                    del orders[oid]
            ts_out.append(midnight + round(float(row[0]) * 1e9))
            asks, bids = prices[-1][:DEPTH], prices[1][-DEPTH:][::-1]
            for j, (ap, aq, bp, bq) in enumerate(outs):
                if j < len(asks):
                    ap.append(asks[j])
                    aq.append(sizes[-1][asks[j]])
                else:
                    ap.append(None)
                    aq.append(None)
                if j < len(bids):
                    bp.append(bids[j])
                    bq.append(sizes[1][bids[j]])
                else:
                    bp.append(None)
                    bq.append(None)
    return pa.table({n: pa.array(v, pa.int64()) for n, v in columns.items()})


COMPILE_PROBE = """
import json, sys, time
t0 = time.perf_counter()
import pyarrow as pa
from orderbook.engine import Book
from orderbook.events import EVENTS
imported = time.perf_counter() - t0
n = 4
batch = pa.RecordBatch.from_pydict({
    "ts": [1, 2, 3, 4], "ts_event": [1, 2, 3, 4], "action": [1, 1, 2, 3], "side": [1, -1, 1, -1],
    "price": [100, 101, 100, 101], "size": [5, 5, 2, 5], "order_id": [1, 2, 1, 2],
    "flags": [0] * n, "sequence": [None] * n, "channel": [None] * n, "line": [1, 2, 3, 4],
    "raw_action": ["1", "1", "2", "3"], "instrument_id": [None] * n}, schema=EVENTS)
t0 = time.perf_counter(); Book(10).apply(batch); first = time.perf_counter() - t0
t0 = time.perf_counter(); Book(10).apply(batch); warm = time.perf_counter() - t0
print(json.dumps({"import_s": imported, "first_call_s": first, "warm_call_s": warm}))
"""


def compile_times() -> dict:
    """First call with an empty numba cache (compiles), then in a new process with that cache
    (loads), and a second call in the same process (warm)."""
    with tempfile.TemporaryDirectory(prefix="salvage-numba-") as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        runs = []
        for _ in range(2):
            done = subprocess.run([sys.executable, "-c", COMPILE_PROBE], cwd=ROOT, env=env,
                                  capture_output=True, text=True, check=True, timeout=600)
            runs.append(json.loads(done.stdout))
    return {"compile_s": round(runs[0]["first_call_s"], 2),
            "cached_first_call_s": round(runs[1]["first_call_s"], 3),
            "warm_call_ms": round(runs[1]["warm_call_s"] * 1000, 3)}


def run(quick: bool = False) -> dict:
    path = FILE if FILE.is_file() else FALLBACK
    runs = 3 if quick else 9
    events = read_lobster(path).table().num_rows
    ours(path)  # the compiled loop is loaded (or compiled) once, outside the timing
    ours_s, table = median_time(lambda: ours(path), runs)
    base_s, expected = median_time(lambda: baseline(path), 1 if quick else 3)
    same = table.replace_schema_metadata(None).cast(expected.schema).equals(expected)
    parse_s, _ = median_time(lambda: [b.num_rows for b in read_lobster(path).batches()], runs)
    result = replay(read_lobster(path), DEPTH, use_book=False)
    with tempfile.TemporaryDirectory(prefix="salvage-books-") as tmp:
        out = Path(tmp) / "rows.parquet"
        parquet_s, _ = median_time(lambda: write_replay(result, out), runs)
        parquet_mb = out.stat().st_size / 1e6
        arrow_s, _ = median_time(lambda: write_replay(result, Path(tmp) / "rows.arrow"), runs)
    compiled = compile_times()
    rate = events / ours_s
    ratio = base_s / ours_s
    ok = rate >= GOAL_RATE and ratio >= GOAL_RATIO and same
    figures = {"file": path.name, "events": events, "depth": DEPTH,
               "ours_ms": round(ours_s * 1000, 1), "events_per_s": round(rate),
               "parse_only_ms": round(parse_s * 1000, 1),
               "baseline_ms": round(base_s * 1000, 1),
               "baseline_events_per_s": round(events / base_s), "ratio": round(ratio, 1),
               "same_rows": same, "parquet_write_ms": round(parquet_s * 1000, 1),
               "parquet_mb": round(parquet_mb, 2), "arrow_write_ms": round(arrow_s * 1000, 1),
               **compiled, "goal_met": ok}
    print(f"1. replay {path.name}: {events:,} events, top {DEPTH} rows in Arrow")
    print(f"   ours (compiled reader + numba book){ours_s * 1000:8.1f} ms  {rate:12,.0f} events/s "
          f"(reading into events alone {parse_s * 1000:.1f} ms)   median of {runs}")
    print(f"   csv.reader + dict book            {base_s * 1000:8.1f} ms  "
          f"{events / base_s:12,.0f} events/s   ratio {ratio:.1f}x   same rows: {same}")
    print(f"   write Parquet {parquet_s * 1000:.1f} ms ({parquet_mb:.1f} MB), "
          f"Arrow IPC {arrow_s * 1000:.1f} ms")
    print(f"   numba: compile {compiled['compile_s']:.2f} s (empty cache), cached first call "
          f"{compiled['cached_first_call_s'] * 1000:.0f} ms, warm call "
          f"{compiled['warm_call_ms']:.2f} ms")
    print(f"   goal >= {GOAL_RATE:,} events/s and >= {GOAL_RATIO:.0f}x: "
          f"{'PASS' if ok else 'FAIL'}")
    if not same:
        print("   !! the rows differ from the baseline's", file=sys.stderr)
    return figures


if __name__ == "__main__":
    run("--quick" in sys.argv)
