"""The book engine: one instrument's order book, driven by EVENTS batches, in a compiled loop.

State lives in numpy arrays: resting orders in an open-addressing hash table keyed by order id
(linear probing, deletion by backward shift), price levels per side in sorted arrays whose best
level is the last one (so the busy top of the book moves few entries). Both sides share one code
path through a key: the price for bids, minus the price for asks, so the best level always has
the largest key. The loop is `numba.njit(cache=True)`: compiled once per machine, then loaded
from `__pycache__`.

A level's size may exceed the sizes of the orders known to rest there: quantity known only as a
level (a LOBSTER orderbook row, a checkpoint) is "unattributed". An event about an order never
seen as an add falls back to the level at the event's side and price, and can take off at most
its unattributed quantity (`unknown_order_fallbacks`); with none there (a repeated cancel of an
order already gone) it changes nothing (`unknown_orders_ignored`).

With orderbook rows (LOBSTER's file, passed to `apply(book=...)`), the engine also keeps, per
side, the key down to which its levels are exact: LOBSTER's messages only cover the top L levels,
so a level that leaves the top L is no longer followed, and one entering from beyond is known only
from the row: it is supplied (`levels_supplied_by_book_file`). A row that disagrees with the levels
the messages built is counted (`book_mismatches`) and the row wins.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from numba import njit

from orderbook.events import (
    ADD,
    ASK,
    BID,
    CLEAR,
    DELETE,
    F_MAYBE_BAD_BOOK,
    F_SNAPSHOT,
    HALT,
    MODIFY,
    REDUCE,
    TRADE,
    RejectedEvent,
    book_rows_schema,
)

MIN_KEY = np.iinfo(np.int64).min
GOLDEN = np.uint64(0x9E3779B97F4A7C15)

# Columns of the order table's values.
V_SIDE, V_PRICE, V_SIZE, V_PRIO, V_TS, V_SEQ, V_ACT, V_QTY = range(8)
# Columns of a level's values.
L_SIZE, L_KNOWN, L_ORDERS = range(3)
# Scalars of the state: orders resting, the next priority, levels per side, the key each side is
# exact down to, the hash shift, whether the top rows must be recomputed, the output depth, the
# levels shown per side, and whether the top is crossed (1) or locked (2).
(S_ORDERS, S_PRIO, S_N, S_N_ASK, S_KNOWN, S_KNOWN_ASK, S_SHIFT, S_DIRTY, S_TOP, S_SHOWN,
 S_SHOWN_ASK, S_CROSS) = range(12)

COUNTERS = [
    "adds", "reduces", "deletes", "modifies", "clears", "trades", "halts",
    "unknown_order_fallbacks", "unknown_orders_ignored", "duplicates", "rejected",
    "levels_supplied_by_book_file", "book_mismatches", "book_rows_missing", "crossed", "locked",
]
(C_ADDS, C_REDUCES, C_DELETES, C_MODIFIES, C_CLEARS, C_TRADES, C_HALTS, C_FALLBACK, C_IGNORED,
 C_DUPLICATES, C_REJECTED, C_SUPPLIED, C_MISMATCH, C_ROWS_MISSING, C_CROSSED,
 C_LOCKED) = range(len(COUNTERS))

# Per-event status.
OK, FALLBACK, IGNORED, DUPLICATE = 0, 1, 2, 3
REJECT_NO_SIDE, REJECT_SIZE, REJECT_LIVE_ID = 10, 11, 12
REASONS = {
    REJECT_NO_SIDE: "an add without a side (B or A) cannot rest in the book",
    REJECT_SIZE: "an add needs a size above 0",
    REJECT_LIVE_ID: "an add of an order id already resting in the book (not a repeat of its add)",
}


# -- the compiled loop ----------------------------------------------------------------------------


@njit(cache=True, inline="always")
def _slot(used, keys, key, shift, mask):
    """The slot of `key`, or -(free slot) - 1 when absent."""
    h = np.int64((key * GOLDEN) >> np.uint64(shift))
    while used[h]:
        if keys[h] == key:
            return h
        h = (h + 1) & mask
    return -h - 1


@njit(cache=True, inline="always")
def _drop(used, keys, vals, slot, shift, mask):
    """Remove the order in `slot`, shifting later entries of its probe run back."""
    i = slot
    j = slot
    while True:
        j = (j + 1) & mask
        if not used[j]:
            break
        home = np.int64((keys[j] * GOLDEN) >> np.uint64(shift))
        if i <= j:
            if i < home <= j:
                continue
        elif home > i or home <= j:
            continue
        keys[i] = keys[j]
        for c in range(8):
            vals[i, c] = vals[j, c]
        i = j
    used[i] = 0


@njit(cache=True, inline="always")
def _search(lk, s, lo, hi, key):
    """The first index in [lo, hi) whose key is >= `key` (hi if none): branch-free halving."""
    if hi <= lo:
        return lo
    base = lo
    length = hi - lo
    while length > 1:
        half = length >> 1
        base = base + half if lk[s, base + half] < key else base
        length -= half
    return base + 1 if lk[s, base] < key else base


@njit(cache=True, inline="always")
def _lower(lk, s, n, key):
    """The first index whose key is >= `key`. The busy levels are the best ones, at the end, so
    the search gallops down from there (1, 2, 4, ... levels) before halving."""
    hi = n
    step = 1
    while True:
        lo = hi - step
        if lo <= 0:
            return _search(lk, s, 0, hi, key)
        if lk[s, lo] < key:
            return _search(lk, s, lo + 1, hi, key)
        hi = lo
        step <<= 1


@njit(cache=True, inline="always")
def _remove_level(lk, lv, st, s, i):
    n = st[S_N + s]
    if n - 1 - i < st[S_TOP]:
        st[S_DIRTY] = 1
    for j in range(i, n - 1):
        lk[s, j] = lk[s, j + 1]
        lv[s, j, 0] = lv[s, j + 1, 0]
        lv[s, j, 1] = lv[s, j + 1, 1]
        lv[s, j, 2] = lv[s, j + 1, 2]
    st[S_N + s] = n - 1


@njit(cache=True, inline="always")
def _change(lk, lv, st, s, key, dsize, dknown, dorders):
    """Add (or take off) size, known size and orders at a level; a level at 0 goes."""
    n = st[S_N + s]
    i = _lower(lk, s, n, key)
    if n - i <= st[S_TOP]:
        st[S_DIRTY] = 1
    if i < n and lk[s, i] == key:
        lv[s, i, 0] += dsize
        lv[s, i, 1] += dknown
        lv[s, i, 2] += dorders
        if lv[s, i, 1] < 0:
            lv[s, i, 1] = 0
        if lv[s, i, 2] < 0:
            lv[s, i, 2] = 0
        if lv[s, i, 0] <= 0:
            _remove_level(lk, lv, st, s, i)
        return
    if dsize <= 0:
        return
    for j in range(n, i, -1):
        lk[s, j] = lk[s, j - 1]
        lv[s, j, 0] = lv[s, j - 1, 0]
        lv[s, j, 1] = lv[s, j - 1, 1]
        lv[s, j, 2] = lv[s, j - 1, 2]
    lk[s, i] = key
    lv[s, i, 0] = dsize
    lv[s, i, 1] = dknown
    lv[s, i, 2] = dorders
    st[S_N + s] = n + 1


@njit(cache=True, inline="always")
def _fallback(lk, lv, st, s, key, q):
    """An event about an unknown order: take `q` off the level's unattributed quantity."""
    n = st[S_N + s]
    i = _lower(lk, s, n, key)
    if i < n and lk[s, i] == key:
        free = lv[s, i, 0] - lv[s, i, 1]
        if free > 0:
            if n - 1 - i < st[S_TOP]:
                st[S_DIRTY] = 1
            r = q if q < free else free
            lv[s, i, 0] -= r
            if lv[s, i, 0] <= 0:
                _remove_level(lk, lv, st, s, i)
            return FALLBACK
    return IGNORED


@njit(cache=True)
def _rebuild(lk, lv, st, s, bk, i, off, m, depth_l, sk, sv):
    """Make the side's top levels those of orderbook row `i` (m valid levels of depth_l); known
    quantities of levels kept are carried over."""
    sign = 1 if s == 0 else -1
    lo = sign * bk[4 * (m - 1) + off, i] if m == depth_l else MIN_KEY
    n = st[S_N + s]
    i0 = _lower(lk, s, n, lo) if m == depth_l else 0
    count = n - i0
    for t in range(count):
        sk[t] = lk[s, i0 + t]
        sv[t, 0] = lv[s, i0 + t, 1]
        sv[t, 1] = lv[s, i0 + t, 2]
    p = 0
    for t in range(m):
        j = m - 1 - t
        key = sign * bk[4 * j + off, i]
        size = bk[4 * j + off + 1, i]
        while p < count and sk[p] < key:
            p += 1
        known = 0
        orders = 0
        if p < count and sk[p] == key:
            known = sv[p, 0] if sv[p, 0] < size else size
            orders = sv[p, 1]
        lk[s, i0 + t] = key
        lv[s, i0 + t, 0] = size
        lv[s, i0 + t, 1] = known
        lv[s, i0 + t, 2] = orders
    st[S_N + s] = i0 + m
    st[S_KNOWN + s] = lo


@njit(cache=True)
def _reconcile(lk, lv, st, s, bk, i, depth_l, sk, sv, counts):
    """Compare the side with orderbook row `i`; supply levels from beyond the known depth, and
    let the row win on a mismatch. Returns True on a mismatch."""
    off = 2 if s == 0 else 0
    sign = 1 if s == 0 else -1
    m = 0
    while m < depth_l and bk[4 * m + off + 1, i] > 0:
        m += 1
    n = st[S_N + s]
    kk = st[S_KNOWN + s]
    k = 0
    diff = False
    for j in range(depth_l):
        idx = n - 1 - j
        if idx < 0 or lk[s, idx] < kk:
            break
        k += 1
        if (j >= m or lk[s, idx] != sign * bk[4 * j + off, i]
                or lv[s, idx, 0] != bk[4 * j + off + 1, i]):
            diff = True
    if k < m:
        counts[C_SUPPLIED] += m - k
    if diff or k < m or (m < depth_l and (n > k or kk != MIN_KEY)):
        _rebuild(lk, lv, st, s, bk, i, off, m, depth_l, sk, sv)
        st[S_DIRTY] = 1
    elif k == depth_l and lk[s, n - depth_l] != kk:
        st[S_KNOWN + s] = lk[s, n - depth_l]
        st[S_DIRTY] = 1
    return diff


@njit(cache=True)
def _top(lk, lv, st, cur, depth):
    """The top `depth` levels of each side into `cur` (LOBSTER's column order)."""
    for s in range(2):
        off = 2 if s == 0 else 0
        sign = 1 if s == 0 else -1
        n = st[S_N + s]
        kk = st[S_KNOWN + s]
        got = 0
        for j in range(depth):
            idx = n - 1 - j
            if idx < 0 or lk[s, idx] < kk:
                break
            cur[4 * j + off] = sign * lk[s, idx]
            cur[4 * j + off + 1] = lv[s, idx, 0]
            got += 1
        for j in range(got, depth):
            cur[4 * j + off] = 0
            cur[4 * j + off + 1] = 0
        st[S_SHOWN + s] = got
    st[S_CROSS] = 0
    if st[S_SHOWN] > 0 and st[S_SHOWN_ASK] > 0:
        if cur[2] > cur[0]:
            st[S_CROSS] = 1
        elif cur[2] == cur[0]:
            st[S_CROSS] = 2
    st[S_DIRTY] = 0


@njit(cache=True, inline="always")
def _rest(used, keys, vals, lk, lv, st, slot, key, s, sign, price, q, tse, seq, act):
    """A new resting order in free `slot`: the order table, its priority, its level."""
    used[slot] = 1
    keys[slot] = key
    vals[slot, V_SIDE] = s
    vals[slot, V_PRICE] = price
    vals[slot, V_SIZE] = q
    vals[slot, V_PRIO] = st[S_PRIO]
    vals[slot, V_TS] = tse
    vals[slot, V_SEQ] = seq
    vals[slot, V_ACT] = act
    vals[slot, V_QTY] = q
    st[S_PRIO] += 1
    st[S_ORDERS] += 1
    _change(lk, lv, st, s, sign * price, q, q, 1)


@njit(cache=True, nogil=True)
def _run(ts, act, side, price, size, oid, tse, seq,
         bk, present, depth_l,
         used, keys, vals, lk, lv, st, sk, sv, counts,
         cur, out, filled, status, depth, start):
    """Apply events `start`.. and write the top `depth` levels after each; stop early (returning
    the index reached) when the order table or the level arrays need to grow."""
    n_events = ts.shape[0]
    cap = keys.shape[0]
    mask = cap - 1
    shift = st[S_SHIFT]
    level_cap = lk.shape[1]
    for i in range(start, n_events):
        if 2 * (st[S_ORDERS] + 1) > cap:
            return i
        if st[S_N] + depth_l + 2 > level_cap or st[S_N_ASK] + depth_l + 2 > level_cap:
            return i
        a = act[i]
        sd = side[i]
        s = 0 if sd > 0 else 1
        sign = 1 if sd > 0 else -1
        q = size[i]
        key = oid[i]
        code = OK
        if a == ADD:
            counts[C_ADDS] += 1
            slot = _slot(used, keys, key, shift, mask)
            if slot >= 0:
                if (seq[i] >= 0 and vals[slot, V_ACT] == ADD and vals[slot, V_TS] == tse[i]
                        and vals[slot, V_SEQ] == seq[i] and vals[slot, V_QTY] == q):
                    code = DUPLICATE
                else:
                    code = REJECT_LIVE_ID
            elif sd == 0:
                code = REJECT_NO_SIDE
            elif q <= 0:
                code = REJECT_SIZE
            else:
                _rest(used, keys, vals, lk, lv, st, -slot - 1, key, s, sign, price[i], q,
                      tse[i], seq[i], ADD)
        elif a == REDUCE or a == DELETE:  # noqa: SIM109 -- compiled: plain comparisons
            if a == REDUCE:
                counts[C_REDUCES] += 1
            else:
                counts[C_DELETES] += 1
            slot = _slot(used, keys, key, shift, mask)
            if slot >= 0:
                if (seq[i] >= 0 and vals[slot, V_ACT] == a and vals[slot, V_TS] == tse[i]
                        and vals[slot, V_SEQ] == seq[i] and vals[slot, V_QTY] == q):
                    code = DUPLICATE
                else:
                    os_ = vals[slot, V_SIDE]
                    okey = vals[slot, V_PRICE] if os_ == 0 else -vals[slot, V_PRICE]
                    left = vals[slot, V_SIZE]
                    r = left if (a == DELETE or q >= left) else q
                    if r < 0:
                        r = 0
                    if r == left:
                        _change(lk, lv, st, os_, okey, -r, -r, -1)
                        _drop(used, keys, vals, slot, shift, mask)
                        st[S_ORDERS] -= 1
                    else:
                        _change(lk, lv, st, os_, okey, -r, -r, 0)
                        vals[slot, V_SIZE] = left - r
                        vals[slot, V_TS] = tse[i]
                        vals[slot, V_SEQ] = seq[i]
                        vals[slot, V_ACT] = a
                        vals[slot, V_QTY] = q
            elif sd != 0:
                code = _fallback(lk, lv, st, s, sign * price[i], q)
            else:
                code = IGNORED
        elif a == MODIFY:
            counts[C_MODIFIES] += 1
            slot = _slot(used, keys, key, shift, mask)
            if slot >= 0:
                if (seq[i] >= 0 and vals[slot, V_ACT] == MODIFY and vals[slot, V_TS] == tse[i]
                        and vals[slot, V_SEQ] == seq[i] and vals[slot, V_QTY] == q
                        and vals[slot, V_PRICE] == price[i]):
                    code = DUPLICATE
                else:
                    os_ = vals[slot, V_SIDE]
                    old_price = vals[slot, V_PRICE]
                    left = vals[slot, V_SIZE]
                    _change(lk, lv, st, os_, old_price if os_ == 0 else -old_price,
                            -left, -left, -1)
                    if q <= 0:
                        _drop(used, keys, vals, slot, shift, mask)
                        st[S_ORDERS] -= 1
                    else:
                        ns = os_ if sd == 0 else s
                        if price[i] != old_price or q > left or ns != os_:
                            vals[slot, V_PRIO] = st[S_PRIO]
                            st[S_PRIO] += 1
                        vals[slot, V_SIDE] = ns
                        vals[slot, V_PRICE] = price[i]
                        vals[slot, V_SIZE] = q
                        vals[slot, V_TS] = tse[i]
                        vals[slot, V_SEQ] = seq[i]
                        vals[slot, V_ACT] = MODIFY
                        vals[slot, V_QTY] = q
                        _change(lk, lv, st, ns, price[i] if ns == 0 else -price[i], q, q, 1)
            elif sd == 0:
                code = REJECT_NO_SIDE
            elif q <= 0:
                code = IGNORED
            else:  # a modify of an order never seen: it rests from now on, as an add would
                _rest(used, keys, vals, lk, lv, st, -slot - 1, key, s, sign, price[i], q,
                      tse[i], seq[i], MODIFY)
                code = FALLBACK
        elif a == CLEAR:
            counts[C_CLEARS] += 1
            used[:] = 0
            st[S_ORDERS] = 0
            st[S_N] = 0
            st[S_N_ASK] = 0
            st[S_KNOWN] = MIN_KEY
            st[S_KNOWN_ASK] = MIN_KEY
            st[S_DIRTY] = 1
        elif a == TRADE:
            counts[C_TRADES] += 1
        elif a == HALT:
            counts[C_HALTS] += 1
        status[i] = code
        if code == FALLBACK:
            counts[C_FALLBACK] += 1
        elif code == IGNORED:
            counts[C_IGNORED] += 1
        elif code == DUPLICATE:
            counts[C_DUPLICATES] += 1
        elif code >= REJECT_NO_SIDE:
            counts[C_REJECTED] += 1

        if depth_l > 0:
            if present[i]:
                d0 = _reconcile(lk, lv, st, 0, bk, i, depth_l, sk, sv, counts)
                d1 = _reconcile(lk, lv, st, 1, bk, i, depth_l, sk, sv, counts)
                if d0 or d1:
                    counts[C_MISMATCH] += 1
            else:
                counts[C_ROWS_MISSING] += 1

        # the row (ask_price_j, ask_size_j, bid_price_j, bid_size_j), recomputed only when an
        # event touched the top `depth` levels
        if st[S_DIRTY]:
            _top(lk, lv, st, cur, depth)
        for c in range(4 * depth):
            out[c, i] = cur[c]
        filled[0, i] = st[S_SHOWN]
        filled[1, i] = st[S_SHOWN_ASK]
        if st[S_CROSS] == 1:
            counts[C_CROSSED] += 1
        elif st[S_CROSS] == 2:
            counts[C_LOCKED] += 1
    return n_events


@njit(cache=True)
def _rehash(used, keys, vals, new_used, new_keys, new_vals, shift):
    mask = new_keys.shape[0] - 1
    for h in range(keys.shape[0]):
        if used[h]:
            slot = -_slot(new_used, new_keys, keys[h], shift, mask) - 1
            new_used[slot] = 1
            new_keys[slot] = keys[h]
            for c in range(8):
                new_vals[slot, c] = vals[h, c]


# -- the Python side ------------------------------------------------------------------------------


ORDERS_SCHEMA = pa.schema([
    pa.field("order_id", pa.uint64(), nullable=False), pa.field("side", pa.int8(), nullable=False),
    pa.field("price", pa.int64(), nullable=False), pa.field("size", pa.int64(), nullable=False),
    pa.field("priority", pa.int64(), nullable=False),
])
LEVELS_SCHEMA = pa.schema([
    pa.field("side", pa.int8(), nullable=False), pa.field("price", pa.int64(), nullable=False),
    pa.field("size", pa.int64(), nullable=False), pa.field("orders", pa.int32(), nullable=False),
])
CHECKPOINT_VERSION = 1
CHECKPOINT_SCHEMA = pa.schema([
    pa.field("kind", pa.string(), nullable=False),        # "order" | "level"
    pa.field("side", pa.int8(), nullable=False),
    pa.field("price", pa.int64(), nullable=False),
    pa.field("size", pa.int64(), nullable=False),
    pa.field("order_id", pa.uint64()),                    # orders only
    pa.field("priority", pa.int64()),                     # orders only
    pa.field("orders", pa.int32()),                       # levels only
], metadata={"salvage.table": "book_checkpoint",
             "salvage.schema_version": str(CHECKPOINT_VERSION)})


def _optional(value: bytes | None) -> int | None:
    return None if value in (None, b"") else int(value)


@dataclass
class Checkpoint:
    """A book's whole state: every resting order, every level (with quantity known only as a
    level), and down to which prices the levels are exact (None: all of them)."""

    ts: int
    events: int
    orders: pa.Table
    levels: pa.Table
    known_bid: int | None = None
    known_ask: int | None = None
    next_priority: int = 0
    price_scale: int = 1

    def to_table(self) -> pa.Table:
        n_o, n_l = self.orders.num_rows, self.levels.num_rows
        orders = self.orders.cast(ORDERS_SCHEMA)
        levels = self.levels.cast(LEVELS_SCHEMA)
        meta = dict(CHECKPOINT_SCHEMA.metadata)
        meta.update({b"salvage.ts": str(self.ts), b"salvage.events": str(self.events),
                     b"salvage.known_bid": "" if self.known_bid is None else str(self.known_bid),
                     b"salvage.known_ask": "" if self.known_ask is None else str(self.known_ask),
                     b"salvage.next_priority": str(self.next_priority),
                     b"salvage.price_scale": str(self.price_scale)})
        return pa.table({
            "kind": pa.array(["order"] * n_o + ["level"] * n_l, pa.string()),
            "side": pa.concat_arrays([orders["side"].combine_chunks(),
                                      levels["side"].combine_chunks()]),
            "price": pa.concat_arrays([orders["price"].combine_chunks(),
                                       levels["price"].combine_chunks()]),
            "size": pa.concat_arrays([orders["size"].combine_chunks(),
                                      levels["size"].combine_chunks()]),
            "order_id": pa.concat_arrays([orders["order_id"].combine_chunks(),
                                          pa.nulls(n_l, pa.uint64())]),
            "priority": pa.concat_arrays([orders["priority"].combine_chunks(),
                                          pa.nulls(n_l, pa.int64())]),
            "orders": pa.concat_arrays([pa.nulls(n_o, pa.int32()),
                                        levels["orders"].combine_chunks()]),
        }, schema=CHECKPOINT_SCHEMA.with_metadata(meta))

    @classmethod
    def from_table(cls, table: pa.Table) -> Checkpoint:
        meta = table.schema.metadata or {}
        if meta.get(b"salvage.table") != b"book_checkpoint":
            raise ValueError("not a book checkpoint table (salvage.table != book_checkpoint)")
        is_order = np.asarray(table["kind"].to_numpy(zero_copy_only=False) == "order")
        orders = table.filter(pa.array(is_order)).select(
            ["order_id", "side", "price", "size", "priority"]).cast(ORDERS_SCHEMA)
        levels = table.filter(pa.array(~is_order)).select(
            ["side", "price", "size", "orders"]).cast(LEVELS_SCHEMA)
        return cls(ts=int(meta[b"salvage.ts"]), events=int(meta[b"salvage.events"]),
                   orders=orders, levels=levels,
                   known_bid=_optional(meta.get(b"salvage.known_bid")),
                   known_ask=_optional(meta.get(b"salvage.known_ask")),
                   next_priority=int(meta.get(b"salvage.next_priority", b"0")),
                   price_scale=int(meta.get(b"salvage.price_scale", b"1")))


def _validity(mask: np.ndarray) -> tuple[pa.Buffer | None, int]:
    nulls = int(len(mask) - np.count_nonzero(mask))
    if nulls == 0:
        return None, 0
    return pa.py_buffer(np.packbits(mask, bitorder="little")), nulls


class Book:
    """One instrument's order book (see the module's docstring)."""

    def __init__(self, depth: int = 10, price_scale: int = 1) -> None:
        if depth < 1:
            raise ValueError("depth must be at least 1")
        self.depth = depth
        self.price_scale = price_scale
        self._used = np.zeros(1024, dtype=np.uint8)
        self._keys = np.zeros(1024, dtype=np.uint64)
        self._vals = np.zeros((1024, 8), dtype=np.int64)
        self._lk = np.zeros((2, 256), dtype=np.int64)
        self._lv = np.zeros((2, 256, 3), dtype=np.int64)
        self._sk = np.zeros(256, dtype=np.int64)
        self._sv = np.zeros((256, 2), dtype=np.int64)
        self._st = np.zeros(12, dtype=np.int64)
        self._st[S_KNOWN] = self._st[S_KNOWN_ASK] = MIN_KEY
        self._st[S_SHIFT] = 64 - 10
        self._st[S_TOP] = depth
        self._st[S_DIRTY] = 1
        self._cur = np.zeros(4 * depth, dtype=np.int64)
        self._counts = np.zeros(len(COUNTERS), dtype=np.int64)
        self.events = 0
        self.ts: int | None = None
        self.snapshot_events = 0
        self.maybe_bad_book = 0
        self.errors: list[RejectedEvent] = []
        self.schema = book_rows_schema(depth)

    # -- state growth -----------------------------------------------------------------------

    def _grow_orders(self, at_least: int) -> None:
        cap = len(self._keys)
        while 2 * (at_least + 1) > cap:
            cap *= 2
        if cap == len(self._keys):
            return
        used = np.zeros(cap, dtype=np.uint8)
        keys = np.zeros(cap, dtype=np.uint64)
        vals = np.zeros((cap, 8), dtype=np.int64)
        shift = 64 - int(cap).bit_length() + 1
        _rehash(self._used, self._keys, self._vals, used, keys, vals, shift)
        self._used, self._keys, self._vals = used, keys, vals
        self._st[S_SHIFT] = shift

    def _grow_levels(self, at_least: int) -> None:
        cap = self._lk.shape[1]
        while at_least > cap:
            cap *= 2
        if cap == self._lk.shape[1]:
            return
        lk = np.zeros((2, cap), dtype=np.int64)
        lv = np.zeros((2, cap, 3), dtype=np.int64)
        old = self._lk.shape[1]
        lk[:, :old] = self._lk
        lv[:, :old] = self._lv
        self._lk, self._lv = lk, lv
        self._sk = np.zeros(cap, dtype=np.int64)
        self._sv = np.zeros((cap, 2), dtype=np.int64)

    # -- applying events --------------------------------------------------------------------

    def apply(self, batch: pa.RecordBatch, book: pa.Table | pa.RecordBatch | None = None
              ) -> pa.RecordBatch:
        """Apply an EVENTS batch; return the top `depth` levels after each event (one row per
        event, input order). `book`: orderbook rows aligned with the batch (ask_price_1, ...,
        and optionally a boolean `present`), as LOBSTER's orderbook file gives them."""
        n = batch.num_rows
        if n == 0:
            return pa.RecordBatch.from_pylist([], schema=self.schema)
        ts = _np(batch.column("ts"))
        act = _np(batch.column("action"))
        side = _np(batch.column("side"))
        price = _np(batch.column("price"), 0)
        size = _np(batch.column("size"), 0)
        oid = _np(batch.column("order_id"), 0)
        tse = _np(batch.column("ts_event"), -1)
        seq = _np(batch.column("sequence"), -1)
        if book is not None:
            names = [c for c in book.column_names if c != "present"]
            depth_l = len(names) // 4
            bk = np.empty((4 * depth_l, n), dtype=np.int64)
            for c, name in enumerate(names):
                bk[c] = _np(book.column(name), 0)
            if "present" in book.column_names:
                present = _np(book.column("present"), False).astype(np.bool_)
            else:
                present = np.ones(n, dtype=np.bool_)
        else:
            depth_l = 0
            bk = np.zeros((0, 0), dtype=np.int64)
            present = np.zeros(0, dtype=np.bool_)
        # the rows go straight into Arrow's memory pool (it keeps freed pages for the next batch)
        width = 4 * self.depth
        rows = pa.allocate_buffer(width * n * 8)
        out = np.frombuffer(rows, dtype=np.int64).reshape(width, n)
        filled = np.empty((2, n), dtype=np.int32)
        status = np.zeros(n, dtype=np.uint8)
        i = 0
        while True:
            i = _run(ts, act, side, price, size, oid, tse, seq, bk, present, depth_l,
                     self._used, self._keys, self._vals, self._lk, self._lv, self._st,
                     self._sk, self._sv, self._counts, self._cur, out, filled, status,
                     self.depth, i)
            if i >= n:
                break
            self._grow_orders(int(self._st[S_ORDERS]) + 1)
            self._grow_levels(int(max(self._st[S_N], self._st[S_N_ASK])) + depth_l + 3)
        self.events += n
        self.ts = int(ts[-1])
        flags = _np(batch.column("flags"), 0)
        self.snapshot_events += int(np.count_nonzero(flags & F_SNAPSHOT))
        self.maybe_bad_book += int(np.count_nonzero(flags & F_MAYBE_BAD_BOOK))
        if (status >= REJECT_NO_SIDE).any():
            lines = _np(batch.column("line"))
            for k in np.flatnonzero(status >= REJECT_NO_SIDE):
                self.errors.append(RejectedEvent(int(lines[k]), REASONS[int(status[k])]))
        arrays = [batch.column("ts")]
        for j in range(self.depth):
            ask_ok, ask_nulls = _validity(filled[1] > j)
            bid_ok, bid_nulls = _validity(filled[0] > j)
            for c, (valid, nulls) in enumerate([(ask_ok, ask_nulls), (ask_ok, ask_nulls),
                                                (bid_ok, bid_nulls), (bid_ok, bid_nulls)]):
                column = rows.slice((4 * j + c) * n * 8, n * 8)
                arrays.append(pa.Array.from_buffers(pa.int64(), n, [valid, column],
                                                    null_count=nulls))
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)

    @property
    def counts(self) -> dict[str, int]:
        counts = {"events": self.events, "rows": self.events}
        counts.update({name: int(v) for name, v in zip(COUNTERS, self._counts, strict=True)})
        counts["snapshot_events"] = self.snapshot_events
        counts["maybe_bad_book"] = self.maybe_bad_book
        return counts

    # -- reading the state ------------------------------------------------------------------

    def _side_levels(self, s: int, depth: int | None, known_only: bool):
        n = int(self._st[S_N + s])
        keys = self._lk[s, :n][::-1]
        vals = self._lv[s, :n][::-1]
        if known_only:
            inside = keys >= self._st[S_KNOWN + s]
            keys, vals = keys[inside], vals[inside]
        if depth is not None:
            keys, vals = keys[:depth], vals[:depth]
        prices = keys if s == 0 else -keys
        return prices, vals

    def levels(self, depth: int | None = None) -> pa.Table:
        """The book's levels (exact ones only: see the module's docstring), bids then asks,
        best first: side, level (1 = best), price, size, orders (known resting orders)."""
        parts = []
        for s, code in ((0, BID), (1, ASK)):
            prices, vals = self._side_levels(s, depth, known_only=True)
            parts.append(pa.table({
                "side": pa.array(np.full(len(prices), code, dtype=np.int8)),
                "level": pa.array(np.arange(1, len(prices) + 1, dtype=np.int32)),
                "price": pa.array(prices.copy()), "size": pa.array(vals[:, L_SIZE].copy()),
                "orders": pa.array(vals[:, L_ORDERS].astype(np.int32))}))
        return pa.concat_tables(parts)

    def checkpoint(self) -> Checkpoint:
        slots = np.flatnonzero(self._used)
        vals = self._vals[slots]
        order = np.lexsort((vals[:, V_PRIO], vals[:, V_PRICE], vals[:, V_SIDE]))
        slots, vals = slots[order], vals[order]
        orders = pa.table({
            "order_id": pa.array(self._keys[slots]),
            "side": pa.array(np.where(vals[:, V_SIDE] == 0, BID, ASK).astype(np.int8)),
            "price": pa.array(vals[:, V_PRICE].copy()), "size": pa.array(vals[:, V_SIZE].copy()),
            "priority": pa.array(vals[:, V_PRIO].copy())}, schema=ORDERS_SCHEMA)
        parts = []
        for s, code in ((0, BID), (1, ASK)):
            prices, lvals = self._side_levels(s, None, known_only=False)
            parts.append(pa.table({
                "side": pa.array(np.full(len(prices), code, dtype=np.int8)),
                "price": pa.array(prices.copy()), "size": pa.array(lvals[:, L_SIZE].copy()),
                "orders": pa.array(lvals[:, L_ORDERS].astype(np.int32))}, schema=LEVELS_SCHEMA))
        kb, ka = int(self._st[S_KNOWN]), int(self._st[S_KNOWN_ASK])
        return Checkpoint(
            ts=self.ts if self.ts is not None else 0, events=self.events, orders=orders,
            levels=pa.concat_tables(parts),
            known_bid=None if kb == MIN_KEY else kb,
            known_ask=None if ka == MIN_KEY else -ka,
            next_priority=int(self._st[S_PRIO]), price_scale=self.price_scale)

    @classmethod
    def from_checkpoint(cls, cp: Checkpoint, depth: int) -> Book:
        """A book in the state `cp` holds; its counters start at zero, `events` goes on."""
        book = cls(depth, cp.price_scale)
        orders = cp.orders.cast(ORDERS_SCHEMA)
        n = orders.num_rows
        book._grow_orders(n + 1)
        if n:
            vals = np.zeros((n, 8), dtype=np.int64)
            sides = orders["side"].to_numpy()
            vals[:, V_SIDE] = np.where(sides == BID, 0, 1)
            vals[:, V_PRICE] = orders["price"].to_numpy()
            vals[:, V_SIZE] = orders["size"].to_numpy()
            vals[:, V_PRIO] = orders["priority"].to_numpy()
            vals[:, V_TS] = -1
            vals[:, V_SEQ] = -1
            ids = orders["order_id"].to_numpy()
            _rehash(np.ones(n, dtype=np.uint8), ids, vals, book._used, book._keys, book._vals,
                    int(book._st[S_SHIFT]))
            book._st[S_ORDERS] = n
        levels = cp.levels.cast(LEVELS_SCHEMA)
        sides = levels["side"].to_numpy()
        most = max(int((sides == BID).sum()), int((sides == ASK).sum()))
        book._grow_levels(most + 8)
        for s, code in ((0, BID), (1, ASK)):
            mine = sides == code
            prices = levels["price"].to_numpy()[mine]
            keys = prices if s == 0 else -prices
            order = np.argsort(keys, kind="stable")
            k = len(keys)
            book._lk[s, :k] = keys[order]
            book._lv[s, :k, L_SIZE] = levels["size"].to_numpy()[mine][order]
            book._lv[s, :k, L_ORDERS] = levels["orders"].to_numpy()[mine][order]
            book._st[S_N + s] = k
        # the known size of each level: what its orders add up to
        if n:
            for s, code in ((0, BID), (1, ASK)):
                mine = orders["side"].to_numpy() == code
                prices = orders["price"].to_numpy()[mine]
                sizes = orders["size"].to_numpy()[mine]
                keys = prices if s == 0 else -prices
                k = int(book._st[S_N + s])
                idx = np.searchsorted(book._lk[s, :k], keys)
                ok = (idx < k) & (book._lk[s, np.minimum(idx, k - 1)] == keys) if k else \
                    np.zeros(len(keys), dtype=bool)
                np.add.at(book._lv[s, :, L_KNOWN], idx[ok], sizes[ok])
        book._st[S_KNOWN] = MIN_KEY if cp.known_bid is None else cp.known_bid
        book._st[S_KNOWN_ASK] = MIN_KEY if cp.known_ask is None else -cp.known_ask
        book._st[S_PRIO] = cp.next_priority
        book._st[S_DIRTY] = 1
        book.events = cp.events
        book.ts = cp.ts
        return book


def _np(col: pa.Array | pa.ChunkedArray, fill=None) -> np.ndarray:
    """A column as numpy, nulls replaced by `fill`."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if col.null_count == len(col) and fill is not None:
        return np.full(len(col), fill, dtype=col.type.to_pandas_dtype())
    if col.null_count:
        col = col.fill_null(fill)
    return col.to_numpy(zero_copy_only=False)
