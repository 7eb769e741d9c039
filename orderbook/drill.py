"""The `orderbook` drill scenario: a stretch of events cut from one stored capture of a sampled
window, detected, repaired from the archived feed and verified (storage/drill.py runs it).

Windows (`window_candidates`): every current `book_files` stream with events is split into
windows of `WINDOW_S` seconds aligned to whole minutes (`XNAS/AAPL/2012-06-21T13:30Z+60s@<first 8
hex of the stream's sha256>`: one capture of one window, so two vendors' copies of a day are two
candidates); a stream shorter than `MIN_WINDOWS` windows (a sample file) is split into
`MIN_WINDOWS` windows of whole seconds instead, so it still offers a choice. Only windows that
hold events are candidates (the `ts` column of each stream is read once). Strata: venue/symbol and
month.

Loss, in the scratch copy only: the sampled windows' events are cut from the stream's stored
events file, and the same rows from its LOBSTER book rows file (a stretch lost from the derived
store, consistent with itself); both are rewritten (temp + rename: a new file, never the real
home's). The checkpoints are left as they were. Windows of one stream are cut together and the
stream is rebuilt once.

Detection: `orderbook.gaps.book_gaps` on the scratch copy, the production check. A window is
detected when a finding names its stream: `orderbook.store_damaged` (its files do not hold the
rows `book_files` says) or an `orderbook.time_gap` over the window (a cut longer than the silence
threshold, in trading hours).

Recovery: book repair, `orderbook.store.rebuild_stream` (the raw bytes from the WARC, parsed and
stored again by the import's code; no WARC record written).

Verification, per window: at up to `MOMENTS` seeded moments (the timestamps of distinct events of
the window, drawn with the item as seed) the top `DEPTH` levels of `book_at` in the scratch after
repair must equal the real home's (ts, events applied, price, size and orders of every level) and,
for LOBSTER, the archived orderbook row of the last event applied (the companion file read back
from its WARC record: top-N prices and sizes exact). `book_accuracy` = moments that match / moments
checked. `byte_exact`: the rebuilt stream holds the real one's rows (`expected_sha256` and
`actual_sha256`: sha256 of the Arrow IPC stream of the events table, then of the book rows table;
the note says whether the Parquet files are byte-identical too). `rpo_s`: the drill's time less
the WARC-Date of the feed's resource record (`source_warc`, `source_offset`). `success`: detected,
rebuilt and every moment matching.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import random
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from archive.home import Home
from orderbook.at import Books
from orderbook.store import book_files, rebuild_stream, restore_feed

if TYPE_CHECKING:
    from storage.drill import Context

log = logging.getLogger("salvage.drill")

NS = 1_000_000_000
WINDOW_S = 60
"""Seconds of one window of a day's stream (a cut longer than `gaps.SILENCE` is a time gap)."""
MIN_WINDOWS = 8
"""A stream shorter than this many windows is split into this many (whole seconds, at least 1)."""
MOMENTS = 20
"""Moments of each window at which the repaired book is compared (all, when fewer events)."""
DEPTH = 10
"""Levels compared at each moment (top-N exact)."""
METHOD = "rebuilt from the archived feed (orderbook.store.rebuild_stream)"


def window_length(first_ts: int, last_ts: int) -> int:
    """The windows' length (ns) for a stream from `first_ts` to `last_ts`."""
    span = last_ts - first_ts
    if span >= MIN_WINDOWS * WINDOW_S * NS:
        return WINDOW_S * NS
    return max(1, math.ceil(span / NS / MIN_WINDOWS)) * NS


def window_candidates(home: Home) -> list[dict]:
    """Every window of every stored stream that holds events (see the module docstring)."""
    out = []
    for row in book_files(home):
        if not row["events_path"] or not row["events"] or row["first_ts"] is None:
            continue
        try:
            ts = pq.ParquetFile(home.root / row["events_path"]).read(columns=["ts"])["ts"]
        except Exception:  # an unreadable store: detection's business, nothing to sample
            log.warning("cannot read %s: no window of it is sampled", row["events_path"])
            continue
        stamps = np.sort(ts.to_numpy(zero_copy_only=False))
        if not len(stamps):
            continue
        width = window_length(int(stamps[0]), int(stamps[-1]))
        origin = int(stamps[0]) // (60 * NS) * (60 * NS)
        index = (stamps - origin) // width
        cuts = [0, *(np.flatnonzero(np.diff(index)) + 1).tolist(), len(stamps)]
        stratum = f"{row['venue']}/{row['symbol']} {row['date']:%Y-%m}"
        for a, b in zip(cuts, cuts[1:], strict=False):
            start = origin + int(index[a]) * width
            out.append({
                "item": f"{row['venue']}/{row['symbol']}/{_label(start)}+{width // NS}s"
                        f"@{row['sha256'][:8]}",
                "stratum": stratum, "sha256": row["sha256"], "venue": row["venue"],
                "symbol": row["symbol"], "date": row["date"].isoformat(),
                "format": row["format"], "start": start, "end": start + width,
                "first_ts": int(stamps[a]), "last_ts": int(stamps[b - 1]), "events": b - a,
                "stream_events": row["events"], "events_path": row["events_path"],
                "levels_path": row["levels_path"], "checkpoints_path": row["checkpoints_path"],
                "warc": row["filename"], "offset": row["offset"],
                "companion_sha256": row["companion_sha256"],
                "companion_name": row["companion_name"]})
    return out


def run_books(home: Home, scratch: Home, chosen: list[dict], ctx: Context) -> list[dict]:
    """Cut the chosen windows from their streams in `scratch`, detect, rebuild and verify them
    against `home` (read only)."""
    from orderbook.gaps import book_gaps

    streams: dict[str, list[dict]] = defaultdict(list)
    for c in chosen:
        streams[c["sha256"]].append(c)
    for windows in streams.values():
        _cut(scratch, windows)
    started = time.perf_counter()
    report = book_gaps(scratch)
    detected_at = time.perf_counter()
    failed: dict[str, str] = {}
    for sha256 in streams:
        try:
            rebuild_stream(scratch, sha256)
        except Exception as exc:  # any failure of the repair is the item's, with its reason
            failed[sha256] = f"not rebuilt: {type(exc).__name__}: {exc}"
    recovered_at = time.perf_counter()
    n = max(1, len(chosen))
    detect_s, recover_s = (detected_at - started) / n, (recovered_at - detected_at) / n
    items = []
    for sha256, windows in streams.items():
        first = windows[0]
        expected = stream_digest(home, first["events_path"], first["levels_path"])
        try:
            actual: str | None = stream_digest(scratch, first["events_path"],
                                               first["levels_path"])
        except Exception:
            actual = None
        same_files = actual == expected and all(
            _file_sha256(home, p) == _file_sha256(scratch, p) for p in
            (first["events_path"], first["levels_path"], first["checkpoints_path"]) if p)
        written = _warc_date(home, first)
        real = _Stream(home, first)
        with tempfile.TemporaryDirectory(prefix="drill-books-", dir=_tmp(scratch)) as tmp:
            archived, why_not = _archived_rows(home, first, Path(tmp))
            real_books, books = Books(home), Books(scratch)
            for c in windows:
                checked, matched = _compare(c, real, real_books, books, archived)
                detected = _detected(report.findings, c)
                accuracy = matched / checked if checked else 0.0
                notes = [failed.get(sha256, "rebuilt"),
                         f"{matched}/{checked} moments match the home's book"
                         + (" and the archived orderbook rows" if archived is not None else "")]
                if why_not:
                    notes.append(why_not)
                if actual == expected:
                    notes.append("the Parquet files are byte-identical" if same_files
                                 else "same rows; the Parquet bytes differ")
                items.append({
                    "scenario": "orderbook", "item": c["item"], "stratum": c["stratum"],
                    "loss": f"{c['events']:,} of {c['stream_events']:,} events cut from the "
                            f"stored stream (events{' and book rows' if c['levels_path'] else ''}"
                            ") in the scratch copy",
                    "method": METHOD, "source_warc": c["warc"], "source_offset": c["offset"],
                    "expected_sha256": expected, "actual_sha256": actual,
                    "detected": detected, "detect_s": round(detect_s, 4),
                    "recover_s": round(recover_s, 4),
                    "recovery_point": _iso(written) if written else None,
                    "rpo_s": round((ctx.now - written).total_seconds(), 3) if written else None,
                    "success": detected and sha256 not in failed and checked > 0
                    and matched == checked,
                    "byte_exact": sha256 not in failed and actual == expected,
                    "book_accuracy": round(accuracy, 4), "note": "; ".join(notes)})
    return sorted(items, key=lambda i: i["item"])


# -- loss ----------------------------------------------------------------------------------------


def _cut(scratch: Home, windows: list[dict]) -> None:
    """Rewrite the stream's events (and book rows) file without the windows' rows."""
    first = windows[0]
    events = pq.ParquetFile(scratch.root / first["events_path"]).read()
    ts = events["ts"].to_numpy(zero_copy_only=False)
    lost = np.zeros(len(ts), dtype=bool)
    for c in windows:
        lost |= (ts >= c["start"]) & (ts < c["end"])
    keep = pa.array(~lost)
    for path in (first["events_path"], first["levels_path"]):
        if path:
            table = events if path == first["events_path"] else \
                pq.ParquetFile(scratch.root / path).read()
            _rewrite(scratch.root / path, table.filter(keep))


def _rewrite(path: Path, table: pa.Table) -> None:
    tmp = path.with_name(path.name + ".drill-cut")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)  # a new file: a hard link to the real home's would stay as it was


# -- detection -----------------------------------------------------------------------------------


def _detected(findings: list, c: dict) -> bool:
    for f in findings:
        if f.evidence.get("sha256") != c["sha256"]:
            continue
        if f.type == "orderbook.store_damaged":
            return True
        if f.type == "orderbook.time_gap" and f.window_start and f.window_end and (
                f.window_start.timestamp() * NS < c["end"]
                and f.window_end.timestamp() * NS > c["start"]):
            return True
    return False


# -- verification --------------------------------------------------------------------------------


def stream_digest(home: Home, events_path: str, levels_path: str | None = None) -> str:
    """sha256 of the Arrow IPC stream of a stored events table, then of its book rows table:
    equal for equal rows (and schema metadata) however the Parquet files were written."""
    h = hashlib.sha256()
    for path in (events_path, levels_path):
        if not path:
            continue
        table = pq.ParquetFile(home.root / path).read().combine_chunks()
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        h.update(sink.getvalue())
    return h.hexdigest()


def _file_sha256(home: Home, path: str) -> str | None:
    try:
        return hashlib.sha256((home.root / path).read_bytes()).hexdigest()
    except OSError:
        return None


class _Stream:
    """The real home's stream: its event times and source lines, feed order."""

    def __init__(self, home: Home, c: dict):
        table = pq.ParquetFile(home.root / c["events_path"]).read(columns=["ts", "line"])
        self.ts = table["ts"].to_numpy(zero_copy_only=False)
        self.lines = table["line"].to_numpy(zero_copy_only=False)

    def moments(self, c: dict) -> list[int]:
        """Up to MOMENTS distinct event times of the window, drawn with the item as seed."""
        inside = np.unique(self.ts[(self.ts >= c["start"]) & (self.ts < c["end"])]).tolist()
        if len(inside) <= MOMENTS:
            return inside
        return sorted(random.Random(c["item"]).sample(inside, MOMENTS))


def _compare(c: dict, real: _Stream, real_books: Books, books: Books,
             archived: pa.Table | None) -> tuple[int, int]:
    """(moments checked, moments whose repaired book is exact)."""
    moments = real.moments(c)
    matched = 0
    for moment in moments:
        try:
            want = real_books.at(c["symbol"], moment, DEPTH, c["venue"], c["sha256"])
            got = books.at(c["symbol"], moment, DEPTH, c["venue"], c["sha256"])
        except Exception:  # a book that cannot be built is a moment that does not match
            continue
        if (got.ts, got.events, got.bids, got.asks) != (want.ts, want.events, want.bids,
                                                         want.asks):
            continue
        if archived is not None and not _same_as_archived(got.row(), archived,
                                                          int(real.lines[want.events - 1])):
            continue
        matched += 1
    return len(moments), matched


def _archived_rows(home: Home, c: dict, folder: Path) -> tuple[pa.Table | None, str]:
    """LOBSTER's own book after each message, read back from its WARC record (None, and why,
    when the stream has none or it cannot be read)."""
    if c["format"] != "lobster" or not c["companion_sha256"]:
        return None, ""
    from orderbook.lobster import read_lobster_book

    try:
        path = restore_feed(home, c["companion_sha256"], folder / c["companion_name"])
        return read_lobster_book(path), ""
    except Exception as exc:
        return None, (f"the archived orderbook rows cannot be read ({type(exc).__name__}: "
                      f"{exc}): compared with the home's books only")


def _same_as_archived(row: dict[str, Any], archived: pa.Table, line: int) -> bool:
    """The book row equals the archived orderbook row of source line `line` (top-N)."""
    if not 1 <= line <= archived.num_rows:
        return False
    want = archived.slice(line - 1, 1).to_pylist()[0]
    depth = min(DEPTH, sum(1 for k in want if k.startswith("ask_price_")))
    keys = [f"{side}_{what}_{j}" for j in range(1, depth + 1) for side in ("ask", "bid")
            for what in ("price", "size")]
    return all(row.get(k) == want.get(k) for k in keys)


def _warc_date(home: Home, c: dict) -> datetime | None:
    """The WARC-Date of the feed's resource record (the capture the repair used)."""
    from archive.cdxj import IndexLine
    from archive.payload import read_headers

    if not c["warc"] or c["offset"] is None:
        return None
    line = IndexLine("", "", {"url": "", "filename": c["warc"], "offset": str(c["offset"]),
                              "length": "0", "mime": ""})
    try:
        text = read_headers(home, line).warc["WARC-Date"]
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except Exception:
        return None


def _tmp(home: Home) -> Path:
    home.tmp.mkdir(parents=True, exist_ok=True)
    return home.tmp


def _label(ns: int) -> str:
    moment = datetime.fromtimestamp(ns // NS, UTC)
    return moment.strftime("%Y-%m-%dT%H:%MZ" if moment.second == 0 else "%Y-%m-%dT%H:%M:%SZ")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")

