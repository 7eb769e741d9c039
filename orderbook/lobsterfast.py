"""A compiled reader for well-formed LOBSTER message files: bytes to event arrays in one pass.

It reads the file in chunks cut at line ends and parses each with a numba loop: the time's
digits become nanoseconds exactly (no float rounding), the integers are read as written. Any
byte it does not expect (a blank line, a stray field, a letter) makes it give up on the whole
file, and the careful reader (pyarrow blocks, errors with line numbers) takes over: this path
only ever speeds up files that have nothing to report.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
from numba import njit

CHUNK = 32 << 20
"""Bytes read at a time (cut back to the last line end)."""
FAST_LIMIT = 512 << 20
"""Files larger than this go through the careful reader, a block at a time (bounded memory)."""


class NotPlain(Exception):
    """The file has something only the careful reader can report."""


@njit(cache=True, nogil=True)
def _parse(buf, n_max, ts, kind, oid, size, price, side):
    """Parse whole lines of `buf`; returns the rows read, or -1 at the first unexpected byte."""
    i, n, end = 0, 0, len(buf)
    while i < end:
        if n >= n_max:
            return -1
        sec = 0
        digits = 0
        while i < end and 48 <= buf[i] <= 57:
            sec = sec * 10 + (buf[i] - 48)
            i += 1
            digits += 1
        if digits == 0 or digits > 6:
            return -1
        frac = 0
        places = 0
        if i < end and buf[i] == 46:  # '.'
            i += 1
            while i < end and 48 <= buf[i] <= 57:
                if places < 9:
                    frac = frac * 10 + (buf[i] - 48)
                    places += 1
                i += 1
        while places < 9:
            frac *= 10
            places += 1
        ts[n] = sec * 1_000_000_000 + frac
        for f in range(5):
            if i >= end or buf[i] != 44:  # ','
                return -1
            i += 1
            negative = False
            if i < end and buf[i] == 45:  # '-'
                negative = True
                i += 1
            v = 0
            got = 0
            while i < end and 48 <= buf[i] <= 57:
                v = v * 10 + (buf[i] - 48)
                i += 1
                got += 1
            if got == 0 or got > 18:
                return -1
            if negative:
                v = -v
            if f == 0:
                kind[n] = v
            elif f == 1:
                oid[n] = v
            elif f == 2:
                size[n] = v
            elif f == 3:
                price[n] = v
            else:
                side[n] = v
        if i < end and buf[i] == 13:  # '\r'
            i += 1
        if i < end:
            if buf[i] != 10:
                return -1
            i += 1
        n += 1
    return n


def plain_rows(path: Path, chunk: int = CHUNK) -> Iterator[tuple[np.ndarray, ...]]:
    """(ns after midnight, type, order id, size, price, direction, line) arrays per chunk;
    raises NotPlain as soon as a line is not a plain LOBSTER row."""
    line = 1
    with open(path, "rb") as fh:
        rest = b""
        while True:
            data = fh.read(chunk)
            block = rest + data
            if not block:
                return
            cut = block.rfind(b"\n") + 1 if data else len(block)
            if cut == 0:
                rest = block
                continue
            body, rest = block[:cut], block[cut:]
            buf = np.frombuffer(body, dtype=np.uint8)
            rows = body.count(b"\n") + 1
            arrays = [np.empty(rows, np.int64) for _ in range(6)]
            n = _parse(buf, rows, *arrays)
            if n < 0:
                raise NotPlain(path)
            lines = np.arange(line, line + n, dtype=np.int64)
            line += n
            yield (*(a[:n] for a in arrays), lines)
            if not data:
                return
