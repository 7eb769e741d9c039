"""NASDAQ TotalView-ITCH 5.0 binary files (the specification: NQTVITCHSpecification.pdf).

The file is a run of messages, each preceded by a 2-byte big-endian length (the framing of
NASDAQ's historical files), or a pcap capture of the feed's MoldUDP64 packets (below). A message
starts with its type letter, the stock locate (2 bytes), a tracking number (2) and a 6-byte
timestamp: nanoseconds since midnight, New York time. Integers are big-endian and unsigned;
prices are Price(4), dollars × 10,000 (`price_scale` 10_000).

The file is memory-mapped and read by a numba loop over its bytes, `batch_rows` messages at a
time. What becomes an EVENTS row:

- S system event -> NONE (instrument_id null; kept whatever `symbol` filters); its event code
  ('O', 'S', 'Q', 'M', 'E', 'C') goes to `feed.system_events`.
- R stock directory -> no event: `feed.directory` (locate -> symbol) and `symbols()`.
- H trading action -> HALT with LOBSTER's price convention: -1 halted or paused ('H', 'P'),
  0 quotation only ('Q'), 1 trading ('T'); the state letter goes to `feed.trading_states`.
- A, F add -> ADD; E executed, X cancel -> REDUCE by the shares; C executed with price ->
  REDUCE, `price` = the execution price; D delete -> DELETE; U replace -> DELETE of the old
  reference + ADD of the new one (new price and shares, the old order's side), two rows with the
  same line and sequence; P non-cross trade, Q cross trade -> TRADE (no book change).
- Every other type (Y, L, V, W, K, J, h, B, I, N, O; and letters the specification does not
  know) is skipped and counted in `feed.counts`.

The side of an order is only in its add, so the reader keeps the live orders (reference ->
side and shares left) to give replaces their side, and E/C/X/D rows theirs; an order leaves the
table when deleted, replaced, or executed/cancelled to zero.

Columns: ts = New York midnight of the file's day in UTC ns + the timestamp; ts_event = ts;
sequence = the message's 0-based index in the file; line = its 1-based index (an ITCH file has
no lines: `line` counts messages, and `FeedError.line` is that message number); instrument_id =
the stock locate; order_id = the order reference number (P: the order reference, 0 in NASDAQ's
feed; Q: 0); raw_action = the type letter; channel null; flags 0.

The day is not in the file: `date`, else 8 digits in the file name (YYYYMMDD, or MMDDYYYY as in
NASDAQ's `01302019.NASDAQ_ITCH50`), else UnreadableFeed (as LOBSTER without a day).

Errors (in `feed.errors`, in file order): a known type whose length is not the specification's
is skipped (MalformedRow); a length prefix cut off at the end, a length that runs past the end,
a zero length, or a type byte that is not a letter (the framing is lost) is a BrokenFraming:
reading stops there, everything before it is yielded.

pcap captures (`framing="pcap"`, guessed from the pcap magic number): ITCH over MoldUDP64
(orderbook/moldudp.py). Several paths are redundant captures of one feed (the A and B lines, or
several hosts), merged by sequence number session by session (`arbitrate`; lines named by file
name, the first path wins ties). The merged stream is framed in chunks of at most `batch_rows`
messages (64 MB) and decoded by the same loop, whose live orders and counts carry over from chunk
to chunk. Then: sequence = the MoldUDP64 sequence number (it restarts at a session change, listed
in `feed.sessions`); line = the message's 1-based number in the merged stream (ascending; a
hole's messages take no number; decoder errors use it too), while capture errors (a truncated
record, a packet whose messages do not frame) carry the packet number in their own capture and
that capture's path. `feed.findings`: sequence_gap for every range no line had (also before the
first message captured when the capture starts after sequence 1, and after the last when a
heartbeat or the end of session announces more), filled for every range one line lacked and
another supplied (`source` = the line that lacked it); from_ts/to_ts are the ts of the messages
around the range. `feed.arbitration` is the Arbitration (None for plain files), `feed.merge` the
MoldMerge (per-line PcapStats and MoldReport, every session's Arbitration). The day: `date`, the
file name, else the New York date of the first packet's capture time.
"""

from __future__ import annotations

import contextlib
import mmap
import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from datetime import date as Date
from pathlib import Path

import numpy as np
import pyarrow as pa
from numba import njit, types
from numba.typed import Dict

from orderbook.arbitrate import Arbitration
from orderbook.events import (
    ADD,
    DELETE,
    EVENTS,
    HALT,
    NONE,
    REDUCE,
    TRADE,
    Feed,
    FeedError,
    FeedInfo,
    MalformedRow,
    UnreadableFeed,
)
from orderbook.lobster import NEW_YORK, midnight_ns
from orderbook.moldudp import MAX_BYTES, MoldMerge, capture_start, is_pcap, open_captures

PRICE_SCALE = 10_000
VENUE = "XNAS"

# Message lengths (after the 2-byte prefix) from the specification; 0 = not an ITCH 5.0 type.
LENGTHS = np.zeros(256, dtype=np.int64)
for _t, _n in {"S": 12, "R": 39, "H": 25, "Y": 20, "L": 26, "V": 35, "W": 12, "K": 28,
               "J": 35, "h": 21, "A": 36, "F": 40, "E": 31, "C": 36, "X": 23, "D": 19,
               "U": 35, "P": 44, "Q": 40, "B": 19, "I": 50, "N": 20, "O": 48}.items():
    LENGTHS[ord(_t)] = _n

# Framing status returned by the loop.
OK, CUT_PREFIX, PAST_END, ZERO_LENGTH, NOT_A_TYPE = 0, 1, 2, 3, 4
FRAMING = {
    CUT_PREFIX: "the file ends inside a length prefix (a truncated final message)",
    PAST_END: "the message's length runs past the end of the file (a truncated final message)",
    ZERO_LENGTH: "a message of length 0: the framing is lost",
    NOT_A_TYPE: "the type byte is not a letter: the framing is lost",
}
DATE_IN_NAME = re.compile(r"(?<!\d)(\d{8})(?!\d)")


class BrokenFraming(MalformedRow):
    """The length-prefixed framing cannot be followed from this message on (a truncated final
    message, a length past the end, garbage): reading stops; the messages before it stand."""


@njit(cache=True, nogil=True)
def _u(buf, at, width):
    v = np.uint64(0)
    for k in range(width):
        v = (v << np.uint64(8)) | np.uint64(buf[at + k])
    return v


@njit(cache=True, nogil=True)
def _i(buf, at, width):
    v = 0
    for k in range(width):
        v = (v << 8) | np.int64(buf[at + k])
    return v


@njit(cache=True, nogil=True)
def _decode(buf, pos, index, n_max, lengths, orders, ts, act, side, price, has_price, size, oid,
            line, raw, loc, counts, aux_line, aux_loc, aux_kind, aux_code, dir_loc, dir_sym,
            bad_line, bad_type, bad_len):
    """Decode up to `n_max` messages from `buf[pos:]` (`index` messages read before).
    Returns (pos, index, events, aux, directory entries, bad messages, framing status)."""
    end = len(buf)
    n = 0
    n_aux = 0
    n_dir = 0
    n_bad = 0
    m = 0
    while m < n_max:
        if pos >= end:
            return pos, index, n, n_aux, n_dir, n_bad, OK
        if pos + 2 > end:
            return pos, index, n, n_aux, n_dir, n_bad, CUT_PREFIX
        ln = (np.int64(buf[pos]) << 8) | np.int64(buf[pos + 1])
        if ln == 0:
            return pos, index, n, n_aux, n_dir, n_bad, ZERO_LENGTH
        if pos + 2 + ln > end:
            return pos, index, n, n_aux, n_dir, n_bad, PAST_END
        p = pos + 2
        t = buf[p]
        if not ((65 <= t <= 90) or (97 <= t <= 122)):
            return pos, index, n, n_aux, n_dir, n_bad, NOT_A_TYPE
        pos = p + ln
        index += 1
        m += 1
        want = lengths[t]
        if want == 0:  # a letter the specification does not know: skipped, counted
            counts[t] += 1
            continue
        if ln != want:
            bad_line[n_bad] = index
            bad_type[n_bad] = t
            bad_len[n_bad] = ln
            n_bad += 1
            continue
        counts[t] += 1
        locate = _i(buf, p + 1, 2)
        ns = _i(buf, p + 5, 6)
        if t == 82:  # R: stock directory
            dir_loc[n_dir] = locate
            for k in range(8):
                dir_sym[n_dir, k] = buf[p + 11 + k]
            n_dir += 1
            continue
        k = n
        ts[k] = ns
        line[k] = index
        raw[k] = t
        loc[k] = locate
        side[k] = 0
        price[k] = 0
        has_price[k] = False
        size[k] = 0
        oid[k] = np.uint64(0)
        if t == 83:  # S: system event
            act[k] = NONE
            aux_line[n_aux] = index
            aux_loc[n_aux] = locate
            aux_kind[n_aux] = t
            aux_code[n_aux] = buf[p + 11]
            n_aux += 1
        elif t == 72:  # H: trading action
            act[k] = HALT
            state = buf[p + 19]
            has_price[k] = True
            if state == 72 or state == 80:  # 'H', 'P'
                price[k] = -1
            elif state == 84:  # 'T'
                price[k] = 1
            aux_line[n_aux] = index
            aux_loc[n_aux] = locate
            aux_kind[n_aux] = t
            aux_code[n_aux] = state
            n_aux += 1
        elif t == 65 or t == 70:  # A, F: add
            ref = _u(buf, p + 11, 8)
            s = 1 if buf[p + 19] == 66 else (-1 if buf[p + 19] == 83 else 0)
            q = _i(buf, p + 20, 4)
            act[k] = ADD
            side[k] = s
            size[k] = q
            price[k] = _i(buf, p + 32, 4)
            has_price[k] = True
            oid[k] = ref
            if s != 0:
                orders[ref] = q * 4 + (1 if s == 1 else 2)
        elif t == 69 or t == 67 or t == 88:  # E, C, X: take shares off
            ref = _u(buf, p + 11, 8)
            q = _i(buf, p + 19, 4)
            act[k] = REDUCE
            size[k] = q
            oid[k] = ref
            if t == 67:
                price[k] = _i(buf, p + 32, 4)
                has_price[k] = True
            if ref in orders:
                v = orders[ref]
                side[k] = 1 if (v & 3) == 1 else -1
                left = (v >> 2) - q
                if left <= 0:
                    del orders[ref]
                else:
                    orders[ref] = left * 4 + (v & 3)
        elif t == 68:  # D: delete
            ref = _u(buf, p + 11, 8)
            act[k] = DELETE
            oid[k] = ref
            if ref in orders:
                side[k] = 1 if (orders[ref] & 3) == 1 else -1
                del orders[ref]
        elif t == 85:  # U: replace = DELETE old + ADD new, same side
            old = _u(buf, p + 11, 8)
            new = _u(buf, p + 19, 8)
            q = _i(buf, p + 27, 4)
            s = 0
            if old in orders:
                s = 1 if (orders[old] & 3) == 1 else -1
                del orders[old]
            act[k] = DELETE
            oid[k] = old
            side[k] = s
            k += 1
            ts[k] = ns
            line[k] = index
            raw[k] = t
            loc[k] = locate
            act[k] = ADD
            side[k] = s
            size[k] = q
            price[k] = _i(buf, p + 31, 4)
            has_price[k] = True
            oid[k] = new
            if s != 0:
                orders[new] = q * 4 + (1 if s == 1 else 2)
        elif t == 80:  # P: non-cross trade
            act[k] = TRADE
            side[k] = 1 if buf[p + 19] == 66 else (-1 if buf[p + 19] == 83 else 0)
            size[k] = _i(buf, p + 20, 4)
            price[k] = _i(buf, p + 32, 4)
            has_price[k] = True
            oid[k] = _u(buf, p + 11, 8)
        elif t == 81:  # Q: cross trade
            act[k] = TRADE
            size[k] = _i(buf, p + 11, 8)
            price[k] = _i(buf, p + 27, 4)
            has_price[k] = True
        else:  # a known type that is not an event (Y, L, V, W, K, J, h, B, I, N, O)
            continue
        n = k + 1
    return pos, index, n, n_aux, n_dir, n_bad, OK


def date_from_name(path: Path | str) -> Date | None:
    """The day from 8 digits in the file name: YYYYMMDD (years 1990-2099), else MMDDYYYY."""
    for digits in DATE_IN_NAME.findall(Path(path).name):
        for y, m, d in ((digits[:4], digits[4:6], digits[6:]), (digits[4:], digits[:2],
                                                                 digits[2:4])):
            if 1990 <= int(y) <= 2099:
                try:
                    return Date(int(y), int(m), int(d))
                except ValueError:
                    pass
    return None


def _text(raw: np.ndarray) -> pa.Array:
    """One-letter strings from their bytes, built straight from buffers."""
    n = len(raw)
    return pa.Array.from_buffers(pa.string(), n, [
        None, pa.py_buffer(np.arange(n + 1, dtype=np.int32)), pa.py_buffer(raw.copy())])


class _State:
    """The decoder's state, carried from one buffer to the next: live orders, counts per type
    letter, messages read."""

    def __init__(self) -> None:
        self.orders = Dict.empty(key_type=types.uint64, value_type=types.int64)
        self.counts = np.zeros(256, dtype=np.int64)
        self.index = 0
        self.broken = False


class ItchFeed(Feed):
    """An ITCH 5.0 file, or MoldUDP64 captures (`framing` "pcap"), as a stream of EVENTS
    batches (`batch_rows` messages per step).

    Filled while iterating: `errors`, `counts` (messages per type letter, plus 'malformed'),
    `messages` (framed messages read), `directory` (locate -> symbol), `system_events` and
    `trading_states` (lists of (line, locate, letter)); for captures `findings`, `arbitration`,
    `sessions` ((line, session, first sequence) per session) and `merge`."""

    def __init__(self, path: Path | Sequence[Path], info: FeedInfo, batch_rows: int,
                 symbol: str | None = None, *, framing: str = "file",
                 port: int | None = None) -> None:
        super().__init__(info)
        self.paths = [Path(path)] if isinstance(path, str | Path) else [Path(p) for p in path]
        self.path = self.paths[0]
        self.batch_rows = batch_rows
        self.symbol = symbol
        self.framing = framing
        self.port = port
        self._midnight = midnight_ns(info.date)
        self.counts: dict[str, int] = {}
        self.messages = 0
        self.directory: dict[int, str] = {}
        self.system_events: list[tuple[int, int, str]] = []
        self.trading_states: list[tuple[int, int, str]] = []
        self.arbitration: Arbitration | None = None
        self.sessions: list[tuple[int, str, int]] = []
        self.merge: MoldMerge | None = None

    @property
    def _where(self) -> str:
        return "+".join(str(p) for p in self.paths)

    def batches(self) -> Iterator[pa.RecordBatch]:
        self.errors, self.counts, self.messages = [], {}, 0
        self.directory, self.system_events, self.trading_states = {}, [], []
        self.findings, self.arbitration, self.sessions, self.merge = [], None, [], None
        if self.framing == "pcap":
            yield from self._read_captures()
            return
        try:
            fh = open(self.path, "rb")
        except OSError as e:
            raise UnreadableFeed(0, f"cannot read the file: {e.strerror or e}",
                                 str(self.path)) from e
        with fh:
            if self.path.stat().st_size == 0:
                raise UnreadableFeed(0, "the file is empty", str(self.path))
            mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
            try:
                yield from self._read(np.frombuffer(mm, dtype=np.uint8))
            finally:
                with contextlib.suppress(BufferError):  # an array over it lives on: GC closes it
                    mm.close()

    def _read(self, buf: np.ndarray) -> Iterator[pa.RecordBatch]:
        state = _State()
        yield from self._decode_buffer(buf, state)
        if not state.broken:
            self._check_symbol()

    def _read_captures(self) -> Iterator[pa.RecordBatch]:
        """The captures merged, framed in chunks and decoded with one state."""
        self.merge = merge = open_captures(self.paths, port=self.port)
        drained: dict[int, int] = {}
        state = _State()
        for chunk in merge.chunks(max_messages=self.batch_rows, max_bytes=MAX_BYTES):
            self._drain(merge, drained)
            yield from self._decode_buffer(chunk.buf, state, chunk.seq, chunk.first_line - 1)
            if state.broken:  # cannot happen: moldudp checks each packet's framing
                break
        self._drain(merge, drained)
        self.arbitration, self.sessions = merge.arbitration, merge.sessions
        self.findings = merge.findings(self._midnight, self.info.symbol)
        if not state.broken:
            self._check_symbol()

    def _drain(self, merge: MoldMerge, drained: dict[int, int]) -> None:
        """Capture errors found since the last call, into `errors`."""
        for found in [s.errors for s in merge.pcap.values()] + [
                r.errors for r in merge.reports.values()]:
            self.errors += found[drained.get(id(found), 0):]
            drained[id(found)] = len(found)

    def _decode_buffer(self, buf: np.ndarray, state: _State, seq: np.ndarray | None = None,
                       base: int = 0) -> Iterator[pa.RecordBatch]:
        """Decode all of `buf` (`seq`: the sequence number of each of its messages, the first
        being message `base` + 1; None: sequence = message index)."""
        n_max = self.batch_rows
        orders, counts = state.orders, state.counts
        pos, index = 0, state.index
        while True:
            ev = 2 * n_max
            ts, act = np.empty(ev, np.int64), np.empty(ev, np.uint8)
            side, price = np.empty(ev, np.int8), np.empty(ev, np.int64)
            has_price, size = np.empty(ev, np.bool_), np.empty(ev, np.int64)
            oid, line = np.empty(ev, np.uint64), np.empty(ev, np.int64)
            raw, loc = np.empty(ev, np.uint8), np.empty(ev, np.int64)
            aux_line, aux_loc = np.empty(n_max, np.int64), np.empty(n_max, np.int64)
            aux_kind, aux_code = np.empty(n_max, np.uint8), np.empty(n_max, np.uint8)
            dir_loc, dir_sym = np.empty(n_max, np.int64), np.empty((n_max, 8), np.uint8)
            bad_line, bad_type = np.empty(n_max, np.int64), np.empty(n_max, np.uint8)
            bad_len = np.empty(n_max, np.int64)
            start = index
            pos, index, n, n_aux, n_dir, n_bad, status = _decode(
                buf, pos, index, n_max, LENGTHS, orders, ts, act, side, price, has_price,
                size, oid, line, raw, loc, counts, aux_line, aux_loc, aux_kind, aux_code, dir_loc,
                dir_sym, bad_line, bad_type, bad_len)
            self.messages = state.index = index
            self._tally(counts, n_bad)
            for j in range(n_dir):
                self.directory[int(dir_loc[j])] = bytes(dir_sym[j]).decode("ascii",
                                                                            "replace").strip()
            for j in range(n_aux):
                entry = (int(aux_line[j]), int(aux_loc[j]), chr(aux_code[j]))
                (self.system_events if aux_kind[j] == ord("S") else self.trading_states).append(
                    entry)
            for j in range(n_bad):
                t = chr(bad_type[j])
                self.errors.append(MalformedRow(
                    int(bad_line[j]), f"a '{t}' message is {LENGTHS[bad_type[j]]} bytes long, "
                    f"this one {int(bad_len[j])}: skipped", self._where))
            if n:
                batch = self._events(ts[:n], act[:n], side[:n], price[:n], has_price[:n],
                                     size[:n], oid[:n], line[:n], raw[:n], loc[:n], seq, base)
                if batch.num_rows:
                    yield batch
            if status != OK:
                self.errors.append(BrokenFraming(index + 1, f"{FRAMING[status]} (byte {pos})",
                                                 self._where))
                state.broken = True
                return
            if index == start or pos >= len(buf):  # end of the buffer
                break

    def _check_symbol(self) -> None:
        if self.symbol is not None and not self._wanted():
            self.errors.append(FeedError(0, f"no stock directory entry for {self.symbol!r}",
                                         str(self.path)))

    def _tally(self, counts: np.ndarray, n_bad: int) -> None:
        for t in np.flatnonzero(counts):
            self.counts[chr(t)] = int(counts[t])
        if n_bad:
            self.counts["malformed"] = self.counts.get("malformed", 0) + n_bad

    def _wanted(self) -> set[int]:
        if self.symbol is None:
            return set()
        wanted = {lc for lc, s in self.directory.items() if s == self.symbol}
        if self.symbol.isdigit():
            wanted.add(int(self.symbol))
        return wanted

    def _events(self, ts, act, side, price, has_price, size, oid, line, raw, loc, seq=None,
                base=0) -> pa.RecordBatch:
        system = raw == ord("S")
        if self.symbol is not None:
            keep = system | np.isin(loc, np.fromiter(self._wanted(), np.int64))
            if not keep.all():
                ts, act, side, price, has_price = ts[keep], act[keep], side[keep], price[keep], \
                    has_price[keep]
                size, oid, line, raw, loc = size[keep], oid[keep], line[keep], raw[keep], \
                    loc[keep]
                system = system[keep]
        n = len(line)
        ts = ts + self._midnight
        sequence = line - 1 if seq is None else seq[line - 1 - base]
        arrays = [
            pa.array(ts), pa.array(ts), pa.array(act), pa.array(side),
            pa.array(price, mask=~has_price), pa.array(size), pa.array(oid),
            pa.array(np.zeros(n, dtype=np.uint8)), pa.array(sequence), pa.nulls(n, pa.int32()),
            pa.array(line), _text(raw), pa.array(loc.astype(np.uint32), mask=system),
        ]
        return pa.RecordBatch.from_arrays(arrays, schema=EVENTS)

    def symbols(self) -> pa.Table:
        """instrument_id (locate), symbol (from the directory; null when a locate has events
        but no directory entry), events (rows in one pass; 0 for a directory-only locate)."""
        events: dict[int, int] = {}
        for batch in self.batches():
            ids = batch.column("instrument_id").drop_null().to_numpy()
            found, times = np.unique(ids, return_counts=True)
            for i, c in zip(found.tolist(), times.tolist(), strict=True):
                events[i] = events.get(i, 0) + c
        if self.symbol is not None:
            wanted = self._wanted()
            locates = sorted(lc for lc in set(self.directory) | set(events) if lc in wanted)
        else:
            locates = sorted(set(self.directory) | set(events))
        return pa.table({
            "instrument_id": pa.array(locates, pa.uint32()),
            "symbol": pa.array([self.directory.get(lc) for lc in locates], pa.string()),
            "events": pa.array([events.get(lc, 0) for lc in locates], pa.int64()),
        })


FRAMINGS = ("file", "pcap")


def read_itch(path_or_paths: Path | str | Sequence[Path | str], *, symbol: str | None = None,
              date: Date | None = None, batch_rows: int = 1_000_000, framing: str | None = None,
              port: int | None = None) -> ItchFeed:
    """A NASDAQ TotalView-ITCH 5.0 file, or pcap captures of ITCH over MoldUDP64 (several paths:
    redundant captures of one feed, merged). `symbol` keeps one instrument's events (a directory
    symbol, or all digits: a stock locate) plus the system events; `date` (the trading day) comes
    from 8 digits in a file name when not given, for captures else from the first packet's time.
    `framing`: "file" (length-prefixed messages) or "pcap"; guessed from the first file's magic
    number when None. `port` keeps a capture's datagrams to that UDP port."""
    if isinstance(path_or_paths, str | Path):
        paths = [Path(path_or_paths)]
    else:
        paths = [Path(p) for p in path_or_paths]
    if not paths:
        raise UnreadableFeed(0, "no file given")
    if framing is None:
        framing = "pcap" if is_pcap(paths[0]) else "file"
    if framing not in FRAMINGS:
        raise ValueError(f"framing is one of {FRAMINGS}, not {framing!r}")
    if framing == "file" and len(paths) > 1:
        raise UnreadableFeed(0, "only pcap captures (ITCH over MoldUDP64, with sequence numbers) "
                                "can be merged as A/B lines", "+".join(map(str, paths)))
    if date is None:
        date = next((d for d in map(date_from_name, paths) if d is not None), None)
    if date is None and framing == "pcap":
        with contextlib.suppress(OSError):
            start = capture_start(paths[0])
            if start is not None:
                date = datetime.fromtimestamp(start / 1e9, UTC).astimezone(NEW_YORK).date()
    if date is None:
        raise UnreadableFeed(0, "an ITCH file does not say its day and the file name has no "
                                "YYYYMMDD or MMDDYYYY: give the date (--date YYYY-MM-DD)",
                             str(paths[0]))
    info = FeedInfo("itch", PRICE_SCALE, symbol if symbol and not symbol.isdigit() else None,
                    VENUE, date)
    return ItchFeed(paths, info, batch_rows, symbol, framing=framing, port=port)
