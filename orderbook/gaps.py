"""Gaps in archived market data, as findings (the same incident model as filings).

    orderbook.time_gap      silence longer than `silence` between two events in trading hours
    orderbook.crossed       best bid above best ask (a run of events, one finding per run)
    orderbook.locked        best bid equal to best ask
    orderbook.bad_book      events the venue flagged MAYBE_BAD_BOOK (Databento flag 4)
    orderbook.sequence_gap  numbers missing from a channel's sequence — only for files that hold
                            the whole channel (`whole_channel`); otherwise not checkable, and said
    orderbook.missing_day   a trading day between a stream's first and last day with no file
                            (L2 crypto feeds: every calendar day; their hours are the whole day)
    orderbook.checksum, orderbook.state_unknown, and the sequence gaps of ITCH and L2 feeds:
                            from what their readers found (`feed_findings`; integrity.py)
    orderbook.store_damaged a stored stream's files are missing, unreadable or do not hold what
                            its `book_files` row says (events and book rows counted from the
                            Parquet footers, checkpoints from their index): rebuild it from the
                            archived feed (`orderbook.store.rebuild_stream`)

Each stored events file (one per symbol and day, as `book_files` lists them) is read once, in
feed order; the top of book comes from the same engine as replay, one batch at a time.
"""

from __future__ import annotations

import time as clock
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from archive.home import Home
from orderbook.engine import Book
from orderbook.events import F_MAYBE_BAD_BOOK
from orderbook.integrity import integrity_findings
from storage.deadlines import federal_holidays
from storage.findings import Finding
from storage.tables import read_table

NEW_YORK = ZoneInfo("America/New_York")
OPEN, CLOSE = time(9, 30), time(16, 0)
SILENCE = timedelta(seconds=60)
"""Silence in trading hours longer than this is a time gap (liquid names trade every second)."""
MAX_RUNS = 100
"""Findings of one kind per file at most (a broken feed crosses all day); the rest are counted."""


@dataclass
class BookGapReport:
    findings: list[Finding] = field(default_factory=list)
    not_checkable: list[str] = field(default_factory=list)
    files: int = 0
    events: int = 0
    seconds: float = 0.0


def book_gaps(home: Home, *, silence: timedelta = SILENCE, whole_channel: bool = False,
              expected: tuple[date, date] | None = None) -> BookGapReport:
    """Every gap in the stored events of `home`. `expected` (first, last) adds the trading days
    of that range to those each stream must have."""
    started = clock.perf_counter()
    report = BookGapReport()
    damaged, unreadable = store_findings(home)
    report.findings += damaged
    files = _current_files(home)
    for row in files:
        if row["events_path"] not in unreadable:
            _check_file(home, row, silence, whole_channel, report)
    report.findings += missing_days(files, expected)
    report.findings += integrity_findings(home, files)
    report.findings.sort(key=lambda f: f.key)
    report.seconds = clock.perf_counter() - started
    return report


def store_findings(home: Home) -> tuple[list[Finding], set[str]]:
    """`orderbook.store_damaged` for every current `book_files` stream whose stored files do not
    hold what the row says (footers and checkpoint indexes only: cheap), and the events paths
    that cannot be read at all."""
    from orderbook.checkpoints import CheckpointFile
    from orderbook.store import book_files

    found, unreadable = [], set()
    for row in book_files(home):
        if not row["events_path"] or not row["events"]:
            continue
        problems = []
        for kind, path in (("events", row["events_path"]), ("book rows", row["levels_path"])):
            if not path:
                continue
            try:
                rows = pq.ParquetFile(home.root / path).metadata.num_rows
            except Exception as exc:  # missing, cut short, not Parquet
                problems.append(f"its {kind} file cannot be read ({type(exc).__name__})")
                if kind == "events":
                    unreadable.add(path)
                continue
            if rows != row["events"]:
                problems.append(f"its {kind} file holds {rows:,} rows, not {row['events']:,}")
        try:
            marks = len(CheckpointFile(home.root / row["checkpoints_path"]).marks) \
                if row["checkpoints_path"] else 0
            if marks != row["checkpoints"]:
                problems.append(f"its checkpoints file holds {marks} checkpoints, not "
                                f"{row['checkpoints']}")
        except Exception as exc:
            problems.append(f"its checkpoints file cannot be read ({type(exc).__name__})")
        if problems:
            found.append(Finding(
                "orderbook.store_damaged", entity=f"{row['venue']}/{row['symbol']}/{row['date']}",
                period=f"{row['date']}:{row['sha256'][:16]}",
                subject=f"{row['symbol']} on {row['venue']}: the stored stream of "
                        f"{row['original_name']} is damaged: {'; '.join(problems)}",
                window_start=_dt(row["first_ts"]) if row["first_ts"] is not None else None,
                window_end=_dt(row["last_ts"]) if row["last_ts"] is not None else None,
                evidence={"file": row["original_name"], "sha256": row["sha256"],
                          "events_path": row["events_path"], "levels_path": row["levels_path"],
                          "checkpoints_path": row["checkpoints_path"], "events": row["events"],
                          "problems": problems, "uri": row["uri"], "warc": row["filename"],
                          "offset": row["offset"]}))
    return found, unreadable


def _current_files(home: Home) -> list[dict]:
    """One events file per (venue, symbol, day): the first imported (`book_files` rows), unless
    a stream merged from more redundant lines (A/B captures) came later: it is the more
    complete."""
    table = read_table(home.catalog, "book_files")
    chosen: dict[tuple, dict] = {}
    for row in table.sort_by("recorded_at").to_pylist():
        if row["symbol"] is None or not row["events_path"]:
            continue
        key = (row["venue"], row["symbol"], row["date"])
        if key not in chosen or len(row.get("lines") or []) > len(chosen[key].get("lines") or []):
            chosen[key] = row
    return list(chosen.values())


def _check_file(home: Home, row: dict, silence: timedelta, whole_channel: bool,
                report: BookGapReport) -> None:
    where = f"{row['venue']}/{row['symbol']}/{row['date']}"
    evidence = {"file": row["original_name"], "sha256": row["sha256"],
                "events_path": row["events_path"]}
    parquet = pq.ParquetFile(home.root / row["events_path"])
    book = Book(depth=1, price_scale=row["price_scale"] or 1)
    runs = {"crossed": _Runs(), "locked": _Runs(), "bad_book": _Runs()}
    gaps, sequences, previous = [], {}, None
    crypto = row["format"] == "l2"
    hours = _whole_day(row["date"]) if crypto else _trading_hours(row["date"])
    for batch in parquet.iter_batches(batch_size=1 << 20):
        ts = batch.column("ts").to_numpy(zero_copy_only=False)
        report.events += len(ts)
        if len(ts):
            gaps += _silences(ts, previous, silence, hours)
            previous = int(ts[-1])
        top = book.apply(batch)
        bid = _prices(top, "bid_price_1")
        ask = _prices(top, "ask_price_1")
        both = ~(np.isnan(bid) | np.isnan(ask))
        runs["crossed"].add(ts, both & (bid > ask))
        runs["locked"].add(ts, both & (bid == ask))
        if not crypto:  # L2: our own reader's flag; its unknown-state windows say more
            flags = batch.column("flags").to_numpy(zero_copy_only=False)
            runs["bad_book"].add(ts, (flags & F_MAYBE_BAD_BOOK) != 0)
        if row["format"] == "mbo":  # ITCH/L2 sequences are checked by their readers
            _collect_sequences(batch, sequences)
    report.files += 1
    for start, end in gaps[:MAX_RUNS]:
        seconds = (end - start) / 1e9
        report.findings.append(Finding(
            "orderbook.time_gap", entity=where, period=_iso(start),
            subject=f"{row['symbol']} on {row['venue']}: no event for {seconds:,.1f} s from "
                    f"{_clock(start)} to {_clock(end)} New York time",
            window_start=_dt(start), window_end=_dt(end),
            evidence={**evidence, "seconds": round(seconds, 3), "threshold_seconds":
                      silence.total_seconds(), "gaps_in_file": len(gaps)}))
    for kind, found in runs.items():
        for start, end, count in found.runs[:MAX_RUNS]:
            report.findings.append(Finding(
                f"orderbook.{kind}", entity=where, period=_iso(start),
                subject=f"{row['symbol']} on {row['venue']}: book {kind.replace('_', ' ')} for "
                        f"{count} events from {_clock(start)} to {_clock(end)} New York time",
                window_start=_dt(start), window_end=_dt(end),
                evidence={**evidence, "events": count, "runs_in_file": len(found.runs)}))
    _sequence_findings(row, where, evidence, sequences, whole_channel, report)


def missing_days(files: Iterable[dict], expected: tuple[date, date] | None = None
                 ) -> list[Finding]:
    """Trading days with no file, between each stream's first and last day (or `expected`)."""
    days: dict[tuple[str, str], set[date]] = {}
    every_day: set[tuple[str, str]] = set()
    for row in files:
        days.setdefault((row["venue"], row["symbol"]), set()).add(row["date"])
        if row.get("format") == "l2":  # crypto venues trade every day
            every_day.add((row["venue"], row["symbol"]))
    found = []
    for (venue, symbol), have in sorted(days.items()):
        first, last = expected or (min(have), max(have))
        first, last = min(first, min(have)), max(last, max(have))
        wanted = [first + timedelta(days=k) for k in range((last - first).days + 1)] \
            if (venue, symbol) in every_day else trading_days(first, last)
        for day in wanted:
            if day not in have:
                found.append(Finding(
                    "orderbook.missing_day", entity=f"{venue}/{symbol}", period=day.isoformat(),
                    subject=f"no {symbol} feed file for {day:%a %Y-%m-%d} on {venue}",
                    window_start=datetime.combine(day, OPEN, NEW_YORK).astimezone(UTC),
                    window_end=datetime.combine(day, CLOSE, NEW_YORK).astimezone(UTC),
                    evidence={"venue": venue, "symbol": symbol, "day": day.isoformat(),
                              "days_on_file": len(have)}))
    return found


def trading_days(first: date, last: date) -> list[date]:
    """US equity trading days: weekdays less the exchange holidays (federal holidays, without
    Columbus and Veterans Day, with Good Friday)."""
    out, day = [], first
    while day <= last:
        if day.weekday() < 5 and day not in _exchange_holidays(day.year):
            out.append(day)
        day += timedelta(days=1)
    return out


def _exchange_holidays(year: int) -> frozenset[date]:
    kept = {d for d in federal_holidays(year)
            if d.month != 10  # Columbus Day: markets open
            and not (d.month == 11 and d.day in (10, 11, 12))  # Veterans Day: open
            and not (d.month == 6 and year < 2022)}  # Juneteenth: closed from 2022
    return frozenset(kept | {_easter(year) - timedelta(days=2)})  # Good Friday: closed


def _easter(year: int) -> date:
    """Gregorian Easter Sunday (the anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (b - (b + 8) // 25 + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    m = (32 + 2 * e + 2 * i - h - k) % 7
    n = (a + 11 * h + 22 * m) // 451
    month, day = divmod(h + m - 7 * n + 114, 31)
    return date(year, month, day + 1)


class _Runs:
    """Runs of consecutive events where a condition holds: (first ts, last ts, events)."""

    def __init__(self) -> None:
        self.runs: list[tuple[int, int, int]] = []
        self._open: list[int] | None = None

    def add(self, ts: np.ndarray, mask: np.ndarray) -> None:
        if not mask.any() and self._open is None:
            return
        edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(np.int8), [0]))))
        for start, stop in zip(edges[::2], edges[1::2], strict=True):
            first, last, count = int(ts[start]), int(ts[stop - 1]), int(stop - start)
            if self._open is not None and start == 0:
                self._open[1], self._open[2] = last, self._open[2] + count
            else:
                self._close()
                self._open = [first, last, count]
            if stop < len(mask):
                self._close()
        if not mask[-1]:
            self._close()

    def _close(self) -> None:
        if self._open is not None:
            self.runs.append(tuple(self._open))  # type: ignore[arg-type]
            self._open = None


def _silences(ts: np.ndarray, previous: int | None, silence: timedelta,
              hours: tuple[int, int]) -> list[tuple[int, int]]:
    stamps = ts if previous is None else np.concatenate(([previous], ts))
    gaps = np.diff(stamps)
    limit = int(silence.total_seconds() * 1e9)
    found = np.flatnonzero(gaps > limit)
    opens, closes = hours
    out = []
    for i in found:
        start, end = max(int(stamps[i]), opens), min(int(stamps[i + 1]), closes)
        if end - start > limit:  # the silence falls in trading hours
            out.append((start, end))
    return out


def _collect_sequences(batch: pa.RecordBatch, sequences: dict) -> None:
    seq = batch.column("sequence")
    if seq.null_count == len(seq):
        return
    channels = batch.column("channel").fill_null(-1).to_numpy(zero_copy_only=False)
    values = seq.fill_null(-1).to_numpy(zero_copy_only=False)
    for channel in np.unique(channels):
        part = values[(channels == channel) & (values >= 0)]
        if len(part):
            sequences.setdefault(int(channel), []).append(part)


def _sequence_findings(row: dict, where: str, evidence: dict, sequences: dict,
                       whole_channel: bool, report: BookGapReport) -> None:
    if not sequences:
        return
    if not whole_channel:
        report.not_checkable.append(
            f"{where}: sequence numbers not checked — Databento numbers each channel, and this "
            "file is not known to hold a whole channel (import it with whole_channel)")
        return
    for channel, parts in sorted(sequences.items()):
        seq = np.unique(np.concatenate(parts))
        holes = np.flatnonzero(np.diff(seq) > 1)
        for i in holes[:MAX_RUNS]:
            first, last = int(seq[i]) + 1, int(seq[i + 1]) - 1
            report.findings.append(Finding(
                "orderbook.sequence_gap", entity=f"{row['venue']}/channel {channel}",
                period=f"{row['date']}:{first}",
                subject=f"channel {channel} of {row['venue']} on {row['date']}: sequence "
                        f"{first}..{last} missing ({last - first + 1} messages)",
                evidence={**evidence, "channel": channel, "first_missing": first,
                          "last_missing": last, "holes_in_file": len(holes)}))


def _whole_day(day: date) -> tuple[int, int]:
    start = datetime.combine(day, time(0), UTC)
    return int(start.timestamp()) * 10**9, int((start + timedelta(days=1)).timestamp()) * 10**9


def _trading_hours(day: date) -> tuple[int, int]:
    def ns(moment: time) -> int:
        return int(datetime.combine(day, moment, NEW_YORK).timestamp() * 1e9)

    return ns(OPEN), ns(CLOSE)


def _prices(top: pa.RecordBatch, name: str) -> np.ndarray:
    return top.column(name).to_numpy(zero_copy_only=False).astype(np.float64)


def _dt(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, UTC)


def _iso(ns: int) -> str:
    return _dt(ns).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _clock(ns: int) -> str:
    return _dt(ns).astimezone(NEW_YORK).strftime("%H:%M:%S.%f")[:-3]
