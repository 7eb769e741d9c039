"""Book checksums venues publish, computed from the levels' own text.

Kraken (websocket v1 `book` "c" and v2 `book` "checksum"): the top 10 asks, lowest price first,
then the top 10 bids, highest first; for each level its price text then its quantity text, each
with the '.' removed and the leading zeros stripped ("0.05005" -> "5005", "0.00000500" -> "500");
all concatenated, CRC32 (zlib's), unsigned. The text must be the venue's own, trailing zeros
included ("0.00000500", not "0.000005"): the reader keeps it per level.
"""

from __future__ import annotations

import zlib
from decimal import Decimal, InvalidOperation

KRAKEN_LEVELS = 10


def _digits(text: str) -> str:
    return text.replace(".", "").lstrip("0")


def _key(level: tuple[str, str]) -> Decimal:
    try:
        return Decimal(level[0])
    except InvalidOperation as e:
        raise ValueError(f"price {level[0]!r} is not a decimal") from e


def kraken_checksum(asks: list[tuple[str, str]], bids: list[tuple[str, str]]) -> int:
    """Kraken's CRC32 of a book: `asks` and `bids` are (price text, quantity text) pairs in any
    order; the best 10 of each side count (asks ascending, then bids descending)."""
    top_asks = sorted(asks, key=_key)[:KRAKEN_LEVELS]
    top_bids = sorted(bids, key=_key, reverse=True)[:KRAKEN_LEVELS]
    text = "".join(_digits(p) + _digits(q) for p, q in [*top_asks, *top_bids])
    return zlib.crc32(text.encode("ascii")) & 0xFFFFFFFF
