"""L2 JSON-lines readers (orderbook/l2.py) and Kraken's checksum (orderbook/checksum.py): real
files (fixtures, or written to tmp_path), read back through `read_l2`, and the book engine fed
the events must hold the reader's own book after every message."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from orderbook.checksum import kraken_checksum
from orderbook.engine import Book
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
    MalformedRow,
    UnreadableFeed,
    level_columns,
)
from orderbook.l2 import iso_ns, read_l2, units

FIXTURES = Path(__file__).parent / "fixtures" / "orderbook" / "l2"
VECTOR_ASKS = [(f"0.{5005 + 5 * i:05d}", "0.00000500") for i in range(10)]
VECTOR_BIDS = [(p, "0.00000500") for p in ["0.05000", "0.04995", "0.04990", "0.04980", "0.04975",
                                            "0.04970", "0.04965", "0.04960", "0.04955", "0.04950"]]
T0 = 1_709_251_200_000   # 2024-03-01T00:00:00Z in ms


# -- helpers --------------------------------------------------------------------------------------


def _line(obj) -> str:
    return json.dumps(obj, separators=(",", ":"))


def diff(first: int, last: int, b=(), a=(), *, pu: int | None = None, s: str = "BTCUSDT",
         ms: int | None = None) -> str:
    msg = {"e": "depthUpdate", "E": T0 + (ms if ms is not None else last), "s": s, "U": first,
           "u": last, "b": [list(x) for x in b], "a": [list(x) for x in a]}
    if pu is not None:
        msg["pu"] = pu
    return _line(msg)


def snap(last: int, bids=(), asks=(), *, timed: bool = True, symbol: str | None = "BTCUSDT",
         **extra) -> str:
    """A REST depth snapshot; `timed` gives it an "E" (as futures' have) at T0 + last ms; with
    `symbol` None it names none (the feed's one symbol)."""
    msg = {"lastUpdateId": last, "bids": [list(x) for x in bids], "asks": [list(x) for x in asks]}
    if timed:
        msg["E"] = T0 + last
    if symbol is not None:
        msg["symbol"] = symbol
    return _line({**msg, **extra})


def write(tmp_path: Path, name: str, lines: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def top_row(levels: pa.Table, depth: int = 10) -> dict:
    """The reader's levels as a replay row (ask_price_1, ask_size_1, bid_price_1, ...)."""
    row = dict.fromkeys(level_columns(depth))
    for r in levels.to_pylist():
        name = "bid" if r["side"] == BID else "ask"
        if r["level"] <= depth:
            row[f"{name}_price_{r['level']}"] = r["price"]
            row[f"{name}_size_{r['level']}"] = r["size"]
    return row


def replayed(feed, depth: int = 10) -> tuple[pa.Table, int]:
    """Every event through the engine, one at a time: after each message's last row the
    engine's top `depth` must be the reader's own book. Returns (events, messages checked)."""
    feed.batch_rows = 1     # a batch per event: the reader has read just its message
    book = Book(depth=depth, price_scale=10**9)
    checked = 0
    batches = []
    for batch in feed.batches():
        assert batch.schema == EVENTS
        out = book.apply(batch)
        batches.append(batch)
        flags = batch.column("flags").to_pylist()
        if flags[-1] & F_LAST:
            mine = feed.levels(depth=depth)
            row = out.to_pylist()[-1]
            row.pop("ts")
            assert row == top_row(mine, depth)
            assert book.levels(depth).select(["side", "level", "price", "size"]) == mine
            checked += 1
    assert not book.errors
    assert book.counts["duplicates"] == 0 and book.counts["unknown_order_fallbacks"] == 0
    return pa.Table.from_batches(batches, schema=EVENTS), checked


def kinds(feed) -> list[str]:
    return [f.kind for f in feed.findings]


def rows(table: pa.Table) -> list[tuple]:
    return [(r["action"], r["side"], r["price"], r["size"], r["flags"], r["sequence"], r["line"],
             r["raw_action"]) for r in table.to_pylist()]


# -- values and checksums -------------------------------------------------------------------------


def test_kraken_checksum_vector():
    assert kraken_checksum(VECTOR_ASKS, VECTOR_BIDS) == 974947235
    # the best ten of each side count, whatever order they come in
    assert kraken_checksum(VECTOR_ASKS[::-1] + [("0.06", "1.0")], VECTOR_BIDS[::-1]) == 974947235
    assert kraken_checksum(VECTOR_ASKS, VECTOR_BIDS[:-1] + [("0.04950", "0.00000501")]) != \
        974947235


def test_units_are_exact_and_bounded():
    assert units("0.1", 9) == 100_000_000
    assert units("0.00000500", 8) == 500
    assert units("45283.5", 9) == 45_283_500_000_000
    assert units("1e-5", 8) == 1000
    assert units("1.000000000000", 9) == 1_000_000_000     # trailing zeros are exact
    assert units("0.3000000000000000444", 19) == 3000000000000000444
    for bad, digits in (("0.0000000001", 9), ("0.000000001", 8), ("abc", 9), ("", 9),
                        ("99999999999.5", 9), ("1.2.3", 9)):
        with pytest.raises(ValueError):
            units(bad, digits)
    assert iso_ns("2023-02-09T20:32:50.714964855Z") == 1_675_974_770_714_964_855
    assert iso_ns("2023-02-09T21:32:50.5+01:00") == 1_675_974_770_500_000_000
    assert iso_ns("2023-02-09 20:32:50") == 1_675_974_770_000_000_000


# -- Kraken ---------------------------------------------------------------------------------------


def test_kraken_v1_checksums_and_depth():
    feed = read_l2(FIXTURES / "kraken_v1_book10.jsonl", "kraken")
    assert feed.info.format == "l2" and feed.info.price_scale == 10**9
    assert feed.info.size_scale == 10**8 and feed.info.venue == "kraken"
    table, checked = replayed(feed)
    assert checked == 3
    assert kinds(feed) == []
    assert feed.counts["checksums_ok"] == 2 and feed.counts["checksum_mismatches"] == 0
    assert feed.counts["skipped"] == 3      # status, ack, heartbeat
    assert feed.seen_symbols == {"XBT/USD"}
    got = rows(table)
    assert got[0] == (CLEAR, 0, None, 0, F_SNAPSHOT, None, 3, "C")
    assert all(r[4] & F_SNAPSHOT for r in got[:21]) and got[20][4] & F_LAST
    assert got[21] == (MODIFY, ASK, 50_050_000, 500, F_LAST, None, 4, "U")
    # the inserted bid pushes the tenth (0.04950) out of the depth: its DELETE is the "X" row
    assert got[-1] == (DELETE, BID, 49_500_000, 0, F_LAST, None, 6, "X")
    assert feed.counts["truncated"] == 1
    levels = feed.levels().to_pylist()
    assert len([x for x in levels if x["side"] == BID]) == 10
    assert table.column("ts").to_pylist()[-1] == 1_534_614_335_345_920_000
    assert table.column("ts_event").to_pylist()[-1] == 1_534_614_335_345_920_000


def test_kraken_v2_numbers_keep_their_text():
    feed = read_l2(FIXTURES / "kraken_v2_book.jsonl", "kraken")
    table, checked = replayed(feed)
    assert checked == 2 and kinds(feed) == []
    assert feed.counts["checksums_ok"] == 2
    first = table.to_pylist()[1]
    assert first["price"] == 45_283_500_000_000 and first["size"] == 10_000_000
    assert first["ts"] == iso_ns("2023-10-06T17:35:55.1Z") and first["ts_event"] is None
    last = table.to_pylist()[-1]
    assert last["ts"] == iso_ns("2023-10-06T17:35:55.440311Z")
    assert last["ts_event"] == iso_ns("2023-10-06T17:35:55.440295Z")


def test_kraken_checksum_mismatch_until_a_snapshot(tmp_path):
    lines = (FIXTURES / "kraken_v1_book10.jsonl").read_text().splitlines()
    lines[3] = lines[3].replace('"0.00000500"', '"0.00000600"')   # the update's volume, corrupted
    snapshot = lines[2]
    lines += [lines[3].replace("1534614248", "1534614400"), snapshot]   # still off; resubscribed
    path = write(tmp_path, "kraken.jsonl", lines)
    feed = read_l2(path, "kraken")
    table, _ = replayed(feed)
    assert kinds(feed) == ["checksum_mismatch", "unknown_state", "resynced"]
    mismatch, unknown, resynced = feed.findings
    assert mismatch.line == 4 and "974947235" in mismatch.detail
    assert (unknown.line, unknown.last_line, resynced.line) == (4, 7, 8)
    assert feed.counts["checksum_mismatches"] == 1 and feed.counts["checksums_skipped"] == 2
    for r in table.to_pylist():
        inside = 4 <= r["line"] <= 7
        assert bool(r["flags"] & F_MAYBE_BAD_BOOK) == inside, r
    fresh = read_l2(write(tmp_path, "snap.jsonl", [snapshot]), "kraken")
    fresh.table()
    assert feed.levels() == fresh.levels()      # the snapshot replaced the book


def test_kraken_depth_from_argument_truncates(tmp_path):
    feed = read_l2(FIXTURES / "kraken_v1_book10.jsonl", "kraken", depth=5)
    table, _ = replayed(feed)
    assert len(feed.levels().to_pylist()) == 10      # five a side
    assert feed.counts["checksums_ok"] == 0 and feed.counts["checksum_mismatches"] == 1


# -- Binance --------------------------------------------------------------------------------------


def test_binance_buffered_diffs_join_the_snapshot():
    feed = read_l2(FIXTURES / "binance_spot_btcusdt.jsonl", "binance")
    table, checked = replayed(feed)
    assert checked == 3
    assert feed.counts["buffered"] == 3 and feed.counts["dropped"] == 1
    assert feed.counts["skipped"] == 1 and feed.blank_lines == 1
    assert kinds(feed) == ["snapshot_verified"]
    assert feed.findings[0].line == 9 and feed.findings[0].first_seq == 106
    got = rows(table)
    # the snapshot (line 5, lastUpdateId 100) plus the buffered diffs past it (u 101 and 103);
    # the diff with u 99 is dropped (its 9.0 never shows)
    assert got[:5] == [
        (CLEAR, 0, None, 0, F_SNAPSHOT, 100, 5, "C"),
        (ADD, BID, 100_000_000_000, 125_000_000, F_SNAPSHOT, 100, 5, "S"),
        (ADD, BID, 99_500_000_000, 200_000_000, F_SNAPSHOT, 100, 5, "S"),
        (ADD, ASK, 100_750_000_000, 50_000_000, F_SNAPSHOT, 100, 5, "S"),
        (ADD, ASK, 101_000_000_000, 300_000_000, F_SNAPSHOT | F_LAST, 100, 5, "S")]
    assert got[5:] == [
        (ADD, BID, 99_750_000_000, 400_000_000, F_LAST, 104, 6, "U"),
        (DELETE, BID, 99_500_000_000, 0, 0, 106, 8, "U"),
        (MODIFY, ASK, 101_000_000_000, 250_000_000, F_LAST, 106, 8, "U")]
    t = table.to_pylist()
    assert t[0]["ts"] == iso_ns("2024-03-01T00:00:00.350Z") and t[0]["ts_event"] is None
    assert t[5]["ts"] == iso_ns("2024-03-01T00:00:00.401Z")
    assert t[5]["ts_event"] == (T0 + 400) * 1_000_000
    assert t[5]["order_id"] == 99_750_000_000 << 1
    assert t[3]["order_id"] == (100_750_000_000 << 1) | 1
    assert set(table.column("instrument_id").to_pylist()) == {1}
    assert feed.arbitration is None and feed.path == feed.paths[0]


def test_binance_stale_snapshot(tmp_path):
    path = write(tmp_path, "stale.jsonl", [
        diff(101, 102, b=[("10", "1")]),
        diff(103, 103, a=[("11", "1")]),
        snap(95, bids=[("10", "5")], asks=[("11", "5")]),    # 96..100 are gone: cannot start
        diff(104, 104, b=[("9", "2")]),
        snap(103, bids=[("10", "1")], asks=[("11", "1")]),
        diff(105, 105, b=[("10", "3")]),
    ])
    feed = read_l2(path, "binance")
    table, _ = replayed(feed)
    assert kinds(feed) == ["unknown_state", "stale_snapshot", "resynced"]
    unknown, stale, resynced = feed.findings
    assert stale.line == 3 and (stale.first_seq, stale.last_seq) == (96, 100)
    assert unknown.line == 1 and unknown.last_line == 4 and resynced.line == 5
    assert feed.counts["stale_snapshots"] == 1
    # nothing is emitted before the usable snapshot; its rows carry diff 104 folded in
    assert min(table.column("line").to_pylist()) == 5
    assert feed.levels().to_pylist()[0]["size"] == 300_000_000
    assert {(r["price"], r["size"]) for r in feed.levels().to_pylist()} == {
        (10 * 10**9, 300_000_000), (9 * 10**9, 200_000_000), (11 * 10**9, 100_000_000)}


def test_binance_stale_snapshot_and_nothing_after_it(tmp_path):
    path = write(tmp_path, "never.jsonl", [diff(101, 102, b=[("10", "1")]), snap(90)])
    feed = read_l2(path, "binance")
    assert feed.table().num_rows == 0
    assert kinds(feed) == ["unknown_state", "stale_snapshot"]
    assert feed.findings[0].to_ts is None and feed.findings[0].last_line is None
    path = write(tmp_path, "none.jsonl", [diff(101, 102, b=[("10", "1")])])
    feed = read_l2(path, "binance")
    assert feed.table().num_rows == 0 and kinds(feed) == ["unknown_state"]
    assert "never applied" in feed.findings[0].detail


def _gap_stream() -> list[str]:
    return [
        snap(100, bids=[("10", "1"), ("9", "1")], asks=[("11", "1")]),
        diff(101, 101, b=[("10", "2")]),
        diff(102, 102, a=[("12", "1")]),
        # 103 is lost
        diff(104, 104, b=[("9", "0")]),
        diff(105, 105, a=[("11", "4")]),
        snap(105, bids=[("10", "2"), ("8", "1")], asks=[("11", "4"), ("12", "1")]),
        diff(106, 106, b=[("8", "3")]),
    ]


def test_binance_dropped_diff_is_a_gap_until_the_next_snapshot(tmp_path):
    path = write(tmp_path, "gap.jsonl", _gap_stream())
    feed = read_l2(path, "binance")
    table, checked = replayed(feed)
    assert checked == 7
    assert kinds(feed) == ["sequence_gap", "unknown_state", "resynced"]
    gap, unknown, resynced = feed.findings
    assert (gap.first_seq, gap.last_seq, gap.line) == (103, 103, 4)
    assert (gap.from_ts, gap.to_ts) == ((T0 + 102) * 10**6, (T0 + 104) * 10**6)
    assert (unknown.line, unknown.last_line) == (4, 5)
    assert (unknown.from_ts, unknown.to_ts) == ((T0 + 104) * 10**6, (T0 + 105) * 10**6)
    assert resynced.line == 6 and resynced.symbol == "BTCUSDT"
    for r in table.to_pylist():
        assert bool(r["flags"] & F_MAYBE_BAD_BOOK) == (r["line"] in (4, 5)), r
    assert feed.counts["sequence_gaps"] == 1 and feed.counts["resyncs"] == 1
    # the snapshot's level at 8 (which the diffs never showed) is in the book after it
    assert (8 * 10**9, 300_000_000) in {(x["price"], x["size"]) for x in feed.levels().to_pylist()}


def test_binance_futures_pu_break(tmp_path):
    path = write(tmp_path, "futures.jsonl", [
        diff(990, 995, b=[("10", "9")], pu=985),            # u < L: dropped
        snap(1000, bids=[("10", "1")], asks=[("11", "1")], E=T0 + 999, T=T0 + 999),
        diff(998, 1002, b=[("10", "2")], pu=995),           # U <= L <= u: the first applied
        diff(1005, 1010, a=[("11", "3")], pu=1002),
        diff(1015, 1020, a=[("12", "1")], pu=1012),         # pu 1012 != 1010: 1011..1012 lost
        diff(1021, 1022, a=[("12", "2")], pu=1020),
    ])
    feed = read_l2(path, "binance")
    table, _ = replayed(feed)
    assert kinds(feed) == ["sequence_gap", "unknown_state"]
    gap, unknown = feed.findings
    assert (gap.first_seq, gap.last_seq, gap.line) == (1011, 1012, 5)
    assert unknown.to_ts is None and unknown.line == 5
    assert feed.counts["dropped"] == 1
    flagged = [r["line"] for r in table.to_pylist() if r["flags"] & F_MAYBE_BAD_BOOK]
    assert flagged == [5, 6]
    assert table.to_pylist()[0]["ts_event"] == (T0 + 999) * 10**6


def test_binance_snapshots_verify_or_win(tmp_path):
    deep = [("10", "1"), ("9", "1"), ("5", "7")]
    path = write(tmp_path, "verify.jsonl", [
        snap(100, bids=deep, asks=[("11", "1"), ("12", "1")]),
        diff(101, 101, b=[("10", "2")]),
        # depth-limited: down to 9 on the bids (5 is not compared), 11 on the asks
        snap(101, bids=[("10", "2"), ("9", "1")], asks=[("11", "1")]),
        snap(103, bids=[("10", "2"), ("9", "1")], asks=[("11", "6"), ("12", "1")]),  # ahead
        diff(102, 102, a=[("11", "6")]),
        diff(103, 103, b=[("8", "1")]),          # reaches 103: compared now
        diff(104, 104, a=[("12", "2")]),
        snap(104, bids=[("10", "2"), ("9", "1")], asks=[("11", "6"), ("12", "5")]),  # 12 differs
        diff(105, 105, b=[("9", "4")]),
    ])
    feed = read_l2(path, "binance")
    table, _ = replayed(feed)
    assert kinds(feed) == ["snapshot_verified", "snapshot_verified", "snapshot_mismatch"]
    first, ahead, mismatch = feed.findings
    assert first.line == 3 and first.first_seq == 101
    assert ahead.line == 4 and ahead.first_seq == 103
    assert mismatch.line == 8 and mismatch.detail.startswith("1 of")
    assert feed.counts["snapshots_verified"] == 2 and feed.counts["snapshots_mismatched"] == 1
    after = [r for r in table.to_pylist() if r["line"] == 8]
    assert after[0]["action"] == CLEAR and all(r["flags"] & F_SNAPSHOT for r in after)
    # the snapshot won: its 5 on the asks at 12, and the deep bids it did not list are gone
    book = {(x["side"], x["price"]): x["size"] for x in feed.levels().to_pylist()}
    assert book == {(BID, 10 * 10**9): 200_000_000, (BID, 9 * 10**9): 400_000_000,
                    (ASK, 11 * 10**9): 600_000_000, (ASK, 12 * 10**9): 500_000_000}


def test_binance_combined_stream_text_form_and_gz(tmp_path):
    import gzip

    wrapped = [
        "2024-03-01T00:00:00.100Z " + _line({"stream": "btcusdt@depth@100ms",
                                              "data": json.loads(diff(101, 101, b=[("10", "1")]))}),
        "2024-03-01T00:00:00.200Z " + _line({"stream": "btcusdt@depthSnapshot", "generated": True,
                                              "data": json.loads(snap(100, bids=[("10", "3")]))}),
        "2024-03-01T00:00:00.300Z " + diff(102, 102, a=[("11", "1")]),
    ]
    path = tmp_path / "combined.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(wrapped) + "\n")
    feed = read_l2(path, "binance")
    table, _ = replayed(feed)
    assert kinds(feed) == [] and feed.counts["buffered"] == 1
    assert {(x["price"], x["size"]) for x in feed.levels().to_pylist()} == {
        (10 * 10**9, 100_000_000), (11 * 10**9, 100_000_000)}
    assert table.column("ts").to_pylist()[0] == iso_ns("2024-03-01T00:00:00.2Z")


def test_symbols_and_for_symbol(tmp_path):
    path = write(tmp_path, "two.jsonl", [
        snap(10, bids=[("10", "1")], symbol="ETHUSDT"),
        diff(11, 11, b=[("10", "2")], s="ETHUSDT"),
        snap(100, bids=[("20", "1")], asks=[("21", "1")], symbol="BTCUSDT"),
        diff(101, 101, a=[("21", "2")]),
        diff(12, 12, a=[("11", "1")], s="ETHUSDT"),
    ])
    feed = read_l2(path, "binance")
    assert feed.symbols().to_pylist() == [
        {"instrument_id": 1, "symbol": "ETHUSDT", "events": 4},
        {"instrument_id": 2, "symbol": "BTCUSDT", "events": 4}]
    btc = feed.for_symbol("btcusdt")
    table, _ = replayed(btc)
    assert set(table.column("instrument_id").to_pylist()) == {2}
    assert btc.seen_symbols == {"ETHUSDT", "BTCUSDT"} and btc.counts["other_symbols"] == 3
    assert btc.symbol == "btcusdt"
    # a snapshot naming no symbol belongs to the feed's one symbol
    path = write(tmp_path, "one.jsonl", [snap(100, bids=[("20", "1")], symbol=None),
                                         diff(101, 101, b=[("20", "2")])])
    one = read_l2(path, "binance")
    assert one.table().num_rows == 3 and one.seen_symbols == {"BTCUSDT"}


def test_batches_are_streamed_in_blocks(tmp_path):
    feed = read_l2(FIXTURES / "kraken_v1_book10.jsonl", "kraken", batch_rows=4)
    sizes = [b.num_rows for b in feed.batches()]
    assert sizes == [4] * 6 + [2]
    assert feed.counts["events"] == 26


# -- A/B ------------------------------------------------------------------------------------------


def _ab_stream() -> list[str]:
    return [
        snap(100, bids=[("10", "1")], asks=[("11", "1")]),
        *[diff(u, u, b=[("10", str(u - 99))]) for u in range(101, 108)],
    ]


def test_ab_captures_fill_each_other(tmp_path):
    full = _ab_stream()
    a = write(tmp_path, "a.jsonl", [x for x in full if '"u":103' not in x])
    b = write(tmp_path, "b.jsonl", [x for x in full if '"u":105' not in x])
    merged = read_l2([a, b], "binance")
    table, _ = replayed(merged)
    assert "sequence_gap" not in kinds(merged)
    assert merged.arbitration.filled == [[(103, 103)], [(105, 105)]]
    assert merged.arbitration.holes == []
    filled = [f for f in merged.findings if f.kind == "filled"]
    assert [(f.source, f.first_seq, f.last_seq) for f in filled] == [
        ("a.jsonl", 103, 103), ("b.jsonl", 105, 105)]
    assert merged.paths == [a, b] and merged.path == a
    single = read_l2(write(tmp_path, "full.jsonl", full), "binance").table()
    keep = ["action", "side", "price", "size", "sequence", "flags"]
    assert table.select(keep) == single.select(keep)
    # the diff 103 came from b: its line there
    row = [r for r in table.to_pylist() if r["sequence"] == 103][0]
    assert row["line"] == 4


def test_ab_missing_from_both_stays_a_gap(tmp_path):
    full = _ab_stream()
    a = write(tmp_path, "a.jsonl", [x for x in full if '"u":103' not in x and '"u":104' not in x])
    b = write(tmp_path, "b.jsonl", [x for x in full if '"u":104' not in x])
    merged = read_l2([a, b], "binance")
    replayed(merged)
    assert merged.arbitration.holes == [(104, 104)]
    assert merged.arbitration.filled == [[(103, 103)], []]
    gaps = [f for f in merged.findings if f.kind == "sequence_gap"]
    assert [(g.first_seq, g.last_seq) for g in gaps] == [(104, 104)]
    assert "unknown_state" in kinds(merged)


def test_only_binance_captures_merge(tmp_path):
    a = write(tmp_path, "a.jsonl", ["{}"])
    b = write(tmp_path, "b.jsonl", ["{}"])
    for venue in ("coinbase", "kraken"):
        with pytest.raises(UnreadableFeed) as err:
            read_l2([a, b], venue)
        assert "cannot be merged" in err.value.reason
    with pytest.raises(UnreadableFeed) as err:
        read_l2(a, "bitstamp")
    assert err.value.line == 0 and "choose binance, coinbase or kraken" in err.value.reason
    with pytest.raises(UnreadableFeed):
        read_l2(tmp_path / "missing.jsonl", "binance")


# -- Coinbase -------------------------------------------------------------------------------------


def test_coinbase_sequence_gaps_and_duplicates():
    feed = read_l2(FIXTURES / "coinbase_btcusd.jsonl", "coinbase")
    table, checked = replayed(feed)
    assert checked == 5
    assert feed.counts["duplicates"] == 1 and feed.counts["skipped"] == 2
    assert kinds(feed) == ["sequence_gap", "unknown_state", "resynced"]
    gap, unknown, resynced = feed.findings
    assert (gap.first_seq, gap.last_seq, gap.line, gap.symbol) == (4, 5, 6, "BTC-USD")
    assert (unknown.line, unknown.last_line, resynced.line) == (6, 6, 7)
    t = table.to_pylist()
    assert [r["line"] for r in t if r["flags"] & F_MAYBE_BAD_BOOK] == [6]
    assert 5 not in {r["line"] for r in t}           # the duplicate emits nothing
    assert t[0]["sequence"] == 1 and t[0]["ts"] == 1_675_974_770_714_964_855
    assert t[1]["price"] == 21_921_730_000_000 and t[1]["size"] == 6_317_902
    assert feed.symbols().to_pylist() == [
        {"instrument_id": 1, "symbol": "BTC-USD", "events": 14}]


def test_coinbase_new_connection(tmp_path):
    lines = (FIXTURES / "coinbase_btcusd.jsonl").read_text().splitlines()[:4]
    lines += [lines[0], lines[1]]       # the capture reconnected: sequence_num from 0 again
    feed = read_l2(write(tmp_path, "reconnect.jsonl", lines), "coinbase")
    replayed(feed)
    assert feed.counts["connections"] == 1 and feed.counts["duplicates"] == 0
    assert kinds(feed) == ["unknown_state", "resynced"]
    assert (feed.findings[0].line, feed.findings[0].last_line, feed.findings[1].line) == (5, 5, 6)


# -- malformed lines ------------------------------------------------------------------------------


def test_malformed_lines_are_skipped_with_their_line(tmp_path):
    path = write(tmp_path, "bad.jsonl", [
        snap(100, bids=[("10", "1")], asks=[("11", "1")]),
        '{"e":"depthUpdate",',                                      # not JSON
        diff(101, 101, b=[("10.0000000001", "1")]),                 # 10 decimals in a price
        diff(101, 101, b=[("10", "0.000000001")]),                  # 9 decimals in a quantity
        "",
        diff(101, 101, b=[("10", "2")]),
        diff(102, 102, a=[("99999999999", "1")]),                   # beyond int64 in 1e-9
        _line({"e": "depthUpdate", "E": T0, "s": "BTCUSDT", "u": 103, "b": [], "a": []}),  # no U
        diff(102, 103, a=[("11", "2")]),
    ])
    feed = read_l2(path, "binance")
    table, _ = replayed(feed)
    assert all(isinstance(e, MalformedRow) for e in feed.errors)
    assert [e.line for e in feed.errors] == [2, 3, 4, 7, 8]
    assert "not JSON" in feed.errors[0].reason and "more than 9 decimals" in feed.errors[1].reason
    assert "more than 8 decimals" in feed.errors[2].reason
    assert "int64" in feed.errors[3].reason and '"U"' in feed.errors[4].reason
    assert feed.errors[0].path == str(path)
    assert feed.blank_lines == 1 and feed.counts["malformed"] == 5
    assert kinds(feed) == []
    assert {(x["price"], x["size"]) for x in feed.levels().to_pylist()} == {
        (10 * 10**9, 200_000_000), (11 * 10**9, 200_000_000)}


def test_times_from_the_capture_or_the_next_message(tmp_path):
    # a snapshot with no time and no symbol: held for the first diff, which names the symbol
    # and gives the time
    lines = [snap(100, bids=[("10", "1")], timed=False, symbol=None),
             _line({"localTimestamp": 1_709_251_200_500_000_123,
                    "message": diff(101, 101, b=[("10", "2")])}),   # the message as a string
             snap(101, bids=[("10", "2")], timed=False)]            # takes the last time seen
    feed = read_l2(write(tmp_path, "untimed.jsonl", lines), "binance")
    t = feed.table().to_pylist()
    assert [r["ts"] for r in t] == [1_709_251_200_500_000_123] * 3
    assert [r["ts_event"] for r in t] == [None, None, (T0 + 101) * 10**6]
    assert kinds(feed) == ["snapshot_verified"] and feed.findings[0].from_ts == t[0]["ts"]
    # no time anywhere: 0, flagged
    feed = read_l2(write(tmp_path, "never.jsonl", [snap(100, bids=[("10", "1")], timed=False)]),
                   "binance")
    assert [(r["ts"], r["flags"] & F_BAD_TS_RECV) for r in feed.table().to_pylist()] == [
        (0, F_BAD_TS_RECV), (0, F_BAD_TS_RECV)]
    # a snapshot naming no symbol among several is malformed
    feed = read_l2(write(tmp_path, "several.jsonl", [
        diff(1, 1, s="ETHUSDT"), diff(5, 5), snap(5, symbol=None)]), "binance")
    feed.table()
    assert [(e.line, "several symbols" in e.reason) for e in feed.errors] == [(3, True)]


def test_binance_snapshot_ahead_of_a_gap_resyncs(tmp_path):
    path = write(tmp_path, "ahead.jsonl", [
        snap(100, bids=[("10", "1")], asks=[("11", "1")]),
        diff(101, 101, b=[("10", "2")]),
        snap(104, bids=[("10", "3")], asks=[("11", "1")]),     # ahead of the diffs: pending
        diff(103, 103, a=[("11", "5")]),                        # 102 lost; 103 is in the snapshot
        diff(105, 105, a=[("12", "1")]),
    ])
    feed = read_l2(path, "binance")
    table, _ = replayed(feed)
    assert kinds(feed) == ["sequence_gap", "unknown_state", "resynced"]
    gap, unknown, resynced = feed.findings
    assert (gap.first_seq, gap.last_seq) == (102, 102)
    assert (unknown.line, unknown.last_line, resynced.line) == (4, 4, 3)
    assert {(x["side"], x["price"], x["size"]) for x in feed.levels().to_pylist()} == {
        (BID, 10 * 10**9, 300_000_000), (ASK, 11 * 10**9, 100_000_000),
        (ASK, 12 * 10**9, 100_000_000)}
    assert [r["line"] for r in table.to_pylist() if r["flags"] & F_MAYBE_BAD_BOOK] == [4]
