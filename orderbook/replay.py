"""Replay a feed file into the top N levels after every event, and write the rows out.

One output row per input event, in input order: `ts`, then `ask_price_1, ask_size_1, bid_price_1,
bid_size_1, ...` to the depth (LOBSTER's column order), prices in the feed's integer units, empty
levels null. The price scale, depth, format, symbol and counts go into the Parquet/Arrow schema
metadata, and for CSV into a sidecar `OUT.csv.meta.json`.

LOBSTER: orderbook row i is the book after message i, so the book before the first message is the
first row with that message undone; with that seed, deletes and executions of orders that were
resting before the file began fall back to their level, and the rows keep supplying levels that
enter the top N from beyond what the messages cover (see engine.py). Without an orderbook file the
replay starts from an empty book and its first rows lack the orders resting at the open
(`started_empty` in the counts).
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from datetime import date as Date
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from archive.errors import SalvageError
from orderbook.engine import Book, Checkpoint
from orderbook.events import (
    ADD,
    ASK,
    BID,
    DELETE,
    REDUCE,
    Feed,
    FeedError,
    FeedFinding,
    FeedInfo,
    MixedInstruments,
    UnreadableFeed,
    counts_json,
    level_columns,
)
from orderbook.lobster import BookRows, book_file_for, parse_lobster_name, read_lobster
from orderbook.mbo import read_mbo
from storage.atomic import fsync_dir, write_atomic

FORMATS = ("lobster", "mbo", "itch", "l2")
OUTPUTS = (".csv", ".parquet", ".arrow")


class BadOutput(SalvageError):
    """The output file cannot be written (unknown extension, missing folder)."""


@dataclass
class ReplayResult:
    table: pa.Table
    counts: dict[str, int]
    errors: list[FeedError]
    info: FeedInfo
    depth: int
    source: str = ""
    book_file: str | None = None
    instruments: list[int] = field(default_factory=list)
    findings: list[FeedFinding] = field(default_factory=list)  # the reader's integrity findings

    def metadata(self) -> dict[str, str]:
        meta = self.info.as_metadata()
        meta.update({"salvage.depth": str(self.depth), "salvage.source": self.source,
                     "salvage.book_file": self.book_file or "",
                     "salvage.counts": counts_json(self.counts),
                     "salvage.errors": str(len(self.errors))})
        if self.findings:
            meta["salvage.findings"] = json.dumps([f.as_dict() for f in self.findings[:1000]])
        return meta

    def summary(self) -> str:
        c = self.counts
        what = " ".join(str(x) for x in (self.info.symbol, self.info.date) if x)
        errors = f"{len(self.errors):,} error{'' if len(self.errors) == 1 else 's'}"
        if self.errors:
            more = ", ..." if len(self.errors) > 10 else ""
            shown = ", ".join(str(e.line) for e in self.errors[:10])
            errors += f" (line{'' if len(self.errors) == 1 else 's'} {shown}{more})"
        parts = [f"{c['events']:,} events", f"{self.table.num_rows:,} rows", errors]
        notes = [("unknown_order_fallbacks", "unknown-order fallbacks"),
                 ("unknown_orders_ignored", "events on unknown orders ignored"),
                 ("levels_supplied_by_book_file", "levels supplied by the book file"),
                 ("book_mismatches", "rows corrected from the book file"),
                 ("duplicates", "duplicates ignored"), ("crossed", "crossed rows"),
                 ("locked", "locked rows")]
        parts += [f"{c[k]:,} {label}" for k, label in notes if c.get(k)]
        if c.get("started_empty"):
            parts.append("started from an empty book (no orderbook file): the first rows lack "
                         "the orders resting at the start")
        head = f"{what} ({self.info.format})" if what else self.info.format
        return f"{head}: " + ", ".join(parts)


def open_feed(path: Path | str | list[Path | str], fmt: str | None = None, *,
              symbol: str | None = None, date: Date | None = None, venue: str | None = None,
              batch_rows: int = 1_000_000) -> Feed:
    """A feed for `path` in `fmt` ("lobster" | "mbo" | "itch" | "l2"; guessed from the name or
    the first bytes when None). A list of paths: redundant captures (A/B lines) of one ITCH or
    L2 feed, merged by sequence number. `venue` names an L2 feed's venue (binance, coinbase,
    kraken; guessed from its first messages when None)."""
    paths = [Path(p) for p in path] if isinstance(path, list) else [Path(path)]
    if not paths:
        raise UnreadableFeed(0, "no feed file given")
    first = paths[0]
    if fmt is None:
        fmt = _guess(first)
    if len(paths) > 1 and fmt not in ("itch", "l2"):
        raise UnreadableFeed(0, f"only ITCH and L2 captures of several lines merge, not {fmt}",
                             str(first))
    if fmt == "lobster":
        return read_lobster(first, date=date, symbol=symbol, batch_rows=batch_rows)
    if fmt == "mbo":
        return read_mbo(first, symbol=symbol, batch_rows=batch_rows)
    if fmt == "itch":
        from orderbook.itch import read_itch

        return read_itch(paths if len(paths) > 1 else first, symbol=symbol, date=date,
                         batch_rows=batch_rows)
    if fmt == "l2":
        from orderbook.l2 import read_l2

        return read_l2(paths, venue or guess_venue(first), symbol=symbol, date=date)
    raise UnreadableFeed(0, f"unknown format {fmt!r}: choose {', '.join(FORMATS)}", str(first))


L2_MARKERS = {"binance": ("depthUpdate", "lastUpdateId"), "coinbase": ("l2_data",),
              "kraken": ('"book"', "book-")}


def guess_venue(path: Path, lines: int = 50) -> str:
    """An L2 capture's venue from the markers in its first messages."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            head = "".join(fh.readline(1 << 16) for _ in range(lines))
    except OSError as e:
        raise UnreadableFeed(0, f"cannot read the file: {e.strerror or e}", str(path)) from e
    for venue, markers in L2_MARKERS.items():
        if any(m in head for m in markers):
            return venue
    raise UnreadableFeed(0, "cannot tell the L2 venue from the first messages: pass --venue "
                            "binance, coinbase or kraken", str(path))


def _guess(path: Path) -> str:
    if parse_lobster_name(path):
        return "lobster"
    name = path.name.lower()
    if "itch" in name or name.endswith((".pcap", ".cap")):
        return "itch"
    if name.endswith((".jsonl", ".ndjson")):
        return "l2"
    try:
        with open(path, "rb") as fh:
            first = fh.readline(4096).decode("utf-8", "replace")
    except OSError as e:
        raise UnreadableFeed(0, f"cannot read the file: {e.strerror or e}", str(path)) from e
    if "ts_recv" in first:
        return "mbo"
    if first.lstrip().startswith(("{", "[")) or first[:4].isdigit() and " {" in first:
        return "l2"
    fields = first.strip().split(",")
    if len(fields) == 6 and all(f.strip().lstrip("-").replace(".", "", 1).isdigit()
                                for f in fields):
        return "lobster"
    raise UnreadableFeed(0, "cannot tell the format from the name or the first line: "
                            f"pass --format ({', '.join(FORMATS)})", str(path))


def seed_checkpoint(first: pa.RecordBatch, row: dict, depth_l: int,
                    price_scale: int) -> Checkpoint:
    """The book before the first message of `first`: `row` (its orderbook row, as a dict of
    level columns) with the message undone; levels are exact down to the row's last level."""
    levels: dict[tuple[int, int], int] = {}
    for side, name in ((ASK, "ask"), (BID, "bid")):
        for j in range(1, depth_l + 1):
            price, size = row[f"{name}_price_{j}"], row[f"{name}_size_{j}"]
            if price is not None and size:
                levels[(side, price)] = size
    event = first.slice(0, 1).to_pylist()[0]
    key = (event["side"], event["price"])
    if event["action"] == ADD:
        levels[key] = levels.get(key, 0) - event["size"]
    elif event["action"] in (REDUCE, DELETE):
        levels[key] = levels.get(key, 0) + event["size"]
    kept = [(s, p, q) for (s, p), q in levels.items() if q > 0]
    table = pa.table({"side": pa.array([s for s, _, _ in kept], pa.int8()),
                      "price": pa.array([p for _, p, _ in kept], pa.int64()),
                      "size": pa.array([q for _, _, q in kept], pa.int64()),
                      "orders": pa.array([0] * len(kept), pa.int32())})
    full = {name: row[f"{name}_price_{depth_l}"] for name in ("ask", "bid")}
    empty_orders = pa.table({"order_id": pa.array([], pa.uint64()),
                             "side": pa.array([], pa.int8()), "price": pa.array([], pa.int64()),
                             "size": pa.array([], pa.int64()),
                             "priority": pa.array([], pa.int64())})
    return Checkpoint(ts=event["ts"], events=0, orders=empty_orders, levels=table,
                      known_bid=full["bid"], known_ask=full["ask"], price_scale=price_scale)


_seed = seed_checkpoint  # the name store.py imports


def replay(feed: Feed, depth: int, *, book_file: Path | None = None, symbol: str | None = None,
           use_book: bool = True) -> ReplayResult:
    """Replay `feed` (one instrument) into a table of top-`depth` rows, one per event."""
    if depth < 1:
        raise ValueError("depth must be at least 1")
    info = feed.info
    if info.format == "lobster":
        if symbol and info.symbol and symbol != info.symbol:
            raise MixedInstruments(0, f"this LOBSTER file is {info.symbol}, not {symbol}",
                                   str(feed.path))
        return _replay_lobster(feed, depth, book_file, use_book)
    if book_file is not None:
        raise UnreadableFeed(0, "--book goes with LOBSTER message files only", str(book_file))
    if symbol and getattr(feed, "symbol", None) != symbol:
        feed = feed.for_symbol(symbol)
    return _replay_mbo(feed, depth)


def _replay_lobster(feed: Feed, depth: int, book_file: Path | None,
                    use_book: bool) -> ReplayResult:
    path = Path(book_file) if book_file else (book_file_for(feed.path) if use_book else None)
    if path is not None and not path.is_file():
        raise UnreadableFeed(0, "no such orderbook file", str(path))
    rows = BookRows(path, batch_rows=feed.batch_rows) if path else None
    book = Book(depth, feed.info.price_scale)
    started_empty = rows is None
    outputs = []
    first = True
    for batch in feed.batches():
        if rows is None:
            outputs.append(book.apply(batch))
            continue
        aligned = rows.rows_for(batch.column("line").to_numpy())
        if first:
            head = aligned.slice(0, 1).to_pylist()[0]
            if head["present"]:
                book = Book.from_checkpoint(
                    seed_checkpoint(batch, head, rows.depth, feed.info.price_scale), depth)
            else:
                started_empty = True
        first = False
        outputs.append(book.apply(batch, aligned))
    counts = book.counts
    counts["started_empty"] = int(started_empty)
    counts["malformed_rows"] = len(feed.errors)
    counts["blank_lines"] = feed.blank_lines
    errors = sorted([*feed.errors, *(rows.errors if rows else []), *book.errors],
                    key=lambda e: e.line)
    if not outputs and feed.errors:
        raise UnreadableFeed(0, f"no row could be read ({len(feed.errors)} malformed; the first: "
                                f"{feed.errors[0]})", str(feed.path))
    return _result(book, outputs, counts, errors, feed, path)


def _replay_mbo(feed: Feed, depth: int) -> ReplayResult:
    book = Book(depth, feed.info.price_scale)
    outputs = []
    seen: set[int] = set()
    for batch in feed.batches():
        ids = batch.column("instrument_id").unique().to_pylist()
        seen.update(i for i in ids if i is not None)
        if len(seen) > 1:
            listed = feed.symbols().to_pylist()
            names = ", ".join(f"{r['symbol'] or '?'} (instrument_id {r['instrument_id']}, "
                              f"{r['events']:,} events)" for r in listed[:12])
            raise MixedInstruments(0, f"the file holds {len(listed)} instruments: {names}; "
                                      "choose one with --symbol (a symbol or an instrument_id)",
                                   str(feed.path))
        outputs.append(book.apply(batch))
    if not outputs and feed.errors:
        raise UnreadableFeed(0, f"no row could be read ({len(feed.errors)} malformed; the first: "
                                f"{feed.errors[0]})", str(feed.path))
    counts = book.counts
    counts["started_empty"] = 0
    counts["malformed_rows"] = len(feed.errors)
    counts["blank_lines"] = feed.blank_lines
    errors = sorted([*feed.errors, *book.errors], key=lambda e: e.line)
    result = _result(book, outputs, counts, errors, feed, None)
    symbols = getattr(feed, "seen_symbols", set())
    if result.info.symbol is None and len(symbols) == 1:
        result.info = dataclasses.replace(result.info, symbol=next(iter(symbols)))
    result.instruments = sorted(seen)
    return result


def _result(book: Book, outputs: list, counts: dict, errors: list, feed: Feed,
            book_file: Path | None) -> ReplayResult:
    table = pa.Table.from_batches(outputs, schema=book.schema)
    result = ReplayResult(table, counts, errors, feed.info, book.depth, str(feed.path),
                          str(book_file) if book_file else None,
                          findings=list(getattr(feed, "findings", [])))
    result.table = table.replace_schema_metadata(
        {**(book.schema.metadata or {}), **{k.encode(): v.encode()
                                            for k, v in result.metadata().items()}})
    return result


# -- writing ---------------------------------------------------------------------------------------


def _sidecar(result: ReplayResult) -> dict:
    info = result.info
    return {
        "format": info.format, "symbol": info.symbol, "venue": info.venue,
        "date": info.date.isoformat() if info.date else None,
        "price_scale": info.price_scale, "size_scale": info.size_scale, "depth": result.depth,
        "columns": ["ts", *level_columns(result.depth)],
        "ts": "nanoseconds since 1970-01-01 UTC",
        "source": result.source, "book_file": result.book_file,
        "counts": result.counts,
        "errors": [e.as_dict() for e in result.errors[:1000]],
        "errors_total": len(result.errors),
        "findings": [f.as_dict() for f in result.findings[:1000]],
    }


def write_replay(result: ReplayResult, out: Path) -> None:
    """Write the rows to `out` (.csv with a header and `OUT.csv.meta.json`, .parquet, .arrow),
    crash-safely: a temporary sibling, fsync, rename."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in OUTPUTS:
        raise BadOutput(f"cannot write {out.name}: the output must end in .csv, .parquet or "
                        ".arrow")
    if not out.parent.is_dir():
        raise BadOutput(f"cannot write {out}: the folder {out.parent} does not exist")
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    table = result.table.replace_schema_metadata(
        {**(result.table.schema.metadata or {}),
         **{k.encode(): v.encode() for k, v in result.metadata().items()}})
    try:
        if suffix == ".csv":
            with pa.OSFile(str(tmp), "wb") as sink:
                sink.write((",".join(table.column_names) + "\n").encode())
                pcsv.write_csv(table, sink, pcsv.WriteOptions(include_header=False,
                                                              quoting_style="none"))
        elif suffix == ".parquet":
            pq.write_table(table, tmp)
        else:
            with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
                w.write_table(table)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, out)
        fsync_dir(out.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if suffix == ".csv":
        meta = json.dumps(_sidecar(result), indent=2, default=str) + "\n"
        write_atomic(out.with_name(out.name + ".meta.json"), meta.encode())


def read_replay(path: Path) -> tuple[pa.Table, dict]:
    """Read rows written by write_replay back: (table, metadata as a dict)."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        meta = json.loads(path.with_name(path.name + ".meta.json").read_text())
        names = meta["columns"]
        table = pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(
            column_types={n: pa.int64() for n in names}))
        return table, meta
    if path.suffix.lower() == ".parquet":
        table = pq.read_table(path)
    else:
        with pa.memory_map(str(path)) as source:
            table = pa.ipc.open_file(source).read_all()
    raw = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    meta = dict(raw)
    if "salvage.counts" in raw:
        meta["counts"] = json.loads(raw["salvage.counts"])
    meta["price_scale"] = int(raw.get("salvage.price_scale", "1"))
    meta["depth"] = int(raw.get("salvage.depth", "0"))
    return table, meta
