"""NASDAQ TotalView-ITCH 5.0 messages written from the specification's layouts (for tests, the
benchmark and the demo, which need order flow the corpus sample does not have).

Every function returns one framed message: the 2-byte big-endian length, then the message (type
letter, stock locate, tracking number 0, 6-byte timestamp in ns since midnight, body). Prices are
integers × 10,000; sides 'B' or 'S'.
"""

from __future__ import annotations

import struct


def message(kind: str, locate: int, ns: int, body: bytes) -> bytes:
    """One framed message of type `kind`."""
    m = kind.encode() + struct.pack(">HH", locate, 0) + ns.to_bytes(6, "big") + body
    return struct.pack(">H", len(m)) + m


def stock(symbol: str) -> bytes:
    return symbol.ljust(8).encode()[:8]


def system(ns: int, code: str) -> bytes:
    """S: 'O' start of messages, 'S' start of system hours, 'Q' market open, 'M' close, 'E', 'C'."""
    return message("S", 0, ns, code.encode())


def directory(locate: int, symbol: str, ns: int = 1) -> bytes:
    """R: stock directory (locate -> symbol), NASDAQ Global Select, round lot 100."""
    body = struct.pack(">8sccIcc2scccccIc", stock(symbol), b"Q", b"N", 100, b"N", b"C", b"Z ",
                       b"P", b"N", b"N", b"1", b"N", 0, b"N")
    return message("R", locate, ns, body)


def trading_action(locate: int, ns: int, symbol: str, state: str) -> bytes:
    """H: 'H' halted, 'P' paused, 'Q' quotation only, 'T' trading."""
    return message("H", locate, ns, struct.pack(">8scc4s", stock(symbol), state.encode(), b" ",
                                                b"    "))


def add(locate: int, ns: int, ref: int, side: str, shares: int, price: int,
        symbol: str = "ZVZZT", mpid: str | None = None) -> bytes:
    """A (or F with an MPID): add order."""
    body = struct.pack(">QcI8sI", ref, side.encode(), shares, stock(symbol), price)
    return message("F" if mpid else "A", locate, ns, body + (mpid.encode() if mpid else b""))


def executed(locate: int, ns: int, ref: int, shares: int, match: int = 0) -> bytes:
    """E: order executed at its price."""
    return message("E", locate, ns, struct.pack(">QIQ", ref, shares, match))


def executed_at(locate: int, ns: int, ref: int, shares: int, price: int, match: int = 0,
                printable: str = "Y") -> bytes:
    """C: order executed with price."""
    return message("C", locate, ns, struct.pack(">QIQcI", ref, shares, match, printable.encode(),
                                                price))


def cancel(locate: int, ns: int, ref: int, shares: int) -> bytes:
    """X: order cancel (part of the shares)."""
    return message("X", locate, ns, struct.pack(">QI", ref, shares))


def delete(locate: int, ns: int, ref: int) -> bytes:
    """D: order delete."""
    return message("D", locate, ns, struct.pack(">Q", ref))


def replace(locate: int, ns: int, old: int, new: int, shares: int, price: int) -> bytes:
    """U: order replace (the new reference keeps the old order's side)."""
    return message("U", locate, ns, struct.pack(">QQII", old, new, shares, price))


def trade(locate: int, ns: int, side: str, shares: int, price: int, symbol: str = "ZVZZT",
          match: int = 0) -> bytes:
    """P: non-cross trade (a hidden order executed)."""
    return message("P", locate, ns, struct.pack(">QcI8sIQ", 0, side.encode(), shares,
                                                stock(symbol), price, match))


def cross_trade(locate: int, ns: int, shares: int, price: int, symbol: str = "ZVZZT",
                match: int = 0, cross: str = "O") -> bytes:
    """Q: cross trade."""
    return message("Q", locate, ns, struct.pack(">Q8sIQc", shares, stock(symbol), price, match,
                                                cross.encode()))
