"""The audit chain: `audit/log.jsonl`, one JSON object a line, each carrying the SHA-256 of the line
before it, so an edit, insertion or deletion anywhere breaks the chain from that point on."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

GENESIS = "0" * 64


@dataclass(frozen=True)
class ChainProblem:
    line: int
    problem: str


def _line_hash(line: bytes) -> str:
    return hashlib.sha256(line.rstrip(b"\n")).hexdigest()


def _last_line(fh) -> bytes | None:
    """The last complete line of an open file, read backwards from its end."""
    end = fh.seek(0, os.SEEK_END)
    if end == 0:
        return None
    pos, tail = end, b""
    while pos > 0:
        step = min(4096, pos)
        pos -= step
        fh.seek(pos)
        tail = fh.read(step) + tail
        cut = tail.rstrip(b"\n").rfind(b"\n")
        if cut >= 0:
            return tail[cut + 1 :]
    return tail


class AuditLog:
    """Append-only, hash-chained log of what happened to the store."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def append(self, event: str, **details: Any) -> dict[str, Any]:
        """Append one event; safe against concurrent writers (flock) and durable (fsync)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            last = _last_line(fh)
            if last is None:
                seq, prev = 0, GENESIS
            else:
                seq, prev = json.loads(last)["seq"] + 1, _line_hash(last)
            entry = {
                "seq": seq,
                "time": datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
                "event": event,
                **details,
                "prev": prev,
            }
            line = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode() + b"\n"
            fh.seek(0, os.SEEK_END)
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
        return entry

    def entries(self) -> list[dict[str, Any]]:
        """Every event, oldest first (unparsable lines are skipped; `verify` reports them)."""
        if not self.path.exists():
            return []
        out = []
        with open(self.path, "rb") as fh:
            for raw in fh:
                try:
                    out.append(json.loads(raw))
                except ValueError:
                    continue
        return out

    def verify(self) -> list[ChainProblem]:
        """Check every link of the chain; an empty list means the log is intact."""
        problems: list[ChainProblem] = []
        if not self.path.exists():
            return problems
        prev, expected_seq = GENESIS, 0
        with open(self.path, "rb") as fh:
            for number, raw in enumerate(fh, start=1):
                if not raw.endswith(b"\n"):
                    problems.append(ChainProblem(number, "last line is cut short (no newline)"))
                try:
                    entry = json.loads(raw)
                except ValueError:
                    problems.append(ChainProblem(number, "line is not valid JSON"))
                    prev = _line_hash(raw)
                    expected_seq += 1
                    continue
                if entry.get("prev") != prev:
                    problems.append(
                        ChainProblem(number, "hash of the previous line does not match: "
                                             "a line before it was edited, inserted or deleted")
                    )
                if entry.get("seq") != expected_seq:
                    problems.append(
                        ChainProblem(number, f"sequence {entry.get('seq')} where {expected_seq} "
                                             "was expected: a line was deleted or inserted")
                    )
                prev = _line_hash(raw)
                expected_seq = (entry.get("seq") if isinstance(entry.get("seq"), int)
                                else expected_seq) + 1
        return problems
