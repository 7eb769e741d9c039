"""A/B line arbitration: redundant captures of one sequenced feed merged into one stream.

Exchanges publish a feed twice (the A and B lines) and desks capture it on more than one host, so
a message lost on one line is usually on the other. Each line is an iterator of `Message`s in its
own order (sequence numbers ascending, as captured); `arbitrate` merges them by sequence number,
streaming (a heap over one message per line): the first copy of every sequence number is kept
(line A's when both have it), later copies are dropped as duplicates, and what no line had is a
hole. `Arbitration` says, per line, which ranges it missed that another line filled, and the
ranges neither had: the evidence an incident carries.

A message covers the sequence numbers `first..last` (MoldUDP64 and most feeds: one number per
message, first == last; Binance depth diffs: `U..u`). A message that overlaps what was already
emitted but reaches past it is kept (its updates are absolute, so applying one twice is harmless).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Message:
    """One sequenced message of a line: what it covers, where it was, and what it says."""

    first: int
    last: int
    payload: Any = None
    line: int = 0           # where in its source: a line number, a packet or message index
    source: int = 0         # which line (0 = A, 1 = B, ...), set by `arbitrate`


@dataclass
class Arbitration:
    """What merging the lines found. Ranges are inclusive `(first, last)` sequence numbers."""

    lines: list[str]
    taken: list[int] = field(default_factory=list)          # messages kept from each line
    duplicates: list[int] = field(default_factory=list)     # copies dropped from each line
    filled: list[list[tuple[int, int]]] = field(default_factory=list)
    """Per line: the ranges it lacked that an earlier-or-later line supplied (line A's own gaps
    filled from B, and B's filled from A)."""
    holes: list[tuple[int, int]] = field(default_factory=list)  # ranges no line had
    first: int | None = None
    last: int | None = None

    def as_dict(self) -> dict:
        return {"lines": self.lines, "taken": self.taken, "duplicates": self.duplicates,
                "filled": {name: [list(r) for r in ranges]
                           for name, ranges in zip(self.lines, self.filled, strict=True)},
                "holes": [list(r) for r in self.holes], "first": self.first, "last": self.last}


def _add_range(ranges: list[tuple[int, int]], first: int, last: int) -> None:
    """Append `first..last`, joining it to the previous range when they touch."""
    if ranges and ranges[-1][1] + 1 >= first:
        ranges[-1] = (ranges[-1][0], max(ranges[-1][1], last))
    else:
        ranges.append((first, last))


def _tagged(messages: Iterable[Message], source: int) -> Iterator[tuple[int, int, int, Message]]:
    for n, m in enumerate(messages):
        yield m.first, source, n, Message(m.first, m.last, m.payload, m.line, source)


def _gaps(covered: list[tuple[int, int]], first: int, last: int) -> list[tuple[int, int]]:
    """The parts of `first..last` outside the sorted, disjoint `covered` ranges."""
    out: list[tuple[int, int]] = []
    at = first
    for a, b in covered:
        if b < at:
            continue
        if a > last:
            break
        if a > at:
            out.append((at, a - 1))
        at = max(at, b + 1)
    if at <= last:
        out.append((at, last))
    return out


def _minus(ranges: list[tuple[int, int]], holes: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in ranges:
        out.extend(_gaps(holes, a, b))
    return out


def arbitrate(lines: dict[str, Iterable[Message]] | list[Iterable[Message]],
              report: Arbitration | None = None) -> Iterator[Message]:
    """Merge redundant lines into one stream in sequence order. `report` (made when None; pass one
    to read it once the iterator is exhausted) collects what was taken, dropped, filled and
    missing. The first line named wins ties."""
    if isinstance(lines, dict):
        names, streams = list(lines), list(lines.values())
    else:
        names, streams = [chr(ord("A") + k) for k in range(len(lines))], list(lines)
    report = report if report is not None else Arbitration(names)
    report.lines = names
    report.taken = [0] * len(names)
    report.duplicates = [0] * len(names)
    covered: list[list[tuple[int, int]]] = [[] for _ in names]
    expected: int | None = None
    for _, source, _, m in heapq.merge(*(_tagged(s, k) for k, s in enumerate(streams))):
        _add_range(covered[source], m.first, m.last)
        if expected is not None and m.last < expected:
            report.duplicates[source] += 1
            continue
        if expected is None:
            report.first = m.first
        elif m.first > expected:
            _add_range(report.holes, expected, m.first - 1)
        report.taken[source] += 1
        expected = m.last + 1
        report.last = m.last
        yield m
    if report.first is None:
        report.filled = [[] for _ in names]
        return
    report.filled = [_minus(_gaps(c, report.first, report.last), report.holes) for c in covered]
