"""The `orderbook` drill scenario (orderbook/drill.py) and book repair (`rebuild_stream`): a
stretch of events cut from a stored LOBSTER stream in the drill's scratch copy is detected by
`book_gaps`, rebuilt from the archived feed and verified against the home's books and LOBSTER's
own orderbook rows; the real home is byte-identical afterwards (real files, WARCs and Parquet)."""

from __future__ import annotations

import hashlib
import shutil
from datetime import date
from pathlib import Path

import pytest
from conftest import FIXTURES, LOBSTER_BOOK, LOBSTER_MESSAGES

from archive.home import Home
from orderbook.drill import MIN_WINDOWS, NS, WINDOW_S, window_candidates, window_length
from orderbook.gaps import book_gaps
from orderbook.store import BookStoreError, book_files, import_feeds, rebuild_stream
from storage.drill import run_drill, stratified, tree_digest
from storage.tables import append_rows, read_table


def _import_pair(root: Path) -> Home:
    folder = root / "feeds"
    folder.mkdir()
    for name in (LOBSTER_MESSAGES, LOBSTER_BOOK):
        shutil.copy(FIXTURES / "orderbook" / name, folder / name)
    home = Home(root / "home").ensure()
    assert import_feeds(home, [folder / LOBSTER_MESSAGES], "lobster", checkpoint_every=100).ok
    return home


@pytest.fixture(scope="module")
def books_home(tmp_path_factory) -> Home:
    """A home holding the LOBSTER sample pair (999 AAPL events over 49 s of 2012-06-21)."""
    return _import_pair(tmp_path_factory.mktemp("drill-books"))


def _digests(home: Home, paths: list[str]) -> dict[str, str]:
    return {p: hashlib.sha256((home.root / p).read_bytes()).hexdigest() for p in paths}


def test_a_drill_cuts_a_window_detects_rebuilds_and_verifies_it(books_home: Home):
    before = tree_digest(books_home.root)
    (row,) = book_files(books_home)
    result = run_drill(books_home, scenarios=["orderbook"], sample="3", seed=7)
    assert tree_digest(books_home.root) == before
    assert result["verdict"] == "pass", result["checks"]
    assert {c["name"] for c in result["checks"]} == {"orderbook byte-exact",
                                                     "RTO for the sample"}
    items = result["items"]
    assert len(items) == 3 and len({i["item"] for i in items}) == 3
    for item in items:
        assert item["scenario"] == "orderbook" and item["stratum"] == "XNAS/AAPL 2012-06"
        assert item["item"].startswith("XNAS/AAPL/2012-06-21T13:30")
        assert item["detected"] and item["success"] and item["byte_exact"]
        assert item["book_accuracy"] == 1.0
        assert item["expected_sha256"] == item["actual_sha256"] is not None
        assert (item["source_warc"], item["source_offset"]) == (row["filename"], row["offset"])
        assert item["rpo_s"] >= 0 and item["recovery_point"].endswith("Z")
        assert "events cut from the stored stream (events and book rows)" in item["loss"]
        assert "moments match the home's book and the archived orderbook rows" in item["note"]
        assert "byte-identical" in item["note"]


def test_the_same_seed_gives_the_same_windows(books_home: Home):
    windows = window_candidates(books_home)
    assert windows == window_candidates(books_home)
    assert sum(w["events"] for w in windows) == 999 and len(windows) == MIN_WINDOWS
    assert all(w["end"] - w["start"] == 7 * NS for w in windows)  # 49 s in 8 whole seconds
    assert windows[0]["item"] == "XNAS/AAPL/2012-06-21T13:30Z+7s@" + windows[0]["sha256"][:8]
    pick = [w["item"] for w in stratified(windows, lambda w: w["stratum"], (3, None), 5)]
    assert pick == [w["item"] for w in stratified(windows, lambda w: w["stratum"], (3, None), 5)]
    seen = {tuple(w["item"] for w in stratified(windows, lambda w: w["stratum"], (3, None), s))
            for s in range(10)}
    assert len(seen) > 1  # another seed, other windows
    once = run_drill(books_home, scenarios=["orderbook"], sample="2", seed=11)
    again = run_drill(books_home, scenarios=["orderbook"], sample="2", seed=11)
    assert [i["item"] for i in once["items"]] == [i["item"] for i in again["items"]]


def test_windows_are_a_minute_on_a_day_and_whole_seconds_on_a_short_stream():
    assert window_length(0, 6 * 3600 * NS) == WINDOW_S * NS
    assert window_length(0, 49 * NS + 86_375_027) == 7 * NS
    assert window_length(5, 5) == NS


def test_a_feed_record_that_cannot_be_read_is_a_clear_failure(books_home: Home, tmp_path: Path):
    copy = Home(tmp_path / "copy")
    shutil.copytree(books_home.root, copy.root)  # real copies: the module's home is not touched
    (row,) = book_files(copy)
    with open(copy.root / row["filename"], "r+b") as fh:  # the feed record's gzip member
        fh.seek(row["offset"] + 2_000)
        fh.write(b"\x00" * 64)
    result = run_drill(copy, scenarios=["orderbook"], sample="2", seed=3)
    assert result["verdict"] == "fail"
    assert len(result["items"]) == 2
    for item in result["items"]:
        assert item["detected"] and not item["success"] and not item["byte_exact"]
        assert "not rebuilt: FeedNotRecoverable" in item["note"]
        assert item["expected_sha256"] != item["actual_sha256"]
        assert item["book_accuracy"] < 1.0


def test_rebuild_stream_repairs_a_damaged_store_without_new_records(home: Home, pair: Path):
    assert import_feeds(home, [pair], "lobster", checkpoint_every=100).ok
    (row,) = book_files(home)
    stored = [row["events_path"], row["levels_path"], row["checkpoints_path"]]
    files = _digests(home, stored)
    warcs = _digests(home, [home.relative(p) for p in sorted(home.warcs.glob("*"))])
    catalog_rows = read_table(home.catalog, "book_files").num_rows

    (home.root / row["events_path"]).unlink()
    (home.root / row["levels_path"]).write_bytes(b"not parquet")
    found = [f for f in book_gaps(home).findings if f.type == "orderbook.store_damaged"]
    assert [(f.entity, f.evidence["sha256"]) for f in found] == [("XNAS/AAPL/2012-06-21",
                                                                  row["sha256"])]
    assert "its events file cannot be read" in found[0].subject

    (again,) = rebuild_stream(home, row["sha256"])
    assert (again.symbol, again.venue, again.date, again.events) == ("AAPL", "XNAS",
                                                                     date(2012, 6, 21), 999)
    assert _digests(home, stored) == files  # the same bytes as the import wrote
    assert _digests(home, [home.relative(p) for p in sorted(home.warcs.glob("*"))]) == warcs
    assert read_table(home.catalog, "book_files").num_rows == catalog_rows  # nothing changed
    assert not [f for f in book_gaps(home).findings if f.type == "orderbook.store_damaged"]

    # a row that disagrees with what the feed gives: the rebuild records the stream again
    append_rows(home.catalog, "book_files", [{**row, "events": 998}])
    assert any(f.type == "orderbook.store_damaged" for f in book_gaps(home).findings)
    rebuild_stream(home, row["sha256"])
    assert book_files(home)[0]["events"] == 999
    assert read_table(home.catalog, "book_files").num_rows == catalog_rows + 2

    with pytest.raises(BookStoreError, match="nothing to rebuild"):
        rebuild_stream(home, "0" * 64)


def test_the_recovery_step_rebuilds_a_damaged_stream_and_resolves_its_incident(home: Home,
                                                                               pair: Path):
    from orderbook.integrity import rebuild_incident as _rebuild_books
    from storage.incidents import IncidentStore

    assert import_feeds(home, [pair], "lobster", checkpoint_every=100).ok
    (row,) = book_files(home)
    (home.root / row["events_path"]).unlink()
    found = [f for f in book_gaps(home).findings if f.type == "orderbook.store_damaged"]
    store = IncidentStore(home)
    (incident,) = store.raise_findings(found)
    assert _rebuild_books(home, store, incident) == "recovered (rebuilt from the WARC)"
    done = store.get(incident.id)
    assert done.status == "resolved"
    assert next(e for e in done.timeline if e.event == "recovered").evidence["verified"] is True
    assert (home.root / row["events_path"]).is_file()
