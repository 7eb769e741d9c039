"""The feed drop folder: market-data files placed there (LOBSTER message/orderbook pairs,
Databento MBO CSV, NASDAQ ITCH 5.0 files and pcap captures, L2 JSON-lines captures) are imported
as one batch per format, then moved to `processed/<date>/`.

A file is taken once it has not changed for `settle_seconds` (a half-copied file waits);
hidden and partial names are left alone; nothing is deleted, and a name already in
`processed/` gets a `-1` suffix. The format comes from the name (`…_message_N.csv`,
`…_orderbook_N.csv`, `ITCH` in the name, `.jsonl`/`.ndjson`) or the first bytes (`ts_recv,…`,
a pcap magic number); anything else is left in place and reported.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import count
from pathlib import Path

from archive.drop import move_no_clobber, partial_name, suffixed
from orderbook.lobster import parse_lobster_name

MBO_HEADER = b"ts_recv,"
PCAP_MAGICS = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1",
               b"\xa1\xb2\x3c\x4d")


@dataclass
class FeedFolder:
    """What one look at the folder found: files by format, and what was left alone and why."""

    by_format: dict[str, list[Path]] = field(default_factory=dict)
    left: list[dict] = field(default_factory=list)


def feed_format(path: Path) -> str | None:
    """`lobster` (by its file name), `mbo` (by its header), `itch` (by its name or a pcap
    magic), `l2` (.jsonl / .ndjson) or None."""
    if parse_lobster_name(path) is not None or "_orderbook_" in path.name:
        return "lobster"
    name = path.name.lower()
    if name.endswith((".jsonl", ".ndjson")):
        return "l2"
    if "itch" in name:
        return "itch"
    with open(path, "rb") as fh:
        head = fh.read(64).lstrip(b"\xef\xbb\xbf")
    if head[:4] in PCAP_MAGICS:
        return "itch"
    return "mbo" if head.startswith(MBO_HEADER) else None


def find_feeds(folder: Path, settle_seconds: float = 2.0) -> FeedFolder:
    found = FeedFolder()
    now = time.time()
    for path in sorted(folder.iterdir()) if folder.exists() else []:
        if not path.is_file() or path.is_symlink() or partial_name(path.name):
            continue
        if now - path.stat().st_mtime < settle_seconds:
            found.left.append({"name": path.name, "reason": "still being written"})
            continue
        fmt = feed_format(path)
        if fmt is None:
            found.left.append({"name": path.name,
                               "reason": "not a LOBSTER, MBO, ITCH or L2 file"})
            continue
        found.by_format.setdefault(fmt, []).append(path)
    return found


def move_processed(paths: list[Path], processed: Path) -> list[Path]:
    """Move imported files into `processed/<UTC date>/`, never over another file."""
    target = processed / datetime.now(UTC).date().isoformat()
    target.mkdir(parents=True, exist_ok=True)
    moved = []
    for path in paths:
        for n in count():
            dest = target / suffixed(path.name, n)
            if not dest.exists():
                move_no_clobber(path, dest)
                moved.append(dest)
                break
    return moved
