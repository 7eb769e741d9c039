"""Gaps in archived market data: synthetic Databento MBO days written from the specification,
imported through the store, then checked — silences, crossed and locked books, MAYBE_BAD_BOOK,
sequence holes (only when the file holds the whole channel) and missing trading days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from archive.home import Home
from orderbook.gaps import book_gaps, trading_days
from orderbook.store import import_feeds

HEADER = ("ts_recv,ts_event,rtype,publisher_id,instrument_id,action,side,price,size,channel_id,"
          "order_id,flags,ts_in_delta,sequence,symbol")
NY = ZoneInfo("America/New_York")


def _ns(day: date, hh: int, mm: int, ss: float = 0.0) -> int:
    moment = datetime(day.year, day.month, day.day, hh, mm, tzinfo=NY) + timedelta(seconds=ss)
    return int(moment.astimezone(UTC).timestamp() * 1e9)


class Day:
    """A day of MBO rows for one instrument on channel 1, sequence numbered as written."""

    def __init__(self, day: date):
        self.day, self.rows, self.seq = day, [], 0

    def row(self, ts: int, action: str, side: str, price: float, size: int, order: int,
            flags: int = 128, skip: int = 0) -> None:
        self.seq += 1 + skip
        self.rows.append(f"{ts},{ts - 1000},160,2,42,{action},{side},{int(price * 1e9)},{size},1,"
                         f"{order},{flags},0,{self.seq},ACME")

    def write(self, folder: Path) -> Path:
        path = folder / f"acme-{self.day}.mbo.csv"
        path.write_text(HEADER + "\n" + "\n".join(self.rows) + "\n")
        return path


def _quiet_day(day: date) -> Day:
    """A normal book: a bid at 10.00 and an ask at 10.02, quotes every 10 s all session."""
    d = Day(day)
    d.row(_ns(day, 9, 30), "A", "B", 10.00, 100, 1)
    d.row(_ns(day, 9, 30, 0.5), "A", "A", 10.02, 100, 2)
    for n in range(1, 2340):
        d.row(_ns(day, 9, 30, 1 + n * 10), "M", "B", 10.00, 100 + n % 7, 1)
    return d


def _troubled_day(day: date) -> Day:
    d = Day(day)
    d.row(_ns(day, 9, 30), "A", "B", 10.00, 100, 1)
    d.row(_ns(day, 9, 30, 0.5), "A", "A", 10.02, 100, 2)
    t = _ns(day, 9, 31)
    for n in range(30):  # quotes every second until 09:31:30
        d.row(t + n * 1_000_000_000, "M", "B", 10.00, 100 + n, 1)
    silence_end = _ns(day, 9, 36)  # then five minutes of silence
    d.row(silence_end, "A", "B", 10.03, 50, 3)  # crosses the 10.02 ask ...
    d.row(silence_end + 1000, "T", "A", 10.02, 50, 0, flags=0)  # a trade: no book change
    d.row(silence_end + 2000, "C", "B", 10.03, 50, 3)  # ... until cancelled
    d.row(silence_end + 3000, "A", "B", 10.02, 10, 4)  # locked
    d.row(silence_end + 4000, "C", "B", 10.02, 10, 4, skip=2)  # two messages lost
    d.row(silence_end + 5000, "M", "A", 10.02, 90, 2, flags=128 | 4)  # MAYBE_BAD_BOOK
    for n in range(1, 2300):
        d.row(silence_end + n * 10_000_000_000, "M", "B", 10.00, 100 + n % 5, 1)
    return d


def test_each_kind_of_book_gap_is_found_once(tmp_path):
    home = Home(tmp_path / "home").ensure()
    monday, wednesday = date(2024, 3, 4), date(2024, 3, 6)
    files = [_troubled_day(monday).write(tmp_path), _quiet_day(wednesday).write(tmp_path)]
    imported = import_feeds(home, files, "mbo", venue="XNAS")
    assert not getattr(imported, "failed", None)
    report = book_gaps(home)
    kinds = sorted({f.type for f in report.findings})
    assert kinds == ["orderbook.bad_book", "orderbook.crossed", "orderbook.locked",
                     "orderbook.missing_day", "orderbook.time_gap"]
    by_kind = {f.type: f for f in report.findings}
    gap = by_kind["orderbook.time_gap"]
    assert gap.entity == "XNAS/ACME/2024-03-04" and 265 < gap.evidence["seconds"] < 275
    assert by_kind["orderbook.crossed"].evidence["events"] == 2  # the add and the trade after
    assert by_kind["orderbook.missing_day"].period == "2024-03-05"
    assert [f.type for f in report.findings].count("orderbook.time_gap") == 1
    assert report.not_checkable and "whole channel" in report.not_checkable[0]
    again = book_gaps(home)
    assert [f.key for f in again.findings] == [f.key for f in report.findings]  # deterministic


def test_sequence_holes_are_checked_for_a_whole_channel(tmp_path):
    home = Home(tmp_path / "home").ensure()
    import_feeds(home, [_troubled_day(date(2024, 3, 4)).write(tmp_path)], "mbo", venue="XNAS")
    [hole] = [f for f in book_gaps(home, whole_channel=True).findings
              if f.type == "orderbook.sequence_gap"]
    assert (hole.evidence["first_missing"], hole.evidence["last_missing"]) == (37, 38)


def test_a_quiet_normal_day_has_no_gap(tmp_path):
    home = Home(tmp_path / "home").ensure()
    import_feeds(home, [_quiet_day(date(2024, 3, 6)).write(tmp_path)], "mbo", venue="XNAS")
    assert book_gaps(home).findings == []


def test_trading_days_skip_weekends_and_exchange_holidays():
    march = trading_days(date(2024, 3, 25), date(2024, 4, 1))  # Good Friday 2024-03-29
    assert march == [date(2024, 3, d) for d in (25, 26, 27, 28)] + [date(2024, 4, 1)]
    october = trading_days(date(2024, 10, 14), date(2024, 10, 14))  # Columbus Day: open
    assert october == [date(2024, 10, 14)]


def test_salvage_book_gaps_on_the_command_line(tmp_path):
    import json

    from conftest import salvage

    home = Home(tmp_path / "home").ensure()
    import_feeds(home, [_troubled_day(date(2024, 3, 4)).write(tmp_path)], "mbo", venue="XNAS")
    done = salvage("--home", str(home.root), "book", "gaps", "--json", "--whole-channel")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["files"] == 1 and found["not_checkable"] == []
    assert {f["type"] for f in found["findings"]} >= {"orderbook.sequence_gap",
                                                      "orderbook.time_gap"}
