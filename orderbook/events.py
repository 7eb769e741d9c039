"""Normalised order-book events: the codes, the Arrow schema every feed parser yields, the feed
description, the base `Feed`, the replay rows' schema and the typed feed errors.

A feed parser (`lobster.py`, `mbo.py`) turns its format into record batches of `EVENTS`, streamed
block by block; the engine (`engine.py`) only ever sees these codes. `raw_action` keeps the feed's
own code, so nothing a venue said is lost in the mapping.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date as Date

import pyarrow as pa

from archive.errors import SalvageError

# Action codes (uint8): what an event does to the book.
NONE = 0     # nothing (Databento N, a heartbeat-like record)
ADD = 1      # a new resting order (LOBSTER 1, Databento A)
REDUCE = 2   # take `size` off an order; it leaves the book at zero (LOBSTER 2 and 4, Databento C)
DELETE = 3   # remove an order whatever its remaining size (LOBSTER 3)
MODIFY = 4   # the order now rests at `price` with `size` (Databento M)
CLEAR = 5    # empty the whole book of the instrument (Databento R)
TRADE = 6    # a trade that does not change the book (LOBSTER 5 and 6, Databento T and F)
HALT = 7     # trading halt / quoting / resume indicator (LOBSTER 7: price -1, 0, 1)

# Side codes (int8).
BID, ASK, NO_SIDE = 1, -1, 0

# Databento record flags (the `flags` column).
F_LAST = 128            # the last record of an event: the book is consistent after it
F_TOB = 64
F_SNAPSHOT = 32         # part of a snapshot (replayed book at session start or after a gap)
F_MBP = 16
F_BAD_TS_RECV = 8
F_MAYBE_BAD_BOOK = 4    # the venue's book may be wrong from here (a gap in the venue's feed)

EVENTS_VERSION = 1
EVENTS = pa.schema(
    [
        pa.field("ts", pa.int64(), nullable=False),       # ns since the epoch, UTC
        pa.field("ts_event", pa.int64()),                 # the venue's event time, when given
        pa.field("action", pa.uint8(), nullable=False),
        pa.field("side", pa.int8(), nullable=False),
        pa.field("price", pa.int64()),                    # feed units: FeedInfo.price_scale per 1
        pa.field("size", pa.int64(), nullable=False),
        pa.field("order_id", pa.uint64(), nullable=False),
        pa.field("flags", pa.uint8(), nullable=False),
        pa.field("sequence", pa.int64()),                 # null when the feed has none
        pa.field("channel", pa.int32()),
        pa.field("line", pa.int64(), nullable=False),     # 1-based line in the source file
        pa.field("raw_action", pa.string(), nullable=False),
        pa.field("instrument_id", pa.uint32()),           # MBO's instrument_id; null for LOBSTER
    ],
    metadata={"salvage.table": "book_events", "salvage.schema_version": str(EVENTS_VERSION)},
)

BOOK_ROWS_VERSION = 1


def level_columns(depth: int) -> list[str]:
    """`ask_price_1, ask_size_1, bid_price_1, bid_size_1, ...` to `depth`: LOBSTER's order."""
    names = []
    for j in range(1, depth + 1):
        names += [f"ask_price_{j}", f"ask_size_{j}", f"bid_price_{j}", f"bid_size_{j}"]
    return names


def book_rows_schema(depth: int, metadata: dict[str, str] | None = None) -> pa.Schema:
    """The schema of replayed book rows: `ts` (int64 ns UTC) then the level columns (int64,
    null for an empty level). `metadata` goes into the schema (price scale, depth, counts...)."""
    meta = {"salvage.table": "book_rows", "salvage.schema_version": str(BOOK_ROWS_VERSION)}
    meta.update(metadata or {})
    fields = [pa.field("ts", pa.int64(), nullable=False)]
    fields += [pa.field(name, pa.int64()) for name in level_columns(depth)]
    return pa.schema(fields, metadata=meta)


@dataclass(frozen=True)
class FeedInfo:
    """What a feed file is: its format, the price units, and what it is about."""

    format: str                 # "lobster" | "mbo" | "itch" | "l2"
    price_scale: int            # feed price units per 1 currency unit (10_000; 1_000_000_000)
    symbol: str | None = None
    venue: str | None = None    # a MIC when known (LOBSTER: XNAS), else the venue's name
    date: Date | None = None
    size_scale: int = 1         # feed size units per 1 share/coin (L2 crypto feeds: 10**8)

    def as_metadata(self) -> dict[str, str]:
        return {"salvage.format": self.format, "salvage.price_scale": str(self.price_scale),
                "salvage.symbol": self.symbol or "", "salvage.venue": self.venue or "",
                "salvage.date": self.date.isoformat() if self.date else "",
                "salvage.size_scale": str(self.size_scale)}


class FeedError(SalvageError):
    """A problem with a feed file at a line (1-based; 0 when it concerns the whole file)."""

    def __init__(self, line: int, reason: str, path: str | None = None) -> None:
        self.line = line
        self.reason = reason
        self.path = path
        where = f"{path}: " if path else ""
        super().__init__(f"{where}line {line}: {reason}" if line else f"{where}{reason}")

    def as_dict(self) -> dict:
        return {"kind": type(self).__name__, "line": self.line, "reason": self.reason}


class MalformedRow(FeedError):
    """A row that cannot be read (wrong number of fields, a value of the wrong kind, an unknown
    code). It is skipped; the rows after it still replay."""


class RejectedEvent(FeedError):
    """A well-formed event the book cannot apply (an add without a side or a size, an add of an
    order id that is already resting). Skipped; counted."""


class UnreadableFeed(FeedError):
    """The file cannot be read at all (missing, not this format, no usable row)."""


class MixedInstruments(FeedError):
    """A book is one instrument's: the file holds several and none was chosen."""


FINDING_KINDS = ("sequence_gap", "filled", "checksum_mismatch", "stale_snapshot", "unknown_state",
                 "resynced", "snapshot_verified", "snapshot_mismatch")


@dataclass
class FeedFinding:
    """What a reader found about the feed's integrity while reading it (kinds: FINDING_KINDS).

    sequence_gap: sequence numbers first_seq..last_seq are missing (after A/B arbitration: no
        line had them); filled: a line lacked first_seq..last_seq and another line supplied them
        (`source` names the line that lacked them); checksum_mismatch: the venue's checksum
        differs from the book's at `line`; stale_snapshot: a snapshot older than the stream it
        should start (cannot be used); unknown_state: the book is not known to be exact from
        from_ts to to_ts (None: to the end of the file), lines `line`..`last_line`; resynced:
        the book is exact again from the snapshot at `line`; snapshot_verified /
        snapshot_mismatch: a snapshot met while the book was believed exact agreed with it / did
        not (`detail` says how many levels differ)."""

    kind: str
    line: int                           # 1-based line or message where it was found; 0: file
    detail: str
    symbol: str | None = None
    first_seq: int | None = None
    last_seq: int | None = None
    from_ts: int | None = None          # ns since the epoch, UTC
    to_ts: int | None = None
    last_line: int | None = None
    source: str | None = None           # the line (file name) concerned, for A/B captures

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class Feed:
    """A feed file, read lazily: `batches()` streams `EVENTS` record batches (each block of the
    file parsed by pyarrow, never row by row in Python); malformed rows are skipped and collected
    in `errors` while iterating."""

    info: FeedInfo
    path: object

    def __init__(self, info: FeedInfo) -> None:
        self.info = info
        self.errors: list[FeedError] = []
        self.findings: list[FeedFinding] = []   # integrity findings, filled while iterating
        self.blank_lines = 0

    def batches(self) -> Iterator[pa.RecordBatch]:  # pragma: no cover - abstract
        raise NotImplementedError

    def symbols(self) -> pa.Table:
        """The instruments in the file: instrument_id, symbol, events (one pass over the file)."""
        n = sum(b.num_rows for b in self.batches())
        return pa.table({"instrument_id": pa.array([None], pa.uint32()),
                         "symbol": [self.info.symbol], "events": [n]})

    def table(self) -> pa.Table:
        """Every event at once (small files, tests)."""
        return pa.Table.from_batches(list(self.batches()), schema=EVENTS)


def counts_json(counts: dict) -> str:
    return json.dumps(counts, sort_keys=True)
