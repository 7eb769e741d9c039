"""Closest-capture lookup: binary search over the sorted CDXJ files, memory-mapped.

Nothing is loaded up front, so lookups stay fast however large the archive: each file costs one
binary search (about 20 probes for a million lines).
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from archive.cdxj import IndexLine, timestamp14, url_key
from archive.home import Home
from archive.timeparse import ts14_to_datetime


class CdxjFile:
    """One sorted CDXJ file, searched in place."""

    def __init__(self, path: Path):
        self.path = path
        self._fh = open(path, "rb")
        size = Path(path).stat().st_size
        self._mm = mmap.mmap(self._fh.fileno(), 0, access=mmap.ACCESS_READ) if size else b""

    def close(self) -> None:
        if isinstance(self._mm, mmap.mmap):
            self._mm.close()
        self._fh.close()

    def lower_bound(self, key: bytes) -> int:
        """Offset of the first line >= key (byte-wise), or the file size."""
        mm, lo, hi, k = self._mm, 0, len(self._mm), len(key)
        while lo < hi:
            mid = (lo + hi) // 2
            nl = mm.rfind(b"\n", lo, mid)
            start = lo if nl < 0 else nl + 1
            # line < key exactly when its first len(key) bytes are: a line shorter than the key
            # continues with "\n", which sorts below every byte a key holds.
            if mm[start : start + k] < key:
                end = mm.find(b"\n", start)
                lo = (len(mm) if end < 0 else end) + 1
            else:
                hi = start
        return lo

    def lines_from(self, pos: int) -> Iterator[tuple[int, bytes]]:
        mm = self._mm
        while pos < len(mm):
            end = mm.find(b"\n", pos)
            end = len(mm) if end < 0 else end
            yield pos, mm[pos:end]
            pos = end + 1

    def lines_before(self, pos: int) -> Iterator[bytes]:
        mm = self._mm
        end = pos - 1
        while end > 0:
            nl = mm.rfind(b"\n", 0, end)
            yield mm[nl + 1 : end]
            end = nl
            if nl < 0:
                break

    def all_lines(self) -> Iterator[bytes]:
        for _, line in self.lines_from(0):
            yield line


def _moment(ts: str) -> datetime:
    """ts14_to_datetime without strptime (5x faster; lookups compute many distances)."""
    if len(ts) >= 14 and ts[:14].isdigit():
        return datetime(int(ts[0:4]), int(ts[4:6]), int(ts[6:8]), int(ts[8:10]), int(ts[10:12]),
                        int(ts[12:14]), tzinfo=UTC)
    return ts14_to_datetime(ts)


def _distance(line: IndexLine, at: datetime) -> float:
    return abs((_moment(line.timestamp) - at).total_seconds())


class Index:
    """Every CDXJ file of a home, for lookups."""

    def __init__(self, home: Home):
        self.home = home
        paths = sorted(home.indexes.glob("*.cdxj")) if home.indexes.exists() else []
        self.files = [CdxjFile(p) for p in paths]

    def close(self) -> None:
        for f in self.files:
            f.close()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def captures(self, url: str) -> list[IndexLine]:
        """Every capture of `url` (a TimeMap), oldest first."""
        prefix = (url_key(url) + " ").encode()
        out = []
        for f in self.files:
            for _, line in f.lines_from(f.lower_bound(prefix)):
                if not line.startswith(prefix):
                    break
                out.append(IndexLine.parse(line))
        out.sort(key=lambda x: (x.timestamp, x.filename, x.offset))
        return out

    def closest(
        self, url: str, at: datetime | None = None, good_only: bool = True
    ) -> IndexLine | None:
        """The capture nearest to `at` (default: now) in absolute time, ties to the earlier.

        With good_only, soft errors, cut-short records and error statuses are never chosen.
        """
        at = at or datetime.now(UTC)
        prefix = (url_key(url) + " ").encode()
        key = prefix + timestamp14(at).encode()
        best: IndexLine | None = None
        for f in self.files:
            pos = f.lower_bound(key)
            after = (raw for _, raw in f.lines_from(pos))
            for side in (after, f.lines_before(pos)):  # at or after `at`, then before it
                line = _first_match(side, prefix, good_only)
                if line is not None:
                    best = _better(best, line, at)
        return best

    def resolve(self, line: IndexLine, refers_to_uri: str | None = None,
                refers_to_date: str | None = None) -> IndexLine | None:
        """The record holding a revisit's payload (the line itself for other records)."""
        if not line.is_revisit:
            return line
        digest = line.data.get("digest")
        want_ts = timestamp14(_iso(refers_to_date)) if refers_to_date else None
        candidates = [
            c for c in self.captures(refers_to_uri or line.url)
            if not c.is_revisit and c.data.get("digest") == digest and c.good
        ]
        if not candidates:
            return None
        exact = [c for c in candidates if want_ts and c.timestamp == want_ts]
        if exact:
            return exact[0]
        earlier = [c for c in candidates if c.timestamp <= line.timestamp]
        return earlier[-1] if earlier else candidates[0]

    def lines(self) -> Iterator[IndexLine]:
        for f in self.files:
            for raw in f.all_lines():
                if raw.strip():
                    yield IndexLine.parse(raw)


def _iso(text: str) -> datetime:
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _first_match(lines: Iterator[bytes], prefix: bytes, good_only: bool) -> IndexLine | None:
    """The first line of `lines` still under `prefix` that may be chosen, or None."""
    for raw in lines:
        if not raw.startswith(prefix):
            return None
        line = IndexLine.parse(raw)
        if not good_only or line.good:
            return line
    return None


def _better(best: IndexLine | None, cand: IndexLine, at: datetime) -> IndexLine:
    if best is None:
        return cand
    d_best, d_cand = _distance(best, at), _distance(cand, at)
    if d_cand < d_best or (d_cand == d_best and cand.timestamp < best.timestamp):
        return cand
    return best
