"""Databento MBO CSV files written from the specification (not by Salvage), for the feed and
replay tests: the columns Databento writes, integer or "pretty" times and prices."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

HEADER = ("ts_recv,ts_event,rtype,publisher_id,instrument_id,action,side,price,size,channel_id,"
          "order_id,flags,ts_in_delta,sequence,symbol")
LAST, SNAPSHOT, MAYBE_BAD_BOOK = 128, 32, 4
T0 = 1_704_205_800_000_000_000  # 2024-01-02T14:30:00Z


@dataclass
class Msg:
    action: str
    side: str = "N"
    price: float | str | None = None   # dollars (None: undefined)
    size: int = 0
    order_id: int = 0
    ts: int = 0                        # ns after T0
    flags: int = LAST
    sequence: int | None = None
    instrument_id: int = 42
    symbol: str = "ACME"


def add(oid: int, side: str, price, size: int, **kw) -> Msg:
    return Msg("A", side, price, size, oid, **kw)


def cancel(oid: int, side: str, price, size: int, **kw) -> Msg:
    return Msg("C", side, price, size, oid, **kw)


def modify(oid: int, side: str, price, size: int, **kw) -> Msg:
    return Msg("M", side, price, size, oid, **kw)


def units(price) -> int:
    """Dollars -> Databento's fixed-point units of 1e-9."""
    return int(Decimal(str(price)) * 1_000_000_000)


def _iso(ns: int) -> str:
    seconds, frac = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:09d}Z"


def line(m: Msg, seq: int, pretty: bool = False) -> str:
    ts = T0 + m.ts
    sequence = m.sequence if m.sequence is not None else seq
    if m.price is None:
        price = "" if pretty else str(2**63 - 1)
    elif pretty:
        price = f"{Decimal(units(m.price)) / Decimal(1_000_000_000):.9f}"
    else:
        price = str(units(m.price))
    when = _iso(ts) if pretty else str(ts)
    event = _iso(ts - 1000) if pretty else str(ts - 1000)
    return (f"{when},{event},160,2,{m.instrument_id},{m.action},{m.side},{price},{m.size},0,"
            f"{m.order_id},{m.flags},1000,{sequence},{m.symbol}")


def write_mbo(path: Path, messages: list[Msg], pretty: bool = False,
              extra: dict[int, str] | None = None) -> Path:
    """Write `messages` (sequence numbers 1, 2, ... unless given); `extra` puts raw text lines
    in before message k (0-based), e.g. malformed rows."""
    lines = [HEADER]
    for k, m in enumerate(messages):
        if extra and k in extra:
            lines.append(extra[k])
        lines.append(line(m, k + 1, pretty))
    path.write_text("\n".join(lines) + "\n")
    return path
