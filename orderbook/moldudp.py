"""ITCH over MoldUDP64 in packet captures: classic pcap files read, MoldUDP64 packets unpacked,
redundant (A/B) captures merged by sequence number, and the merged stream framed for the ITCH
decoder (orderbook/itch.py).

pcap: the classic libpcap format (both byte orders; microsecond magic a1b2c3d4 and nanosecond
a1b23c4d); link types Ethernet (1, with 802.1Q/802.1ad VLAN tags), Linux cooked (113, and v2,
276), raw IPv4 (101, 228) and BSD loopback (0). Only IPv4 UDP is read: every other packet, and
IP fragments, are skipped and counted in `PcapStats`. A pcapng file is refused (UnreadableFeed:
convert it with `editcap -F pcap`); a record cut off at the end of the file is a MalformedRow
with its packet number, the packets before it stand.

MoldUDP64 downstream packet: session (10 bytes ASCII), the sequence number of its first message
(8, big-endian), the message count (2; 0 = heartbeat, 0xFFFF = end of session), then count ×
(2-byte length + message). The message blocks are exactly the framing of NASDAQ's ITCH files, so
a packet's blocks are copied to the decoder's buffer as they are.

Sessions: a session change restarts the sequence numbers. Lines are merged session by session
(`MoldMerge`: one `arbitrate` per session, in the order the sessions were first captured), so a
sequence number is only compared with numbers of its own session.
"""

from __future__ import annotations

import bisect
import heapq
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
from numba import njit

from orderbook.arbitrate import Arbitration, Message, arbitrate
from orderbook.events import FeedError, FeedFinding, MalformedRow, UnreadableFeed

PCAP_MAGIC = {  # the first 4 bytes as written -> (struct byte order, nanosecond timestamps)
    b"\xa1\xb2\xc3\xd4": (">", False), b"\xd4\xc3\xb2\xa1": ("<", False),
    b"\xa1\xb2\x3c\x4d": (">", True), b"\x4d\x3c\xb2\xa1": ("<", True),
}
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
LINK_TYPES = {0: "BSD loopback", 1: "Ethernet", 101: "raw IP", 113: "Linux cooked",
              228: "raw IPv4", 276: "Linux cooked v2"}
VLAN_TYPES = (0x8100, 0x88A8, 0x9100)
HEADER = 20                     # MoldUDP64: session 10, sequence 8, count 2
HEARTBEAT, END_OF_SESSION = 0, 0xFFFF
MAX_MESSAGES = 1_000_000        # a framed chunk's bounds (`frame_chunks`)
MAX_BYTES = 64 << 20
REORDER_WINDOW = 256            # packets a line may arrive out of order and still be put right

_RECORD = {"<": struct.Struct("<IIII"), ">": struct.Struct(">IIII")}
_MOLD = struct.Struct(">10sQH")
_PRINTABLE = bytes(range(32, 127))
# why a packet's messages stop framing (`_walk`)
_FRAMED, _CUT_LENGTH, _ZERO, _PAST_END, _NOT_A_TYPE = 0, 1, 2, 3, 4
_PROBLEMS = {_CUT_LENGTH: "ends inside a length", _ZERO: "has a message of length 0",
             _PAST_END: "has a message that runs past its end",
             _NOT_A_TYPE: "has a message whose type byte is not a letter"}


class UdpPacket(NamedTuple):
    """One UDP datagram of a capture: its packet number (1-based, every record counts, as in
    Wireshark), capture time (ns UTC), addresses (IPv4 as int), ports and payload."""

    number: int
    ts: int
    src: int
    sport: int
    dst: int
    dport: int
    payload: bytes


@dataclass
class PcapStats:
    """What reading a capture met: records, UDP datagrams yielded, and what was skipped."""

    records: int = 0
    udp: int = 0
    not_ipv4: int = 0           # ARP, IPv6, ... and frames too short for their headers
    not_udp: int = 0
    fragments: int = 0          # IP fragments (MoldUDP64 packets fit a frame; not reassembled)
    truncated: int = 0          # datagrams cut by the snapshot length or with a bad UDP length
    other_port: int = 0         # UDP to another port than the one asked for
    link_type: int | None = None
    nanosecond: bool = False
    errors: list[FeedError] = field(default_factory=list)


class MoldPacket(NamedTuple):
    """A MoldUDP64 packet's messages: `data` is `count` blocks of 2-byte length + message (the
    ITCH file framing); `ts_first`/`ts_last` are the ITCH timestamps of the first and last
    message (ns after midnight; -1 when a message is too short to have one)."""

    session: str
    data: bytes
    count: int
    ts: int                     # capture time, ns UTC
    ts_first: int
    ts_last: int


@dataclass
class MoldReport:
    """What unpacking one line's MoldUDP64 packets met."""

    packets: int = 0            # downstream packets with messages
    messages: int = 0
    heartbeats: int = 0
    requests: int = 0           # 20-byte packets with a count: retransmission requests
    not_mold: int = 0           # datagrams that are not MoldUDP64 (too short, session not
    #                             ASCII; before the port is known: messages that do not frame)
    other_port: int = 0         # datagrams to another port than the feed's
    other_ports: dict[int, int] = field(default_factory=dict)
    """Of those, the ones that look like MoldUDP64 (another feed?), per port."""
    port: int | None = None     # the feed's UDP port (given, or the first that carried it)
    sessions: list[tuple[int, str, int]] = field(default_factory=list)
    """(packet number, session, sequence number) where each session begins."""
    ended: list[tuple[int, str, int]] = field(default_factory=list)
    """(packet number, session, next sequence number) of each end-of-session packet."""
    next_seq: dict[str, int] = field(default_factory=dict)
    """Per session: the highest sequence number announced + 1 (by messages, heartbeats and the
    end of session), which reveals messages lost at the very end of a capture."""
    errors: list[FeedError] = field(default_factory=list)


class Framed(NamedTuple):
    """A chunk for the ITCH decoder: `buf` holds messages in the 2-byte-length framing, `seq` the
    sequence number of each, and `first_line` the 1-based number of the first in the stream."""

    buf: np.ndarray             # uint8
    seq: np.ndarray             # int64
    first_line: int


# ---------------------------------------------------------------------------------------------
# pcap


def pcap_header(head: bytes, path: Path | str) -> tuple[str, bool, int, int]:
    """(byte order, nanosecond, link type, snapshot length) from a capture's first 24 bytes;
    UnreadableFeed for pcapng, another format, or a link type that is not read."""
    magic = head[:4]
    if magic == PCAPNG_MAGIC:
        raise UnreadableFeed(0, "a pcapng capture: only classic pcap is read (convert it with "
                                "editcap -F pcap IN.pcapng OUT.pcap)", str(path))
    if magic not in PCAP_MAGIC:
        raise UnreadableFeed(0, "not a pcap capture (no libpcap magic number)", str(path))
    if len(head) < 24:
        raise UnreadableFeed(0, "the pcap global header is cut off", str(path))
    order, nano = PCAP_MAGIC[magic]
    snaplen, network = struct.unpack_from(order + "II", head, 16)
    link = network & 0xFFFF
    if link not in LINK_TYPES:
        raise UnreadableFeed(0, f"pcap link type {link} is not read (Ethernet 1, Linux cooked "
                                "113/276, raw IPv4 101/228, loopback 0)", str(path))
    return order, nano, link, snaplen


def is_pcap(path: Path | str) -> bool:
    """Whether the file starts with a pcap or pcapng magic number."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except OSError:
        return False
    return magic in PCAP_MAGIC or magic == PCAPNG_MAGIC


def capture_start(path: Path | str) -> int | None:
    """The capture time of the first record (ns UTC), None when there is none."""
    with open(path, "rb") as fh:
        head = fh.read(24)
        order, nano, _, _ = pcap_header(head, path)
        rec = fh.read(16)
    if len(rec) < 16:
        return None
    sec, frac, _, _ = _RECORD[order].unpack(rec)
    return sec * 1_000_000_000 + (frac if nano else frac * 1000)


def udp_packets(path: Path | str, *, port: int | None = None,
                stats: PcapStats | None = None) -> Iterator[UdpPacket]:
    """The IPv4 UDP datagrams of a classic pcap file (to `port` when given), in capture order.
    `stats` (pass one to read it afterwards) counts what was skipped and collects errors."""
    path = Path(path)
    stats = stats if stats is not None else PcapStats()
    try:
        fh = open(path, "rb", buffering=1 << 20)
    except OSError as e:
        raise UnreadableFeed(0, f"cannot read the capture: {e.strerror or e}", str(path)) from e
    with fh:
        order, nano, link, snaplen = pcap_header(fh.read(24), path)
        stats.link_type, stats.nanosecond = link, nano
        record = _RECORD[order]
        scale = 1 if nano else 1000
        limit = max(snaplen, 1 << 18)
        number = 0
        while True:
            head = fh.read(16)
            if not head:
                return
            number += 1
            if len(head) < 16:
                stats.errors.append(MalformedRow(number, f"the record header is cut off after "
                                                 f"{len(head)} of 16 bytes (a truncated capture)",
                                                 str(path)))
                return
            sec, frac, incl, orig = record.unpack(head)
            if incl > limit:
                stats.errors.append(MalformedRow(number, f"a record of {incl} bytes, more than "
                                                 "the snapshot length: the file is damaged "
                                                 "from here", str(path)))
                return
            frame = fh.read(incl)
            if len(frame) < incl:
                stats.errors.append(MalformedRow(number, f"the record is cut off after "
                                                 f"{len(frame)} of {incl} bytes (a truncated "
                                                 "capture)", str(path)))
                return
            stats.records += 1
            packet = _udp(frame, link, stats)
            if packet is None:
                continue
            src, sport, dst, dport, payload = packet
            if port is not None and dport != port:
                stats.other_port += 1
                continue
            stats.udp += 1
            yield UdpPacket(number, sec * 1_000_000_000 + frac * scale, src, sport, dst, dport,
                            payload)


def read_pcap(path: Path | str, *, port: int | None = None,
              stats: PcapStats | None = None) -> Iterator[tuple[int, bytes]]:
    """(capture time in ns UTC, UDP payload) for each IPv4 UDP datagram of a classic pcap file;
    see `udp_packets`."""
    for p in udp_packets(path, port=port, stats=stats):
        yield p.ts, p.payload


def _udp(frame: bytes, link: int, stats: PcapStats) -> tuple[int, int, int, int, bytes] | None:
    """(src, sport, dst, dport, payload) of an IPv4 UDP frame; None (counted) for the rest."""
    n = len(frame)
    if link == 1:
        if n < 14:
            stats.not_ipv4 += 1
            return None
        kind, at = (frame[12] << 8) | frame[13], 14
        while kind in VLAN_TYPES and at + 4 <= n:
            kind, at = (frame[at + 2] << 8) | frame[at + 3], at + 4
    elif link == 113:
        kind, at = ((frame[14] << 8) | frame[15], 16) if n >= 16 else (0, 0)
    elif link == 276:
        kind, at = ((frame[0] << 8) | frame[1], 20) if n >= 20 else (0, 0)
    elif link == 0:
        family = frame[:4]
        kind, at = (0x0800 if family in (b"\x02\0\0\0", b"\0\0\0\x02") else 0), 4
    else:  # raw IP (101: either version) or raw IPv4 (228)
        kind, at = 0x0800, 0
    if kind != 0x0800 or at + 20 > n or frame[at] >> 4 != 4:
        stats.not_ipv4 += 1
        return None
    ihl = (frame[at] & 15) * 4
    total = (frame[at + 2] << 8) | frame[at + 3]
    if (((frame[at + 6] << 8) | frame[at + 7]) & 0x3FFF) != 0:  # more fragments, or an offset
        stats.fragments += 1
        return None
    if frame[at + 9] != 17:
        stats.not_udp += 1
        return None
    u = at + ihl
    end = min(at + total, n)
    if ihl < 20 or u + 8 > end:
        stats.truncated += 1
        return None
    sport, dport, ulen = struct.unpack_from(">HHH", frame, u)
    if ulen < 8 or u + ulen > end:
        stats.truncated += 1
        return None
    src, dst = struct.unpack_from(">II", frame, at + 12)
    return src, sport, dst, dport, frame[u + 8:u + ulen]


# ---------------------------------------------------------------------------------------------
# MoldUDP64


@njit(cache=True, nogil=True)
def _walk(buf, at, count):
    """Follow `count` length-prefixed messages from `buf[at:]`: (messages whole, the end of the
    last, the start of the last, problem code)."""
    n = len(buf)
    got = 0
    last_at = at
    while got < count:
        if at + 2 > n:
            return got, at, last_at, _CUT_LENGTH
        ln = (np.int64(buf[at]) << 8) | np.int64(buf[at + 1])
        if ln == 0:
            return got, at, last_at, _ZERO
        if at + 2 + ln > n:
            return got, at, last_at, _PAST_END
        t = buf[at + 2]
        if not ((65 <= t <= 90) or (97 <= t <= 122)):
            return got, at, last_at, _NOT_A_TYPE
        last_at = at
        at += 2 + ln
        got += 1
    return got, at, last_at, _FRAMED


def _ts(data: bytes, at: int) -> int:
    """The ITCH timestamp of the block at `at` (bytes 5-10 of the message), -1 if too short."""
    if ((data[at] << 8) | data[at + 1]) < 11:
        return -1
    return int.from_bytes(data[at + 7:at + 13], "big")


def _ts_or_none(ts: int) -> int | None:
    return ts if ts >= 0 else None


def mold_packets(packets: Iterable[UdpPacket | tuple[int, bytes]], *, port: int | None = None,
                 report: MoldReport | None = None, path: str | None = None
                 ) -> Iterator[Message]:
    """One Message per MoldUDP64 downstream packet that carries messages: first..last = their
    sequence numbers, payload = MoldPacket, line = the packet number (UdpPacket.number, else
    the 1-based position in `packets`). Heartbeats and end-of-session packets yield nothing (they
    go to `report`). A packet whose messages do not frame is a MalformedRow (packet number,
    `path`) and keeps the messages before the fault; the lost rest is a gap another line can
    fill.

    The feed's port: `port` when given (every datagram to it is read as MoldUDP64); else the
    destination port of the first datagram that is a well-framed MoldUDP64 packet with messages
    (a capture also holds other traffic, other feeds among it). Until it is known, a datagram
    that does not frame is not counted as the feed's; afterwards datagrams to other ports are
    skipped (`report.other_port`). (ts, payload) pairs have no port: all are the feed's."""
    report = report if report is not None else MoldReport()
    session: str | None = None
    locked = port
    report.port = port
    for k, p in enumerate(packets, 1):
        if isinstance(p, UdpPacket):
            if locked is not None and p.dport != locked:
                report.other_port += 1
                if len(p.payload) >= HEADER and not p.payload[:10].translate(None, _PRINTABLE):
                    report.other_ports[p.dport] = report.other_ports.get(p.dport, 0) + 1
                continue
            number, ts, payload, dport = p.number, p.ts, p.payload, p.dport
            sure = locked is not None
        else:
            number, (ts, payload), dport, sure = k, p, None, True
        n = len(payload)
        if n < HEADER:
            report.not_mold += 1
            continue
        raw, seq, count = _MOLD.unpack_from(payload)
        if raw.translate(None, _PRINTABLE):   # not all printable ASCII
            report.not_mold += 1
            continue
        if n == HEADER and count not in (HEARTBEAT, END_OF_SESSION):
            report.requests += 1
            continue
        if not sure:
            if n == HEADER:         # a heartbeat before the feed is known: counted only
                report.heartbeats += count == HEARTBEAT
                continue
            got, at, _, problem = _walk(np.frombuffer(payload, np.uint8), HEADER, count)
            if problem != _FRAMED or at != n:
                report.not_mold += 1
                continue
            locked = report.port = dport
        name = raw.decode("ascii")
        if name != session:
            report.sessions.append((number, name, seq))
            session = name
        if count in (HEARTBEAT, END_OF_SESSION):
            if count == HEARTBEAT:
                report.heartbeats += 1
            else:
                report.ended.append((number, name, seq))
            if seq > report.next_seq.get(name, 0):
                report.next_seq[name] = seq
            continue
        if seq + count > report.next_seq.get(name, 0):
            report.next_seq[name] = seq + count
        got, at, last_at, problem = _walk(np.frombuffer(payload, np.uint8), HEADER, count)
        if problem != _FRAMED:
            report.errors.append(MalformedRow(
                number, f"MoldUDP64 packet (session {name.strip()}, sequence {seq}) says "
                f"{count} messages but {_PROBLEMS[problem]} after {got}: the {got} before kept",
                path))
        elif at != n:
            report.errors.append(MalformedRow(
                number, f"MoldUDP64 packet (session {name.strip()}, sequence {seq}) has "
                f"{n - at} bytes after its {count} messages: ignored", path))
        if got == 0:
            continue
        report.packets += 1
        report.messages += got
        data = payload[HEADER:at]
        yield Message(seq, seq + got - 1,
                      MoldPacket(name, data, got, ts, _ts(data, 0), _ts(data, last_at - HEADER)),
                      number)
    if port is None and report.other_ports:
        ports = ", ".join(f"{p}: {n}" for p, n in sorted(report.other_ports.items()))
        report.errors.append(FeedError(0, f"the feed was taken to be UDP port {locked}, the "
                                          "first to carry MoldUDP64 messages; what looks like "
                                          f"MoldUDP64 to other ports was skipped ({ports}): "
                                          "give the port to read another", path))


def mold_messages(packets: Iterable[UdpPacket | tuple[int, bytes]], *, port: int | None = None,
                  report: MoldReport | None = None, session: str | None = None,
                  path: str | None = None) -> Iterator[Message]:
    """One Message per MoldUDP64 message: first == last == its sequence number, payload = the
    message without its length, line = the packet number. A session change restarts the
    numbering: it is recorded in `report.sessions`; `session` keeps one session's messages (to
    arbitrate session by session; `MoldMerge` does so with `mold_packets`)."""
    for m in mold_packets(packets, port=port, report=report, path=path):
        p = m.payload
        if session is not None and p.session != session:
            continue
        data, at = p.data, 0
        for seq in range(m.first, m.last + 1):
            ln = (data[at] << 8) | data[at + 1]
            yield Message(seq, seq, data[at + 2:at + 2 + ln], m.line)
            at += 2 + ln


# ---------------------------------------------------------------------------------------------
# Framing for the decoder


@dataclass
class Hole:
    """Sequence numbers first..last that the merged stream lacks; `line` is the number of the
    message after it (of the last before it, when at the end); ts are ITCH ns after midnight
    of the messages around it (None at the start or the end)."""

    session: str | None
    first: int
    last: int
    line: int
    from_ts: int | None
    to_ts: int | None
    where: str = "between"      # "start" (before the first captured), "between", "end"


@dataclass
class _SessionSpan:
    name: str | None
    base: int                   # messages before the session's first
    first: int                  # its first sequence number in the stream
    last: int = 0
    last_ts: int | None = None
    holes: list[Hole] = field(default_factory=list)
    _lasts: list[int] = field(default_factory=list)     # of the holes between messages
    _missing: list[int] = field(default_factory=list)   # messages missing up to each

    def add(self, hole: Hole) -> None:
        self.holes.append(hole)
        if hole.where == "between":
            self._lasts.append(hole.last)
            before = self._missing[-1] if self._missing else 0
            self._missing.append(before + hole.last - hole.first + 1)

    def number(self, seq: int) -> int:
        """The 1-based stream number of the message with sequence number `seq`."""
        k = bisect.bisect_left(self._lasts, seq)
        return self.base + 1 + (seq - self.first) - (self._missing[k - 1] if k else 0)


class _Framer:
    """Arbitrated messages (per-message: bytes payload; per-packet: MoldPacket payload) to
    `Framed` chunks, with the holes and sessions of the stream."""

    def __init__(self, max_messages: int, max_bytes: int) -> None:
        self.max_messages, self.max_bytes = max(1, max_messages), max(1, max_bytes)
        self.number = 0
        self.spans: list[_SessionSpan] = []
        self._parts: list[bytes] = []
        self._firsts: list[int] = []
        self._counts: list[int] = []
        self._size = 0
        self._expected: int | None = None
        self._start = 1

    def run(self, messages: Iterable[Message]) -> Iterator[Framed]:
        span: _SessionSpan | None = None
        for m in messages:
            p = m.payload
            if isinstance(p, MoldPacket):
                name, data, count = p.session, p.data, p.count
                ts_first, ts_last = p.ts_first, p.ts_last
            else:
                name, data, count = None, struct.pack(">H", len(p)) + bytes(p), 1
                ts_first = ts_last = _ts(data, 0)
            first = m.first
            if span is None or name != span.name:
                span = _SessionSpan(name, self.number, first)
                self.spans.append(span)
                # MoldUDP64 sessions number from 1: a capture that starts later lacks the start
                self._expected = 1 if name is not None else None
                if self._expected is not None and first > 1:
                    span.add(Hole(name, 1, first - 1, self.number + 1, None,
                                  _ts_or_none(ts_first), "start"))
                    self._expected = first
            expected = self._expected
            if expected is not None and first < expected:  # overlaps what was emitted: trim
                skip = expected - first
                if skip >= count:
                    continue
                at = 0
                for _ in range(skip):
                    at += 2 + ((data[at] << 8) | data[at + 1])
                data, count, first, ts_first = data[at:], count - skip, expected, _ts(data, at)
            elif expected is not None and first > expected:
                span.add(Hole(name, expected, first - 1, self.number + 1, span.last_ts,
                              _ts_or_none(ts_first)))
            if self._firsts and (self.number - self._start + 1 + count > self.max_messages
                                 or self._size + len(data) > self.max_bytes):
                yield self._flush()
            self._parts.append(data)
            self._firsts.append(first)
            self._counts.append(count)
            self._size += len(data)
            self.number += count
            self._expected = first + count
            span.last = first + count - 1
            span.last_ts = _ts_or_none(ts_last)
        if self._firsts:
            yield self._flush()

    def _flush(self) -> Framed:
        buf = np.frombuffer(b"".join(self._parts), dtype=np.uint8)
        counts = np.array(self._counts, dtype=np.int64)
        firsts = np.array(self._firsts, dtype=np.int64)
        starts = np.cumsum(counts) - counts
        seq = np.repeat(firsts - starts, counts) + np.arange(int(counts.sum()), dtype=np.int64)
        chunk = Framed(buf, seq, self._start)
        self._start += len(seq)
        self._parts, self._firsts, self._counts, self._size = [], [], [], 0
        return chunk


def frame_chunks(messages: Iterable[Message], *, max_messages: int = MAX_MESSAGES,
                 max_bytes: int = MAX_BYTES) -> Iterator[Framed]:
    """Arbitrated messages (from `arbitrate` over `mold_messages` or `mold_packets` lines) as
    chunks for the ITCH decoder: at most `max_messages` messages and `max_bytes` bytes each (one
    packet larger than that is a chunk of its own). A message that overlaps what was already
    framed is trimmed to what is new, so each sequence number is framed once."""
    return _Framer(max_messages, max_bytes).run(messages)


# ---------------------------------------------------------------------------------------------
# Lines merged session by session


@dataclass
class _Seen:
    """What one line held of one session: its first and last sequence numbers (with the ts of
    those messages) and every jump in its own numbering."""

    first: int | None = None
    first_ts: int | None = None
    last: int | None = None
    last_ts: int | None = None
    jumps: list[tuple[int, int | None, int, int | None]] = field(default_factory=list)
    """(last before, its ts, first after, its ts) for each jump."""

    def around(self, first: int, last: int) -> tuple[int | None, int | None]:
        """The ts of this line's messages just before `first` and just after `last`."""
        if self.first is None:
            return None, None
        if last < self.first:
            return None, self.first_ts
        if self.last is not None and first > self.last:
            return self.last_ts, None
        k = bisect.bisect_left(self.jumps, (first,)) - 1
        if k >= 0 and self.jumps[k][2] > last:
            return self.jumps[k][1], self.jumps[k][3]
        return None, None


class _Line:
    """One line's packet messages, peekable, put back in order within a small window, and split
    by session."""

    def __init__(self, messages: Iterable[Message], window: int) -> None:
        self._it = iter(messages)
        self._head: Message | None = next(self._it, None)
        self.window = window
        self.reordered = 0
        self.seen: list[_Seen] = []

    def head_session(self) -> tuple[int, str] | None:
        h = self._head
        return None if h is None else (h.payload.ts, h.payload.session)

    def take(self, session: str) -> Iterator[Message]:
        seen = _Seen()
        self.seen.append(seen)
        heap: list[tuple[int, int, Message]] = []
        top, k = -1, 0
        while self._head is not None and self._head.payload.session == session:
            m, self._head = self._head, next(self._it, None)
            if m.first < top:
                self.reordered += 1
            top = max(top, m.first)
            heapq.heappush(heap, (m.first, k, m))
            k += 1
            if len(heap) > self.window:
                yield self._track(seen, heapq.heappop(heap)[2])
        while heap:
            yield self._track(seen, heapq.heappop(heap)[2])

    @staticmethod
    def _track(seen: _Seen, m: Message) -> Message:
        p = m.payload
        if seen.last is None:
            seen.first, seen.first_ts = m.first, _ts_or_none(p.ts_first)
        elif m.first > seen.last + 1:
            seen.jumps.append((seen.last, seen.last_ts, m.first, _ts_or_none(p.ts_first)))
        if seen.last is None or m.last > seen.last:
            seen.last, seen.last_ts = m.last, _ts_or_none(p.ts_last)
        return m


class MoldMerge:
    """Lines (name -> `mold_packets` messages) merged session by session: `chunks()` frames the
    merged stream for the decoder; afterwards `arbitrations` holds (session, Arbitration) per
    session, `holes` the ranges no line had (with the start of a capture that begins after
    sequence 1, and the end that a heartbeat announced but nobody captured), and `findings()`
    the FeedFindings. `reports` (name -> MoldReport) supplies the announced ends."""

    def __init__(self, lines: dict[str, Iterable[Message]],
                 reports: dict[str, MoldReport] | None = None, *,
                 window: int = REORDER_WINDOW) -> None:
        self.names = list(lines)
        self._lines = [_Line(m, window) for m in lines.values()]
        self.reports = reports or {}
        self.pcap: dict[str, PcapStats] = {}
        self.arbitrations: list[tuple[str, Arbitration]] = []
        self._framer: _Framer | None = None

    def __iter__(self) -> Iterator[Message]:
        """The merged packet messages, session after session."""
        while True:
            heads = [h for h in (ln.head_session() for ln in self._lines) if h is not None]
            if not heads:
                return
            session = min(heads)[1]   # the session captured first
            report = Arbitration(self.names)
            self.arbitrations.append((session, report))
            yield from arbitrate({name: ln.take(session)
                                  for name, ln in zip(self.names, self._lines, strict=True)},
                                 report)

    def chunks(self, *, max_messages: int = MAX_MESSAGES,
               max_bytes: int = MAX_BYTES) -> Iterator[Framed]:
        self._framer = _Framer(max_messages, max_bytes)
        return self._framer.run(self)

    @property
    def arbitration(self) -> Arbitration | None:
        """The first session's Arbitration (a capture usually holds one session)."""
        return self.arbitrations[0][1] if self.arbitrations else None

    @property
    def reordered(self) -> dict[str, int]:
        """Packets each line captured out of sequence order (put right within the window)."""
        return {name: ln.reordered for name, ln in zip(self.names, self._lines, strict=True)}

    @property
    def sessions(self) -> list[tuple[int, str, int]]:
        """(stream number of its first message, session, its first sequence number)."""
        spans = self._framer.spans if self._framer else []
        return [(s.base + 1, s.name or "", s.first) for s in spans]

    @property
    def holes(self) -> list[Hole]:
        if self._framer is None:
            return []
        out: list[Hole] = []
        for span in self._framer.spans:
            out += span.holes
            announced = max((r.next_seq.get(span.name or "", 0) for r in self.reports.values()),
                            default=0)
            if announced > span.last + 1:
                out.append(Hole(span.name, span.last + 1, announced - 1,
                                span.number(span.last), span.last_ts, None, "end"))
        return out

    def findings(self, midnight: int, symbol: str | None = None) -> list[FeedFinding]:
        """sequence_gap for every hole, filled for every range a line lacked that another
        supplied; ts in UTC ns (`midnight`: New York midnight of the day, UTC ns)."""
        def utc(ts: int | None) -> int | None:
            return None if ts is None else midnight + ts

        out: list[FeedFinding] = []
        spans = self._framer.spans if self._framer else []
        several = len(spans) > 1
        for h in self.holes:
            n = h.last - h.first + 1
            where = {"start": "before the first message captured",
                     "end": "after the last message captured (announced by the feed)",
                     "between": "no line had them"}[h.where]
            session = f" in session {h.session.strip()}" if several and h.session else ""
            out.append(FeedFinding(
                "sequence_gap", h.line, f"{n} message{'s' if n != 1 else ''} missing{session}: "
                f"sequence {h.first}..{h.last}, {where}", symbol, h.first, h.last,
                utc(h.from_ts), utc(h.to_ts)))
        by_name = {s.name: s for s in spans}
        for k, (session, report) in enumerate(self.arbitrations):
            span = by_name.get(session)
            for j, name in enumerate(report.lines):
                seen = self._lines[j].seen[k] if k < len(self._lines[j].seen) else _Seen()
                for a, b in report.filled[j] if report.filled else []:
                    n = b - a + 1
                    from_ts, to_ts = seen.around(a, b)
                    where = f" in session {session.strip()}" if several else ""
                    out.append(FeedFinding(
                        "filled", span.number(a) if span else 0,
                        f"line {name} lacked {n} message{'s' if n != 1 else ''}{where} "
                        f"(sequence {a}..{b}); another line supplied them", symbol, a, b,
                        utc(from_ts), utc(to_ts), source=name))
        out.sort(key=lambda f: (f.line, f.kind))
        return out


def line_names(paths: Sequence[Path]) -> list[str]:
    """Names for the lines: the file names, with their folder when two are alike."""
    names = [p.name for p in paths]
    if len(set(names)) < len(names):
        names = [str(Path(p.parent.name) / p.name) for p in paths]
    if len(set(names)) < len(names):
        names = [str(p) for p in paths]
    return names


def open_captures(paths: Sequence[Path | str], *, port: int | None = None,
                  window: int = REORDER_WINDOW) -> MoldMerge:
    """Captures of one feed (one path, or A/B lines) read lazily and merged: each line is
    udp_packets -> mold_packets, named by its file name; `merge.pcap` and `merge.reports` hold
    each line's PcapStats and MoldReport."""
    paths = [Path(p) for p in paths]
    names = line_names(paths)
    lines: dict[str, Iterable[Message]] = {}
    reports: dict[str, MoldReport] = {}
    stats: dict[str, PcapStats] = {}
    for name, path in zip(names, paths, strict=True):
        stats[name], reports[name] = PcapStats(), MoldReport()
        lines[name] = mold_packets(udp_packets(path, port=port, stats=stats[name]), port=port,
                                   report=reports[name], path=str(path))
    merge = MoldMerge(lines, reports, window=window)
    merge.pcap = stats
    return merge
