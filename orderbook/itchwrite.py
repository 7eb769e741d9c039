"""NASDAQ TotalView-ITCH 5.0 messages written from the specification's layouts, in MoldUDP64
packets and pcap captures (for tests, the benchmark and the demo, which need order flow the
corpus sample does not have).

Every function returns one framed message: the 2-byte big-endian length, then the message (type
letter, stock locate, tracking number 0, 6-byte timestamp in ns since midnight, body). Prices are
integers × 10,000; sides 'B' or 'S'.
"""

from __future__ import annotations

import random
import struct
from datetime import UTC, datetime

PORT = 26477
T0 = int(datetime(2019, 1, 30, 14, 30, tzinfo=UTC).timestamp()) * 10**9   # 9:30 in New York


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


# -- order flow, MoldUDP64 packets, pcap captures -------------------------------------------


def order_flow(n: int = 120, seed: int = 3, locates: tuple[int, int] = (7, 8),
               start_ns: int = 1_000, step_ns: int = 100) -> list[bytes]:
    """A consistent order flow (framed messages): system event, directory, then adds, executions,
    cancels, deletes and replaces of live orders on two stocks, one every `step_ns` from
    `start_ns` after midnight. Bids rest at 9.96-10.00, asks at 10.05-10.09 (replaces stay on
    their side's band), so the book never crosses."""
    rnd = random.Random(seed)
    first, second = locates

    def band(side: str) -> int:
        return (100_000 - 100 * rnd.randrange(5)) if side == "B" else (
            100_500 + 100 * rnd.randrange(5))

    out = [system(10, "O"), directory(first, "ZVZZT", 20), directory(second, "OTHER", 30)]
    live: dict[int, tuple[int, int, str]] = {}
    ref = 0
    for k in range(n):
        ns = start_ns + step_ns * k
        loc = first if rnd.random() < 0.8 else second
        mine = [r for r, (lc, _, _) in live.items() if lc == loc]
        roll = rnd.random()
        if not mine or roll < 0.4:
            ref += 1
            side = rnd.choice("BS")
            shares = 100 * rnd.randrange(1, 6)
            live[ref] = (loc, shares, side)
            out.append(add(loc, ns, ref, side, shares, band(side)))
            continue
        r = rnd.choice(mine)
        _, shares, side = live[r]
        if roll < 0.55:
            q = min(shares, 100)
            out.append(executed(loc, ns, r, q))
            live[r] = (loc, shares - q, side)
        elif roll < 0.7:
            q = min(shares, 50)
            out.append(cancel(loc, ns, r, q))
            live[r] = (loc, shares - q, side)
        elif roll < 0.85:
            out.append(delete(loc, ns, r))
            live[r] = (loc, 0, side)
        else:
            ref += 1
            out.append(replace(loc, ns, r, ref, 200, band(side)))
            live[ref] = (loc, 200, side)
            live[r] = (loc, 0, side)
        live = {k: v for k, v in live.items() if v[1] > 0}
    return out


def mold_packet(seq: int, messages: list[bytes], session: str = "0000004711",
                count: int | None = None) -> bytes:
    """A MoldUDP64 downstream packet (`count`: announce another number, e.g. 0 for a
    heartbeat); the messages are already length-prefixed."""
    n = len(messages) if count is None else count
    return session.encode().ljust(10) + struct.pack(">QH", seq, n) + b"".join(messages)


def packets_of(messages: list[bytes], seed: int = 5) -> list[bytes]:
    """The messages in MoldUDP64 packets of 1 to 4 messages, sequence numbers from 1."""
    rnd = random.Random(seed)
    out, at = [], 0
    while at < len(messages):
        k = rnd.randint(1, 4)
        out.append(mold_packet(at + 1, messages[at:at + k]))
        at += k
    return out


def ipv4_udp(payload: bytes, dport: int = PORT, proto: int = 17, frag: int = 0) -> bytes:
    udp = struct.pack(">HHHH", 40000, dport, 8 + len(payload), 0) + payload
    return struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, frag, 64, proto, 0,
                       bytes([10, 0, 0, 1]), bytes([233, 54, 12, 1])) + udp


def ethernet(ip: bytes, vlan: int | None = None, kind: int = 0x0800) -> bytes:
    tag = struct.pack(">HH", 0x8100, vlan) if vlan is not None else b""
    return b"\x01\x00\x5e\x36\x0c\x01" + b"\x00\x1b\x21\x00\x00\x01" + tag + struct.pack(
        ">H", kind) + ip


def frame(payload: bytes, link: int = 1, vlan: int | None = None, dport: int = PORT) -> bytes:
    ip = ipv4_udp(payload, dport)
    if link == 1:
        return ethernet(ip, vlan)
    if link == 113:
        return struct.pack(">HHH8sH", 0, 1, 6, b"\0" * 8, 0x0800) + ip
    return ip   # 101 / 228: raw IPv4


def pcap(frames: list[bytes], *, link: int = 1, nano: bool = False, order: str = "<",
         t0: int = T0) -> bytes:
    """A classic pcap file: global header, then one record per frame 1 µs apart."""
    out = [struct.pack(order + "IHHiIII", 0xA1B23C4D if nano else 0xA1B2C3D4, 2, 4, 0, 0,
                       262144, link)]
    for k, f in enumerate(frames):
        ns = t0 + 1000 * k
        frac = ns % 10**9 if nano else ns % 10**9 // 1000
        out.append(struct.pack(order + "IIII", ns // 10**9, frac, len(f), len(f)) + f)
    return b"".join(out)


def write_capture(path, packets: list[bytes], **kw) -> None:
    """A pcap file of `packets` (MoldUDP64 payloads), each in an Ethernet/IPv4/UDP frame."""
    link = kw.get("link", 1)
    vlan = kw.pop("vlan", None)
    with open(path, "wb") as fh:
        fh.write(pcap([frame(p, link, vlan) for p in packets], **kw))
