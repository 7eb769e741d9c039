"""The demo's market-data act: LOBSTER's AAPL sample replayed against its own orderbook file,
then a copy with a 15-second hole (as a capture with holes arrives) dropped in the feed folder:
imported, asked for the book at a moment, and the hole found as an `orderbook.time_gap`."""

from __future__ import annotations

import os
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from archive.home import Home
from storage.incidents import IncidentStore

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "orderbook"
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
