"""The demo's market-data act: LOBSTER's AAPL sample replayed against its own orderbook file,
then a copy with a 15-second hole (as a capture with holes arrives) dropped in the feed folder:
imported, asked for the book at a moment, and the hole found as an `orderbook.time_gap`; the
AAPL liquidity windows; an ITCH feed captured on its A and B lines (each line dropping packets,
one packet lost on both) merged into one stream; a Coinbase L2 capture with a sequence jump,
resynchronised from its next snapshot. The second act's detect-gaps turns the last two into
incidents."""

from __future__ import annotations

import os
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from archive.home import Home
from storage.incidents import IncidentStore

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "orderbook"
COINBASE = SAMPLE / "l2" / "coinbase_btcusd.jsonl"
OPEN_NS = 34_200_000_000_000  # 9:30 New York, in ns after midnight
DROPS = {"lineA": (5, 9, 20), "lineB": (12, 20)}  # MoldUDP64 packets each line lost
MESSAGES = "AAPL_2012-06-21_34200000_57600000_message_10.csv"
BOOK = "AAPL_2012-06-21_34200000_57600000_orderbook_10.csv"
HOLE = (34210.0, 34225.0)  # seconds after midnight, New York: 09:30:10 to 09:30:25
AT = "2012-06-21T13:30:05Z"  # 09:30:05 New York (EDT)


def holed_copy(folder: Path) -> int:
    """The sample pair without the events of HOLE (and their book rows); returns how many."""
    messages = (SAMPLE / MESSAGES).read_text().splitlines(keepends=True)
    books = (SAMPLE / BOOK).read_text().splitlines(keepends=True)
    keep = [i for i, line in enumerate(messages)
            if not HOLE[0] <= float(line.split(",", 1)[0]) < HOLE[1]]
    (folder / MESSAGES).write_text("".join(messages[i] for i in keep))
    (folder / BOOK).write_text("".join(books[i] for i in keep))
    return len(messages) - len(keep)


def books_act(console: Console, home: Home) -> None:
    from flows.ingest import ingest_feeds
    from orderbook.at import book_at
    from orderbook.lobster import read_lobster_book
    from orderbook.replay import open_feed, replay

    result = replay(open_feed(SAMPLE / MESSAGES), depth=10)
    truth = read_lobster_book(SAMPLE / BOOK, depth=10)
    same = result.table.drop_columns(["ts"]).equals(truth.select(result.table.column_names[1:]))
    console.print(f"\n7b. salvage book replay {MESSAGES} --depth 10: {result.table.num_rows} rows, "
                  f"identical to LOBSTER's own orderbook file: {same}")
    feeds = home.root / "feeds"
    feeds.mkdir(exist_ok=True)
    cut = holed_copy(feeds)
    settled = time.time() - 60
    for path in feeds.iterdir():
        os.utime(path, (settled, settled))
    report = ingest_feeds(home=str(home.root))
    found = book_at(home, "AAPL", AT, depth=5)
    view = Table("bid size", "bid", "ask", "ask size",
                 title=f"7c. flow ingest-feeds: {report['events']} events stored ({cut} cut out "
                       f"as a capture hole); salvage book at AAPL {AT}")
    for bid, ask in zip(found.bids, found.asks, strict=False):
        view.add_row(f"{bid['size']:,}", f"{bid['price'] / found.price_scale:.2f}",
                     f"{ask['price'] / found.price_scale:.2f}", f"{ask['size']:,}")
    console.print(view)
    for incident in IncidentStore(home).incidents():
        if incident.type.startswith("orderbook."):
            console.print(f"   {incident.id} {incident.type}: {incident.subject}",
                          highlight=False)
    liquidity_step(console, home)
    feeds_step(console, home)


def liquidity_step(console: Console, home: Home) -> None:
    from orderbook.liquidity import liquidity

    table = liquidity(home, "AAPL", "2012-06-21T13:30:00Z", "2012-06-21T13:30:50Z",
                      interval_ns=10 * 10**9, size=500, bps=(10,))
    view = Table("from", "events", "spread bps (twa)", "depth ±10 bps", "buy 500: bps",
                 title="7d. salvage book liquidity AAPL --interval 10s --size 500")
    for r in table.to_pylist():
        view.add_row(f"{r['interval_start']:%H:%M:%S}Z", f"{r['events']:,}",
                     _num(r["spread_bps_twa"]), _num(r["depth_10bps_close"], 0),
                     _num(r["buy_cost_bps_close"]))
    console.print(view)


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def feeds_step(console: Console, home: Home) -> None:
    from orderbook import itchwrite
    from orderbook.store import import_feeds

    folder = home.root / "captures-ab"
    folder.mkdir(exist_ok=True)
    packets = itchwrite.packets_of(itchwrite.order_flow(
        400, seed=11, start_ns=OPEN_NS, step_ns=50_000_000))
    lines = []
    for name, lost in DROPS.items():
        path = folder / f"20190130.{name}.pcap"
        itchwrite.write_capture(path, [p for k, p in enumerate(packets) if k not in lost])
        lines.append(path)
    merged = import_feeds(home, lines, "itch", lines=True).files[0]
    names = " ".join(p.name for p in lines)
    console.print(f"\n7e. salvage book import --format itch --lines {names}: "
                  f"{merged.events:,} events of {len(merged.symbols)} stocks from "
                  f"{len(packets)} MoldUDP64 packets")
    for f in merged.findings:
        console.print(f"   {f['kind']:<13} {f['detail']}", highlight=False)
    coinbase = import_feeds(home, [COINBASE], "l2", venue="coinbase").files[0]
    console.print(f"\n7f. salvage book import --format l2 --venue coinbase {COINBASE.name}: "
                  f"{coinbase.events} events")
    for f in coinbase.findings:
        console.print(f"   {f['kind']:<13} line {f['line']}: {f['detail']}", highlight=False)
