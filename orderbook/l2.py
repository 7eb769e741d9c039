"""Exchange L2 (market-by-price) delta feeds captured as JSON lines: Binance, Coinbase, Kraken.

Lines. Each line is one venue message, in one of three forms: bare JSON (`{...}` or `[...]`); a
capture envelope `{"localTimestamp": <ISO 8601 | integer ns>, "message": {...}}` (tardis.dev
style; a `message` that is a string is parsed again); or the text form `<ISO 8601> <JSON>`. A
`.gz` file is read through gzip. `ts` is the local receive time when the line gives one, else the
venue's event time, else the last time seen (before any, the first that follows; a file with
none gets 0 and F_BAD_TS_RECV); `ts_event` is the venue's: Binance "E" (ms), Coinbase the message
"timestamp", Kraken v2 the data "timestamp", Kraken v1 the newest level's timestamp (decimal
seconds). JSON is parsed with `parse_float=str` and every price and quantity is read from its
decimal text, never through float: prices in 1e-9 units, sizes in 1e-8 (`FeedInfo.size_scale`).
A value with a non-zero digit past the scale, a negative or beyond int64, a line that is not
JSON, or a book message missing a field it needs is a MalformedRow with its line: skipped,
reading goes on. Blank lines are counted (`blank_lines`); other messages (heartbeats, acks,
trades) are counted as `skipped`.

binance: depth diffs `{"e": "depthUpdate", "E": ms, "s": "BTCUSDT", "U": first, "u": last,
    "pu": previous last (futures only), "b": [[price, qty], ...], "a": [...]}`, bare or in a
    combined-stream wrapper `{"stream": ..., "data": {...}}`; REST snapshots recorded in the same
    file as `{"lastUpdateId": L, "bids": [[p, q], ...], "asks": [...]}` (optionally "symbol";
    else the stream name's prefix, else the feed's one symbol). Quantities are absolute; "0"
    removes the level. Sync as Binance documents it: diffs are buffered (not emitted) until a
    snapshot; diffs with u <= L are dropped; the first applied diff must have U <= L+1 <= u
    (futures: pu == L or U <= L <= u); then each diff's U == previous u + 1 (futures: pu ==
    previous u). The snapshot rows carry the snapshot plus the buffered diffs past L.
coinbase: Advanced Trade `level2`: `{"channel": "l2_data", "timestamp": ..., "sequence_num": N,
    "events": [{"type": "snapshot" | "update", "product_id": "BTC-USD", "updates": [{"side":
    "bid" | "offer", "event_time": ..., "price_level": ..., "new_quantity": ...}]}]}`.
    sequence_num counts every message of the connection (any channel): a jump is a gap, a repeat
    or a lower number a duplicate (skipped, counted), 0 after more a new connection.
kraken: v2 `{"channel": "book", "type": "snapshot" | "update", "data": [{"symbol": "BTC/USD",
    "bids": [{"price": .., "qty": ..}], "asks": [..], "checksum": N, "timestamp": ..}]}` and v1
    `[chanId, {"as": [[p, v, ts], ..], "bs": [..]}, "book-10", "XBT/USD"]` (snapshot) or
    `[chanId, {"a": [[p, v, ts(, "r")], ..]}, {"b": [..], "c": "checksum"}, "book-10", "XBT/USD"]`
    (update; one or two dicts). Depth: the `depth` argument, else the subscription ack, else
    "book-N" in the channel name, else the snapshot's level count. After each message the sides
    are cut to the depth (a level pushed out gets a DELETE, raw_action "X") and the checksum is
    compared over the top 10 using each level's own price and quantity text.

Events (one instrument = one book; instrument_id 1, 2, ... per symbol in first-seen order, counted
over the whole file even when `symbol` keeps one). A level is one synthetic order, order_id =
(price << 1) | (1 for asks): a new level is an ADD, a changed size a MODIFY, quantity 0 (or cut
by the depth) a DELETE; an unchanged size emits nothing. A snapshot is a CLEAR (raw "C") then
ADDs (raw "S"), all F_SNAPSHOT; updates are raw "U". The last row of each message for each
instrument has F_LAST. `sequence` is Binance u (snapshot rows: lastUpdateId), Coinbase
sequence_num, Kraken null; `line` the 1-based line in the row's source file; channel null.

Integrity (`findings`, FeedFinding): a break in continuity is a `sequence_gap` plus an
`unknown_state` window from that message to the next usable snapshot, whose rows carry
F_MAYBE_BAD_BOOK (the diffs still apply: they are absolute levels); a Binance snapshot older than
the diffs that must follow it is `stale_snapshot`; a usable snapshot after a window is `resynced`
(the window closes at the message before); a snapshot met while the book is believed exact is
compared with it (Binance: at the same update id, down to the snapshot's last price per side) ->
`snapshot_verified` or `snapshot_mismatch` (the snapshot then replaces the book); a Kraken checksum
that differs is `checksum_mismatch` plus an `unknown_state` window until the next snapshot.

A/B: several Binance captures of one stream are merged by `orderbook.arbitrate` on the diffs'
update ids (spot U..u, futures pu+1..u); the other lines of a capture (snapshots, acks) ride
with the next diff of their file. `filled` findings name what each capture lacked and another
supplied; what none had stays a `sequence_gap`. One symbol per merge (`symbol`, else the first).
"""

from __future__ import annotations

import calendar
import gzip
import heapq
import json
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date as Date
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from orderbook.arbitrate import Arbitration, Message, arbitrate
from orderbook.checksum import kraken_checksum
from orderbook.events import (
    ADD,
    ASK,
    BID,
    CLEAR,
    DELETE,
    EVENTS,
    F_BAD_TS_RECV,
    F_LAST,
    F_MAYBE_BAD_BOOK,
    F_SNAPSHOT,
    MODIFY,
    NO_SIDE,
    Feed,
    FeedFinding,
    FeedInfo,
    MalformedRow,
    UnreadableFeed,
)

PRICE_SCALE = 10**9
SIZE_SCALE = 10**8
PRICE_DIGITS, SIZE_DIGITS = 9, 8
VENUES = ("binance", "coinbase", "kraken")
MAX_BUFFERED = 10_000       # Binance diffs kept per symbol while the book waits for a snapshot
KRAKEN_TOP = 10
U64 = (1 << 64) - 1
INT64 = 1 << 63

WAIT, LIVE, UNKNOWN = 0, 1, 2       # no book yet; book believed exact; book known only in part
OLD, JOINS, GAP = 0, 1, 2           # a diff against the last update id applied

COUNTS = ("messages", "snapshots", "updates", "skipped", "duplicates", "other_symbols", "events",
          "buffered", "dropped", "buffer_overflow", "sequence_gaps", "connections",
          "stale_snapshots", "resyncs", "snapshots_verified", "snapshots_mismatched",
          "snapshots_unverified", "checksums_ok", "checksum_mismatches", "checksums_skipped",
          "truncated", "zero_for_absent_level", "malformed")

Level = tuple[int, int, int, str, str]      # side, price, size, price text, quantity text


# -- values ---------------------------------------------------------------------------------------

_DECIMAL = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]{1,4}))?")
_ISO = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2}):([0-9]{2})"
                  r"(?:[.,]([0-9]+))?(Z|z|[+-][0-9]{2}:?[0-9]{2})?")


def units(text: str, digits: int) -> int:
    """A decimal's text as an integer count of 10**-digits, exactly; ValueError when it has a
    non-zero digit past that, is not a decimal, or leaves int64."""
    m = _DECIMAL.fullmatch(text)
    if m is None or not (m[2] or m[3]):
        raise ValueError("not a decimal number")
    whole, frac = m[2], m[3] or ""
    value = int(whole + frac or "0")
    shift = digits - len(frac) + int(m[4] or 0)
    if shift >= 0:
        value *= 10**shift
    else:
        value, rest = divmod(value, 10**-shift)
        if rest:
            raise ValueError(f"more than {digits} decimals")
    if m[1] == "-":
        value = -value
    if not -INT64 <= value < INT64:
        raise ValueError("beyond int64")
    return value


def iso_ns(text: str) -> int:
    """ISO 8601 text (no zone: UTC) as nanoseconds since the epoch, exactly."""
    m = _ISO.fullmatch(text)
    if m is None:
        raise ValueError(f"{text!r} is not an ISO 8601 time")
    parts = [int(m[k]) for k in range(1, 7)]
    datetime(*parts)  # only checks the fields: ValueError for a bad date
    secs = calendar.timegm((*parts, 0, 0, 0))
    zone = m[8]
    if zone and zone not in "Zz":
        sign = -1 if zone[0] == "-" else 1
        hh, mm = int(zone[1:3]), int(zone[-2:])
        secs -= sign * (hh * 3600 + mm * 60)
    return secs * 1_000_000_000 + int((m[7] or "")[:9].ljust(9, "0"))


def time_ns(value: Any) -> int:
    """A capture's local time: integer nanoseconds (a number or digits) or ISO 8601 text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        return int(value) if value.isdigit() else iso_ns(value)
    raise ValueError(f"the local time {value!r} is neither ISO 8601 nor integer ns")


def _text(value: Any, what: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"{what} {value!r} is not a decimal")


def _level(side: int, price: Any, qty: Any) -> Level:
    ptxt, qtxt = _text(price, "price"), _text(qty, "quantity")
    try:
        p = units(ptxt, PRICE_DIGITS)
    except ValueError as e:
        raise ValueError(f"price {ptxt!r}: {e}") from None
    try:
        q = units(qtxt, SIZE_DIGITS)
    except ValueError as e:
        raise ValueError(f"quantity {qtxt!r}: {e}") from None
    if p < 0 or q < 0:
        raise ValueError(f"a negative price or quantity ({ptxt}, {qtxt})")
    return side, p, q, ptxt, qtxt


def _int(d: dict, key: str) -> int:
    if key not in d:
        raise ValueError(f'no "{key}"')
    v = d[key]
    if not isinstance(v, int) or isinstance(v, bool):
        raise ValueError(f'"{key}" is not an integer: {v!r}')
    return v


def _list(d: dict, key: str) -> list:
    v = d.get(key)
    if not isinstance(v, list):
        raise ValueError(f'no list "{key}"')
    return v


def _str(d: dict, key: str) -> str:
    v = d.get(key)
    if not isinstance(v, str) or not v:
        raise ValueError(f'no "{key}"')
    return v


def _json(text: str) -> Any:
    try:
        return json.loads(text, parse_float=str)
    except json.JSONDecodeError as e:
        raise ValueError(f"not JSON: {e.msg} (column {e.colno})") from None
    except RecursionError:
        raise ValueError("not JSON: nested too deeply") from None


def _envelope(text: str) -> tuple[int | None, Any]:
    """(local receive time or None, the venue message) of one line."""
    if text[0] in "{[":
        data = _json(text)
        if isinstance(data, dict) and "localTimestamp" in data and "message" in data:
            msg = data["message"]
            return time_ns(data["localTimestamp"]), _json(msg) if isinstance(msg, str) else msg
        return None, data
    head, _, rest = text.partition(" ")
    if not rest.strip():
        raise ValueError("neither JSON nor '<ISO 8601 time> <JSON>'")
    return iso_ns(head), _json(rest.strip())


def _oid(side: int, price: int) -> int:
    return ((price << 1) | (1 if side == ASK else 0)) & U64


# -- messages -------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Item:
    """One instrument's part of a venue message."""

    kind: str                       # "snapshot" | "update"
    symbol: str | None
    levels: list[Level]
    line: int
    ts_event: int | None = None
    first: int | None = None        # Binance U (diff), lastUpdateId (snapshot)
    last: int | None = None         # Binance u, lastUpdateId
    prev: int | None = None         # Binance futures pu
    checksum: int | None = None     # Kraken
    depth: int | None = None        # Kraken v1 "book-N"


@dataclass(slots=True)
class _Parsed:
    """One line: where it was, its receive time, what it says."""

    line: int
    source: int
    recv: int | None
    ts_event: int | None = None
    seq: int | None = None          # Coinbase sequence_num
    items: list[_Item] = field(default_factory=list)
    depth_hint: tuple[str | None, int] | None = None     # Kraken subscription ack


def _classify(diff: _Item, last: int) -> tuple[int, int, int]:
    """A Binance diff against the last update id applied (or a snapshot's): (OLD | JOINS | GAP,
    first missing id, last missing id)."""
    if diff.prev is not None and diff.prev == last:
        return JOINS, 0, 0
    if diff.last <= last:
        return OLD, 0, 0
    if diff.first <= last + 1:
        return JOINS, 0, 0
    if diff.prev is not None and diff.prev > last:
        return GAP, last + 1, diff.prev
    return GAP, last + 1, diff.first - 1


class _Book:
    """One symbol's levels (price -> (size, price text, quantity text)) and sync state."""

    __slots__ = ("iid", "name", "bids", "asks", "mode", "last_u", "last_ts", "buffer", "pending",
                 "unknown", "reported", "depth")

    def __init__(self, iid: int, name: str) -> None:
        self.iid = iid
        self.name = name
        self.bids: dict[int, tuple[int, str, str]] = {}
        self.asks: dict[int, tuple[int, str, str]] = {}
        self.mode = WAIT
        self.last_u: int | None = None
        self.last_ts: int | None = None
        self.buffer: deque[_Item] = deque()
        self.pending: tuple[_Item, int | None] | None = None   # a snapshot ahead of the diffs
        self.unknown: FeedFinding | None = None
        self.reported = False
        self.depth: int | None = None

    def side(self, side: int) -> dict[int, tuple[int, str, str]]:
        return self.bids if side == BID else self.asks


class _Rows:
    """EVENTS columns being filled, one list each."""

    def __init__(self) -> None:
        self.cols: list[list] = [[] for _ in range(12)]

    def __len__(self) -> int:
        return len(self.cols[0])

    def take(self, n: int) -> pa.RecordBatch:
        out = []
        for c in self.cols:
            out.append(c[:n])
            del c[:n]
        n = len(out[0])
        ts, tse, act, side, price, size, oid, flags, seq, line, raw, iid = out
        arrays = [pa.array(ts, pa.int64()), pa.array(tse, pa.int64()), pa.array(act, pa.uint8()),
                  pa.array(side, pa.int8()), pa.array(price, pa.int64()),
                  pa.array(size, pa.int64()), pa.array(oid, pa.uint64()),
                  pa.array(flags, pa.uint8()), pa.array(seq, pa.int64()),
                  pa.nulls(n, pa.int32()), pa.array(line, pa.int64()),
                  pa.array(raw, pa.string()), pa.array(iid, pa.uint32())]
        return pa.RecordBatch.from_arrays(arrays, schema=EVENTS)


# -- the feed -------------------------------------------------------------------------------------


class L2Feed(Feed):
    """A venue's L2 capture (one file, or A/B captures of one Binance stream) as EVENTS."""

    def __init__(self, paths: list[Path], venue: str, symbol: str | None, date: Date | None,
                 depth: int | None, batch_rows: int) -> None:
        super().__init__(FeedInfo("l2", PRICE_SCALE, symbol, venue, date, size_scale=SIZE_SCALE))
        self.paths = paths
        self.path = paths[0]
        self.venue = venue
        self.symbol = symbol
        self.depth = depth
        self.batch_rows = max(1, batch_rows)
        self.arbitration: Arbitration | None = None
        self._reset()

    # -- public -------------------------------------------------------------------------------

    def for_symbol(self, symbol: str) -> L2Feed:
        return read_l2(self.paths, self.venue, symbol=symbol, date=self.info.date,
                       depth=self.depth, batch_rows=self.batch_rows)

    def symbols(self) -> pa.Table:
        """instrument_id, symbol, events of every symbol seen (one pass over the file)."""
        feed = L2Feed(self.paths, self.venue, self.symbol if len(self.paths) > 1 else None,
                      self.info.date, self.depth, self.batch_rows)
        events: dict[int, int] = {}
        for batch in feed.batches():
            counted = pc.value_counts(batch.column("instrument_id"))
            for row in counted.to_pylist():
                events[row["values"]] = events.get(row["values"], 0) + row["counts"]
        ids = sorted(feed._ids.items(), key=lambda kv: kv[1])
        return pa.table({"instrument_id": pa.array([i for _, i in ids], pa.uint32()),
                         "symbol": pa.array([s for s, _ in ids], pa.string()),
                         "events": pa.array([events.get(i, 0) for _, i in ids], pa.int64())})

    def levels(self, symbol: str | None = None, depth: int | None = None) -> pa.Table:
        """The reader's own book now (after the messages read so far): side, level (1 = best),
        price, size — bids then asks, best first. `symbol` may be left out when there is one."""
        if symbol is None:
            if len(self._books) != 1:
                raise ValueError(f"{len(self._books)} books: name the symbol")
            st = next(iter(self._books.values()))
        else:
            st = self._books[symbol]
        parts = {"side": [], "level": [], "price": [], "size": []}
        for code, prices in ((BID, sorted(st.bids, reverse=True)), (ASK, sorted(st.asks))):
            book = st.side(code)
            for k, p in enumerate(prices[:depth] if depth else prices, start=1):
                parts["side"].append(code)
                parts["level"].append(k)
                parts["price"].append(p)
                parts["size"].append(book[p][0])
        return pa.table({"side": pa.array(parts["side"], pa.int8()),
                         "level": pa.array(parts["level"], pa.int32()),
                         "price": pa.array(parts["price"], pa.int64()),
                         "size": pa.array(parts["size"], pa.int64())})

    def batches(self) -> Iterator[pa.RecordBatch]:
        self._reset()
        for parsed in self._stream():
            self._message(parsed)
            yield from self._ready(final=False)
        self._finish()
        yield from self._ready(final=True)

    # -- state --------------------------------------------------------------------------------

    def _reset(self) -> None:
        self.errors = []
        self.findings = []
        self.blank_lines = 0
        self.counts: dict[str, int] = dict.fromkeys(COUNTS, 0)
        self.seen_symbols: set[str] = set()
        self.arbitration = None
        self._books: dict[str, _Book] = {}
        self._ids: dict[str, int] = {}
        self._want = self.symbol.upper() if self.symbol else None
        self._rows = _Rows()
        self._last_row: dict[int, int] = {}
        self._ctx: tuple[int | None, int | None, int | None, int] = (None, None, None, 0)
        self._last_ts: int | None = None
        self._untimed = False
        self._prev: tuple[int, int | None] = (0, None)     # the last message: line, ts
        self._seq: int | None = None                       # Coinbase: last sequence_num
        self._seq_ts: int | None = None
        self._hints: dict[str | None, int] = {}            # Kraken depth by symbol (None: all)
        self._orphan: _Parsed | None = None                # a Binance snapshot naming no symbol

    def _ready(self, final: bool) -> Iterator[pa.RecordBatch]:
        if self._untimed and not final:
            return
        while len(self._rows) >= self.batch_rows or (final and len(self._rows)):
            yield self._rows.take(self.batch_rows)

    # -- reading lines ------------------------------------------------------------------------

    def _stream(self) -> Iterator[_Parsed]:
        if len(self.paths) == 1:
            yield from self._parsed(0)
            return
        names = [p.name for p in self.paths]
        if len(set(names)) < len(names):
            names = [str(p) for p in self.paths]
        tails: list[list[_Parsed]] = [[] for _ in self.paths]

        def line(k: int) -> Iterator[Message]:
            extras: list[_Parsed] = []
            for p in self._parsed(k):
                diff = p.items[0] if p.items and p.items[0].kind == "update" else None
                if diff is not None and self._want is None:
                    self._want = diff.symbol.upper()
                if diff is not None and diff.symbol.upper() == self._want:
                    first = diff.prev + 1 if diff.prev is not None else diff.first
                    yield Message(first, diff.last, (extras, p), p.line)
                    extras = []
                else:
                    extras.append(p)
            tails[k] = extras

        self.arbitration = Arbitration(names)
        merged = arbitrate({name: line(k) for k, name in enumerate(names)}, self.arbitration)
        for m in merged:
            extras, p = m.payload
            yield from extras
            yield p
        yield from tails[0]

    def _parsed(self, k: int) -> Iterator[_Parsed]:
        path = self.paths[k]
        try:
            fh = gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")
        except OSError as e:
            raise UnreadableFeed(0, f"cannot read the file: {e.strerror or e}", str(path)) from e
        n = 0
        with fh:
            try:
                for n, raw in enumerate(fh, start=1):
                    text = raw.strip()
                    if not text:
                        self.blank_lines += 1
                        continue
                    parsed = self._parse(k, n, text)
                    if parsed is not None:
                        yield parsed
            except (OSError, EOFError) as e:
                self.errors.append(MalformedRow(n + 1, f"cannot read on: {e}", str(path)))

    def _parse(self, k: int, n: int, raw: bytes) -> _Parsed | None:
        try:
            recv, msg = _envelope(raw.decode("utf-8"))
            p = _Parsed(n, k, recv)
            getattr(self, f"_decode_{self.venue}")(p, msg)
            return p
        except UnicodeDecodeError:
            reason = "not UTF-8 text"
        except ValueError as e:
            reason = str(e)
        self.errors.append(MalformedRow(n, reason, str(self.paths[k])))
        return None

    # -- decoding each venue's messages -------------------------------------------------------

    def _decode_binance(self, p: _Parsed, msg: Any) -> None:
        stream = None
        if isinstance(msg, dict) and isinstance(msg.get("data"), dict) and "stream" in msg:
            stream, msg = msg["stream"], msg["data"]
        if not isinstance(msg, dict):
            return
        e = msg.get("E")
        if e is not None and (not isinstance(e, int) or isinstance(e, bool)):
            raise ValueError(f'"E" is not an integer: {e!r}')
        tse = e * 1_000_000 if e is not None else None
        if msg.get("e") == "depthUpdate":
            levels = [_level(BID, *_pair(x)) for x in _list(msg, "b")]
            levels += [_level(ASK, *_pair(x)) for x in _list(msg, "a")]
            item = _Item("update", _str(msg, "s"), levels, p.line, tse, _int(msg, "U"),
                         _int(msg, "u"), _int(msg, "pu") if "pu" in msg else None)
            if item.last < item.first:
                raise ValueError(f"u {item.last} is below U {item.first}")
        elif "lastUpdateId" in msg:
            symbol = msg.get("symbol") or msg.get("s")
            if not symbol and isinstance(stream, str) and "@" in stream:
                symbol = stream.split("@", 1)[0].upper()
            levels = [_level(BID, *_pair(x)) for x in _list(msg, "bids")]
            levels += [_level(ASK, *_pair(x)) for x in _list(msg, "asks")]
            last = _int(msg, "lastUpdateId")
            item = _Item("snapshot", symbol if isinstance(symbol, str) else None, levels, p.line,
                         tse, last, last)
        else:
            return
        p.ts_event = tse
        p.items.append(item)

    def _decode_coinbase(self, p: _Parsed, msg: Any) -> None:
        if not isinstance(msg, dict):
            return
        if "sequence_num" in msg:
            p.seq = _int(msg, "sequence_num")
        if msg.get("channel") != "l2_data":
            return
        p.ts_event = iso_ns(_str(msg, "timestamp"))
        items = []
        for ev in _list(msg, "events"):
            if not isinstance(ev, dict) or ev.get("type") not in ("snapshot", "update"):
                raise ValueError("an l2_data event is not a snapshot or an update")
            levels = []
            for u in _list(ev, "updates"):
                if not isinstance(u, dict):
                    raise ValueError("an update is not an object")
                side = {"bid": BID, "buy": BID, "offer": ASK, "ask": ASK, "sell": ASK}.get(
                    u.get("side"))
                if side is None:
                    raise ValueError(f"side {u.get('side')!r} is not bid or offer")
                if "price_level" not in u or "new_quantity" not in u:
                    raise ValueError("an update without price_level or new_quantity")
                levels.append(_level(side, u["price_level"], u["new_quantity"]))
            items.append(_Item(ev["type"], _str(ev, "product_id"), levels, p.line,
                               p.ts_event, p.seq, p.seq))
        p.items = items

    def _decode_kraken(self, p: _Parsed, msg: Any) -> None:
        if isinstance(msg, dict):
            self._kraken_v2(p, msg)
            return
        if not (isinstance(msg, list) and len(msg) >= 4 and isinstance(msg[-1], str)
                and isinstance(msg[-2], str) and msg[-2].startswith("book")):
            return
        dicts = msg[1:-2]
        if not all(isinstance(d, dict) for d in dicts):
            raise ValueError("a v1 book message whose middle elements are not objects")
        snapshot = any("as" in d or "bs" in d for d in dicts)
        levels: list[Level] = []
        newest: int | None = None
        checksum = None
        for d in dicts:
            for key, side in (("as", ASK), ("a", ASK), ("bs", BID), ("b", BID)):
                for x in d.get(key, []):
                    if not isinstance(x, list) or len(x) < 3:
                        raise ValueError(f'a "{key}" level is not [price, volume, time]')
                    levels.append(_level(side, x[0], x[1]))
                    t = units(_text(x[2], "time"), 9)
                    newest = t if newest is None else max(newest, t)
            if "c" in d:
                checksum = _checksum(d["c"])
        book = re.fullmatch(r"book-([0-9]+)", msg[-2])
        p.ts_event = newest
        p.items.append(_Item("snapshot" if snapshot else "update", msg[-1], levels, p.line,
                             newest, checksum=checksum, depth=int(book[1]) if book else None))

    def _kraken_v2(self, p: _Parsed, msg: dict) -> None:
        result, sub = msg.get("result"), msg.get("subscription")
        if msg.get("method") == "subscribe" and isinstance(result, dict):
            if result.get("channel") == "book" and isinstance(result.get("depth"), int):
                p.depth_hint = (result.get("symbol"), result["depth"])
            return
        if msg.get("event") == "subscriptionStatus" and isinstance(sub, dict):
            if sub.get("name") == "book" and isinstance(sub.get("depth"), int):
                p.depth_hint = (msg.get("pair"), sub["depth"])
            return
        if msg.get("channel") != "book" or msg.get("type") not in ("snapshot", "update"):
            return
        for entry in _list(msg, "data"):
            if not isinstance(entry, dict):
                raise ValueError("a book data entry is not an object")
            levels = []
            for key, side in (("bids", BID), ("asks", ASK)):
                for x in entry.get(key) or []:
                    if not isinstance(x, dict) or "price" not in x or "qty" not in x:
                        raise ValueError(f'a "{key}" level without price or qty')
                    levels.append(_level(side, x["price"], x["qty"]))
            tse = iso_ns(entry["timestamp"]) if isinstance(entry.get("timestamp"), str) else None
            checksum = _checksum(entry["checksum"]) if "checksum" in entry else None
            p.items.append(_Item(msg["type"], _str(entry, "symbol"), levels, p.line, tse,
                                 checksum=checksum))
        p.ts_event = next((it.ts_event for it in p.items if it.ts_event is not None), None)

    # -- applying messages --------------------------------------------------------------------

    def _message(self, p: _Parsed) -> None:
        self.counts["messages"] += 1
        if p.depth_hint is not None:
            self._hints[p.depth_hint[0]] = p.depth_hint[1]
        ts = self._time(p.recv, p.ts_event)
        if p.seq is not None and self.venue == "coinbase" and not self._sequence(p, ts):
            self.counts["duplicates"] += 1
            self._prev = (p.line, ts)
            return
        if not p.items:
            self.counts["skipped"] += 1
        for item in p.items:
            self._item(p, item)
        self._seal()
        self._prev = (p.line, ts)

    def _time(self, recv: int | None, event: int | None) -> int | None:
        ts = recv if recv is not None else event
        if ts is None:
            ts = self._last_ts
            if ts is None:
                self._untimed = True
            return ts
        if self._untimed:   # rows before the first time take it
            col = self._rows.cols[0]
            for i, v in enumerate(col):
                if v is None:
                    col[i] = ts
            self._untimed = False
        self._last_ts = ts
        return ts

    def _seal(self) -> None:
        """F_LAST on each instrument's last row of the message."""
        flags = self._rows.cols[7]
        for i in self._last_row.values():
            flags[i] |= F_LAST
        self._last_row = {}

    def _book(self, name: str) -> _Book | None:
        iid = self._ids.get(name)
        if iid is None:
            iid = self._ids[name] = len(self._ids) + 1
            self.seen_symbols.add(name)
        if self._want is not None and name.upper() != self._want:
            return None
        st = self._books.get(name)
        if st is None:
            st = self._books[name] = _Book(iid, name)
        return st

    def _only_symbol(self) -> str | None:
        if self._want is not None:
            return next((s for s in self._ids if s.upper() == self._want), None)
        return next(iter(self._ids)) if len(self._ids) == 1 else None

    def _item(self, p: _Parsed, item: _Item) -> None:
        name = item.symbol
        if name is None:  # a Binance snapshot naming no symbol: the feed's one symbol
            name = self._only_symbol()
            if name is None:
                if self._want is None and self._ids:
                    self.errors.append(MalformedRow(p.line, "a snapshot without a symbol in a "
                                                    "file of several symbols",
                                                    str(self.paths[p.source])))
                    return
                if self._orphan is not None:
                    self.counts["skipped"] += 1
                self._orphan = p    # held until a diff names the symbol
                return
        elif self._orphan is not None and (self._want is None or name.upper() == self._want):
            orphan, self._orphan = self._orphan, None
            orphan.items[0].symbol = name
            saved, self._last_row = self._last_row, {}
            self._item(orphan, orphan.items[0])
            self._seal()
            self._last_row = saved
        st = self._book(name)
        if st is None:
            self.counts["other_symbols"] += 1
            return
        ts = self._time(p.recv, item.ts_event if item.ts_event is not None else p.ts_event)
        seq = item.last if self.venue != "kraken" else None
        self._ctx = (ts, item.ts_event, seq, p.line)
        if self.venue == "binance":
            self._binance(st, item, ts)
        elif self.venue == "coinbase":
            self._coinbase(st, item, ts)
        else:
            self._kraken(st, item, ts)

    # -- rows ---------------------------------------------------------------------------------

    def _emit(self, st: _Book, action: int, side: int, price: int | None, size: int, flags: int,
              raw: str) -> None:
        ts, tse, seq, line = self._ctx
        oid = 0 if price is None else _oid(side, price)
        for col, v in zip(self._rows.cols, (ts, tse, action, side, price, size, oid, flags, seq,
                                            line, raw, st.iid), strict=True):
            col.append(v)
        self._last_row[st.iid] = len(self._rows) - 1
        self.counts["events"] += 1

    def _set(self, st: _Book, level: Level, flags: int, raw: str = "U") -> None:
        side, price, size, ptxt, qtxt = level
        book = st.side(side)
        old = book.get(price)
        if size == 0:
            if old is None:
                self.counts["zero_for_absent_level"] += 1
                return
            del book[price]
            self._emit(st, DELETE, side, price, 0, flags, raw)
        elif old is None:
            book[price] = (size, ptxt, qtxt)
            self._emit(st, ADD, side, price, size, flags, raw)
        else:
            book[price] = (size, ptxt, qtxt)
            if old[0] != size:
                self._emit(st, MODIFY, side, price, size, flags, raw)

    def _apply(self, st: _Book, levels: list[Level]) -> None:
        flags = F_MAYBE_BAD_BOOK if st.mode != LIVE else 0
        for level in levels:
            self._set(st, level, flags)

    def _rebuild(self, st: _Book, bids: dict, asks: dict) -> None:
        """The book is now `bids` and `asks`: a CLEAR, then an ADD per level (F_SNAPSHOT)."""
        st.bids, st.asks = bids, asks
        self._emit(st, CLEAR, NO_SIDE, None, 0, F_SNAPSHOT, "C")
        for side, prices in ((BID, sorted(bids, reverse=True)), (ASK, sorted(asks))):
            book = st.side(side)
            for p in prices:
                self._emit(st, ADD, side, p, book[p][0], F_SNAPSHOT, "S")

    # -- integrity ----------------------------------------------------------------------------

    def _find(self, kind: str, line: int, detail: str, st: _Book | None, **kw: Any) -> FeedFinding:
        f = FeedFinding(kind, line, detail, st.name if st else None, **kw)
        self.findings.append(f)
        return f

    def _lose(self, st: _Book, line: int, ts: int | None, why: str) -> None:
        """The book is known only in part from this message on."""
        st.mode = UNKNOWN
        st.unknown = self._find("unknown_state", line, why, st, from_ts=ts)
        st.reported = True

    def _regain(self, st: _Book, line: int, ts: int | None, detail: str,
                close: tuple[int, int | None] | None = None) -> None:
        """The book is exact again (a usable snapshot at `line`)."""
        if st.unknown is not None and st.reported:
            last_line, to_ts = close or self._prev
            st.unknown.last_line, st.unknown.to_ts = last_line, to_ts
            self._find("resynced", line, detail, st, from_ts=ts)
            self.counts["resyncs"] += 1
        st.unknown, st.reported, st.mode = None, False, LIVE

    def _verify(self, st: _Book, snap: _Item, ts: int | None, depth: int | None = None) -> None:
        """A snapshot met while the book is believed exact: the same levels, or it wins."""
        differ, compared = _differences(st, snap.levels)
        at = f" at update id {snap.last}" if self.venue == "binance" else ""
        if differ == 0:
            self.counts["snapshots_verified"] += 1
            self._find("snapshot_verified", snap.line, f"{compared} levels agree{at}", st,
                       first_seq=snap.last, last_seq=snap.last, from_ts=ts)
            return
        self.counts["snapshots_mismatched"] += 1
        self._find("snapshot_mismatch", snap.line,
                   f"{differ} of {compared} levels differ{at}: the snapshot replaces the book",
                   st, first_seq=snap.last, last_seq=snap.last, from_ts=ts)
        self._rebuild(st, *_sides(snap.levels, depth))

    # -- Binance ------------------------------------------------------------------------------

    def _binance(self, st: _Book, item: _Item, ts: int | None) -> None:
        if item.kind == "snapshot":
            self.counts["snapshots"] += 1
            if st.mode != LIVE:
                self._binance_resync(st, item, ts)
            elif item.last == st.last_u:
                self._verify(st, item, ts)
            elif item.last > st.last_u:   # ahead of the diffs: checked once they reach it
                if st.pending is not None:
                    self.counts["snapshots_unverified"] += 1
                st.pending = (item, ts)
            else:
                self.counts["snapshots_unverified"] += 1
            return
        self.counts["updates"] += 1
        if st.mode == WAIT:
            self._binance_buffer(st, item, ts)
            return
        verdict, a, b = _classify(item, st.last_u)
        if verdict == OLD:
            self.counts["dropped"] += 1
            return
        if verdict == GAP:
            self._gap(st, item, ts, a, b)
            if st.mode == LIVE:
                self._lose(st, item.line, ts, "diffs are missing before this one: the book is "
                                              "known only in part until a usable snapshot")
            st.buffer.clear()
        if st.mode == UNKNOWN:
            self._keep(st, item)
        self._apply(st, item.levels)
        st.last_u, st.last_ts = item.last, ts
        if st.pending is None or (st.mode == LIVE and st.last_u < st.pending[0].last):
            return
        # the diffs reached the snapshot held ahead of them, or broke before it (then it may be
        # the snapshot that resyncs them)
        (snap, snap_ts), st.pending = st.pending, None
        if st.mode == LIVE:
            if st.last_u == snap.last:
                saved = self._ctx
                self._ctx = (ts, snap.ts_event, snap.last, snap.line)
                self._verify(st, snap, snap_ts)
                self._ctx = saved
            else:  # the diff that reached it went past it
                self.counts["snapshots_unverified"] += 1
        elif not self._binance_resync(st, snap, ts, quiet=True, close=(item.line, ts)):
            self.counts["snapshots_unverified"] += 1

    def _binance_buffer(self, st: _Book, item: _Item, ts: int | None) -> None:
        """Before a usable snapshot: diffs wait (a continuous run of them)."""
        if st.buffer:
            verdict, a, b = _classify(item, st.buffer[-1].last)
            if verdict == OLD:
                self.counts["duplicates"] += 1
                return
            if verdict == GAP:
                self._gap(st, item, ts, a, b)
                st.buffer.clear()
        if st.unknown is None:   # reported only if no snapshot makes it good
            st.unknown = FeedFinding("unknown_state", item.line, "no usable snapshot yet: the "
                                     "diffs are buffered, not applied", st.name, from_ts=ts)
        self._keep(st, item)
        self.counts["buffered"] += 1
        st.last_ts = ts

    def _keep(self, st: _Book, item: _Item) -> None:
        st.buffer.append(item)
        if len(st.buffer) > MAX_BUFFERED:
            st.buffer.popleft()
            self.counts["buffer_overflow"] += 1

    def _gap(self, st: _Book, item: _Item, ts: int | None, a: int, b: int) -> None:
        self.counts["sequence_gaps"] += 1
        self._find("sequence_gap", item.line, f"update ids {a}..{b} missing", st, first_seq=a,
                   last_seq=b, from_ts=st.last_ts, to_ts=ts)

    def _report_wait(self, st: _Book) -> None:
        if st.unknown is not None and not st.reported:
            self.findings.append(st.unknown)
            st.reported = True

    def _binance_resync(self, st: _Book, snap: _Item, ts: int | None, quiet: bool = False,
                        close: tuple[int, int | None] | None = None) -> bool:
        """The snapshot plus the buffered diffs past it, when they join; else stale."""
        last = snap.last
        while st.buffer and _classify(st.buffer[0], last)[0] == OLD:
            st.buffer.popleft()
            self.counts["dropped"] += 1
        if st.buffer:
            verdict, a, b = _classify(st.buffer[0], last)
            if verdict == GAP:
                if not quiet:
                    self.counts["stale_snapshots"] += 1
                    self._report_wait(st)
                    self._find("stale_snapshot", snap.line,
                               f"lastUpdateId {last} is older than the diffs kept after it (the "
                               f"first starts at {st.buffer[0].first}): {a}..{b} are gone",
                               st, first_seq=a, last_seq=b, from_ts=ts)
                return False
        bids, asks = _sides(snap.levels)
        for diff in st.buffer:
            for side, price, size, ptxt, qtxt in diff.levels:
                book = bids if side == BID else asks
                if size:
                    book[price] = (size, ptxt, qtxt)
                else:
                    book.pop(price, None)
        saved = self._ctx
        self._ctx = (ts, snap.ts_event, last, snap.line)
        self._rebuild(st, bids, asks)
        self._ctx = saved
        st.last_u = st.buffer[-1].last if st.buffer else last
        st.buffer.clear()
        self._regain(st, snap.line, ts, f"snapshot lastUpdateId {last}: the book is exact again",
                     close)
        return True

    # -- Coinbase -----------------------------------------------------------------------------

    def _sequence(self, p: _Parsed, ts: int | None) -> bool:
        """Coinbase's per-connection sequence_num; False for a duplicate."""
        seq, last = p.seq, self._seq
        if last is not None:
            if seq == 0 and last > 0:
                self.counts["connections"] += 1
                for st in self._books.values():
                    if st.mode == LIVE:
                        self._lose(st, p.line, ts, "a new connection: what passed between the "
                                                   "two is unknown until its snapshot")
            elif seq <= last:
                return False
            elif seq > last + 1:
                self.counts["sequence_gaps"] += 1
                only = next(iter(self._books.values())) if len(self._books) == 1 else None
                self._find("sequence_gap", p.line, f"sequence_num {last + 1}..{seq - 1} missing",
                           only, first_seq=last + 1, last_seq=seq - 1, from_ts=self._seq_ts,
                           to_ts=ts)
                for st in self._books.values():
                    if st.mode == LIVE:
                        self._lose(st, p.line, ts, "messages are missing before this one: the "
                                                   "book is known only in part until a snapshot")
        self._seq, self._seq_ts = seq, ts
        return True

    def _coinbase(self, st: _Book, item: _Item, ts: int | None) -> None:
        if item.kind == "snapshot":
            self.counts["snapshots"] += 1
            self._snapshot(st, item, ts, None)
            return
        self.counts["updates"] += 1
        if st.mode == WAIT:
            self._lose(st, item.line, ts, "updates before the first snapshot")
        self._apply(st, item.levels)

    def _snapshot(self, st: _Book, item: _Item, ts: int | None, depth: int | None) -> None:
        if st.mode == LIVE:
            self._verify(st, item, ts, depth)
            return
        self._rebuild(st, *_sides(item.levels, depth))
        self._regain(st, item.line, ts, "a snapshot: the book is exact again")

    # -- Kraken -------------------------------------------------------------------------------

    def _kraken(self, st: _Book, item: _Item, ts: int | None) -> None:
        depth = (self.depth or self._hints.get(st.name) or self._hints.get(None) or item.depth)
        start = len(self._rows)
        if item.kind == "snapshot":
            self.counts["snapshots"] += 1
            st.depth = depth or max(sum(1 for x in item.levels if x[0] == BID),
                                    sum(1 for x in item.levels if x[0] == ASK)) or None
            self._snapshot(st, item, ts, st.depth)
        else:
            self.counts["updates"] += 1
            if st.depth is None:
                st.depth = depth
            if st.mode == WAIT:
                self._lose(st, item.line, ts, "updates before the first snapshot")
            self._apply(st, item.levels)
            self._truncate(st)
        if item.checksum is None:
            return
        if st.mode != LIVE:
            self.counts["checksums_skipped"] += 1
            return
        asks = [(st.asks[p][1], st.asks[p][2]) for p in heapq.nsmallest(KRAKEN_TOP, st.asks)]
        bids = [(st.bids[p][1], st.bids[p][2]) for p in heapq.nlargest(KRAKEN_TOP, st.bids)]
        ours = kraken_checksum(asks, bids)
        if ours == item.checksum:
            self.counts["checksums_ok"] += 1
            return
        self.counts["checksum_mismatches"] += 1
        self._find("checksum_mismatch", item.line, f"the venue's checksum {item.checksum}, the "
                   f"book's {ours}", st, from_ts=ts)
        self._lose(st, item.line, ts, "after a checksum mismatch: the book is wrong somewhere "
                                      "until the next snapshot")
        cols = self._rows.cols
        for i in range(start, len(self._rows)):
            if cols[11][i] == st.iid:
                cols[7][i] |= F_MAYBE_BAD_BOOK

    def _truncate(self, st: _Book) -> None:
        """Levels past the depth are no longer followed by the venue: removed."""
        if not st.depth:
            return
        flags = F_MAYBE_BAD_BOOK if st.mode != LIVE else 0
        for side, book in ((BID, st.bids), (ASK, st.asks)):
            extra = len(book) - st.depth
            if extra <= 0:
                continue
            worst = heapq.nsmallest(extra, book) if side == BID else heapq.nlargest(extra, book)
            for price in worst:
                del book[price]
                self._emit(st, DELETE, side, price, 0, flags, "X")
                self.counts["truncated"] += 1

    # -- the end ------------------------------------------------------------------------------

    def _finish(self) -> None:
        if self._orphan is not None:
            p = self._orphan
            self.errors.append(MalformedRow(p.line, "a snapshot without a symbol, and no diff "
                                            "names one", str(self.paths[p.source])))
        for st in self._books.values():
            if st.mode == WAIT and st.unknown is not None and not st.reported:
                st.unknown.detail = (f"no usable snapshot: {len(st.buffer)} diffs buffered, "
                                     "never applied")
                self._report_wait(st)
            if st.pending is not None:
                self.counts["snapshots_unverified"] += 1
                st.pending = None
        if self._untimed:
            cols = self._rows.cols
            for i, v in enumerate(cols[0]):
                if v is None:
                    cols[0][i] = 0
                    cols[7][i] |= F_BAD_TS_RECV
            self._untimed = False
        if self.arbitration is not None:
            symbol = next((s for s in self._ids if s.upper() == self._want), None)
            for name, ranges in zip(self.arbitration.lines, self.arbitration.filled,
                                    strict=True):
                for a, b in ranges:
                    self.findings.append(FeedFinding(
                        "filled", 0, f"{name} lacked update ids {a}..{b}: another line had them",
                        symbol, first_seq=a, last_seq=b, source=name))
        order = {str(p): k for k, p in enumerate(self.paths)}
        self.errors.sort(key=lambda e: (order.get(e.path or "", 0), e.line))
        self.counts["malformed"] = len(self.errors)


def _pair(x: Any) -> tuple[Any, Any]:
    if not isinstance(x, list) or len(x) < 2:
        raise ValueError(f"a level is not [price, quantity]: {x!r}")
    return x[0], x[1]


def _checksum(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise ValueError(f"checksum {value!r} is not an integer")


def _sides(levels: list[Level], depth: int | None = None) -> tuple[dict, dict]:
    """A snapshot's levels as bid and ask dicts (zero quantities left out; `depth` best kept)."""
    bids: dict[int, tuple[int, str, str]] = {}
    asks: dict[int, tuple[int, str, str]] = {}
    for side, price, size, ptxt, qtxt in levels:
        if size:
            (bids if side == BID else asks)[price] = (size, ptxt, qtxt)
    if depth:
        bids = {p: bids[p] for p in heapq.nlargest(depth, bids)}
        asks = {p: asks[p] for p in heapq.nsmallest(depth, asks)}
    return bids, asks


def _differences(st: _Book, levels: list[Level]) -> tuple[int, int]:
    """(levels that differ, levels compared) between a snapshot and the book, down to the
    snapshot's last price on each side (the whole side when the snapshot's is empty)."""
    snap: dict[int, dict[int, int]] = {BID: {}, ASK: {}}
    for side, price, size, _, _ in levels:
        if size:
            snap[side][price] = size
    differ = compared = 0
    for side in (BID, ASK):
        theirs, book = snap[side], st.side(side)
        if theirs:
            bound = min(theirs) if side == BID else max(theirs)
            mine = {p: v[0] for p, v in book.items()
                    if (p >= bound if side == BID else p <= bound)}
        else:
            mine = {p: v[0] for p, v in book.items()}
        keys = theirs.keys() | mine.keys()
        compared += len(keys)
        differ += sum(1 for k in keys if theirs.get(k) != mine.get(k))
    return differ, compared


def read_l2(paths: Path | str | list[Path | str], venue: str, *, symbol: str | None = None,
            date: Date | None = None, depth: int | None = None,
            batch_rows: int = 100_000) -> L2Feed:
    """An L2 JSON-lines capture of `venue` ("binance" | "coinbase" | "kraken"); several paths are
    redundant captures of one Binance stream, merged by update id. `symbol` keeps one book;
    `depth` is Kraken's subscription depth when the file does not say it."""
    if venue not in VENUES:
        raise UnreadableFeed(0, f"unknown L2 venue {venue!r}: choose binance, coinbase or kraken")
    files = [Path(p) for p in paths] if isinstance(paths, list) else [Path(paths)]
    if not files:
        raise UnreadableFeed(0, "no L2 file given")
    if len(files) > 1 and venue == "coinbase":
        raise UnreadableFeed(0, "Coinbase's sequence_num counts the messages of one connection: "
                                "captures on other connections cannot be merged by it; pass one "
                                "file", str(files[0]))
    if len(files) > 1 and venue == "kraken":
        raise UnreadableFeed(0, "Kraken's book messages carry no sequence numbers: captures "
                                "cannot be merged by them; pass one file", str(files[0]))
    for f in files:
        if not f.is_file():
            raise UnreadableFeed(0, "no such file", str(f))
    if depth is not None and depth < 1:
        raise UnreadableFeed(0, f"depth must be at least 1 (got {depth})")
    return L2Feed(files, venue, symbol, date, depth, batch_rows)
