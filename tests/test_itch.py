"""NASDAQ TotalView-ITCH 5.0 reader (orderbook/itch.py): the real sample's first 1,000 messages,
messages written here from the specification's layouts and replayed through the book engine,
and broken files."""

from __future__ import annotations

import struct
from datetime import date
from pathlib import Path

import pytest

from orderbook.engine import Book
from orderbook.events import (
    ADD,
    ASK,
    BID,
    DELETE,
    EVENTS,
    HALT,
    NO_SIDE,
    NONE,
    REDUCE,
    TRADE,
    MalformedRow,
    UnreadableFeed,
)
from orderbook.itch import BrokenFraming, date_from_name, read_itch
from orderbook.itchwrite import add, directory
from orderbook.itchwrite import message as msg
from orderbook.lobster import midnight_ns

SAMPLE = Path(__file__).parent / "fixtures" / "orderbook" / "itch-sample.itch"
DAY = date(2019, 1, 30)


def test_sample_parses_completely():
    feed = read_itch(SAMPLE, date=DAY)
    table = feed.table()
    assert feed.errors == []
    assert feed.messages == 1000
    assert feed.counts == {"S": 1, "R": 993, "H": 3, "Y": 3}
    assert sum(feed.counts.values()) == 1000
    assert table.schema == EVENTS
    # the system event ('O', start of messages) and the three trading actions ('T': trading)
    assert table.column("raw_action").to_pylist() == ["S", "H", "H", "H"]
    assert table.column("action").to_pylist() == [NONE, HALT, HALT, HALT]
    assert table.column("line").to_pylist() == [1, 82, 265, 583]
    assert table.column("sequence").to_pylist() == [0, 81, 264, 582]
    assert table.column("instrument_id").to_pylist() == [None, 1, 2, 3]
    assert table.column("price").to_pylist() == [None, 1, 1, 1]
    assert feed.system_events == [(1, 0, "O")]
    assert feed.trading_states == [(82, 1, "T"), (265, 2, "T"), (583, 3, "T")]
    ts = table.column("ts").to_pylist()
    assert ts == table.column("ts_event").to_pylist() and ts == sorted(ts)
    assert midnight_ns(DAY) < ts[0] < midnight_ns(DAY) + 6 * 3600 * 10**9  # before 6 a.m.
    assert len(feed.directory) == 993
    for locate, symbol in [(1, "A"), (2, "AA"), (13, "AAPL"), (89, "ADBE"), (393, "AMZN")]:
        assert feed.directory[locate] == symbol
    symbols = feed.symbols()
    assert symbols.num_rows == 993
    assert symbols.slice(0, 3).to_pylist() == [
        {"instrument_id": 1, "symbol": "A", "events": 1},
        {"instrument_id": 2, "symbol": "AA", "events": 1},
        {"instrument_id": 3, "symbol": "AAAU", "events": 1}]
    # a few messages per step gives the same events
    assert read_itch(SAMPLE, date=DAY, batch_rows=7).table().equals(table)


def test_symbol_filter_keeps_one_locate_and_the_system_events():
    feed = read_itch(SAMPLE, date=DAY, symbol="AA")
    assert feed.table().column("instrument_id").to_pylist() == [None, 2]
    assert feed.symbols().to_pylist() == [{"instrument_id": 2, "symbol": "AA", "events": 1}]
    assert read_itch(SAMPLE, date=DAY, symbol="3").table().column("line").to_pylist() == [1, 583]
    missing = read_itch(SAMPLE, date=DAY, symbol="NOPE")
    assert missing.table().num_rows == 1 and missing.errors[0].line == 0


def synthetic() -> bytes:
    L = 7
    return b"".join([
        msg("S", 0, 100, b"O"),                                              # 1
        directory(L, "ZVZZT"),                                               # 2
        directory(8, "OTHER"),                                               # 3
        add(L, 200, 1, "B", 100, 100_000),                                   # 4
        add(L, 210, 2, "B", 200, 100_100),                                   # 5
        add(L, 220, 3, "S", 300, 100_500, mpid="ABCD"),                      # 6
        add(L, 230, 4, "S", 50, 100_300),                                    # 7
        add(8, 235, 9, "B", 999, 200_000),                                   # 8 other stock
        msg("E", L, 240, struct.pack(">QIQ", 2, 50, 11)),                    # 9
        msg("C", L, 250, struct.pack(">QIQcI", 4, 20, 12, b"Y", 100_250)),   # 10
        msg("X", L, 260, struct.pack(">QI", 1, 40)),                         # 11
        msg("D", L, 270, struct.pack(">Q", 2)),                              # 12
        msg("U", L, 280, struct.pack(">QQII", 4, 5, 80, 100_200)),           # 13
        msg("P", L, 290, struct.pack(">QcI8sIQ", 0, b"B", 500, b"ZVZZT   ", 100_100, 13)),
        msg("Q", L, 300, struct.pack(">Q8sIQc", 1000, b"ZVZZT   ", 100_150, 14, b"O")),
        msg("Y", L, 305, struct.pack(">8sc", b"ZVZZT   ", b"1")),             # 16 skipped
        msg("H", L, 310, struct.pack(">8scc4s", b"ZVZZT   ", b"H", b" ", b"T1  ")),
    ])


def test_specification_messages_build_the_book(tmp_path):
    path = tmp_path / "20190130.ZVZZT.itch"   # the day from the file name
    path.write_bytes(synthetic())
    feed = read_itch(path, symbol="ZVZZT")
    assert feed.info.date == DAY and feed.info.price_scale == 10_000
    batch = feed.table().combine_chunks().to_batches()[0]
    assert feed.errors == []
    assert feed.counts == {"S": 1, "R": 2, "A": 4, "F": 1, "E": 1, "C": 1, "X": 1, "D": 1,
                           "U": 1, "P": 1, "Q": 1, "Y": 1, "H": 1}
    rows = batch.to_pylist()
    assert [r["raw_action"] for r in rows] == list("SAAFAECXDUUPQH")
    assert [r["line"] for r in rows] == [1, 4, 5, 6, 7, 9, 10, 11, 12, 13, 13, 14, 15, 17]
    assert [r["sequence"] for r in rows] == [r["line"] - 1 for r in rows]
    assert [r["action"] for r in rows] == [NONE, ADD, ADD, ADD, ADD, REDUCE, REDUCE, REDUCE,
                                           DELETE, DELETE, ADD, TRADE, TRADE, HALT]
    assert [r["side"] for r in rows] == [NO_SIDE, BID, BID, ASK, ASK, BID, ASK, BID, BID, ASK,
                                         ASK, BID, NO_SIDE, NO_SIDE]
    assert [r["order_id"] for r in rows] == [0, 1, 2, 3, 4, 2, 4, 1, 2, 4, 5, 0, 0, 0]
    assert [r["size"] for r in rows] == [0, 100, 200, 300, 50, 50, 20, 40, 0, 0, 80, 500,
                                         1000, 0]
    # E, X, D carry no price; C its execution price; the halt LOBSTER's -1
    assert [r["price"] for r in rows] == [None, 100_000, 100_100, 100_500, 100_300, None,
                                          100_250, None, None, None, 100_200, 100_100,
                                          100_150, -1]
    assert [r["instrument_id"] for r in rows] == [None] + [7] * 13
    assert rows[1]["ts"] == midnight_ns(DAY) + 200 and rows[1]["ts_event"] == rows[1]["ts"]

    book = Book(depth=5).apply(batch).to_pylist()
    best = [(r["bid_price_1"], r["bid_size_1"], r["ask_price_1"], r["ask_size_1"]) for r in book]
    assert best == [
        (None, None, None, None),          # S
        (100_000, 100, None, None),        # A 1: bid 100 @ 10.00
        (100_100, 200, None, None),        # A 2: bid 200 @ 10.01
        (100_100, 200, 100_500, 300),      # F 3: ask 300 @ 10.05
        (100_100, 200, 100_300, 50),       # A 4: ask 50 @ 10.03
        (100_100, 150, 100_300, 50),       # E 2: 50 executed
        (100_100, 150, 100_300, 30),       # C 4: 20 executed (at 10.025)
        (100_100, 150, 100_300, 30),       # X 1: 40 cancelled (level 2 of the bids)
        (100_000, 60, 100_300, 30),        # D 2
        (100_000, 60, 100_500, 300),       # U 4 -> 5: the delete
        (100_000, 60, 100_200, 80),        #          the add, 80 @ 10.02 on the ask
        (100_000, 60, 100_200, 80),        # P: hidden trade
        (100_000, 60, 100_200, 80),        # Q: cross
        (100_000, 60, 100_200, 80),        # H: halt
    ]
    second_bid = [(r["bid_price_2"], r["bid_size_2"]) for r in book[6:9]]
    assert second_bid == [(100_000, 100), (100_000, 60), (None, None)]   # the cancel, then D 2
    assert feed.symbols().to_pylist() == [{"instrument_id": 7, "symbol": "ZVZZT", "events": 13}]
    assert read_itch(path).symbols().column("events").to_pylist() == [13, 1]


def test_truncated_file_reports_the_message_and_keeps_the_rest(tmp_path):
    data = SAMPLE.read_bytes()
    path = tmp_path / "cut.itch"
    path.write_bytes(data[:-5])                  # the 1,000th message loses its last bytes
    feed = read_itch(path, date=DAY)
    table = feed.table()
    assert [type(e) for e in feed.errors] == [BrokenFraming]
    assert feed.errors[0].line == 1000 and "runs past the end" in feed.errors[0].reason
    assert sum(feed.counts.values()) == 999 and feed.messages == 999
    assert table.num_rows == 4 and len(feed.directory) == 992   # the last was a directory

    path.write_bytes(data + b"\x00")             # a length prefix cut in half
    feed = read_itch(path, date=DAY)
    assert feed.table().num_rows == 4
    assert [(type(e), e.line) for e in feed.errors] == [(BrokenFraming, 1001)]


def test_bad_length_is_skipped_and_unknown_types_counted(tmp_path):
    path = tmp_path / "bad.itch"
    path.write_bytes(b"".join([
        add(7, 1, 1, "B", 10, 5000),
        msg("D", 7, 2, struct.pack(">QI", 1, 0)),     # a delete 4 bytes too long
        msg("z", 7, 3, b"future"),                    # a letter ITCH 5.0 does not define
        msg("D", 7, 4, struct.pack(">Q", 1)),
        struct.pack(">H", 3) + b"\x01\x02\x03",      # not a type letter: the framing is lost
        msg("D", 7, 5, struct.pack(">Q", 1)),
    ]))
    feed = read_itch(path, date=DAY)
    rows = feed.table().to_pylist()
    assert [(r["raw_action"], r["line"]) for r in rows] == [("A", 1), ("D", 4)]
    assert [(type(e), e.line) for e in feed.errors] == [(MalformedRow, 2), (BrokenFraming, 5)]
    assert "'D' message is 19 bytes long, this one 23" in feed.errors[0].reason
    assert feed.counts == {"A": 1, "D": 1, "z": 1, "malformed": 1}


def test_the_day():
    assert date_from_name("01302019.NASDAQ_ITCH50") == DAY
    assert date_from_name("S20190130-v50.itch") == DAY
    assert date_from_name("sample.itch") is None
    with pytest.raises(UnreadableFeed):
        read_itch(SAMPLE)
    with pytest.raises(UnreadableFeed):
        list(read_itch(Path("/nonexistent/20190130.itch")).batches())
