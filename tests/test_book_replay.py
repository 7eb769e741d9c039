"""Book replay: LOBSTER's sample reproduced row for row, MBO streams written from Databento's
specification, checkpoints, the written outputs and `salvage book replay`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import salvage
from mbogen import LAST, SNAPSHOT, Msg, add, cancel, modify, units, write_mbo

from orderbook.engine import Book, Checkpoint
from orderbook.events import ASK, BID, MixedInstruments, RejectedEvent, level_columns
from orderbook.lobster import BookRows, read_lobster, read_lobster_book
from orderbook.mbo import read_mbo
from orderbook.replay import BadOutput, read_replay, replay, seed_checkpoint, write_replay

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "orderbook"
MESSAGES = FIXTURES / "AAPL_2012-06-21_34200000_57600000_message_10.csv"
BOOK = FIXTURES / "AAPL_2012-06-21_34200000_57600000_orderbook_10.csv"


def top(result, depth: int = 1) -> list[tuple]:
    """Each row's (ask_price_1, ask_size_1, bid_price_1, bid_size_1, ...) to `depth`."""
    names = level_columns(depth)
    columns = [result.table[n].to_pylist() for n in names]
    return list(zip(*columns, strict=True))


def u(price) -> int:
    return units(price)


# -- LOBSTER ---------------------------------------------------------------------------------------


def test_replaying_the_lobster_sample_reproduces_every_row_of_its_orderbook_file():
    result = replay(read_lobster(MESSAGES), 10)
    expected = read_lobster_book(BOOK)
    assert result.table.num_rows == expected.num_rows == 999
    assert result.table.drop_columns(["ts"]).cast(expected.schema).equals(expected)
    assert result.table["ts"].equals(read_lobster(MESSAGES).table()["ts"])
    c = result.counts
    assert c["events"] == c["rows"] == 999 and result.errors == []
    # every visible level the messages built matched the file; levels entering the top 10
    # from beyond it came from the file, and executions of orders resting before the first
    # message fell back to their level
    assert c["book_mismatches"] == 0
    assert c["levels_supplied_by_book_file"] > 0
    assert c["unknown_order_fallbacks"] > 0
    assert c["started_empty"] == 0 and c["crossed"] == 0
    assert result.table.schema.metadata[b"salvage.price_scale"] == b"10000"


def test_the_lobster_replay_is_the_same_in_small_batches():
    whole = replay(read_lobster(MESSAGES), 10)
    pieces = replay(read_lobster(MESSAGES, batch_rows=37), 10)
    assert pieces.table.equals(whole.table)
    assert pieces.counts == whole.counts


def test_a_smaller_depth_gives_the_first_levels():
    result = replay(read_lobster(MESSAGES), 3)
    expected = read_lobster_book(BOOK, depth=3)
    assert result.table.column_names == ["ts", *level_columns(3)]
    assert result.table.drop_columns(["ts"]).cast(expected.schema).equals(expected)


def test_a_message_that_disagrees_with_the_book_file_is_reported_and_the_file_wins(tmp_path):
    messages = tmp_path / MESSAGES.name
    lines = MESSAGES.read_text().split("\n")
    # line 3 adds 18 shares at 585.31; say 20
    assert lines[2] == "34200.004447484,1,16113594,18,5853100,1"
    lines[2] = "34200.004447484,1,16113594,20,5853100,1"
    messages.write_text("\n".join(lines))
    shutil.copy(BOOK, tmp_path / BOOK.name)
    result = replay(read_lobster(messages), 10)
    assert result.counts["book_mismatches"] >= 1
    assert result.table.drop_columns(["ts"]).equals(
        read_lobster_book(BOOK).cast(result.table.drop_columns(["ts"]).schema))


def test_without_its_book_file_a_lobster_replay_starts_empty_and_says_so():
    result = replay(read_lobster(MESSAGES), 10, use_book=False)
    assert result.counts["started_empty"] == 1
    assert result.counts["levels_supplied_by_book_file"] == 0
    # the first message adds 18 shares at 585.33: the only order known then
    assert top(result)[0] == (None, None, 5853300, 18)
    assert "empty book" in result.summary()


def test_lobster_executions_halts_and_hidden_trades(tmp_path):
    path = tmp_path / "X_2012-06-21_0_1_message_1.csv"
    path.write_text("\n".join([
        "34200.1,1,11,100,1000000,1",   # bid 100.00 x 100
        "34200.2,1,12,50,1010000,-1",   # ask 101.00 x 50
        "34200.3,4,12,20,1010000,-1",   # visible execution: ask 30 left
        "34200.4,5,0,25,1005000,-1",    # hidden execution: no change
        "34200.5,6,0,500,1004000,1",    # cross trade: no change
        "34200.6,7,0,0,-1,-1",          # halt
        "34200.7,7,0,0,0,-1",           # quoting
        "34200.8,7,0,0,1,-1",           # resume
        "34200.9,2,11,40,1000000,1",    # partial cancel: bid 60 left
        "34201.0,3,12,30,1010000,-1",   # delete: no ask
    ]))
    result = replay(read_lobster(path), 2)
    rows = top(result)
    assert rows == [(None, None, 1000000, 100), (1010000, 50, 1000000, 100),
                    (1010000, 30, 1000000, 100), (1010000, 30, 1000000, 100),
                    (1010000, 30, 1000000, 100), (1010000, 30, 1000000, 100),
                    (1010000, 30, 1000000, 100), (1010000, 30, 1000000, 100),
                    (1010000, 30, 1000000, 60), (None, None, 1000000, 60)]
    assert result.counts["halts"] == 3 and result.counts["trades"] == 2


def test_a_checkpoint_through_parquet_continues_the_replay_exactly(tmp_path):
    events = read_lobster(MESSAGES).table()
    whole = replay(read_lobster(MESSAGES), 10).table
    rows = BookRows(BOOK)
    first, second = events.slice(0, 500).to_batches()[0], events.slice(500).to_batches()[0]
    head_rows = rows.rows_for(first.column("line").to_numpy())
    book = Book.from_checkpoint(
        seed_checkpoint(first, head_rows.slice(0, 1).to_pylist()[0], 10, 10_000), 10)
    part1 = book.apply(first, head_rows)
    pq.write_table(book.checkpoint().to_table(), tmp_path / "cp.parquet")
    restored = Book.from_checkpoint(Checkpoint.from_table(pq.read_table(tmp_path / "cp.parquet")),
                                    10)
    assert restored.events == 500
    part2 = restored.apply(second, rows.rows_for(second.column("line").to_numpy()))
    assert pa.Table.from_batches([part1, part2]).equals(whole.replace_schema_metadata(
        part1.schema.metadata))
    assert restored.counts["book_mismatches"] == 0


def test_levels_lists_bids_then_asks_best_first():
    events = read_lobster(MESSAGES).table().to_batches()[0]
    rows = BookRows(BOOK).rows_for(events.column("line").to_numpy())
    book = Book.from_checkpoint(seed_checkpoint(events, rows.slice(0, 1).to_pylist()[0], 10,
                                                10_000), 10)
    book.apply(events, rows)
    levels = book.levels(2).to_pylist()
    last = read_lobster_book(BOOK).slice(998, 1).to_pylist()[0]
    assert [(r["side"], r["level"], r["price"], r["size"]) for r in levels] == [
        (BID, 1, last["bid_price_1"], last["bid_size_1"]),
        (BID, 2, last["bid_price_2"], last["bid_size_2"]),
        (ASK, 1, last["ask_price_1"], last["ask_size_1"]),
        (ASK, 2, last["ask_price_2"], last["ask_size_2"])]


# -- Databento MBO ---------------------------------------------------------------------------------


def mbo_replay(tmp_path: Path, messages: list[Msg], depth: int = 1, **kw):
    return replay(read_mbo(write_mbo(tmp_path / "mbo.csv", messages, **kw)), depth)


def test_adds_partial_cancels_and_modifies_build_the_book(tmp_path):
    result = mbo_replay(tmp_path, [
        add(1, "B", 100.00, 10),
        add(2, "B", 100.00, 5),
        add(3, "B", 99.50, 7),
        add(4, "A", 101.00, 3),
        cancel(1, "B", 100.00, 4),      # partial: 6 of order 1 left
        cancel(2, "B", 100.00, 5),      # the whole of order 2
        modify(1, "B", 99.50, 6),       # order 1 moves to 99.50 (priority lost)
        modify(3, "B", 99.50, 2),       # order 3 shrinks (keeps its priority)
        add(5, "A", 101.00, 2),
        modify(4, "A", 101.00, 5),      # order 4 grows (priority lost: behind order 5)
    ], depth=2)
    assert top(result, 2) == [
        (None, None, u(100), 10, None, None, None, None),
        (None, None, u(100), 15, None, None, None, None),
        (None, None, u(100), 15, None, None, u(99.5), 7),
        (u(101), 3, u(100), 15, None, None, u(99.5), 7),
        (u(101), 3, u(100), 11, None, None, u(99.5), 7),
        (u(101), 3, u(100), 6, None, None, u(99.5), 7),
        (u(101), 3, u(99.5), 13, None, None, None, None),
        (u(101), 3, u(99.5), 8, None, None, None, None),
        (u(101), 5, u(99.5), 8, None, None, None, None),
        (u(101), 7, u(99.5), 8, None, None, None, None),
    ]
    assert result.errors == [] and result.info.symbol == "ACME"


def test_queue_priority_follows_databento_modify_rules(tmp_path):
    path = write_mbo(tmp_path / "mbo.csv", [
        add(1, "B", 10, 5), add(2, "B", 10, 5), add(3, "B", 10, 5),
        modify(1, "B", 10, 4),   # smaller: keeps its place
        modify(2, "B", 10, 9),   # larger: to the back
    ])
    book = Book(5, 1_000_000_000)
    for batch in read_mbo(path).batches():
        book.apply(batch)
    orders = book.checkpoint().orders.to_pylist()
    assert [o["order_id"] for o in orders] == [1, 3, 2]
    assert [o["size"] for o in orders] == [4, 5, 9]
    assert book.levels().to_pylist() == [
        {"side": BID, "level": 1, "price": u(10), "size": 18, "orders": 3}]


def test_trades_and_fills_do_not_change_the_book(tmp_path):
    result = mbo_replay(tmp_path, [
        add(1, "B", 10, 5), add(2, "A", 11, 5),
        Msg("T", "A", 11, 2, 0), Msg("F", "A", 11, 2, 2), Msg("N"),
    ])
    assert top(result)[1:] == [(u(11), 5, u(10), 5)] * 4
    assert result.counts["trades"] == 2


def test_a_clear_then_a_snapshot_rebuild_the_book(tmp_path):
    result = mbo_replay(tmp_path, [
        add(1, "B", 10, 5), add(2, "A", 11, 5),
        Msg("R", flags=SNAPSHOT, ts=100),
        add(7, "B", 9.5, 3, flags=SNAPSHOT, ts=100),
        add(8, "A", 10.5, 4, flags=SNAPSHOT | LAST, ts=100),
        cancel(1, "B", 10, 5, ts=200),   # order 1 went with the clear: nothing to cancel
    ])
    assert top(result) == [(None, None, u(10), 5), (u(11), 5, u(10), 5),
                           (None, None, None, None), (None, None, u(9.5), 3),
                           (u(10.5), 4, u(9.5), 3), (u(10.5), 4, u(9.5), 3)]
    c = result.counts
    assert c["clears"] == 1 and c["snapshot_events"] == 3
    assert c["unknown_orders_ignored"] == 1


def test_crossed_and_locked_books_are_counted(tmp_path):
    result = mbo_replay(tmp_path, [
        add(1, "B", 10, 1), add(2, "A", 11, 1),
        add(3, "B", 11, 1),          # locked
        add(4, "B", 11.5, 1),        # crossed
        cancel(4, "B", 11.5, 1),     # locked again
        cancel(3, "B", 11, 1),       # fine
    ])
    assert result.counts["locked"] == 2 and result.counts["crossed"] == 1
    assert top(result)[3] == (u(11), 1, u(11.5), 1)


def test_a_silence_changes_nothing(tmp_path):
    hour = 3_600_000_000_000
    result = mbo_replay(tmp_path, [add(1, "B", 10, 5), add(2, "A", 11, 5, ts=1),
                                   Msg("N", ts=hour), add(3, "B", 10, 1, ts=hour + 1)])
    assert top(result) == [(None, None, u(10), 5), (u(11), 5, u(10), 5), (u(11), 5, u(10), 5),
                           (u(11), 5, u(10), 6)]
    ts = result.table["ts"].to_pylist()
    assert ts[2] - ts[1] == hour - 1


def test_repeated_records_are_recognised_and_ignored(tmp_path):
    result = mbo_replay(tmp_path, [
        add(1, "B", 10, 5, sequence=1), add(1, "B", 10, 5, sequence=1),
        cancel(1, "B", 10, 2, sequence=2), cancel(1, "B", 10, 2, sequence=2),
        add(2, "A", 11, 1, sequence=3),
    ])
    assert result.table.num_rows == 5
    assert top(result)[-1] == (u(11), 1, u(10), 3)
    assert result.counts["duplicates"] == 2


def test_an_add_without_a_side_is_rejected_with_its_line_and_the_rest_replays(tmp_path):
    result = mbo_replay(tmp_path, [add(1, "B", 10, 5), add(2, "N", 10, 5), add(3, "A", 11, 1)])
    [error] = result.errors
    assert isinstance(error, RejectedEvent) and error.line == 3
    assert top(result)[-1] == (u(11), 1, u(10), 5)
    assert result.counts["rejected"] == 1


def test_malformed_mbo_rows_are_reported_and_the_rest_replays(tmp_path):
    result = mbo_replay(tmp_path, [add(1, "B", 10, 5), add(2, "A", 11, 1)],
                        extra={1: "1704205800000000000,x,160,2,42,A,B,1,1,0,9,128,0,1,ACME"})
    assert [e.line for e in result.errors] == [3]
    assert result.table.num_rows == 2 and top(result)[-1] == (u(11), 1, u(10), 5)
    assert result.counts["malformed_rows"] == 1


def test_several_instruments_need_a_symbol(tmp_path):
    path = write_mbo(tmp_path / "mbo.csv", [
        add(1, "B", 10, 5, instrument_id=1, symbol="AAA"),
        add(2, "B", 20, 5, instrument_id=2, symbol="BBB"),
        add(3, "A", 11, 5, instrument_id=1, symbol="AAA")])
    with pytest.raises(MixedInstruments, match="AAA.*BBB"):
        replay(read_mbo(path), 1)
    result = replay(read_mbo(path), 1, symbol="AAA")
    assert top(result) == [(None, None, u(10), 5), (u(11), 5, u(10), 5)]
    assert result.info.symbol == "AAA"


def test_integer_and_pretty_mbo_files_replay_to_the_same_rows(tmp_path):
    messages = [add(1, "B", 10.123456789, 5), add(2, "A", 10.2, 5), cancel(1, "B", 10.123456789, 1)]
    raw = replay(read_mbo(write_mbo(tmp_path / "raw.csv", messages)), 2)
    pretty = replay(read_mbo(write_mbo(tmp_path / "pretty.csv", messages, pretty=True)), 2)
    assert raw.table.equals(pretty.table)
    assert top(raw)[-1] == (10_200_000_000, 5, 10_123_456_789, 4)


# -- writing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".arrow"])
def test_written_rows_read_back_with_their_price_scale(tmp_path, suffix):
    result = replay(read_lobster(MESSAGES), 5)
    out = tmp_path / f"rows{suffix}"
    write_replay(result, out)
    table, meta = read_replay(out)
    assert table.num_rows == 999
    assert table.drop_columns(["ts"]).equals(result.table.drop_columns(["ts"]).cast(
        table.drop_columns(["ts"]).schema)) if suffix == ".csv" else table.equals(result.table)
    assert meta["price_scale"] == 10_000 and meta["depth"] == 5
    assert meta["counts"]["events"] == 999
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_csv_rows_start_with_the_header_and_have_a_sidecar(tmp_path):
    out = tmp_path / "rows.csv"
    write_replay(replay(read_lobster(MESSAGES), 1), out)
    lines = out.read_text().splitlines()
    assert lines[0] == "ts,ask_price_1,ask_size_1,bid_price_1,bid_size_1"
    assert lines[1] == "1340285400004241176,5859400,200,5853300,18"
    sidecar = json.loads((tmp_path / "rows.csv.meta.json").read_text())
    assert sidecar["price_scale"] == 10_000 and sidecar["symbol"] == "AAPL"
    assert sidecar["counts"]["book_mismatches"] == 0


def test_empty_levels_are_empty_in_csv(tmp_path):
    out = tmp_path / "rows.csv"
    result = mbo_replay(tmp_path, [add(1, "B", 10, 5)], depth=1)
    write_replay(result, out)
    assert out.read_text().splitlines()[1].endswith(",,,10000000000,5")


def test_an_unknown_output_extension_is_refused(tmp_path):
    with pytest.raises(BadOutput, match=".csv, .parquet or .arrow"):
        write_replay(replay(read_lobster(MESSAGES), 1), tmp_path / "rows.xlsx")


# -- the command line ------------------------------------------------------------------------------


def test_salvage_book_replay_writes_rows_and_prints_a_summary(tmp_path):
    out = tmp_path / "rows.parquet"
    r = salvage("book", "replay", str(MESSAGES), "--format", "lobster", "--depth", "10",
                "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "999 events" in r.stdout and "levels supplied by the book file" in r.stdout
    table = pq.read_table(out)
    assert table.num_rows == 999 and table.schema.metadata[b"salvage.depth"] == b"10"


def test_salvage_book_replay_prints_bad_rows_and_still_exits_0(tmp_path):
    path = write_mbo(tmp_path / "mbo.csv", [add(1, "B", 10, 5), add(2, "A", 11, 1)],
                     extra={1: "oops"})
    r = salvage("book", "replay", str(path), "--format", "mbo", "-o", str(tmp_path / "o.csv"))
    assert r.returncode == 0, r.stderr
    assert "1 error (line 3)" in r.stdout and "line 3" in r.stderr


def test_salvage_book_replay_exits_1_when_the_file_cannot_be_read(tmp_path):
    bad = tmp_path / "mbo.csv"
    bad.write_text("not,a,feed\n")
    r = salvage("book", "replay", str(bad), "--format", "mbo", "-o", str(tmp_path / "o.csv"))
    assert r.returncode == 1 and "header lacks" in r.stderr
    assert not (tmp_path / "o.csv").exists()
