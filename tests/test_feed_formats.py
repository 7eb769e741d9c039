"""ITCH and L2 feeds through the same commands as LOBSTER and MBO: `book import` (archived,
split by symbol, A/B lines merged), `book replay`, `book at`, `book gaps`, and the integrity
findings that become incidents and are repaired when the other line arrives (real files, real
WARCs, Parquet and the real engine)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from conftest import salvage

from archive.home import Home
from orderbook import itchwrite as w
from orderbook.at import book_at
from orderbook.feedfolder import find_feeds
from orderbook.replay import open_feed, replay
from orderbook.store import book_files, import_feeds

OPEN = 34_200_000_000_000  # 9:30 New York, ns after midnight


def two_stocks() -> bytes:
    """A day of two stocks (locates 7 and 8) with system events between their orders."""
    return b"".join([
        w.system(10, "O"), w.directory(7, "ZVZZT"), w.directory(8, "OTHER"),
        w.add(7, OPEN, 1, "B", 100, 100_000), w.add(8, OPEN + 100, 2, "S", 50, 200_000,
                                                       symbol="OTHER"),
        w.add(7, OPEN + 200, 3, "S", 300, 100_500), w.system(OPEN + 300, "Q"),
        w.executed(7, OPEN + 400, 1, 40), w.replace(8, OPEN + 500, 2, 4, 70, 199_900),
        w.delete(7, OPEN + 600, 3),
    ])


def test_an_itch_file_is_archived_and_split_by_the_stock_directory(tmp_path: Path):
    feed = tmp_path / "20190130.NASDAQ_ITCH50"
    feed.write_bytes(two_stocks())
    home = Home(tmp_path / "home")
    report = import_feeds(home, [feed], "itch")
    assert report.ok, report.as_dict()
    stored = {s["symbol"]: s for s in report.files[0].symbols}
    assert sorted(stored) == ["OTHER", "ZVZZT"]
    # the two system events go with each stock's stream, the orders only with their own (a
    # replace is two rows: the delete of the old reference and the add of the new)
    assert stored["ZVZZT"]["events"] == 6 and stored["OTHER"]["events"] == 5
    assert {r["venue"] for r in book_files(home)} == {"XNAS"}
    at = book_at(home, "ZVZZT", "2019-01-30T14:30:00.000001Z").as_dict()
    assert [(b["price"], b["size"]) for b in at["bids"]] == [(100_000, 60)]
    assert at["asks"] == []
    other = book_at(home, "OTHER", "2019-01-30T14:31:00Z").as_dict()
    assert [(a["price"], a["size"]) for a in other["asks"]] == [(199_900, 70)]
    assert import_feeds(home, [feed], "itch").files[0].already


def test_itch_replay_asks_for_a_symbol_when_the_file_holds_several(tmp_path: Path):
    feed = tmp_path / "20190130.NASDAQ_ITCH50"
    feed.write_bytes(two_stocks())
    both = salvage("book", "replay", str(feed), "-o", str(tmp_path / "x.parquet"))
    assert both.returncode == 1 and "choose one with --symbol" in both.stderr
    assert "ZVZZT" in both.stderr and "OTHER" in both.stderr
    done = salvage("book", "replay", str(feed), "--symbol", "ZVZZT", "--depth", "2", "-o",
                   str(tmp_path / "z.parquet"), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["symbol"] == "ZVZZT"
    result = replay(open_feed(feed, symbol="ZVZZT"), 2)
    assert result.table.column("bid_price_1").to_pylist()[-1] == 100_000
    assert result.table.column("bid_size_1").to_pylist()[-1] == 60


def test_the_feed_folder_recognises_itch_pcap_and_l2_files(tmp_path: Path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "20190130.NASDAQ_ITCH50").write_bytes(two_stocks())
    (folder / "lineA.pcap").write_bytes(b"\xd4\xc3\xb2\xa1" + bytes(20))
    (folder / "btcusdt.jsonl").write_text('{"lastUpdateId": 1, "bids": [], "asks": []}\n')
    (folder / "notes.txt").write_text("hello")
    found = find_feeds(folder, settle_seconds=0)
    assert {k: sorted(p.name for p in v) for k, v in found.by_format.items()} == {
        "itch": ["20190130.NASDAQ_ITCH50", "lineA.pcap"], "l2": ["btcusdt.jsonl"]}
    assert [x["name"] for x in found.left] == ["notes.txt"]


def test_the_command_line_imports_itch_and_refuses_lines_for_lobster(tmp_path: Path):
    feed = tmp_path / "20190130.NASDAQ_ITCH50"
    feed.write_bytes(two_stocks())
    home = tmp_path / "home"
    done = salvage("--home", str(home), "book", "import", str(feed), "--format", "itch",
                   "--json")
    assert done.returncode == 0, done.stderr
    assert {s["symbol"] for s in json.loads(done.stdout)["files"][0]["symbols"]} == \
        {"ZVZZT", "OTHER"}
    copy = tmp_path / "copy.csv"
    shutil.copy(feed, copy)
    refused = salvage("--home", str(home), "book", "import", str(feed), str(copy), "--format",
                      "lobster", "--lines")
    assert refused.returncode == 1 and "--lines merges A/B captures" in refused.stderr


# -- integrity: Binance A/B captures, incidents, repair ---------------------------------------

T0_MS = 1_709_251_200_000  # 2024-03-01T00:00:00Z


def binance_line(u: int) -> str:
    """A spot depth diff covering update id u alone; the bid at 100.00 becomes u/100 BTC."""
    return json.dumps({"e": "depthUpdate", "E": T0_MS + u * 10, "s": "BTCUSDT", "U": u, "u": u,
                       "b": [["100.00", f"{u / 100:.8f}"]], "a": [["101.00", "1.00000000"]]})


def binance_capture(path: Path, drop: set[int]) -> Path:
    """A snapshot at update 100, diffs 101..110 less `drop`, a snapshot at 110 (the book then)."""
    snapshot = {"lastUpdateId": 100, "bids": [["100.00", "0.50000000"]],
                "asks": [["101.00", "1.00000000"]]}
    last = {"lastUpdateId": 110, "bids": [["100.00", "1.10000000"]],
            "asks": [["101.00", "1.00000000"]]}
    lines = [json.dumps(snapshot)] + [binance_line(u) for u in range(101, 111) if u not in drop]
    path.write_text("\n".join([*lines, json.dumps(last)]) + "\n")
    return path


def test_a_gap_in_line_a_is_an_incident_until_line_b_fills_it(tmp_path: Path):
    from orderbook.gaps import book_gaps
    from orderbook.integrity import settle_incident
    from storage.incidents import IncidentStore

    a = binance_capture(tmp_path / "hostA.jsonl", drop={105})
    b = binance_capture(tmp_path / "hostB.jsonl", drop={108})
    home = Home(tmp_path / "home")
    alone = import_feeds(home, [a], "l2", venue="binance")
    assert alone.ok, alone.as_dict()
    assert {f["kind"] for f in alone.files[0].findings} >= {"sequence_gap", "unknown_state",
                                                          "resynced"}
    found = [f for f in book_gaps(home).findings if f.type == "orderbook.sequence_gap"]
    assert len(found) == 1
    gap = found[0]
    assert gap.entity == "binance/BTCUSDT"
    assert (gap.evidence["first_missing"], gap.evidence["last_missing"]) == (105, 105)
    assert gap.evidence["state_unknown"]["first_line"] <= gap.evidence["resynced"]["line"]
    store = IncidentStore(home)
    incident = store.raise_findings([gap])[0]
    assert settle_incident(home, store, incident) == "unrecoverable (book resynchronised)"
    assert store.get(incident.id).status == "unrecoverable"

    merged = import_feeds(home, [a, b], "l2", venue="binance", lines=True)
    assert merged.ok and merged.files[0].lines == ["hostA.jsonl", "hostB.jsonl"]
    kinds = [f["kind"] for f in merged.files[0].findings]
    assert "sequence_gap" not in kinds and kinds.count("filled") == 2
    assert not [f for f in book_gaps(home).findings if f.type == "orderbook.sequence_gap"]
    assert settle_incident(home, store, store.get(incident.id)) == \
        "recovered (filled from another line)"
    done = store.get(incident.id)
    recovered = next(e for e in done.timeline if e.event == "recovered").evidence
    assert done.status == "resolved" and recovered["verified"] is True
    assert recovered["filled_from"] == ["hostB.jsonl"] and recovered["lines"] == [
        "hostA.jsonl", "hostB.jsonl"]
    at = book_at(home, "BTCUSDT", "2024-03-01T00:00:05Z", venue="binance").as_dict()
    assert [(x["price"], x["size"]) for x in at["bids"]] == [(100 * 10**9, 110_000_000)]


def test_a_diff_missing_from_both_lines_stays_a_gap(tmp_path: Path):
    from orderbook.gaps import book_gaps

    a = binance_capture(tmp_path / "a.jsonl", drop={104, 107})
    b = binance_capture(tmp_path / "b.jsonl", drop={107})
    home = Home(tmp_path / "home")
    merged = import_feeds(home, [a, b], "l2", venue="binance", lines=True)
    gaps = [f for f in merged.files[0].findings if f["kind"] == "sequence_gap"]
    assert [(g["first_seq"], g["last_seq"]) for g in gaps] == [(107, 107)]
    found = [f for f in book_gaps(home).findings if f.type == "orderbook.sequence_gap"]
    assert [f.evidence["first_missing"] for f in found] == [107]
    assert found[0].evidence["lines"] == ["a.jsonl", "b.jsonl"]
    assert found[0].evidence["filled"][0]["first"] == 104


def test_itch_captures_of_two_lines_merge_and_a_packet_both_lost_is_an_incident(tmp_path: Path):
    from orderbook.gaps import book_gaps

    packets = w.packets_of(w.order_flow(200, seed=11))
    a, b = tmp_path / "20190130.lineA.pcap", tmp_path / "20190130.lineB.pcap"
    w.write_capture(a, [p for k, p in enumerate(packets) if k not in (5, 9, 20)])
    w.write_capture(b, [p for k, p in enumerate(packets) if k not in (12, 20)])
    lost = packets[20]
    first = int.from_bytes(lost[10:18], "big")
    count = int.from_bytes(lost[18:20], "big")
    home = Home(tmp_path / "home")
    report = import_feeds(home, [a, b], "itch", lines=True)
    assert report.ok, report.as_dict()
    done = report.files[0]
    assert done.lines == [a.name, b.name]
    assert {s["symbol"] for s in done.symbols} == {"ZVZZT", "OTHER"}
    gaps = [f for f in done.findings if f["kind"] == "sequence_gap"]
    assert [(g["first_seq"], g["last_seq"]) for g in gaps] == [(first, first + count - 1)]
    assert {f["source"] for f in done.findings if f["kind"] == "filled"} == {a.name, b.name}
    found = [f for f in book_gaps(home).findings if f.type == "orderbook.sequence_gap"]
    assert len(found) == 1 and found[0].entity == "XNAS/feed"
    assert found[0].evidence["first_missing"] == first
    assert len(found[0].evidence["filled"]) == 3
    assert found[0].evidence["state_unknown"]["to"] is None  # no snapshot in ITCH to resync


def test_an_l2_capture_replays_from_the_command_line_with_its_venue_guessed(tmp_path: Path):
    from conftest import FIXTURES

    capture = FIXTURES / "orderbook" / "l2" / "coinbase_btcusd.jsonl"
    out = tmp_path / "btc.parquet"
    done = salvage("book", "replay", str(capture), "-o", str(out), "--depth", "3", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["format"] == "l2" and report["size_scale"] == 10**8
    assert [f["kind"] for f in report["findings"]][:1] == ["sequence_gap"]
    gaps = salvage("--home", str(tmp_path / "h"), "book", "import", str(capture), "--format",
                   "l2", "--venue", "coinbase")
    assert gaps.returncode == 0 and "sequence_gap" in gaps.stderr
    found = salvage("--home", str(tmp_path / "h"), "book", "gaps", "--json")
    types = {f["type"] for f in json.loads(found.stdout)["findings"]}
    assert "orderbook.sequence_gap" in types
