"""Stored order books: feed files archived in the WARCs, their events in partitioned Parquet with
full-book checkpoints, `book at` any moment equal to a full replay (and to LOBSTER's own book), the
`book_files` table and the symbol-to-filer join (real files, real WARCs, real Parquet, the real
engine; no part of Salvage is replaced)."""

from __future__ import annotations

import bisect
import json
import shutil
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import FIXTURES, salvage
from warcio.archiveiterator import ArchiveIterator

from archive.home import Home
from archive.lookup import Index
from archive.payload import stream_payload
from orderbook.at import Books, NoBook, book_at, iso_ns, parse_ns
from orderbook.checkpoints import CheckpointFile
from orderbook.events import EVENTS
from orderbook.lobster import read_lobster, read_lobster_book
from orderbook.mbo import read_mbo
from orderbook.replay import replay
from orderbook.store import (
    book_files,
    events_dataset,
    feed_uri,
    filers_for,
    import_feeds,
    store_events,
)
from storage.query import query
from storage.tables import append_rows, read_table

LOBSTER = FIXTURES / "orderbook"
MESSAGES = "AAPL_2012-06-21_34200000_57600000_message_10.csv"
BOOK = "AAPL_2012-06-21_34200000_57600000_orderbook_10.csv"
MBO_HEADER = ("ts_recv,ts_event,rtype,publisher_id,instrument_id,action,side,price,size,"
              "channel_id,order_id,flags,ts_in_delta,sequence,symbol")
T0 = 1_718_000_000_000_000_000  # 2024-06-10T06:13:20Z



def payload(home: Home, uri: str) -> bytes:
    with Index(home) as index:
        line = index.closest(uri)
    assert line is not None, f"nothing archived under {uri}"
    return b"".join(stream_payload(home, line))


def replay_rows(feed, depth: int = 10) -> list[dict]:
    return replay(feed, depth).table.to_pylist()


def last_at(times: list[int], moment: int) -> int:
    """Index of the last event at or before `moment`."""
    return bisect.bisect_right(times, moment) - 1


def mbo_line(ts: int, iid: int, action: str, side: str, price: float | None, size: int,
             oid: int, seq: int, symbol: str) -> str:
    px = "" if price is None else str(int(round(price * 1e9)))
    return f"{ts},{ts - 1000},160,2,{iid},{action},{side},{px},{size},0,{oid},128,0,{seq},{symbol}"


def field(line: str, index: int, value: str) -> str:
    parts = line.split(",")
    parts[index] = value
    return ",".join(parts)


def two_instruments(path: Path, per: int = 120, same_ts_run: int = 0) -> list[str]:
    """A Databento-style MBO CSV of AAPL (instrument 38) and MSFT (instrument 7152) interleaved:
    adds on both sides around a mid, cancels, modifies and fills. With `same_ts_run`, the first
    that many rows share one ts_recv."""
    lines = [MBO_HEADER]
    live: dict[str, list[tuple[int, str, float, int]]] = {"AAPL": [], "MSFT": []}
    mids = {"AAPL": 190.0, "MSFT": 420.0}
    iids = {"AAPL": 38, "MSFT": 7152}
    oid, seq = 1000, 1
    for k in range(per * 2):
        sym = "AAPL" if k % 2 == 0 else "MSFT"
        ts = T0 + (0 if k < same_ts_run else (k - same_ts_run + 1) * 1_000_000)
        book = live[sym]
        if k % 5 in (0, 1, 3) or len(book) < 4:
            side = "B" if (k // 2) % 2 == 0 else "A"
            price = mids[sym] + (-0.01 if side == "B" else 0.01) * (1 + (k * 7) % 6)
            oid += 1
            book.append((oid, side, round(price, 2), 100 + k % 7 * 10))
            lines.append(mbo_line(ts, iids[sym], "A", side, price, book[-1][3], oid, seq, sym))
        elif k % 5 == 2:
            o, side, price, size = book.pop(k % len(book))
            lines.append(mbo_line(ts, iids[sym], "C", side, price, size, o, seq, sym))
        else:
            i = k % len(book)
            o, side, price, size = book[i]
            book[i] = (o, side, price, size - 10)
            lines.append(mbo_line(ts, iids[sym], "F", side, price, 10, o, seq, sym))
            seq += 1
            lines.append(mbo_line(ts, iids[sym], "M", side, price, size - 10, o, seq, sym))
        seq += 1
    path.write_text("\n".join(lines) + "\n")
    return lines


# -- LOBSTER: archive, store, checkpoints --------------------------------------------------------


def test_a_lobster_pair_is_archived_and_its_events_stored_by_venue_symbol_and_date(
        home: Home, pair: Path):
    report = import_feeds(home, [pair], "lobster", checkpoint_every=100)
    assert report.ok, report.as_dict()
    (done,) = report.files
    assert done.companion == BOOK and not done.already and done.error_count == 0
    assert done.uri == feed_uri(done.sha256) == "urn:salvage:feed:" + done.sha256

    # the raw bytes of both files are WARC resource records, byte for byte
    assert payload(home, done.uri) == pair.read_bytes()
    (row,) = book_files(home)
    assert payload(home, feed_uri(row["companion_sha256"])) == (pair.parent / BOOK).read_bytes()
    records = []
    with open(home.root / done.filename, "rb") as fh:
        for record in ArchiveIterator(fh):
            records.append((record.rec_type, record.rec_headers.get_header("WARC-Target-URI"),
                            record.content_stream().read()))
    assert [(t, u) for t, u, _ in records[1:]] == [
        ("resource", done.uri), ("resource", feed_uri(row["companion_sha256"])),
        ("metadata", done.uri)]
    facts = records[-1][2].decode()
    assert f"original-name: {MESSAGES}\r\n" in facts and f"companion-name: {BOOK}\r\n" in facts
    assert "format: lobster\r\n" in facts and f"sha256: {done.sha256}\r\n" in facts

    # the catalog row, and the files it names under the hive layout
    assert (row["symbol"], row["venue"], row["date"], row["format"]) == \
        ("AAPL", "XNAS", date(2012, 6, 21), "lobster")
    assert (row["events"], row["price_scale"], row["checkpoints"]) == (999, 10_000, 11)
    assert row["events_path"] == ("books/events/venue=XNAS/symbol=AAPL/date=2012-06-21/"
                                  f"{done.sha256}.parquet")
    expected = read_lobster(pair).table()
    stored = events_dataset(home).to_table()
    assert stored.num_rows == 999
    assert set(stored.column_names) == set(EVENTS.names) | {"venue", "symbol", "date"}
    assert stored.select(EVENTS.names).equals(expected.select(EVENTS.names))
    assert stored["ts"].to_pylist() == sorted(stored["ts"].to_pylist())
    assert (row["first_ts"], row["last_ts"]) == (expected["ts"][0].as_py(),
                                                expected["ts"][-1].as_py())
    meta = pq.ParquetFile(home.root / row["events_path"]).metadata
    stats = meta.row_group(0).column(0).statistics
    assert meta.schema.column(0).name == "ts" and stats.min == row["first_ts"]

    # checkpoints: LOBSTER's seed (the book before the first message), every 100, the last
    marks = CheckpointFile(home.root / row["checkpoints_path"]).marks
    assert [m.event for m in marks] == [0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 999]
    assert marks[-1].ts == row["last_ts"]


def test_the_book_at_any_moment_equals_the_replay_row_and_lobsters_own_book(
        home: Home, pair: Path):
    import_feeds(home, [pair], "lobster", checkpoint_every=64)
    rows = replay_rows(read_lobster(pair))
    truth = read_lobster_book(pair.parent / BOOK).to_pylist()
    times = [r["ts"] for r in rows]
    books = Books(home)
    moments = [times[0], times[-1], times[-1] + 10**12]
    moments += [times[i] for i in range(1, len(times), 37)]
    moments += [(times[i] + times[i + 1]) // 2 for i in range(5, len(times) - 1, 91)]
    for moment in moments:
        at = books.at("AAPL", moment, depth=10)
        j = last_at(times, moment)
        assert at.row() == rows[j], f"book at {iso_ns(moment)} (event {j})"
        assert {k: v for k, v in at.row().items() if k != "ts"} == truth[j]
        assert at.events == j + 1 and at.ts == times[j]
        assert at.checkpoint_event <= at.events and at.replayed == at.events - at.checkpoint_event
    # a shallower book is the top of the deeper one
    top = books.at("AAPL", times[500], depth=3).row()
    assert top == {k: v for k, v in rows[500].items() if k == "ts" or k[-2:] in ("_1", "_2", "_3")}


def test_re_importing_the_same_bytes_is_a_no_op(home: Home, pair: Path, tmp_path: Path):
    first = import_feeds(home, [pair], "lobster").files[0]
    files = sorted(p for p in (home.root / "books").rglob("*.parquet"))
    stamps = [p.stat().st_mtime_ns for p in files]
    warcs = sorted(home.warcs.glob("*.warc.gz"))
    # the same bytes under another name, from another folder
    other = tmp_path / "elsewhere"
    other.mkdir()
    shutil.copy(pair, other / "copy_message_10.csv")
    again = import_feeds(home, [pair, other / "copy_message_10.csv"], "lobster",
                         day=date(2012, 6, 21), symbol="AAPL")
    assert [f.already for f in again.files] == [True, True] and again.ok
    assert {f.sha256 for f in again.files} == {first.sha256}
    assert again.files[0].symbols == first.symbols
    assert sorted(home.warcs.glob("*.warc.gz")) == warcs
    assert [p.stat().st_mtime_ns for p in files] == stamps
    assert read_table(home.catalog, "book_files").num_rows == 1


# -- MBO: several instruments, bad rows, unreadable files ------------------------------------------


def test_an_mbo_file_with_two_instruments_is_partitioned_by_symbol(home: Home, tmp_path: Path):
    path = tmp_path / "xnas-mbo-20240610.csv"
    two_instruments(path)
    report = import_feeds(home, [path], "mbo", venue="XNAS", checkpoint_every=50)
    assert report.ok, report.as_dict()
    rows = {r["symbol"]: r for r in book_files(home)}
    assert set(rows) == {"AAPL", "MSFT"}
    sha = report.files[0].sha256
    for symbol, row in rows.items():
        assert row["events_path"] == (f"books/events/venue=XNAS/symbol={symbol}/"
                                      f"date=2024-06-10/{sha}.parquet")
        feed = read_mbo(path, symbol=symbol)
        expected = feed.table()
        stored = events_dataset(home, [row["events_path"]]).to_table()
        assert stored.select(EVENTS.names).equals(expected.select(EVENTS.names))
        assert row["events"] == expected.num_rows and row["price_scale"] == 1_000_000_000
        replayed = replay_rows(feed, depth=5)
        times = [r["ts"] for r in replayed]
        for moment in [times[0], *times[7::23], times[-1] + 1]:
            assert book_at(home, symbol, moment, depth=5).row() == \
                replayed[last_at(times, moment)]
    everything = events_dataset(home).to_table(columns=["symbol", "instrument_id"])
    assert {(r["symbol"], r["instrument_id"]) for r in everything.to_pylist()} == \
        {("AAPL", 38), ("MSFT", 7152)}


def test_a_checkpoint_inside_a_run_of_equal_times_is_not_applied_twice(home: Home,
                                                                      tmp_path: Path):
    path = tmp_path / "burst.csv"
    two_instruments(path, per=60, same_ts_run=50)  # the first 50 events share one ts_recv
    import_feeds(home, [path], "mbo", symbol="AAPL", checkpoint_every=10)
    (row,) = book_files(home)
    marks = CheckpointFile(home.root / row["checkpoints_path"]).marks
    assert [(m.event, m.skip) for m in marks[:2]] == [(10, 10), (20, 20)]
    replayed = replay_rows(read_mbo(path, symbol="AAPL"), depth=4)
    times = [r["ts"] for r in replayed]
    for moment in (T0, T0 + 1, T0 + 1_000_000, times[-1]):
        at = book_at(home, "AAPL", moment, depth=4)
        assert at.row() == replayed[last_at(times, moment)]
        assert at.events == last_at(times, moment) + 1


def test_a_malformed_mbo_row_is_reported_with_its_line_and_the_rest_imported(
        home: Home, tmp_path: Path):
    path = tmp_path / "bad-row.csv"
    lines = two_instruments(path, per=30)
    lines[6] = field(lines[6], 2, "161")  # line 7: not an MBO record (rtype)
    lines[9] = field(lines[9], 5, "X")    # line 10: an action MBO does not have
    path.write_text("\n".join(lines) + "\n")
    report = import_feeds(home, [path], "mbo", venue="XNAS")
    (done,) = report.files
    assert done.ok and done.error_count == 2
    assert [e["line"] for e in done.errors] == [7, 10]
    assert "rtype" in done.errors[0]["reason"] and "action" in done.errors[1]["reason"]
    assert done.events == len(lines) - 1 - 2
    recorded = query(home.catalog, "SELECT symbol, events, error_count, errors FROM book_files "
                                   "ORDER BY symbol").to_pylist()
    assert sum(r["events"] for r in recorded) == len(lines) - 1 - 2
    assert all(r["error_count"] == 2 and [e["line"] for e in r["errors"]] == [7, 10]
               for r in recorded)


def test_a_file_that_cannot_be_read_is_archived_all_the_same_and_reported(
        home: Home, tmp_path: Path):
    path = tmp_path / "not-a-feed.csv"
    path.write_bytes(b"\x00\x01garbage that no parser reads\xff\n" * 10)
    report = import_feeds(home, [path], "mbo")
    (done,) = report.files
    assert not report.ok and done.error and done.error_type in ("UnreadableFeed",
                                                                 "FeedUnreadable")
    assert payload(home, done.uri) == path.read_bytes()  # the raw bytes are never lost
    (row,) = read_table(home.catalog, "book_files").to_pylist()
    assert row["symbol"] is None and row["events"] == 0 and row["error_type"] == done.error_type
    assert row["filename"] == done.filename and row["error_count"] >= 1
    assert book_files(home) == []
    # not "already imported": a later import (a fixed reader) tries again, without a second record
    warcs = sorted(home.warcs.glob("*.warc.gz"))
    again = import_feeds(home, [path], "mbo").files[0]
    assert not again.already and again.filename == done.filename
    assert sorted(home.warcs.glob("*.warc.gz")) == warcs


def test_a_failing_stream_leaves_no_partial_file(home: Home):
    info = read_lobster(LOBSTER / MESSAGES).info
    batches = read_lobster(LOBSTER / MESSAGES, batch_rows=100).batches()

    def broken():
        for n, batch in enumerate(batches):
            if n == 3:
                raise OSError("disk gone")
            yield batch

    with pytest.raises(OSError, match="disk gone"):
        store_events(home, info, broken(), "ab" * 32, checkpoint_every=50, row_group=64)
    assert [p for p in (home.root / "books").rglob("*") if p.is_file()] == []


def test_times_going_back_are_recorded_and_stored_in_feed_order(home: Home):
    ts = [T0, T0 + 5, T0 + 3, T0 + 9]
    batch = pa.RecordBatch.from_pydict({
        "ts": ts, "ts_event": ts, "action": [1, 1, 1, 3], "side": [1, -1, 1, 1],
        "price": [100, 110, 99, 100], "size": [5, 5, 5, 5], "order_id": [1, 2, 3, 1],
        "flags": [0] * 4, "sequence": [None] * 4, "channel": [None] * 4, "line": [2, 3, 4, 5],
        "raw_action": ["A", "A", "A", "C"], "instrument_id": [None] * 4}, schema=EVENTS)
    info = read_lobster(LOBSTER / MESSAGES).info
    (stored,) = store_events(home, info, [batch], "cd" * 32, symbol="TEST")
    assert stored.events == 4 and [e["line"] for e in stored.errors] == [4]
    assert "goes back" in stored.errors[0]["reason"]
    table = events_dataset(home, [stored.events_path]).to_table()
    assert table["ts"].to_pylist() == ts


# -- the command line, times, the issuers join ---------------------------------------------------


def test_the_command_line_imports_and_prints_the_book_at_a_moment(tmp_path: Path, pair: Path):
    home = tmp_path / "cli-home"
    done = salvage("--home", str(home), "book", "import", str(pair), "--format", "lobster",
                   "--checkpoint-every", "100", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] and report["files"][0]["events"] == 999
    sha = report["files"][0]["sha256"]

    rows = replay_rows(read_lobster(pair), depth=3)
    times = [r["ts"] for r in rows]
    moment = (times[450] + times[451]) // 2
    shown = salvage("--home", str(home), "book", "at", "AAPL", iso_ns(moment), "--depth", "3",
                    "--json")
    assert shown.returncode == 0, shown.stderr
    at = json.loads(shown.stdout)
    assert at["ts_ns"] == times[450] and at["events"] == 451 and at["sha256"] == sha
    expected = rows[450]
    assert [(b["price"], b["size"]) for b in at["bids"]] == \
        [(expected[f"bid_price_{j}"], expected[f"bid_size_{j}"]) for j in (1, 2, 3)]
    assert [(a["price"], a["size"]) for a in at["asks"]] == \
        [(expected[f"ask_price_{j}"], expected[f"ask_size_{j}"]) for j in (1, 2, 3)]

    table = salvage("--home", str(home), "book", "at", "AAPL", str(moment))
    assert table.returncode == 0 and f"{expected['bid_price_1'] / 10_000:g}" in table.stdout

    got = salvage("--home", str(home), "get", f"urn:salvage:feed:{sha}", text=False)
    assert got.returncode == 0 and got.stdout == pair.read_bytes()
    again = salvage("--home", str(home), "book", "import", str(pair), "--format", "lobster")
    assert again.returncode == 0 and "already imported" in again.stdout

    early = salvage("--home", str(home), "book", "at", "AAPL", "2012-06-21T13:00:00Z")
    assert early.returncode == 1 and "no events of AAPL at or before" in early.stderr
    missing = salvage("--home", str(home), "book", "at", "MSFT", "2012-06-21T15:00:00Z")
    assert missing.returncode == 1 and "salvage book import" in missing.stderr


def test_the_command_line_prints_bad_rows_with_their_lines_and_exits_1_on_unreadable(
        tmp_path: Path):
    home = tmp_path / "cli-home"
    path = tmp_path / "mbo.csv"
    lines = two_instruments(path, per=10)
    lines[4] = field(lines[4], 2, "oops")
    path.write_text("\n".join(lines) + "\n")
    junk = tmp_path / "junk.csv"
    junk.write_bytes(b"\xff\xfe\x00 nothing\n")
    done = salvage("--home", str(home), "book", "import", str(path), str(junk), "--format", "mbo",
                   "--venue", "XNAS")
    assert done.returncode == 1
    assert "mbo.csv line 5:" in " ".join(done.stderr.split())
    assert "junk.csv" in done.stderr and "AAPL" in done.stdout and "MSFT" in done.stdout


def test_times_are_read_to_the_nanosecond():
    assert parse_ns("2012-06-21T13:30:05.123456789Z") == 1340285405123456789
    assert parse_ns("2012-06-21T09:30:05.5-04:00") == 1340285405500000000
    assert parse_ns("2012-06-21 13:30:05") == 1340285405000000000
    assert parse_ns("2012-06-21") == 1340236800000000000
    assert parse_ns("1340285405123456789") == 1340285405123456789
    assert parse_ns("20120621133005") == 1340285405000000000
    assert iso_ns(1340285405000000007) == "2012-06-21T13:30:05.000000007Z"


def test_a_symbol_joins_its_filer_through_the_issuers_tickers(home: Home, pair: Path):
    import_feeds(home, [pair], "lobster")
    append_rows(home.catalog, "issuers", [
        {"cik": "0000320193", "name": "Apple Inc.", "tickers": ["AAPL"], "exchanges": ["Nasdaq"],
         "category": "Large Accelerated Filer"},
        {"cik": "0001067983", "name": "BERKSHIRE HATHAWAY INC", "tickers": ["BRK-B", "BRK-A"],
         "exchanges": ["NYSE", "NYSE"]},
        {"cik": "0000789019", "name": "MICROSOFT CORP", "tickers": ["MSFT"],
         "exchanges": ["Nasdaq"]},
    ])
    (apple,) = filers_for(home, "AAPL")
    assert (apple["cik"], apple["name"]) == ("0000320193", "Apple Inc.")
    assert [f["cik"] for f in filers_for(home, "aapl")] == ["0000320193"]
    assert [f["cik"] for f in filers_for(home, "BRK.B")] == ["0001067983"]
    assert [f["cik"] for f in filers_for(home, "BRK/B")] == ["0001067983"]
    assert filers_for(home, "ZZZZ") == []
    joined = query(home.catalog, "SELECT venue, symbol, cik, issuer_name FROM book_issuers")
    assert joined.to_pylist() == [{"venue": "XNAS", "symbol": "AAPL", "cik": "0000320193",
                                   "issuer_name": "Apple Inc."}]


def test_no_book_is_explained(home: Home, pair: Path):
    with pytest.raises(NoBook, match="salvage book import"):
        book_at(home, "AAPL", "2012-06-21T14:00:00Z")
    import_feeds(home, [pair], "lobster")
    with pytest.raises(NoBook, match="first stored one is at 2012-06-21T13:30:00.004241176Z"):
        book_at(home, "AAPL", "2012-06-21T13:00:00Z")


def test_a_lobster_orderbook_file_alone_is_refused_and_left_for_its_message_file(
        home: Home, pair: Path):
    report = import_feeds(home, [pair.parent / BOOK], "lobster")
    (refused,) = report.files
    assert not report.ok and refused.error_type == "BookStoreError"
    assert MESSAGES in refused.error and read_table(home.catalog, "book_files").num_rows == 0
