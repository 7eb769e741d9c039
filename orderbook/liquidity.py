"""Liquidity windows: spread, depth near the mid and the cost of a size, per interval of a day.

`liquidity(home, "AAPL", "2012-06-21T13:30Z", "2012-06-21T14:00Z", interval_ns=60 * NS,
size=500)` reads the stored books (`book_files`, the events and checkpoints of orderbook/store.py)
and returns one row per interval [start + k * interval, start + (k + 1) * interval) (the last one
cut at `end`): what a small-cap desk screens on rather than average daily volume.

How the books are found:

- the streams of the symbol (one venue: `venue`, else the only one stored in the range) that
  overlap the range, one per trading day (two copies of one day: the one with more events, then
  the later import); a stream's book holds from its first event until the end of the interval
  of its last event (or the next stream's first event). Time outside that has no book: it
  weighs nothing, and an interval with none at all is `no_book`;
- each stream starts from its last checkpoint before `start` plus the events up to it (at.py's
  machinery, at depth 1), never from the start of the day when a checkpoint is closer; the book
  then goes through `Book.apply` at `depth`, in chunks of `CHUNK_ROWS` events, and every
  per-event number is computed on the arrays of the rows (numpy, no loop per event).

Time weighting: each book state counts for the time until the next event; the state at an
interval's start is the one carried in from before it. A mean is over the time its value is
defined (two-sided book for spreads and depth, a fillable size for costs); min/max are over the
states in effect for some time (zero-duration states inside a run of events with one `ts` are
left out of min/max only). `ts` going back in a feed is clamped to the last one seen.

Columns (prices in currency: feed units / the stream's price_scale; sizes in shares or coins:
feed units / size_scale, 1 when book_files has none; `twa` = time-weighted mean, `close` = the book
at the interval's end; null where undefined):

    interval_start, interval_end   timestamp[ns, UTC]
    symbol, venue                  string
    state                          "ok" | "no_book" (never two-sided in the interval) |
                                   "unknown" (an event flagged F_MAYBE_BAD_BOOK in it)
    events                         book events in the interval
    maybe_bad_events               of which flagged F_MAYBE_BAD_BOOK
    two_sided_frac                 share of the interval's length with a two-sided book
    mid_close                      (best bid + best ask) / 2
    spread_twa, spread_bps_twa, spread_close, spread_bps_close, spread_min, spread_max
                                   best ask - best bid; bps: of the mid
    for each X of `bps` (2.5 -> "2_5"): bid_depth_{X}bps_twa, ask_depth_{X}bps_twa,
        depth_{X}bps_twa, bid_depth_{X}bps_close, ask_depth_{X}bps_close, depth_{X}bps_close
                                   size resting at prices within X bps of the mid
                                   (|price - mid| <= X / 10,000 * mid), over `depth` levels
    with `size` only, for buy (walking the asks) and sell (walking the bids):
        buy_avg_price_twa, buy_cost_bps_twa, buy_avg_price_close, buy_cost_bps_close
                                   average fill price of `size`; cost: (avg - mid) / mid in bps
                                   (sell: (mid - avg) / mid); null when the visible depth (to
                                   `depth` levels) cannot fill it
        buy_size_unfilled          what the book at the close cannot fill (0: all of it)
        buy_unfillable_frac        share of the interval's length during which it could not
        (sell_... the same)

The schema metadata holds salvage.table=book_liquidity, symbol, venue, from, to, interval,
interval_ns, size, bps, depth, price_scale, size_scale and streams (JSON: each stream's sha256,
the checkpoint event it started from and the events it read).
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from archive.errors import SalvageError
from archive.home import Home
from orderbook.at import REPLAY_COLUMNS, Books, NoBook, StoredFile, iso_ns, parse_ns
from orderbook.checkpoints import CheckpointFile
from orderbook.engine import Book
from orderbook.events import F_MAYBE_BAD_BOOK
from orderbook.store import book_rows
from storage.atomic import atomic_file

NS = 1_000_000_000
CHUNK_ROWS = 65_536
"""Events applied at a time: at depth 50 their rows take ~100 MB."""
MAX_INTERVALS = 1_000_000
_UNITS = {"ms": 1_000_000, "s": NS, "m": 60 * NS, "h": 3600 * NS, "d": 86_400 * NS}
_INTERVAL = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d)\s*$")


class LiquidityError(SalvageError):
    """Liquidity windows cannot be computed as asked (a bad interval, range, size, bps...)."""


def parse_interval(text: str) -> int:
    """"30s", "1m", "5m", "1h" (also ms and d) as ns."""
    m = _INTERVAL.match(text)
    if m is None or int(m[1]) == 0:
        raise LiquidityError(f"cannot read the interval {text!r}: give a positive whole number "
                             "and a unit, e.g. 30s, 1m, 5m, 1h (units: ms, s, m, h, d)")
    return int(m[1]) * _UNITS[m[2]]


def format_interval(ns: int) -> str:
    """The interval in the largest unit that divides it ("5m"; ns as a last resort)."""
    for unit in ("d", "h", "m", "s", "ms"):
        if ns % _UNITS[unit] == 0:
            return f"{ns // _UNITS[unit]}{unit}"
    return f"{ns}ns"


def parse_bps(text: str | Sequence[float | int]) -> tuple[float, ...]:
    """"10,25,50" (or numbers) as bps: each above 0, at most 10,000, at most two decimals."""
    items = [p for p in text.split(",") if p.strip()] if isinstance(text, str) else list(text)
    out: list[float] = []
    for item in items:
        try:
            value = Fraction(str(item).strip())
        except (ValueError, ZeroDivisionError) as exc:
            raise LiquidityError(f"cannot read {item!r} as bps: give numbers like 10,25,50") \
                from exc
        if not 0 < value <= 10_000 or (value * 100).denominator != 1:
            raise LiquidityError(f"bps must be above 0 and at most 10000, with at most two "
                                 f"decimals (got {item})")
        out.append(float(value))
    if not out:
        raise LiquidityError("give at least one bps distance, e.g. --bps 10,25,50")
    return tuple(dict.fromkeys(out))


def _bps_name(x: float) -> str:
    return f"{x:g}".replace(".", "_")


# -- which streams -------------------------------------------------------------------------------


@dataclass
class _Segment:
    row: dict
    start: int
    end: int


def _segments(books: Books, symbol: str, venue: str | None, start: int, end: int,
              interval_ns: int) -> list[_Segment]:
    """The stored streams that give the book over [start, end), each with the time it covers."""
    rows = books.streams(symbol, venue)
    if not rows:
        what = symbol + (f" at {venue}" if venue else "")
        raise NoBook(f"no events of {what} are stored: import its feed with `salvage book import "
                     "FILE --format lobster|mbo` (`salvage query \"SELECT * FROM book_files\"` "
                     "lists what is)")

    def cover_end(r: dict) -> int:  # the end of the interval holding the stream's last event
        return start + ((r["last_ts"] - start) // interval_ns + 1) * interval_ns

    near = [r for r in rows if r["first_ts"] < end and cover_end(r) > start]
    venues = sorted({r["venue"] for r in near})
    if len(venues) > 1:
        raise LiquidityError(f"{symbol} is stored from several venues in this range "
                             f"({', '.join(venues)}): choose one with --venue")
    best: dict[object, dict] = {}
    for r in near:
        key = r["date"]
        if key not in best or (r["events"], r["last_ts"], r["recorded_at"]) > \
                (best[key]["events"], best[key]["last_ts"], best[key]["recorded_at"]):
            best[key] = r
    chosen = sorted(best.values(), key=lambda r: r["first_ts"])
    out = []
    for i, r in enumerate(chosen):
        stop = min(end, cover_end(r), chosen[i + 1]["first_ts"] if i + 1 < len(chosen) else end)
        begin = max(start, r["first_ts"])
        if begin < stop:
            out.append(_Segment(r, begin, stop))
    if not out:
        first, last = min(r["first_ts"] for r in rows), max(r["last_ts"] for r in rows)
        raise NoBook(f"no stored book of {symbol} between {iso_ns(start)} and {iso_ns(end)}: "
                     f"its stored events run from {iso_ns(first)} to {iso_ns(last)}")
    return out


def _chunks(home: Home, row: dict, first_row: int, last_ts: int
            ) -> Iterator[tuple[pa.Table, pa.Table | None]]:
    """The stream's events from row `first_row` with `ts` at or before `last_ts` (feed order),
    with the stored orderbook rows aligned to them (LOBSTER), a few row groups at a time."""
    events = StoredFile(home.root / row["events_path"])
    if first_row >= events.rows_total:
        return
    ev = pq.ParquetFile(events.path)
    lv = lv_file = names = None
    if row.get("levels_path"):
        lv = StoredFile(home.root / row["levels_path"])
        lv_file = pq.ParquetFile(lv.path)
        names = [n for n in lv.names if n != "line"]
    g0 = bisect.bisect_right(events.starts, first_row) - 1
    g1 = max(g0, bisect.bisect_right(events.lowest, last_ts) - 1) if events.sorted \
        else len(events.starts) - 1
    ends = [*events.starts[1:], events.rows_total]
    per = max(1, CHUNK_ROWS // max(1, ends[0] - events.starts[0]))
    for g in range(g0, g1 + 1, per):
        last = min(g + per, g1 + 1) - 1
        a, b = max(first_row, events.starts[g]), ends[last]
        table = ev.read_row_groups(range(g, last + 1), columns=REPLAY_COLUMNS,
                                   use_threads=False).slice(a - events.starts[g])
        levels = None
        if lv is not None and lv_file is not None and names is not None:
            h0 = bisect.bisect_right(lv.starts, a) - 1
            h1 = bisect.bisect_right(lv.starts, b - 1) - 1
            levels = lv_file.read_row_groups(range(h0, h1 + 1), columns=names,
                                             use_threads=False).slice(a - lv.starts[h0], b - a)
            if levels.num_rows != table.num_rows or not levels["ts"].equals(table["ts"]):
                raise SalvageError(f"{row['levels_path']} is not aligned with "
                                   f"{row['events_path']}: import the feed again")
        keep = table["ts"].to_numpy() <= last_ts
        if not keep.all():
            mask = pa.array(keep)
            table = table.filter(mask)
            levels = levels.filter(mask) if levels is not None else None
        for at in range(0, table.num_rows, CHUNK_ROWS):
            yield (table.slice(at, CHUNK_ROWS),
                   levels.slice(at, CHUNK_ROWS) if levels is not None else None)


# -- the numbers of each book state ----------------------------------------------------------------


@dataclass
class _Spec:
    """What is computed of each book state, and where each value sits in a state's vector."""

    bps: tuple[float, ...]
    size: float | None
    price_scale: int = 1
    size_scale: int = 1

    MID, SPREAD, SPREAD_BPS, TWO = range(4)

    @property
    def width(self) -> int:
        return 4 + 3 * len(self.bps) + (8 if self.size is not None else 0)

    def depth_at(self, i: int) -> int:
        return 4 + 3 * i

    @property
    def size_at(self) -> int:
        return 4 + 3 * len(self.bps)


def _down(sizes: np.ndarray) -> np.ndarray:
    """The sizes summed down the levels (a loop over levels: np.cumsum along axis 0 of a
    level-major matrix is several times slower)."""
    cum = np.empty_like(sizes)
    cum[0] = sizes[0]
    for j in range(1, len(sizes)):
        np.add(cum[j - 1], sizes[j], out=cum[j])
    return cum


def _walk(prices: np.ndarray, sizes: np.ndarray, cum: np.ndarray, want: float
          ) -> tuple[np.ndarray, np.ndarray]:
    """Fill `want` (feed size units) walking the levels best first (`cum`: the sizes summed
    down the levels): the average price (feed units; NaN when they cannot fill it) and what is
    left unfilled."""
    take = np.clip(want - (cum - sizes), 0, sizes)
    total = cum[-1]
    avg = np.where(total >= want, (take * prices).sum(axis=0) / want, np.nan)
    return avg, np.maximum(want - total, 0.0)


def _metrics(ap: np.ndarray, asz: np.ndarray, bp: np.ndarray, bsz: np.ndarray,
             spec: _Spec) -> np.ndarray:
    """One row of numbers per book state, laid out as `spec` says (NaN where undefined), from
    level-major matrices: row j = level j + 1 of every state (an empty level has size 0)."""
    n = ap.shape[1]
    ps, ss = float(spec.price_scale), float(spec.size_scale)
    out = np.full((n, spec.width), np.nan)
    two = (asz[0] > 0) & (bsz[0] > 0)
    mid2 = np.where(two, ap[0] + bp[0], 0)
    positive = two & (mid2 > 0)
    mid = np.where(two, mid2 / (2 * ps), np.nan)
    out[:, spec.MID] = mid
    out[:, spec.SPREAD] = np.where(two, (ap[0] - bp[0]) / ps, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[:, spec.SPREAD_BPS] = np.where(positive, out[:, spec.SPREAD] / mid * 1e4, np.nan)
    out[:, spec.TWO] = two
    acum, bcum = _down(asz), _down(bsz)
    m2 = np.where(positive, mid2, 0)
    cols = np.arange(n)

    def within(cum: np.ndarray, inside: np.ndarray) -> np.ndarray:
        # the levels within are the first `k` (prices are sorted best first)
        k = inside.sum(axis=0)
        return np.where(k > 0, cum[np.maximum(k - 1, 0), cols], 0) / ss

    for i, x in enumerate(spec.bps):
        # |2 price - 2 mid| <= x / 10,000 * 2 mid, exactly in integers: x = p / q, q | 100
        p, q = Fraction(str(x)).as_integer_ratio()
        whole, part = np.divmod(m2, 10_000 * q)
        limit = p * whole + (p * part) // (10_000 * q)
        bid = within(bcum, (bsz > 0) & (bp >= -((limit - m2) // 2)))
        ask = within(acum, (asz > 0) & (ap <= (limit + m2) // 2))
        at = spec.depth_at(i)
        out[:, at] = np.where(positive, bid, np.nan)
        out[:, at + 1] = np.where(positive, ask, np.nan)
        out[:, at + 2] = np.where(positive, bid + ask, np.nan)
    if spec.size is not None:
        want = spec.size * ss
        for k, (prices, sizes, cum, sign) in enumerate(((ap, asz, acum, 1.0),
                                                        (bp, bsz, bcum, -1.0))):
            avg, unfilled = _walk(prices, sizes, cum, want)
            avg = avg / ps
            col = spec.size_at + 4 * k
            out[:, col] = avg
            with np.errstate(divide="ignore", invalid="ignore"):
                out[:, col + 1] = np.where(positive, sign * (avg - mid) / mid * 1e4, np.nan)
            out[:, col + 2] = unfilled / ss
            out[:, col + 3] = unfilled > 0
    return out


def _rows_metrics(rows: pa.RecordBatch, depth: int, spec: _Spec) -> np.ndarray:
    """`_metrics` of `Book.apply`'s rows (nulls: empty levels)."""
    n = rows.num_rows

    def matrix(name: str) -> np.ndarray:
        m = np.empty((depth, n), np.int64)
        for j in range(depth):
            m[j] = pc.fill_null(rows.column(f"{name}_{j + 1}"), 0).to_numpy()
        return m

    return _metrics(matrix("ask_price"), matrix("ask_size"), matrix("bid_price"),
                    matrix("bid_size"), spec)


def _book_metrics(book: Book, depth: int, spec: _Spec) -> np.ndarray:
    """`_metrics` of the book as it stands (its top `depth` levels)."""
    levels = book.levels(depth)
    side = levels["side"].to_numpy()
    price, size = levels["price"].to_numpy(), levels["size"].to_numpy()
    mats = []
    for code in (-1, 1):
        p, s = np.zeros((depth, 1), np.int64), np.zeros((depth, 1), np.int64)
        mine = side == code
        p[:mine.sum(), 0], s[:mine.sum(), 0] = price[mine], size[mine]
        mats += [p, s]
    return _metrics(*mats, spec)


# -- adding up per interval ------------------------------------------------------------------------


class _Intervals:
    """Time-weighted sums, min/max spread, close values and event counts of every interval."""

    def __init__(self, start: int, end: int, interval_ns: int, width: int):
        self.start, self.end, self.step = start, end, interval_ns
        self.k = -(-(end - start) // interval_ns)
        self.sums = np.zeros((self.k, width))
        self.weights = np.zeros((self.k, width))
        self.low = np.full(self.k, np.inf)
        self.high = np.full(self.k, -np.inf)
        self.close = np.full((self.k, width), np.nan)
        self.events = np.zeros(self.k, np.int64)
        self.flagged = np.zeros(self.k, np.int64)

    def count(self, ts: np.ndarray, flags: np.ndarray) -> None:
        where = (ts - self.start) // self.step
        self.events += np.bincount(where, minlength=self.k)
        self.flagged += np.bincount(where[(flags & F_MAYBE_BAD_BOOK) != 0], minlength=self.k)

    def add(self, times: np.ndarray, values: np.ndarray, until: int) -> None:
        """State `values[i]` in effect from `times[i]` (ascending, in [start, end)) to
        `times[i + 1]`, the last one to `until`; split at the interval boundaries."""
        j0 = (int(times[0]) - self.start) // self.step + 1
        j1 = -(-(until - self.start) // self.step)
        bounds = self.start + self.step * np.arange(j0, j1, dtype=np.int64)
        at = np.searchsorted(times, bounds, side="left")  # before events at the boundary
        t = np.insert(times, at, bounds)
        v = values[np.insert(np.arange(len(times)), at, at - 1)]
        dur = np.diff(t, append=until).astype(np.float64)
        where = (t - self.start) // self.step
        defined = ~np.isnan(v)
        # points are in time order: each interval's are one run, summed by reduceat
        first = np.flatnonzero(np.insert(where[1:] != where[:-1], 0, True))
        runs = where[first]
        self.sums[runs] += np.add.reduceat(np.where(defined, v, 0.0) * dur[:, None], first)
        self.weights[runs] += np.add.reduceat(defined * dur[:, None], first)
        spread = v[:, _Spec.SPREAD]
        live = (dur > 0) & ~np.isnan(spread)
        if live.any():
            at, spread = where[live], spread[live]
            first = np.flatnonzero(np.insert(at[1:] != at[:-1], 0, True))
            runs = at[first]
            self.low[runs] = np.minimum(self.low[runs], np.minimum.reduceat(spread, first))
            self.high[runs] = np.maximum(self.high[runs], np.maximum.reduceat(spread, first))
        last = np.append(np.flatnonzero(where[1:] != where[:-1]), len(where) - 1)
        self.close[where[last]] = v[last]


def _replay_segment(home: Home, seg: _Segment, depth: int, spec: _Spec, acc: _Intervals
                    ) -> dict:
    """Add one stream's book over its segment to `acc`: the checkpoint before the segment, the
    events up to its start at depth 1, then every event in it at `depth`."""
    row = seg.row
    cf = CheckpointFile(home.root / row["checkpoints_path"])
    mark = cf.before(seg.start - 1)
    if mark is None and cf.marks and cf.marks[0].event == 0:
        mark = cf.marks[0]  # the book before the first event (LOBSTER's seed)
    warm = cf.book(mark, 1) if mark is not None else Book(1, spec.price_scale)
    deep: Book | None = None
    times = np.array([seg.start], np.int64)
    values = np.empty((1, spec.width))
    latest = np.iinfo(np.int64).min
    read = 0

    def open_deep() -> tuple[Book, np.ndarray]:  # the book at the segment's start, at depth
        book = Book.from_checkpoint(warm.checkpoint(), depth)
        return book, _book_metrics(book, depth, spec)

    for table, levels in _chunks(home, row, mark.event if mark else 0, seg.end - 1):
        read += table.num_rows
        ts = np.maximum.accumulate(np.maximum(table["ts"].to_numpy(), latest))
        latest = int(ts[-1])
        batch = table.combine_chunks().to_batches()[0]
        feed = book_rows(levels).combine_chunks() if levels is not None else None
        split = int(np.searchsorted(ts, seg.start, side="left")) if deep is None else 0
        if split:
            warm.apply(batch.slice(0, split),
                       book=feed.slice(0, split) if feed is not None else None)
        if split == len(ts):
            continue
        if deep is None:
            deep, values = open_deep()
        rest = batch.slice(split)
        out = deep.apply(rest, book=feed.slice(split) if feed is not None else None)
        ts = ts[split:]
        acc.count(ts, pc.fill_null(rest.column("flags"), 0).to_numpy())
        new = _rows_metrics(out, depth, spec)
        acc.add(np.concatenate([times, ts[:-1]]), np.concatenate([values, new[:-1]]),
                int(ts[-1]))
        times, values = ts[-1:], new[-1:]
    if deep is None:
        deep, values = open_deep()
    acc.add(times, values, seg.end)
    return {"sha256": row["sha256"], "original_name": row["original_name"],
            "from": iso_ns(seg.start), "to": iso_ns(seg.end),
            "checkpoint_event": mark.event if mark else 0, "events_read": read}


# -- the table -----------------------------------------------------------------------------------


def liquidity(home: Home, symbol: str, start: str | int | datetime, end: str | int | datetime,
              *, interval_ns: int = 60 * NS, size: float | None = None,
              bps: Sequence[float] | str = (10, 25, 50), venue: str | None = None,
              depth: int = 50) -> pa.Table:
    """Liquidity windows of `symbol` over [start, end), one row per interval (see the module's
    docstring for the columns). Raises NoBook (nothing stored) or LiquidityError (bad input)."""
    lo, hi = parse_ns(start), parse_ns(end)
    if interval_ns <= 0:
        raise LiquidityError(f"the interval must be above 0 ns (got {interval_ns})")
    if lo >= hi:
        raise LiquidityError(f"--from ({iso_ns(lo)}) must be before --to ({iso_ns(hi)})")
    if depth < 1:
        raise LiquidityError(f"give a depth of at least 1 (got {depth})")
    if size is not None and not size > 0:
        raise LiquidityError(f"the size must be above 0 (got {size})")
    if -(-(hi - lo) // interval_ns) > MAX_INTERVALS:
        raise LiquidityError(f"{iso_ns(lo)} to {iso_ns(hi)} in {format_interval(interval_ns)} "
                             f"is more than {MAX_INTERVALS:,} intervals: give a longer interval")
    levels = parse_bps(bps)
    segments = _segments(Books(home), symbol, venue, lo, hi, interval_ns)
    acc = _Intervals(lo, hi, interval_ns, _Spec(levels, size).width)
    streams = []
    for seg in segments:
        spec = _Spec(levels, None if size is None else float(size),
                     int(seg.row["price_scale"] or 1), int(seg.row.get("size_scale") or 1))
        streams.append(_replay_segment(home, seg, depth, spec, acc))
    meta = {
        "salvage.table": "book_liquidity", "salvage.symbol": symbol,
        "salvage.venue": segments[0].row["venue"], "salvage.from": iso_ns(lo),
        "salvage.to": iso_ns(hi), "salvage.interval": format_interval(interval_ns),
        "salvage.interval_ns": str(interval_ns),
        "salvage.size": "" if size is None else f"{size:g}",
        "salvage.bps": ",".join(f"{x:g}" for x in levels), "salvage.depth": str(depth),
        "salvage.price_scale": ",".join(dict.fromkeys(
            str(s.row["price_scale"] or 1) for s in segments)),
        "salvage.size_scale": ",".join(dict.fromkeys(
            str(s.row.get("size_scale") or 1) for s in segments)),
        "salvage.streams": json.dumps(streams),
    }
    return _table(acc, symbol, segments[0].row["venue"], _Spec(levels, size), meta)


def _table(acc: _Intervals, symbol: str, venue: str, spec: _Spec, meta: dict[str, str]
           ) -> pa.Table:
    starts = acc.start + acc.step * np.arange(acc.k, dtype=np.int64)
    ends = np.minimum(starts + acc.step, acc.end)
    length = (ends - starts).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        twa = np.where(acc.weights > 0, acc.sums / acc.weights, np.nan)
    two = acc.sums[:, spec.TWO]
    state = np.where(acc.flagged > 0, "unknown", np.where(two > 0, "ok", "no_book"))
    ts = pa.timestamp("ns", tz="UTC")

    def num(values: np.ndarray) -> pa.Array:
        return pa.array(values, pa.float64(), from_pandas=True)

    cols: dict[str, pa.Array] = {
        "interval_start": pa.array(starts, ts), "interval_end": pa.array(ends, ts),
        "symbol": pa.array([symbol] * acc.k, pa.string()),
        "venue": pa.array([venue] * acc.k, pa.string()),
        "state": pa.array(state.tolist(), pa.string()),
        "events": pa.array(acc.events), "maybe_bad_events": pa.array(acc.flagged),
        "two_sided_frac": num(two / length), "mid_close": num(acc.close[:, spec.MID]),
        "spread_twa": num(twa[:, spec.SPREAD]), "spread_bps_twa": num(twa[:, spec.SPREAD_BPS]),
        "spread_close": num(acc.close[:, spec.SPREAD]),
        "spread_bps_close": num(acc.close[:, spec.SPREAD_BPS]),
        "spread_min": num(np.where(np.isfinite(acc.low), acc.low, np.nan)),
        "spread_max": num(np.where(np.isfinite(acc.high), acc.high, np.nan)),
    }
    for i, x in enumerate(spec.bps):
        at, name = spec.depth_at(i), _bps_name(x)
        for k, side in enumerate(("bid_depth", "ask_depth", "depth")):
            cols[f"{side}_{name}bps_twa"] = num(twa[:, at + k])
        for k, side in enumerate(("bid_depth", "ask_depth", "depth")):
            cols[f"{side}_{name}bps_close"] = num(acc.close[:, at + k])
    if spec.size is not None:
        for k, side in enumerate(("buy", "sell")):
            col = spec.size_at + 4 * k
            cols[f"{side}_avg_price_twa"] = num(twa[:, col])
            cols[f"{side}_cost_bps_twa"] = num(twa[:, col + 1])
            cols[f"{side}_avg_price_close"] = num(acc.close[:, col])
            cols[f"{side}_cost_bps_close"] = num(acc.close[:, col + 1])
            cols[f"{side}_size_unfilled"] = num(acc.close[:, col + 2])
            cols[f"{side}_unfillable_frac"] = num(acc.sums[:, col + 3] / length)
    return pa.table(cols).replace_schema_metadata(meta)


def write_liquidity(table: pa.Table, path: Path | str) -> Path:
    """Write the table as Parquet (zstd), crash-safely: a temporary name, fsync, rename."""
    path = Path(path)
    if path.suffix.lower() != ".parquet":
        raise LiquidityError(f"{path.name}: liquidity windows are written as Parquet: name the "
                             "file FILE.parquet")
    if not path.parent.is_dir():
        raise LiquidityError(f"{path.parent} is not a folder: create it first")
    with atomic_file(path) as fh:
        pq.write_table(table, fh, compression="zstd")
    return path


def as_rows(table: pa.Table) -> list[dict]:
    """The rows as plain dicts for JSON: timestamps as ISO 8601 UTC text with nine decimals."""
    columns = {}
    for name in table.column_names:
        column = table[name]
        if pa.types.is_timestamp(column.type):
            columns[name] = [iso_ns(v) for v in column.cast(pa.int64()).to_pylist()]
        else:
            columns[name] = column.to_pylist()
    return [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(),
                                                                        strict=True)]
