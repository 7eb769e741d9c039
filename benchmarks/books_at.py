"""Benchmark `at` of bench_books: a synthetic 10,000,000-event day stored, then `book at` 200 times.

The day is generated as Arrow arrays in the EVENTS schema, never as Python objects: 16,384 order
slots, ~10,000 orders resting at any time around a mid that walks by the tick; each block of
4,096 events touches 4,096 distinct slots, so it is vectorised: an empty slot gets an add (one to
a few ticks off the mid, bid or ask), a resting one a cancel, a partial cancel or an execution
(orders within two ticks of the mid, or on the wrong side of it, are executed). Times are
9:30-16:00 New York with exponential gaps, one in ten a burst at the same nanosecond.

1. import - `orderbook.store.store_events` in a fresh process (events Parquet, a checkpoint every
            100,000 events): seconds and peak memory (VmHWM). Goal: under 1 GB.
2. at     - `orderbook.at.Books.at` at 200 random moments of the day, depth 10: p50 and p95 (the
            first call, which loads the book_files rows and the compiled engine, is left out).
            Goal: p50 under 10 ms. 20 of the moments are checked against a replay of the whole
            stream from its first event (same levels).

    .venv/bin/python benchmarks/books_at.py [--quick]     # --quick: 1,000,000 events
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_archive import rss_kb  # noqa: E402

from archive.home import Home  # noqa: E402
from orderbook import store  # noqa: E402
from orderbook.events import ASK, BID, DELETE, EVENTS, REDUCE, FeedInfo  # noqa: E402

SLOTS = 16_384
BLOCK = 4_096
BATCH_BLOCKS = 16  # 65,536 events a batch
TICK = 100  # $0.01 at LOBSTER's price scale
PRICE_SCALE = 10_000
DAY = date(2024, 6, 10)
OPEN_NS = 1_718_026_200_000_000_000  # 2024-06-10 09:30 New York (13:30 UTC)
SESSION_NS = 23_400 * 1_000_000_000
SYMBOL, VENUE = "SYNTH", "XNAS"
SHA256 = "5" * 64
CHECKPOINT_EVERY = int(os.environ.get("BOOKS_CHECKPOINT_EVERY", 0)) or store.CHECKPOINT_EVERY
RAW = pa.array(["1", "2", "3", "4"])  # add, partial cancel, delete, execution (LOBSTER's codes)


def synthetic_day(events: int, seed: int = 20240610) -> Iterator[pa.RecordBatch]:
    """`events` events of one symbol's day, in EVENTS record batches of 65,536."""
    rng = np.random.default_rng(seed)
    live = np.zeros(SLOTS, dtype=bool)
    oid = np.zeros(SLOTS, dtype=np.uint64)
    side = np.zeros(SLOTS, dtype=np.int8)
    price = np.zeros(SLOTS, dtype=np.int64)
    size = np.zeros(SLOTS, dtype=np.int64)
    next_id = 10_000_000
    mid = 1_850_000  # $185.00, on the tick
    gap = SESSION_NS / events
    ts_now = OPEN_NS
    done = 0
    while done < events:
        n_batch = min(BLOCK * BATCH_BLOCKS, events - done)
        cols: dict[str, list[np.ndarray]] = {k: [] for k in
                                             ("oid", "action", "side", "price", "size", "raw")}
        left = n_batch
        while left:
            k = min(BLOCK, left)
            left -= k
            mid += TICK * int(rng.choice([-1, 0, 0, 0, 1]))
            slots = rng.choice(SLOTS, k, replace=False)
            is_live = live[slots]
            action = np.empty(k, dtype=np.uint8)
            raw = np.empty(k, dtype=np.int64)
            qty = np.empty(k, dtype=np.int64)
            # adds into the empty slots
            add = slots[~is_live]
            n_add = len(add)
            new_side = np.where(rng.random(n_add) < 0.5, BID, ASK).astype(np.int8)
            offset = TICK * (1 + rng.geometric(0.35, n_add))
            side[add] = new_side
            price[add] = np.where(new_side == BID, mid - offset, mid + offset)
            size[add] = 100 * rng.geometric(0.5, n_add)
            oid[add] = np.arange(next_id, next_id + n_add, dtype=np.uint64)
            next_id += n_add
            live[add] = True
            action[~is_live], raw[~is_live], qty[~is_live] = 1, 0, size[add]
            # cancels, partial cancels and executions of resting orders
            old = slots[is_live]
            n_old = len(old)
            crossed = np.where(side[old] == BID, price[old] >= mid, price[old] <= mid)
            near = (np.abs(price[old] - mid) <= 2 * TICK) | crossed
            u = rng.random(n_old)
            execute = near & (u < 0.7)
            partial = ~execute & (u < 0.2)
            take = np.where(execute, np.minimum(size[old], 100 * rng.geometric(0.6, n_old)),
                            np.where(partial, size[old] // 2, size[old]))
            take = np.where(partial & (take == 0), size[old], take)
            gone = take >= size[old]
            codes = np.where(execute, 3, np.where(partial & ~gone, 1, 2))
            act = np.where(codes == 2, DELETE, REDUCE).astype(np.uint8)
            action[is_live], raw[is_live], qty[is_live] = act, codes, take
            size[old] -= take
            live[old[gone]] = False
            cols["oid"].append(oid[slots])
            cols["action"].append(action)
            cols["side"].append(side[slots])
            cols["price"].append(price[slots])
            cols["size"].append(qty)
            cols["raw"].append(raw)
        gaps = rng.exponential(gap, n_batch).astype(np.int64)
        gaps[rng.random(n_batch) < 0.1] = 0
        ts = ts_now + np.cumsum(gaps)
        ts_now = int(ts[-1])
        line = np.arange(done + 1, done + n_batch + 1, dtype=np.int64)
        arrays = [
            pa.array(ts), pa.array(ts), pa.array(np.concatenate(cols["action"])),
            pa.array(np.concatenate(cols["side"])), pa.array(np.concatenate(cols["price"])),
            pa.array(np.concatenate(cols["size"])), pa.array(np.concatenate(cols["oid"])),
            pa.array(np.zeros(n_batch, dtype=np.uint8)), pa.array(line - 1),
            pa.nulls(n_batch, pa.int32()), pa.array(line),
            RAW.take(pa.array(np.concatenate(cols["raw"]))), pa.nulls(n_batch, pa.uint32()),
        ]
        done += n_batch
        yield pa.RecordBatch.from_arrays(arrays, schema=EVENTS)


def _import(home: Path, events: int) -> dict:
    """Run in a fresh process: store the synthetic day; its time and peak memory."""
    from orderbook.store import store_events

    info = FeedInfo("synthetic", PRICE_SCALE, SYMBOL, VENUE, DAY)
    started = time.perf_counter()
    (stored,) = store_events(Home(home).ensure(), info, synthetic_day(events), SHA256,
                             checkpoint_every=CHECKPOINT_EVERY)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "vmhwm_kb": rss_kb(), "events": stored.events,
            "checkpoints": stored.checkpoints, "first_ts": stored.first_ts,
            "last_ts": stored.last_ts, "events_path": stored.events_path,
            "checkpoints_path": stored.checkpoints_path, "date": stored.date.isoformat()}


def _record(home: Home, stored: dict) -> None:
    """The `book_files` row an import writes, so `Books` finds the stream."""
    from storage.tables import append_rows

    append_rows(home.catalog, "book_files", [{
        "sha256": SHA256, "original_name": "synthetic-day", "size": 0, "format": "synthetic",
        "venue": VENUE, "symbol": SYMBOL, "date": date.fromisoformat(stored["date"]),
        "events": stored["events"], "first_ts": stored["first_ts"], "last_ts": stored["last_ts"],
        "price_scale": PRICE_SCALE, "checkpoints": stored["checkpoints"],
        "checkpoint_every": CHECKPOINT_EVERY, "events_path": stored["events_path"],
        "checkpoints_path": stored["checkpoints_path"], "error_count": 0, "errors": [],
        "uri": "urn:salvage:feed:" + SHA256}])


def _replayed(events: int, moments: list[int], depth: int) -> dict[int, dict]:
    """The book rows at `moments` by a replay of the whole stream from its first event."""
    from orderbook.engine import Book

    pending = sorted(moments)
    found: dict[int, dict] = {}
    book = Book(depth, PRICE_SCALE)
    previous: dict | None = None  # the row after the last event of the batches before
    for batch in synthetic_day(events):
        rows = book.apply(batch)
        ts = batch.column("ts").to_numpy()
        later = []
        for moment in pending:
            i = int(np.searchsorted(ts, moment, side="right")) - 1
            if i < 0:
                found[moment] = previous
            elif i < len(ts) - 1:
                found[moment] = rows.slice(i, 1).to_pylist()[0]
            else:  # the next batch may hold events at the same ts
                later.append(moment)
        pending = later
        previous = rows.slice(len(ts) - 1, 1).to_pylist()[0]
    for moment in pending:
        found[moment] = previous
    return found


def run(quick: bool = False) -> dict:
    from orderbook.at import Books

    events = 1_000_000 if quick else 10_000_000
    with tempfile.TemporaryDirectory(prefix="salvage-books-") as tmp:
        home = Home(Path(tmp) / "home").ensure()
        child = subprocess.run([sys.executable, __file__, "--child-import", str(home.root),
                                str(events)], capture_output=True, text=True, check=True)
        stored = json.loads(child.stdout.strip().splitlines()[-1])
        _record(home, stored)
        size = sum(p.stat().st_size for p in (home.root / "books" / "events").rglob("*.parquet"))
        cp_size = sum(p.stat().st_size
                      for p in (home.root / "books" / "checkpoints").rglob("*.parquet"))
        rng = np.random.default_rng(7)
        moments = [int(x) for x in rng.integers(stored["first_ts"], stored["last_ts"], 200)]
        books = Books(home)
        books.at(SYMBOL, moments[0], depth=10)  # loads book_files rows, the compiled engine
        times, replayed = [], []
        answers = {}
        for moment in moments:
            started = time.perf_counter()
            at = books.at(SYMBOL, moment, depth=10)
            times.append(time.perf_counter() - started)
            replayed.append(at.replayed)
            answers[moment] = at.row()
        checked = moments[:20]
        truth = _replayed(events, checked, 10)
        same = all(answers[m] == truth[m] for m in checked)
    times_ms = sorted(t * 1000 for t in times)
    p50, p95 = statistics.median(times_ms), times_ms[int(0.95 * len(times_ms)) - 1]
    peak_mb = stored["vmhwm_kb"] / 1024
    result = {
        "events": stored["events"], "checkpoint_every": CHECKPOINT_EVERY,
        "checkpoints": stored["checkpoints"], "import_s": round(stored["seconds"], 1),
        "import_events_per_s": round(stored["events"] / stored["seconds"]),
        "import_peak_mb": round(peak_mb), "events_mb": round(size / 2**20, 1),
        "checkpoints_mb": round(cp_size / 2**20, 1), "at_p50_ms": round(p50, 2),
        "at_p95_ms": round(p95, 2), "at_mean_replayed": round(statistics.mean(replayed)),
        "same_as_full_replay": same, "memory_goal_met": peak_mb < 1024, "at_goal_met": p50 < 10,
    }
    print(f"at: a synthetic day of {stored['events']:,} events (SYNTH, ~10,000 resting orders), "
          f"a checkpoint every {CHECKPOINT_EVERY:,} events ({stored['checkpoints']})")
    print(f"   import (store_events)   {stored['seconds']:7.1f} s   "
          f"{result['import_events_per_s']:,} events/s   peak {peak_mb:,.0f} MB (VmHWM)   "
          f"goal < 1024 MB: {'PASS' if result['memory_goal_met'] else 'FAIL'}")
    print(f"   stored                  events {result['events_mb']} MB, checkpoints "
          f"{result['checkpoints_mb']} MB")
    print(f"   book at, 200 moments    p50 {p50:6.2f} ms   p95 {p95:6.2f} ms   "
          f"{result['at_mean_replayed']:,} events replayed on average   goal p50 < 10 ms: "
          f"{'PASS' if result['at_goal_met'] else 'FAIL'}")
    print(f"   20 moments against a replay from the first event: "
          f"{'same levels' if same else 'DIFFERENT'}")
    return result


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child-import":
        print(json.dumps(_import(Path(sys.argv[2]), int(sys.argv[3]))))
        sys.exit(0)
    from sections import main

    sys.exit(main("Salvage book benchmarks", __doc__, {"at": "books_at"}))
