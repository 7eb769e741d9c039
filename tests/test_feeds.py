"""Feed parsers: LOBSTER message and orderbook files, Databento MBO CSV, streamed by pyarrow."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from mbogen import LAST, SNAPSHOT, T0, Msg, add, cancel, modify, units, write_mbo

from orderbook.events import (
    ADD,
    ASK,
    BID,
    CLEAR,
    DELETE,
    EVENTS,
    HALT,
    MODIFY,
    NO_SIDE,
    NONE,
    REDUCE,
    TRADE,
    MalformedRow,
    UnreadableFeed,
)
from orderbook.lobster import (
    book_file_for,
    parse_lobster_name,
    read_lobster,
    read_lobster_book,
)
from orderbook.mbo import read_mbo
from orderbook.replay import open_feed

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "orderbook"
MESSAGES = FIXTURES / "AAPL_2012-06-21_34200000_57600000_message_10.csv"
BOOK = FIXTURES / "AAPL_2012-06-21_34200000_57600000_orderbook_10.csv"


def ns(dt: datetime) -> int:
    return int(dt.timestamp()) * 1_000_000_000


# -- LOBSTER ---------------------------------------------------------------------------------------


def test_lobster_sample_reads_every_message_with_its_line_and_new_york_time():
    feed = read_lobster(MESSAGES)
    table = feed.table()
    assert table.schema == EVENTS
    assert table.num_rows == 999 and feed.errors == []
    assert table["line"].to_pylist() == list(range(1, 1000))
    assert feed.info.format == "lobster" and feed.info.price_scale == 10_000
    assert (feed.info.symbol, feed.info.date, feed.info.venue) == ("AAPL", date(2012, 6, 21),
                                                                   "XNAS")
    first = table.slice(0, 1).to_pylist()[0]
    # 34200.004241176 s after midnight in New York (EDT, UTC-4) = 13:30:00.004241176 UTC
    assert first["ts"] == ns(datetime(2012, 6, 21, 13, 30, tzinfo=UTC)) + 4_241_176
    assert first["ts_event"] == first["ts"]
    assert (first["action"], first["side"], first["price"], first["size"],
            first["order_id"], first["raw_action"]) == (ADD, BID, 5853300, 18, 16113575, "1")
    assert first["sequence"] is None and first["instrument_id"] is None
    ts = table["ts"].to_pylist()
    assert ts == sorted(ts)


def test_lobster_file_names_give_symbol_date_and_level():
    assert parse_lobster_name(MESSAGES) == ("AAPL", date(2012, 6, 21), 10)
    assert parse_lobster_name("BRK.B_2020-03-02_34200000_57600000_message_50.csv") == (
        "BRK.B", date(2020, 3, 2), 50)
    assert parse_lobster_name("prices.csv") is None
    assert book_file_for(MESSAGES) == BOOK


def test_a_lobster_file_without_a_date_needs_one(tmp_path):
    path = tmp_path / "messages.csv"
    shutil.copy(MESSAGES, path)
    with pytest.raises(UnreadableFeed, match="--date"):
        read_lobster(path)
    feed = read_lobster(path, date=date(2012, 6, 21), symbol="AAPL")
    assert feed.table().num_rows == 999


def test_winter_days_are_five_hours_behind_utc(tmp_path):
    path = tmp_path / "X_2012-01-03_34200000_57600000_message_1.csv"
    path.write_text("34200.5,1,1,100,1000000,1\n")
    [event] = read_lobster(path).table().to_pylist()
    assert event["ts"] == ns(datetime(2012, 1, 3, 14, 30, tzinfo=UTC)) + 500_000_000


def test_lobster_types_halts_and_directions_become_actions(tmp_path):
    path = tmp_path / "X_2012-06-21_0_1_message_1.csv"
    path.write_text("\n".join([
        "34200.1,1,11,100,1000000,1",
        "34200.2,2,11,40,1000000,1",
        "34200.3,3,11,60,1000000,1",
        "34200.4,4,12,10,1010000,-1",
        "34200.5,5,0,25,1005000,-1",
        "34200.6,6,0,500,1004000,1",
        "34200.7,7,0,0,-1,-1",
        "34200.8,7,0,0,0,-1",
        "34200.9,7,0,0,1,-1",
    ]))
    table = read_lobster(path).table()
    assert table["action"].to_pylist() == [ADD, REDUCE, DELETE, REDUCE, TRADE, TRADE, HALT, HALT,
                                           HALT]
    assert table["raw_action"].to_pylist() == ["1", "2", "3", "4", "5", "6", "7", "7", "7"]
    assert table["side"].to_pylist() == [BID, BID, BID, ASK, ASK, BID, NO_SIDE, NO_SIDE, NO_SIDE]
    assert table["price"].to_pylist()[-3:] == [-1, 0, 1]


def test_malformed_lobster_rows_are_skipped_with_typed_errors_and_lines(tmp_path):
    path = tmp_path / "X_2012-06-21_0_1_message_1.csv"
    path.write_text("\n".join([
        "34200.1,1,11,100,1000000,1",     # 1
        "34200.2,1,12,100",               # 2 four fields
        "",                               # 3 a blank line: skipped, not an error
        "34200.3,9,13,100,1000000,1",     # 4 no type 9
        "34200.4,1,14,100,1000000,0",     # 5 direction 0
        "34200.5,1,15,,1000000,1",        # 6 empty size
        "34200.6,7,0,0,5,-1",             # 7 a halt with price 5
        "34200.7,1,16,100,1000000,-1",    # 8
    ]) + "\n")
    feed = read_lobster(path)
    table = feed.table()
    assert table["line"].to_pylist() == [1, 8]
    errors = sorted(feed.errors, key=lambda e: e.line)
    assert [(type(e), e.line) for e in errors] == [(MalformedRow, n) for n in (2, 4, 5, 6, 7)]
    reasons = {e.line: e.reason for e in feed.errors}
    assert "4 fields, expected 6" in reasons[2]
    assert "unknown event type" in reasons[4] and "direction" in reasons[5]
    assert "empty size" in reasons[6] and "halt" in reasons[7]
    assert feed.blank_lines == 1
    assert "line 4" in str(errors[1])


def test_a_bad_value_deep_in_a_file_loses_and_repeats_no_row(tmp_path):
    path = tmp_path / "X_2012-06-21_0_1_message_1.csv"
    rows = [f"{34200 + i / 1000:.3f},1,{i + 1},100,{1000000 + i},1" for i in range(20_000)]
    rows[15_000] = "34215.000,1,x15001,100,1015000,1"
    rows[15_010] = "34215.010,1,15011,100,99999999999999999999,1"
    path.write_text("\n".join(rows))
    feed = read_lobster(path, batch_rows=500)
    lines = feed.table()["line"].to_pylist()
    assert lines == [n for n in range(1, 20_001) if n not in (15_001, 15_011)]
    errors = sorted(feed.errors, key=lambda e: e.line)
    assert [e.line for e in errors] == [15_001, 15_011]
    assert "order_id is not a whole number" in errors[0].reason
    assert "price" in errors[1].reason


def test_a_trailing_newline_changes_nothing(tmp_path):
    with_newline = tmp_path / "AAPL_2012-06-21_34200000_57600000_message_10.csv"
    with_newline.write_bytes(MESSAGES.read_bytes() + b"\n")
    assert not MESSAGES.read_bytes().endswith(b"\n")
    assert read_lobster(with_newline).table().equals(read_lobster(MESSAGES).table())


def test_lobster_orderbook_rows_have_lobster_columns_and_padded_levels_are_null(tmp_path):
    book = read_lobster_book(BOOK)
    assert book.num_rows == 999 and book.num_columns == 40
    assert book.column_names[:5] == ["ask_price_1", "ask_size_1", "bid_price_1", "bid_size_1",
                                     "ask_price_2"]
    assert book.slice(0, 1).to_pylist()[0]["ask_price_1"] == 5859400
    assert read_lobster_book(BOOK, depth=2).num_columns == 8
    thin = tmp_path / "X_2012-06-21_0_1_orderbook_2.csv"
    thin.write_text("1010000,100,1000000,200,9999999999,0,-9999999999,0\n")
    [row] = read_lobster_book(thin).to_pylist()
    assert row == {"ask_price_1": 1010000, "ask_size_1": 100, "bid_price_1": 1000000,
                   "bid_size_1": 200, "ask_price_2": None, "ask_size_2": None,
                   "bid_price_2": None, "bid_size_2": None}


def test_a_missing_file_is_unreadable(tmp_path):
    with pytest.raises(UnreadableFeed, match="no such file"):
        read_lobster(tmp_path / "X_2012-06-21_0_1_message_1.csv").table()


# -- Databento MBO ---------------------------------------------------------------------------------


STREAM = [
    Msg("R", flags=SNAPSHOT),
    add(1, "B", 100.25, 10, flags=SNAPSHOT),
    add(2, "A", 100.50, 5, flags=SNAPSHOT | LAST),
    cancel(1, "B", 100.25, 4, ts=10),
    modify(2, "A", 100.75, 7, ts=20),
    Msg("T", "A", 100.50, 3, 0, ts=30),
    Msg("F", "B", 100.25, 3, 1, ts=30),
    Msg("N", ts=40),
]


def test_mbo_integer_and_pretty_styles_give_the_same_events(tmp_path):
    raw = read_mbo(write_mbo(tmp_path / "raw.csv", STREAM)).table()
    pretty = read_mbo(write_mbo(tmp_path / "pretty.csv", STREAM, pretty=True)).table()
    assert raw.num_rows == len(STREAM)
    assert raw.equals(pretty)


def test_mbo_actions_sides_prices_and_flags_are_normalised(tmp_path):
    feed = read_mbo(write_mbo(tmp_path / "mbo.csv", STREAM))
    table = feed.table()
    assert feed.errors == [] and feed.info.price_scale == 1_000_000_000
    assert table["action"].to_pylist() == [CLEAR, ADD, ADD, REDUCE, MODIFY, TRADE, TRADE, NONE]
    assert table["raw_action"].to_pylist() == ["R", "A", "A", "C", "M", "T", "F", "N"]
    assert table["side"].to_pylist() == [NO_SIDE, BID, ASK, BID, ASK, ASK, BID, NO_SIDE]
    assert table["price"].to_pylist() == [None, units(100.25), units(100.5), units(100.25),
                                          units(100.75), units(100.5), units(100.25), None]
    assert table["flags"].to_pylist()[:3] == [SNAPSHOT, SNAPSHOT, SNAPSHOT | LAST]
    assert table["sequence"].to_pylist() == list(range(1, 9))
    assert table["line"].to_pylist() == list(range(2, 10))  # the header is line 1
    assert table["ts"].to_pylist()[3] == T0 + 10
    assert table["ts_event"].to_pylist()[3] == T0 + 10 - 1000
    assert set(table["instrument_id"].to_pylist()) == {42}


def test_malformed_mbo_rows_are_skipped_with_typed_errors_and_lines(tmp_path):
    good = [add(1, "B", 10, 1), add(2, "A", 11, 1), add(3, "B", 9, 1), add(4, "A", 12, 1),
            add(5, "B", 8, 1)]
    base = f"{T0},{T0},160,2,42,"
    extra = {
        1: base + "X,B,10000000000,1,0,9,128,0,1,ACME",                  # line 3: action X
        2: base + "A,B,ten,1,0,9,128,0,1,ACME",                          # line 5: price
        3: "yesterday," + str(T0) + ",160,2,42,A,B,1,1,0,9,128,0,1,ACME",  # line 7: time
        4: base + "A,B,1,1",                                             # line 9: too short
    }
    feed = read_mbo(write_mbo(tmp_path / "mbo.csv", good, extra=extra))
    table = feed.table()
    assert table["order_id"].to_pylist() == [1, 2, 3, 4, 5]
    assert table["line"].to_pylist() == [2, 4, 6, 8, 10]
    assert [(type(e), e.line) for e in sorted(feed.errors, key=lambda e: e.line)] == [
        (MalformedRow, 3), (MalformedRow, 5), (MalformedRow, 7), (MalformedRow, 9)]
    reasons = {e.line: e.reason for e in feed.errors}
    assert "action" in reasons[3] and "price" in reasons[5] and "ts_recv" in reasons[7]
    assert "fields, expected 15" in reasons[9]


def test_an_mbo_file_with_a_non_numeric_size_is_read_carefully(tmp_path):
    messages = [add(i, "B", 10 + i, 1) for i in range(1, 6)]
    path = write_mbo(tmp_path / "mbo.csv", messages)
    text = path.read_text().splitlines()
    text[2] = text[2].replace(f",{units(12)},1,", f",{units(12)},lots,")  # order 2, line 3
    path.write_text("\n".join(text) + "\n")
    feed = read_mbo(path)
    assert feed.table()["order_id"].to_pylist() == [1, 3, 4, 5]
    assert [e.line for e in feed.errors] == [3] and "size" in feed.errors[0].reason


def test_mbo_files_with_several_instruments_list_them_and_filter_by_symbol_or_id(tmp_path):
    messages = [add(1, "B", 10, 1, instrument_id=1, symbol="AAA"),
                add(2, "B", 20, 1, instrument_id=2, symbol="BBB"),
                add(3, "A", 11, 1, instrument_id=1, symbol="AAA")]
    path = write_mbo(tmp_path / "mbo.csv", messages)
    assert read_mbo(path).symbols().to_pylist() == [
        {"instrument_id": 1, "symbol": "AAA", "events": 2},
        {"instrument_id": 2, "symbol": "BBB", "events": 1}]
    assert read_mbo(path, symbol="AAA").table()["order_id"].to_pylist() == [1, 3]
    assert read_mbo(path, symbol="2").table()["order_id"].to_pylist() == [2]


def test_an_mbo_file_without_the_databento_header_is_unreadable(tmp_path):
    path = tmp_path / "mbo.csv"
    path.write_text("time,price,size\n1,2,3\n")
    with pytest.raises(UnreadableFeed, match="header lacks"):
        read_mbo(path).table()


def test_the_format_is_guessed_from_the_name_or_the_first_line(tmp_path):
    assert open_feed(MESSAGES).info.format == "lobster"
    mbo = write_mbo(tmp_path / "day.csv", STREAM)
    assert open_feed(mbo).info.format == "mbo"
    other = tmp_path / "other.csv"
    other.write_text("a,b\n")
    with pytest.raises(UnreadableFeed, match="--format"):
        open_feed(other)


def test_events_never_become_python_rows():
    # batches() yields Arrow record batches of the EVENTS schema, block by block
    batches = list(read_lobster(MESSAGES, batch_rows=100).batches())
    assert len(batches) > 1
    assert all(isinstance(b, pa.RecordBatch) and b.schema == EVENTS for b in batches)
    assert sum(b.num_rows for b in batches) == 999


def test_the_compiled_reader_gives_the_careful_readers_events(monkeypatch):
    """Clean LOBSTER files take the compiled reader; it must agree with pyarrow's path row for
    row (its times are exact nanoseconds, so equal to the careful rounding on real files)."""
    import orderbook.lobsterfast as fast
    from orderbook.lobster import read_lobster

    sample = Path(__file__).parent / "fixtures" / "orderbook" / \
        "AAPL_2012-06-21_34200000_57600000_message_10.csv"
    compiled = read_lobster(sample).table()
    monkeypatch.setattr(fast, "FAST_LIMIT", 0)  # every file through the careful reader
    careful = read_lobster(sample).table()
    assert compiled.num_rows == careful.num_rows == 999
    assert compiled.equals(careful)


def test_a_file_with_one_odd_line_is_read_carefully_and_the_line_reported(tmp_path):
    from orderbook.lobster import read_lobster

    sample = Path(__file__).parent / "fixtures" / "orderbook" / \
        "AAPL_2012-06-21_34200000_57600000_message_10.csv"
    lines = sample.read_text().splitlines(keepends=True)
    odd = tmp_path / sample.name
    odd.write_text("".join(lines[:5]) + "34200.1,1,oops,100,5853300,1\n" + "".join(lines[5:]))
    feed = read_lobster(odd)
    assert feed.table().num_rows == 999
    assert [e.line for e in feed.errors] == [6]
