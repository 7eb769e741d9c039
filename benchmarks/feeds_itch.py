"""Benchmark `itch` of bench_feeds: replaying a synthetic 10,000,000-message ITCH 5.0 file.

The file (`synthetic_file`) is written by numpy, never one Python call per message: a session
prologue (system events O, S, Q and a stock directory of 8 locates), then the order flow, then
M, E, C. The flow is built as order chains: a chain is an add (A, one in ten F), then 0..n
replaces (U; each new reference is a new version of the order), each version may have one
partial X, E or C, and the chain's last version may end with a delete (D), or a full X, E or C;
the chains that do not end still rest at the close. Each chain's events are separated by
exponential delays (mean 50 ms, 2 s or 60 s), so an order is only ever reduced, executed, deleted
or replaced while it is live, and the whole file is sorted by timestamp (nanoseconds rising).
Prices are a few ticks off each locate's mid, a random walk by the second; P trades at the mid.
The mix: adds 45%, deletes 35%, X 8%, E 4% + C 1%, U 5%, P 2%. Every message type has a
big-endian numpy structured dtype laid out as in the specification; the records are placed in
a (messages, 46) byte matrix per 1M messages and the valid bytes written out. The file is
cached in the temp folder under a key of its parameters, named `20190130.NASDAQ_ITCH50` (the
day comes from the name), and checked once with `read_itch`: no errors, every message counted.

Ours: `read_itch(path)` decodes every message (numba over the memory-mapped file, 1M messages a
batch), each batch is split by instrument_id as `book import` splits it
(`orderbook.store.by_instrument`: one stable 16-bit argsort and a take), and each locate's slice
goes to that locate's `Book(depth=1, price_scale=10_000).apply` — the books rebuilt with the top
of book after every event, as import and gap detection run the engine; the same at depth 10
(the rows `book replay` writes) is measured too. Output rows are dropped batch by batch: memory
stays flat. Median of 3
runs, after a warm-up on a small file (numba compiles or loads its cache outside the timing).
Peak memory (VmHWM) is measured in a fresh process doing one replay. For context (not the goal's
figure), the same replay on threads: numba's loops release the GIL, so one thread decodes and
splits the next batch while a pool of 2 applies this batch's books.

Baseline, same file: a straightforward Python replay. `struct.unpack_from` of each message by
its type letter into a dict (the timestamp decoded too), a dict of orders (ref -> side, price,
shares, locate) and per locate a dict of price levels (price -> shares) per side; A F E C X D U
applied, P Q change nothing. One run.

Both must end with the same books: every level of every locate, both sides (checked outside the
timing), and so must the threaded replay's. Messages/s counts the file's messages. Goal, for
the single-threaded replay: >= 3,000,000 messages/s and >= 5x the baseline.

    .venv/bin/python benchmarks/feeds_itch.py [--quick]     # --quick: 200,000 messages
"""

from __future__ import annotations

import json
import os
import queue
import struct
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_archive import median_time  # noqa: E402

from orderbook import itchwrite  # noqa: E402
from orderbook.engine import Book  # noqa: E402
from orderbook.events import ASK, BID  # noqa: E402
from orderbook.itch import read_itch  # noqa: E402
from orderbook.store import by_instrument  # noqa: E402

GENERATOR_VERSION = 3
MESSAGES, QUICK_MESSAGES, WARMUP_MESSAGES = 10_000_000, 200_000, 20_000
DEPTH, ROWS_DEPTH, PRICE_SCALE, CHECK_DEPTH = 1, 10, 10_000, 5
"""DEPTH: the books are rebuilt with the top of book after every event, as `book import` and gap
detection run the engine; ROWS_DEPTH: the top-10 rows `book replay` writes, measured too."""
BATCH_ROWS = 1_000_000
GOAL_RATE, GOAL_RATIO = 3_000_000, 5.0
NAME = "20190130.NASDAQ_ITCH50"
SYMBOLS = ["AAPL", "MSFT", "AMZN", "NVDA", "TSLA", "META", "GOOGL", "ZVZZT"]
WEIGHTS = np.array([30, 20, 15, 10, 10, 7, 5, 3], dtype=np.float64)  # flow per locate
MID_DOLLARS = np.array([166, 105, 1670, 145, 300, 150, 1100, 25], dtype=np.int64)
TICK = 100  # $0.01 at price scale 10,000
WALK_TICKS = 0.1  # the mid's random walk: standard deviation per second, in ticks
DEEP_TICKS = 60  # orders resting at the close are placed at least this far off the mid
OPEN_NS, CLOSE_NS = 34_200 * 10**9, 57_600 * 10**9  # 9:30 and 16:00 New York
# chains by how long they live: the mean delay between their events, their share, and how many
# ticks off the mid at least their orders are placed (the longer they rest, the further away)
LIFETIMES_NS = np.array([50e6, 2e9, 60e9])
LIFETIME_P = np.array([0.6, 0.3, 0.1])
MIN_TICKS = np.array([1, 2, 8])
# The mix (fractions of the order-flow messages); adds take what the others leave (~45%).
MIX = {"D": 0.35, "X": 0.08, "E": 0.04, "C": 0.01, "U": 0.05, "P": 0.02}
PARTIAL = {"X": 0.25, "E": 0.4, "C": 0.4}  # the share of X/E/C that leave the order resting
F_SHARE = 0.1  # adds with an MPID

# -- message layouts (ITCH 5.0 specification), the 2-byte length prefix included ----------------

HEAD = [("len", ">u2"), ("type", "S1"), ("locate", ">u2"), ("track", ">u2"), ("ts", "u1", (6,))]
LAYOUTS = {
    "A": [("ref", ">u8"), ("side", "S1"), ("shares", ">u4"), ("stock", "S8"), ("price", ">u4")],
    "F": [("ref", ">u8"), ("side", "S1"), ("shares", ">u4"), ("stock", "S8"), ("price", ">u4"),
          ("mpid", "S4")],
    "E": [("ref", ">u8"), ("shares", ">u4"), ("match", ">u8")],
    "C": [("ref", ">u8"), ("shares", ">u4"), ("match", ">u8"), ("printable", "S1"),
          ("price", ">u4")],
    "X": [("ref", ">u8"), ("shares", ">u4")],
    "D": [("ref", ">u8")],
    "U": [("ref", ">u8"), ("new_ref", ">u8"), ("shares", ">u4"), ("price", ">u4")],
    "P": [("ref", ">u8"), ("side", "S1"), ("shares", ">u4"), ("stock", "S8"), ("price", ">u4"),
          ("match", ">u8")],
}
DTYPES = {t: np.dtype(HEAD + body) for t, body in LAYOUTS.items()}
SPEC_LENGTHS = {"A": 36, "F": 40, "E": 31, "C": 36, "X": 23, "D": 19, "U": 35, "P": 44}
assert all(DTYPES[t].itemsize == SPEC_LENGTHS[t] + 2 for t in DTYPES)
WIDEST = max(d.itemsize for d in DTYPES.values())
TYPES = list(LAYOUTS)  # type codes 0..7 in this order
CODE = {t: np.uint8(i) for i, t in enumerate(TYPES)}


# -- the synthetic file ---------------------------------------------------------------------------


def _prologue() -> tuple[bytes, int]:
    hour = 3_600 * 10**9
    parts = [itchwrite.system(3 * hour, "O")]
    parts += [itchwrite.directory(i + 1, s, 3 * hour + 10**6 * (i + 1))
              for i, s in enumerate(SYMBOLS)]
    parts += [itchwrite.system(4 * hour, "S"), itchwrite.system(OPEN_NS, "Q")]
    return b"".join(parts), len(parts)


def _epilogue(last_ns: int) -> tuple[bytes, int]:
    end = max(last_ns + 1, 16 * 3_600 * 10**9)
    parts = [itchwrite.system(end, "M"), itchwrite.system(end + 5 * 60 * 10**9, "E"),
             itchwrite.system(end + 10 * 60 * 10**9, "C")]
    return b"".join(parts), len(parts)


def _flow(messages: int, seed: int) -> dict[str, np.ndarray]:
    """The order flow as columns in file order: type code, locate, ts, ref, new_ref, side
    (1 buy, -1 sell, 0 none), shares, price."""
    rng = np.random.default_rng(seed)
    n = {t: round(f * messages) for t, f in MIX.items()}
    n_add = messages - sum(n.values())
    n_partial = {t: round(PARTIAL[t] * n[t]) for t in PARTIAL}
    n_full = {t: n[t] - n_partial[t] for t in PARTIAL}
    assert n["D"] + sum(n_full.values()) <= n_add

    # chains (one per add) and versions (the add, then one per replace)
    reps = np.bincount(rng.integers(0, n_add, n["U"]), minlength=n_add)
    versions = n_add + n["U"]
    v_chain = np.repeat(np.arange(n_add), 1 + reps)
    v_first = np.ones(versions, dtype=bool)
    v_first[1:] = v_chain[1:] != v_chain[:-1]
    v_last = np.ones(versions, dtype=bool)
    v_last[:-1] = v_first[1:]
    v_shares = np.where(rng.random(versions) < 0.85, 100 * rng.integers(1, 11, versions),
                        rng.integers(2, 100, versions))
    # partial reductions: at most one per version, leaving at least one share
    v_partial = np.full(versions, -1, dtype=np.int8)
    chosen = rng.permutation(versions)[:sum(n_partial.values())]
    v_partial[chosen] = np.repeat([CODE[t] for t in PARTIAL], list(n_partial.values()))
    v_cut = np.zeros(versions, dtype=np.int64)
    has_cut = v_partial >= 0
    v_cut[has_cut] = rng.integers(1, v_shares[has_cut])
    # the end of each chain, on its last version
    c_end = np.full(n_add, -1, dtype=np.int8)
    c_end[rng.permutation(n_add)[:n["D"] + sum(n_full.values())]] = np.repeat(
        [CODE["D"]] + [CODE[t] for t in n_full], [n["D"], *n_full.values()])
    v_end = np.where(v_last, c_end[v_chain], -1).astype(np.int8)

    # events: per version its add or replace, its partial, its end
    per_v = 1 + has_cut + (v_end >= 0)
    ev_v = np.repeat(np.arange(versions), per_v)
    starts = np.cumsum(per_v) - per_v
    ev_pos = np.arange(len(ev_v)) - starts[ev_v]
    kind = np.where(v_first, np.where(rng.random(versions) < F_SHARE, CODE["F"], CODE["A"]),
                    CODE["U"])[ev_v].astype(np.uint8)
    second = np.where(has_cut, v_partial, v_end)[ev_v]
    kind = np.where(ev_pos == 1, second, kind)
    kind = np.where(ev_pos == 2, v_end[ev_v], kind).astype(np.uint8)
    cut = v_cut[ev_v]
    shares = np.where(ev_pos == 0, v_shares[ev_v],
                      np.where((ev_pos == 1) & has_cut[ev_v], cut, v_shares[ev_v] - cut))

    # times: the chain's add, then exponential delays (>= 1 ns: a chain's events stay in order)
    ev_chain = v_chain[ev_v]
    c_life = rng.choice(len(LIFETIMES_NS), n_add, p=LIFETIME_P)
    delay = np.maximum(1, rng.exponential(1.0, len(ev_v)) * LIFETIMES_NS[c_life][ev_chain])
    delay = delay.astype(np.int64)
    total = np.cumsum(delay)
    c_first_event = starts[np.flatnonzero(v_first)]
    c_add = rng.integers(OPEN_NS, CLOSE_NS, n_add)
    ts = c_add[ev_chain] + total - total[c_first_event][ev_chain]

    # locates, sides, prices around each locate's mid (a random walk by the second)
    c_locate = rng.choice(len(SYMBOLS), n_add, p=WEIGHTS / WEIGHTS.sum()) + 1
    c_side = np.where(rng.random(n_add) < 0.5, 1, -1).astype(np.int8)
    seconds = int(ts.max() // 10**9) + 2
    walk = np.cumsum(rng.normal(0, WALK_TICKS, (len(SYMBOLS), seconds)), axis=1).round()
    mid = MID_DOLLARS[:, None] * PRICE_SCALE + walk.astype(np.int64) * TICK
    v_ts = ts[starts]
    v_locate = c_locate[v_chain]
    v_side = c_side[v_chain]
    # an order that ends is placed a few ticks off the mid (further when it lives longer); one
    # still resting at the close deep in the book: the mid's walk seldom crosses the book
    v_ticks = np.where(c_end[v_chain] >= 0,
                       MIN_TICKS[c_life][v_chain] - 1 + rng.geometric(0.3, versions),
                       DEEP_TICKS + rng.geometric(0.03, versions))
    v_price = mid[v_locate - 1, v_ts // 10**9] - v_side * TICK * v_ticks

    # P trades at the mid, at random times
    p_ts = rng.integers(OPEN_NS, CLOSE_NS, n["P"])
    p_locate = rng.choice(len(SYMBOLS), n["P"], p=WEIGHTS / WEIGHTS.sum()) + 1
    flow = {
        "kind": np.concatenate([kind, np.full(n["P"], CODE["P"], np.uint8)]),
        "locate": np.concatenate([v_locate[ev_v], p_locate]),
        "ts": np.concatenate([ts, p_ts]),
        "version": np.concatenate([ev_v, np.full(n["P"], -1)]),
        "side": np.concatenate([v_side[ev_v], np.where(rng.random(n["P"]) < 0.5, 1, -1)]),
        "shares": np.concatenate([shares, 100 * rng.integers(1, 6, n["P"])]),
        "price": np.concatenate([v_price[ev_v], mid[p_locate - 1, p_ts // 10**9]]),
    }
    order = np.argsort(flow["ts"], kind="stable")
    flow = {k: v[order] for k, v in flow.items()}
    # references rise in file order: a version's is its add's (or replace's) position + 1
    version = flow.pop("version")
    creates = np.flatnonzero(np.isin(flow["kind"], [CODE["A"], CODE["F"], CODE["U"]]))
    v_ref = np.zeros(versions, dtype=np.uint64)
    v_ref[version[creates]] = creates.astype(np.uint64) + 1
    ref = np.where(version >= 0, v_ref[np.maximum(version, 0)], 0).astype(np.uint64)
    is_u = flow["kind"] == CODE["U"]
    flow["ref"] = np.where(is_u, v_ref[np.maximum(version - 1, 0)], ref).astype(np.uint64)
    flow["new_ref"] = np.where(is_u, ref, 0).astype(np.uint64)
    return flow


def _records(t: str, flow: dict[str, np.ndarray], rows: np.ndarray) -> np.ndarray:
    """The type-`t` messages among `rows` of the flow, as a structured array."""
    rec = np.zeros(len(rows), dtype=DTYPES[t])
    rec["len"] = DTYPES[t].itemsize - 2
    rec["type"] = t.encode()
    rec["locate"] = flow["locate"][rows]
    rec["ts"] = flow["ts"][rows].astype(">u8").view(np.uint8).reshape(-1, 8)[:, 2:]
    names = DTYPES[t].names
    for field in ("ref", "new_ref", "shares", "price"):
        if field in names:
            rec[field] = flow[field][rows]
    if "side" in names:
        rec["side"] = np.where(flow["side"][rows] > 0, b"B", b"S")
    if "stock" in names:
        rec["stock"] = np.array([s.ljust(8).encode() for s in SYMBOLS], "S8")[
            flow["locate"][rows] - 1]
    if "match" in names:
        rec["match"] = rows + 1
    if "mpid" in names:
        rec["mpid"] = b"SYNT"
    if "printable" in names:
        rec["printable"] = b"Y"
    return rec


def write_synthetic(path: Path, messages: int, seed: int = 20190130) -> dict[str, int]:
    """Write the file; return the messages per type letter."""
    head, n_head = _prologue()
    flow = _flow(messages - n_head - 3, seed)
    tail, _ = _epilogue(int(flow["ts"][-1]))
    kinds = flow["kind"]
    lengths = np.array([DTYPES[t].itemsize for t in TYPES], dtype=np.int64)[kinds]
    rows_of = {t: np.flatnonzero(kinds == CODE[t]) for t in TYPES}
    chunk = 1_000_000
    cols = np.arange(WIDEST)
    with open(path, "wb") as fh:
        fh.write(head)
        for a in range(0, len(kinds), chunk):
            b = min(a + chunk, len(kinds))
            mat = np.zeros((b - a, WIDEST), dtype=np.uint8)
            for t in TYPES:
                rows = rows_of[t]
                rows = rows[np.searchsorted(rows, a):np.searchsorted(rows, b)]
                if len(rows):
                    width = DTYPES[t].itemsize
                    mat[rows - a, :width] = _records(t, flow, rows).view(np.uint8).reshape(
                        -1, width)
            fh.write(mat[cols < lengths[a:b, None]].tobytes())
        fh.write(tail)
    counts = {t: len(rows_of[t]) for t in TYPES if len(rows_of[t])}
    counts["S"], counts["R"] = 6, len(SYMBOLS)
    return counts


def synthetic_file(messages: int, seed: int = 20190130) -> tuple[Path, dict[str, int], float]:
    """The cached file for these parameters (written when missing): path, counts per type,
    seconds spent writing it (0 when cached)."""
    folder = (Path(tempfile.gettempdir()) / "salvage-bench-feeds"
              / f"v{GENERATOR_VERSION}-{messages}-{seed}")
    path = folder / NAME
    meta = folder / "counts.json"
    if path.is_file() and meta.is_file():
        return path, json.loads(meta.read_text()), 0.0
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    partial = folder / (NAME + ".part")
    counts = write_synthetic(partial, messages, seed)
    partial.replace(path)
    meta.write_text(json.dumps(counts))
    return path, counts, time.perf_counter() - started


def check_file(path: Path, counts: dict[str, int]) -> None:
    """read_itch reads the whole file with no errors and every message counted, by type."""
    feed = read_itch(path)
    for _ in feed.batches():
        pass
    assert not feed.errors, feed.errors[:3]
    assert feed.messages == sum(counts.values()), (feed.messages, sum(counts.values()))
    assert feed.counts == counts, (feed.counts, counts)
    assert len(feed.directory) == len(SYMBOLS)


# -- ours -----------------------------------------------------------------------------------------

# the columns Book.apply reads (raw_action, channel and instrument_id are not carried along)
def split(batch: pa.RecordBatch) -> list[tuple[int, pa.RecordBatch]]:
    """The batch's rows per stock locate, as the import splits them (orderbook.store.
    by_instrument: one stable argsort and one take); system events, with no locate, left out."""
    return [(lc, part) for lc, part in by_instrument(batch) if lc is not None]


def ours(path: Path, stage: str = "book", after_batch=None, depth: int | None = None
         ) -> tuple[int, dict[int, Book]]:
    """Replay the whole file: (messages, the books by locate). `stage` stops early, for the
    breakdown: "decode" (read_itch's batches only), "split" (and split them). `after_batch` is
    called after each batch (the memory probe)."""
    feed = read_itch(path, batch_rows=BATCH_ROWS)
    books: dict[int, Book] = {}
    for batch in feed.batches():
        if after_batch is not None:
            after_batch()
        if stage == "decode":
            continue
        for locate, part in split(batch):
            if stage == "split":
                continue
            book = books.get(locate)
            if book is None:
                book = books[locate] = Book(depth or DEPTH, PRICE_SCALE)
            book.apply(part)  # the top-N rows after every event are dropped here
    assert not feed.errors
    return feed.messages, books


def ours_threaded(path: Path, pool: ThreadPoolExecutor) -> tuple[int, dict[int, Book]]:
    """The same replay on more threads (numba's decode and book loops release the GIL): one
    thread decodes and splits the next batch while `pool` applies this one's locates, each
    locate's slices in file order (a batch's books are all applied before the next batch's)."""
    feed = read_itch(path, batch_rows=BATCH_ROWS)
    books: dict[int, Book] = {}
    ready: queue.Queue = queue.Queue(maxsize=2)

    def produce() -> None:
        try:
            for batch in feed.batches():
                ready.put(split(batch))
        finally:
            ready.put(None)

    def apply(item: tuple[int, pa.RecordBatch]) -> None:
        books[item[0]].apply(item[1])

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    while (parts := ready.get()) is not None:
        for locate, _ in parts:
            if locate not in books:
                books[locate] = Book(DEPTH, PRICE_SCALE)
        parts.sort(key=lambda item: -item[1].num_rows)  # the busiest locates first
        list(pool.map(apply, parts))
    producer.join()
    assert not feed.errors
    return feed.messages, books


def ours_levels(books: dict[int, Book]) -> dict[int, tuple[list, list]]:
    """Every level of every book: locate -> ([(price, shares)] bids best first, asks)."""
    out = {}
    for locate, book in books.items():
        t = book.levels().to_pydict()
        sides = [[(p, s) for sd, p, s in zip(t["side"], t["price"], t["size"], strict=True)
                  if sd == code] for code in (BID, ASK)]
        out[locate] = (sides[0], sides[1])
    return out


# -- the baseline ---------------------------------------------------------------------------------

HEADER = ("locate", "tracking", "timestamp")
FORMATS = {  # the message after its type letter
    b"S": (">HH6sc", HEADER + ("event",)),
    b"R": (">HH6s8sccIcc2scccccIc", HEADER + (
        "stock", "market_category", "financial_status", "round_lot_size", "round_lots_only",
        "issue_classification", "issue_subtype", "authenticity", "short_sale_threshold",
        "ipo_flag", "luld_tier", "etp_flag", "etp_leverage", "inverse")),
    b"A": (">HH6sQcI8sI", HEADER + ("ref", "side", "shares", "stock", "price")),
    b"F": (">HH6sQcI8sI4s", HEADER + ("ref", "side", "shares", "stock", "price", "mpid")),
    b"E": (">HH6sQIQ", HEADER + ("ref", "shares", "match")),
    b"C": (">HH6sQIQcI", HEADER + ("ref", "shares", "match", "printable", "price")),
    b"X": (">HH6sQI", HEADER + ("ref", "shares")),
    b"D": (">HH6sQ", HEADER + ("ref",)),
    b"U": (">HH6sQQII", HEADER + ("ref", "new_ref", "shares", "price")),
    b"P": (">HH6sQcI8sIQ", HEADER + ("ref", "side", "shares", "stock", "price", "match")),
    b"Q": (">HH6sQ8sIQc", HEADER + ("shares", "stock", "price", "match", "cross_type")),
}
PARSERS = {kind[0]: (struct.Struct(fmt).unpack_from, names)
           for kind, (fmt, names) in FORMATS.items()}


def baseline(path: Path) -> tuple[int, dict[int, tuple[dict, dict]]]:
    """The straightforward way: one message at a time into a dict, dicts for the book.
    Returns (messages, locate -> (bid levels, ask levels) as price -> shares)."""
    data = path.read_bytes()
    orders: dict[int, list] = {}  # ref -> [side, price, shares, locate]
    books: dict[int, tuple[dict, dict]] = {}
    directory: dict[int, str] = {}

    def level(locate: int, side: bytes) -> dict:
        if locate not in books:
            books[locate] = ({}, {})
        return books[locate][0 if side == b"B" else 1]

    def take(ref: int, shares: int | None) -> None:
        """Take `shares` (None: all) off a live order; it leaves at zero."""
        order = orders.get(ref)
        if order is None:
            return
        side, price, left, locate = order
        taken = left if shares is None else min(shares, left)
        levels = level(locate, side)
        levels[price] -= taken
        if levels[price] <= 0:
            del levels[price]
        if taken == left:
            del orders[ref]
        else:
            order[2] = left - taken

    pos, end, messages = 0, len(data), 0
    while pos < end:
        (length,) = struct.unpack_from(">H", data, pos)
        kind = data[pos + 2]
        body = pos + 3
        pos += 2 + length
        messages += 1
        parser = PARSERS.get(kind)
        if parser is None:
            continue
        unpack, names = parser
        msg = dict(zip(names, unpack(data, body), strict=True))
        msg["timestamp"] = int.from_bytes(msg["timestamp"], "big")
        kind = chr(kind)
        if kind in "AF":
            orders[msg["ref"]] = [msg["side"], msg["price"], msg["shares"], msg["locate"]]
            levels = level(msg["locate"], msg["side"])
            levels[msg["price"]] = levels.get(msg["price"], 0) + msg["shares"]
        elif kind in "ECX":
            take(msg["ref"], msg["shares"])
        elif kind == "D":
            take(msg["ref"], None)
        elif kind == "U":
            old = orders.get(msg["ref"])
            if old is not None:
                side, locate = old[0], old[3]
                take(msg["ref"], None)
                orders[msg["new_ref"]] = [side, msg["price"], msg["shares"], locate]
                levels = level(locate, side)
                levels[msg["price"]] = levels.get(msg["price"], 0) + msg["shares"]
        elif kind == "R":
            directory[msg["locate"]] = msg["stock"].decode().strip()
        # S, P, Q: no change to the books
    return messages, books


def baseline_levels(books: dict[int, tuple[dict, dict]]) -> dict[int, tuple[list, list]]:
    return {locate: (sorted(bids.items(), reverse=True), sorted(asks.items()))
            for locate, (bids, asks) in books.items()}


# -- peak memory in a fresh process ----------------------------------------------------------------

PROBE = """
import json, sys, time
sys.path.insert(0, {benchmarks!r})
import feeds_itch
from bench_archive import rss_kb
from pathlib import Path
before = rss_kb("VmRSS")
most = {{"RssAnon": 0, "RssFile": 0}}
def sample():
    for field in most:
        most[field] = max(most[field], rss_kb(field))
t0 = time.perf_counter()
messages, books = feeds_itch.ours(Path({path!r}), after_batch=sample)
print(json.dumps({{"seconds": time.perf_counter() - t0, "rss_before_kb": before,
                  "peak_kb": rss_kb("VmHWM"), "anon_kb": most["RssAnon"],
                  "file_kb": most["RssFile"]}}))
"""


def fresh_process(path: Path) -> dict:
    code = PROBE.format(benchmarks=str(ROOT / "benchmarks"), path=str(path))
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, check=True, timeout=600, env={**os.environ})
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the section ----------------------------------------------------------------------------------


def run(quick: bool = False) -> dict:
    messages = QUICK_MESSAGES if quick else MESSAGES
    warm, warm_counts, _ = synthetic_file(WARMUP_MESSAGES)
    check_file(warm, warm_counts)
    ours(warm)  # numba compiles (or loads its cache) here, outside the timing
    path, counts, gen_s = synthetic_file(messages)
    total = sum(counts.values())
    size_mb = path.stat().st_size / 1e6
    check_file(path, counts)
    runs = 3
    ours_s, (n, books) = median_time(lambda: ours(path), runs)
    assert n == total
    decode_s, _ = median_time(lambda: ours(path, "decode"), runs)
    split_s, _ = median_time(lambda: ours(path, "split"), runs)
    rows_s, _ = median_time(lambda: ours(path, depth=ROWS_DEPTH), runs)
    with ThreadPoolExecutor(2) as pool:
        threads_s, (n_t, books_t) = median_time(lambda: ours_threaded(path, pool), runs)
    assert n_t == total
    base_s, (base_n, base_books) = median_time(lambda: baseline(path), 1)
    assert base_n == total

    # outside the timing: the same books, and every event was about a live order
    mine, theirs = ours_levels(books), baseline_levels(base_books)
    top_same = set(mine) == set(theirs) and all(
        mine[lc][s][:CHECK_DEPTH] == theirs[lc][s][:CHECK_DEPTH] for lc in theirs for s in (0, 1))
    all_same = mine == theirs and ours_levels(books_t) == mine
    assert top_same and all_same, "the books differ from the baseline's"
    levels = sum(len(b) + len(a) for b, a in mine.values())
    book_counts = {k: sum(b.counts[k] for b in books.values()) for k in (
        "events", "unknown_order_fallbacks", "unknown_orders_ignored", "rejected", "crossed",
        "locked")}
    assert book_counts["unknown_order_fallbacks"] + book_counts["unknown_orders_ignored"] \
        + book_counts["rejected"] == 0, book_counts
    resting = sum(int(b.checkpoint().orders.num_rows) for b in books.values())

    probe = fresh_process(path)
    rate, base_rate, threads_rate = total / ours_s, total / base_s, total / threads_s
    ratio = base_s / ours_s
    ok = rate >= GOAL_RATE and ratio >= GOAL_RATIO
    mix = ", ".join(f"{t} {100 * c / total:.1f}%" for t, c in sorted(
        counts.items(), key=lambda kv: -kv[1]) if c / total >= 0.001)
    figures = {
        "file": str(path), "messages": total, "mb": round(size_mb, 1), "counts": counts,
        "generate_s": round(gen_s, 1), "locates": len(SYMBOLS), "batch_rows": BATCH_ROWS,
        "book_events": book_counts["events"], "resting_at_close": resting,
        "ours_s": round(ours_s, 3), "messages_per_s": round(rate),
        "decode_s": round(decode_s, 3), "split_s": round(split_s - decode_s, 3),
        "book_apply_s": round(ours_s - split_s, 3), "depth": DEPTH,
        "rows_depth": ROWS_DEPTH, "rows_s": round(rows_s, 3),
        "rows_messages_per_s": round(total / rows_s), "rows_ratio": round(base_s / rows_s, 1),
        "threads_s": round(threads_s, 3), "threads_messages_per_s": round(threads_rate),
        "threads_ratio": round(base_s / threads_s, 1),
        "baseline_s": round(base_s, 2), "baseline_messages_per_s": round(base_rate),
        "ratio": round(ratio, 1), "same_books": all_same, "levels_compared": levels,
        "crossed_events": book_counts["crossed"], "locked_events": book_counts["locked"],
        "fresh_process_s": round(probe["seconds"], 3),
        "peak_rss_mb": round(probe["peak_kb"] / 1024, 1),
        "rss_before_mb": round(probe["rss_before_kb"] / 1024, 1),
        "most_anon_mb": round(probe["anon_kb"] / 1024, 1),
        "most_file_mb": round(probe["file_kb"] / 1024, 1), "goal_met": ok}

    def line(label: str, seconds: float, note: str) -> None:
        print(f"   {label:<42}{seconds:8.3f} s {total / seconds:12,.0f} msg/s   {note}")

    print(f"1. itch replay {path.name}: {total:,} messages, {size_mb:.0f} MB, "
          f"{len(SYMBOLS)} locates ({f'written in {gen_s:.1f} s' if gen_s else 'cached'}); "
          f"{book_counts['events']:,} book events, {resting:,} orders resting at the close")
    print(f"   mix: {mix}")
    line("ours: read_itch + split + Book.apply", ours_s, f"median of {runs}")
    print(f"     decode alone {decode_s:.3f} s, + split by locate {split_s - decode_s:.3f} s, "
          f"+ Book.apply (depth {DEPTH}) {ours_s - split_s:.3f} s")
    line(f"ours with top-{ROWS_DEPTH} rows (book replay's)", rows_s,
         f"median of {runs}; ratio {base_s / rows_s:.1f}x")
    line("ours on threads (decode || books on 2)", threads_s,
         f"ratio {base_s / threads_s:.1f}x (context: the goal is single-threaded)")
    line("baseline: struct.unpack_from + dict book", base_s, f"ratio {ratio:.1f}x")
    print(f"   same books: {all_same} (every level of {len(mine)} locates, {levels:,} levels; "
          f"top {CHECK_DEPTH} each side asserted); every event about a live order; "
          f"crossed after {book_counts['crossed']:,} events, locked after "
          f"{book_counts['locked']:,}")
    print(f"   fresh process: one replay {probe['seconds']:.3f} s "
          f"({total / probe['seconds']:,.0f} msg/s: numba's cache loaded, pages faulted in), "
          f"peak RSS (VmHWM) "
          f"{probe['peak_kb'] / 1024:.0f} MiB ({probe['rss_before_kb'] / 1024:.0f} MiB "
          f"after imports; at batch ends at most {probe['anon_kb'] / 1024:.0f} MiB anonymous "
          f"+ {probe['file_kb'] / 1024:.0f} MiB file pages, the mapped file's among them)")
    print(f"   goal >= {GOAL_RATE:,} msg/s and >= {GOAL_RATIO:.0f}x: {'PASS' if ok else 'FAIL'}")
    return figures


if __name__ == "__main__":
    run("--quick" in sys.argv)
