"""ITCH over MoldUDP64 in pcap captures (orderbook/moldudp.py and read_itch's "pcap" framing):
captures written here from the specifications (pcap, Ethernet/IPv4/UDP, MoldUDP64 carrying ITCH
messages from orderbook.itchwrite), single lines and A/B pairs with drops, holes, duplicates,
heartbeats, sessions and broken files."""

from __future__ import annotations

import struct
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from orderbook.arbitrate import arbitrate
from orderbook.engine import Book
from orderbook.events import EVENTS, FeedError, MalformedRow, UnreadableFeed
from orderbook.itch import read_itch
from orderbook.itchwrite import (
    T0,
    ethernet,
    frame,
    ipv4_udp,
    packets_of,
    pcap,
    write_capture,
)
from orderbook.itchwrite import mold_packet as mold
from orderbook.itchwrite import order_flow as itch_messages
from orderbook.lobster import midnight_ns
from orderbook.moldudp import (
    MoldPacket,
    PcapStats,
    frame_chunks,
    mold_messages,
    mold_packets,
    read_pcap,
    udp_packets,
)

DAY = date(2019, 1, 30)
PORT = 26477
L = 7


def capture(tmp_path: Path, name: str, packets: list[bytes], **kw) -> Path:
    path = tmp_path / name
    write_capture(path, packets, **kw)
    return path


@pytest.fixture(scope="module")
def day() -> tuple[list[bytes], list[bytes]]:
    messages = itch_messages()
    return messages, packets_of(messages)


def plain(tmp_path: Path, messages: list[bytes]) -> pa.Table:
    path = tmp_path / "20190130.plain.itch"
    path.write_bytes(b"".join(messages))
    return read_itch(path).table()


def book_of(table: pa.Table) -> pa.Table:
    book = Book(depth=10)
    for batch in table.filter(pa.compute.equal(table.column("instrument_id"), L)).to_batches():
        book.apply(batch)
    return book.levels()


def test_single_line_replays_like_the_plain_file(tmp_path, day):
    messages, packets = day
    expected = plain(tmp_path, messages)
    noisy = []
    for p in packets:   # each packet followed by a heartbeat (which says the next number)
        first, n = struct.unpack_from(">QH", p, 10)
        noisy += [p, mold(first + n, [], count=0)]
    noisy.insert(5, noisy[4])                                    # a packet captured twice
    path = tmp_path / "line-a.pcap"   # no date in the name: the capture time's New York day
    frames = [frame(p) for p in noisy]
    frames.insert(3, ethernet(b"\x00" * 28, kind=0x0806))        # ARP
    frames.insert(7, frame(b"not mold at all", dport=53))       # another port's datagram
    frames.insert(9, ethernet(ipv4_udp(packets[2], frag=0x2000)))  # a fragment (more follow)
    frames.insert(11, ethernet(ipv4_udp(packets[2], proto=6)))     # TCP
    path.write_bytes(pcap(frames))

    feed = read_itch(path)
    table = feed.table()
    assert feed.info.date == DAY
    assert feed.findings == []
    assert feed.errors == []
    assert feed.messages == len(messages)
    rest = [c for c in expected.column_names if c != "sequence"]
    assert table.select(rest).equals(expected.select(rest))
    # the MoldUDP64 sequence number; the line = the message's number in the stream (here equal)
    assert table.column("sequence").to_pylist() == table.column("line").to_pylist()
    assert feed.arbitration.duplicates == [1] and feed.arbitration.holes == []
    assert feed.merge.reports["line-a.pcap"].heartbeats == len(packets)
    stats = feed.merge.pcap["line-a.pcap"]
    assert (stats.records, stats.not_ipv4, stats.fragments, stats.not_udp) == (len(frames), 1,
                                                                               1, 1)
    report = feed.merge.reports["line-a.pcap"]
    assert (report.port, report.other_port, report.other_ports) == (PORT, 1, {})
    filtered = read_itch(path, port=PORT)
    assert filtered.table().equals(table) and filtered.errors == []
    assert filtered.merge.pcap["line-a.pcap"].other_port == 1
    # a few messages per chunk: the decoder's state carries over
    assert read_itch(path, batch_rows=5).table().equals(table)
    assert read_itch(path, symbol="ZVZZT").table().select(rest).equals(
        read_itch(tmp_path / "20190130.plain.itch", symbol="ZVZZT").table().select(rest))


@pytest.mark.parametrize("link,nano,order,vlan", [
    (1, True, "<", 100), (1, False, ">", 4094), (113, False, "<", None), (228, True, ">", None),
    (101, False, "<", None)])
def test_link_types_vlans_and_timestamp_units(tmp_path, day, link, nano, order, vlan):
    messages, packets = day
    path = capture(tmp_path, "20190130.cap", packets, link=link, nano=nano, order=order,
                   vlan=vlan)
    got = list(read_pcap(path))
    assert [p for _, p in got] == packets
    assert [t for t, _ in got][:2] == [T0, T0 + 1000]
    feed = read_itch(path)
    rest = [c for c in EVENTS.names if c != "sequence"]
    assert feed.table().select(rest).equals(plain(tmp_path, messages).select(rest))


def test_ab_lines_fill_each_other(tmp_path, day):
    messages, packets = day
    complete = capture(tmp_path, "20190130.full.pcap", packets)
    a_drop, b_drop = {3, 10, 11}, {5, 6, 20}
    a = capture(tmp_path, "20190130.A.pcap", [p for k, p in enumerate(packets) if k not in a_drop])
    b_packets = [p for k, p in enumerate(packets) if k not in b_drop]
    b_packets[8], b_packets[9] = b_packets[9], b_packets[8]       # out of order on the wire
    b = capture(tmp_path, "20190130.B.pcap", b_packets)

    full = read_itch(complete).table()
    feed = read_itch([a, b])
    merged = feed.table()
    assert merged.equals(full)       # sequence and line too: nothing is missing
    assert feed.errors == []
    assert not [f for f in feed.findings if f.kind == "sequence_gap"]

    def seqs(k):   # the sequence numbers of packet k
        first, n = struct.unpack_from(">QH", packets[k], 10)
        return first, first + n - 1

    filled = [(f.source, f.first_seq, f.last_seq) for f in feed.findings]
    assert filled == sorted(filled, key=lambda x: x[1])
    assert sorted(filled) == sorted([
        ("20190130.A.pcap", *seqs(3)), ("20190130.A.pcap", seqs(10)[0], seqs(11)[1]),
        ("20190130.B.pcap", seqs(5)[0], seqs(6)[1]), ("20190130.B.pcap", *seqs(20))])
    f = next(f for f in feed.findings if f.first_seq == seqs(3)[0])
    assert f.kind == "filled" and f.line == f.first_seq      # stream number of its first message
    assert "lacked" in f.detail and str(seqs(3)[1] - seqs(3)[0] + 1) in f.detail
    ts_at = {k + 1: midnight_ns(DAY) + int.from_bytes(m[7:13], "big")   # by sequence number
             for k, m in enumerate(messages)}
    assert (f.from_ts, f.to_ts) == (ts_at[seqs(3)[0] - 1], ts_at[seqs(3)[1] + 1])
    arb = feed.arbitration
    assert arb.lines == ["20190130.A.pcap", "20190130.B.pcap"] and arb.holes == []
    assert sum(arb.taken) == len(packets)
    assert feed.merge.reordered == {"20190130.A.pcap": 0, "20190130.B.pcap": 1}
    # the book after the merged stream is the book of the complete stream
    assert book_of(merged).equals(book_of(full))
    assert book_of(merged).num_rows > 0


def test_a_packet_lost_on_both_lines_is_a_gap(tmp_path, day):
    messages, packets = day
    lost = 7
    first, n = struct.unpack_from(">QH", packets[lost], 10)
    a = capture(tmp_path, "20190130.A.pcap", [p for k, p in enumerate(packets) if k != lost])
    b = capture(tmp_path, "20190130.B.pcap",
                [p for k, p in enumerate(packets) if k not in (lost, 2)])
    feed = read_itch([a, b])
    table = feed.table()
    seq = table.column("sequence").to_pylist()
    assert not set(range(first, first + n)) & set(seq)
    line = table.column("line").to_numpy()
    assert (np.diff(line) >= 0).all() and line[-1] == len(messages) - n
    gaps = [f for f in feed.findings if f.kind == "sequence_gap"]
    assert len(gaps) == 1
    g = gaps[0]
    assert (g.first_seq, g.last_seq) == (first, first + n - 1)
    assert f"{n} message" in g.detail and g.line == first      # the message after the hole
    ts_at = {k + 1: midnight_ns(DAY) + int.from_bytes(m[7:13], "big")
             for k, m in enumerate(messages)}
    assert (g.from_ts, g.to_ts) == (ts_at[first - 1], ts_at[first + n])
    assert feed.arbitration.holes == [(first, first + n - 1)]
    assert [(f.source, f.first_seq) for f in feed.findings if f.kind == "filled"] == [
        ("20190130.B.pcap", struct.unpack_from(">Q", packets[2], 10)[0])]


def test_the_start_and_the_announced_end_of_a_capture(tmp_path, day):
    messages, packets = day
    first = struct.unpack_from(">Q", packets[3], 10)[0]
    path = capture(tmp_path, "20190130.late.pcap", packets[3:-2] + [
        mold(len(messages) + 1, [], count=0)])   # a heartbeat: the next message would be N+1
    feed = read_itch(path)
    feed.table()
    gaps = [(f.first_seq, f.last_seq, f.from_ts is None, f.to_ts is None)
            for f in feed.findings if f.kind == "sequence_gap"]
    last = struct.unpack_from(">Q", packets[-2], 10)[0]
    assert gaps == [(1, first - 1, True, False), (last, len(messages), False, True)]
    assert "before the first" in feed.findings[0].detail


def test_sessions_restart_the_numbering(tmp_path, day):
    messages, _ = day
    one = [mold(1, messages[:3], "SESSION001"), mold(4, messages[3:5], "SESSION001")]
    two = [mold(1, messages[5:8], "SESSION002"), mold(4, messages[8:10], "SESSION002"),
           mold(6, [], "SESSION002", count=0xFFFF)]
    a = capture(tmp_path, "20190130.A.pcap", one + two)
    b = capture(tmp_path, "20190130.B.pcap", one[:1] + two[1:])
    feed = read_itch([a, b])
    table = feed.table()
    assert table.column("sequence").to_pylist()[-2:] == [4, 5]
    assert feed.sessions == [(1, "SESSION001", 1), (6, "SESSION002", 1)]
    assert [s for s, _ in feed.merge.arbitrations] == ["SESSION001", "SESSION002"]
    assert feed.arbitration is feed.merge.arbitrations[0][1]
    assert [(f.kind, f.source, f.first_seq, f.line) for f in feed.findings] == [
        ("filled", "20190130.B.pcap", 4, 4), ("filled", "20190130.B.pcap", 1, 6)]
    assert "SESSION002" in feed.findings[1].detail
    assert feed.merge.reports["20190130.A.pcap"].ended == [(5, "SESSION002", 6)]


def test_mold_messages_and_chunks(tmp_path, day):
    messages, packets = day
    path = capture(tmp_path, "c.pcap", packets[:6])
    got = list(mold_messages(udp_packets(path)))
    assert [m.first for m in got] == list(range(1, len(got) + 1))
    assert all(m.first == m.last for m in got)
    assert [m.payload for m in got] == [m[2:] for m in messages[:len(got)]]
    assert got[-1].line == 6 and got[0].line == 1          # packet numbers
    assert list(mold_messages(udp_packets(path), port=PORT + 1)) == []
    assert len(list(mold_messages(read_pcap(path)))) == len(got)   # (ts, payload) pairs
    one = list(mold_packets(read_pcap(path)))
    assert isinstance(one[0].payload, MoldPacket) and one[0].payload.ts == T0

    # per-message and per-packet streams frame alike, in bounded chunks
    for stream in (got, one):
        chunks = list(frame_chunks(arbitrate([stream]), max_messages=5))
        assert all(len(c.seq) <= 5 for c in chunks)
        assert b"".join(c.buf.tobytes() for c in chunks) == b"".join(messages[:len(got)])
        assert np.concatenate([c.seq for c in chunks]).tolist() == list(range(1, len(got) + 1))
        assert [c.first_line for c in chunks] == [1] + list(
            np.cumsum([len(c.seq) for c in chunks])[:-1] + 1)


def test_pcapng_is_refused(tmp_path):
    path = tmp_path / "20190130.pcapng"
    path.write_bytes(struct.pack("<IIIHHq", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1)
                     + struct.pack("<I", 28))
    with pytest.raises(UnreadableFeed, match="editcap -F pcap"):
        list(read_pcap(path))
    with pytest.raises(UnreadableFeed, match="editcap"):
        read_itch(path).table()
    undated = tmp_path / "x.pcap"
    undated.write_bytes(path.read_bytes())
    with pytest.raises(UnreadableFeed, match="editcap"):
        read_itch(undated)   # no date in the name: the capture time is looked for, and refused


def test_truncated_record_and_broken_packets(tmp_path, day):
    messages, packets = day
    path = capture(tmp_path, "20190130.cut.pcap", packets[:10])
    data = path.read_bytes()
    path.write_bytes(data[:-7])
    stats = PcapStats()
    got = list(read_pcap(path, stats=stats))
    assert len(got) == 9 and stats.records == 9
    assert [(type(e), e.line) for e in stats.errors] == [(MalformedRow, 10)]
    assert "cut off" in stats.errors[0].reason
    feed = read_itch(path)
    table = feed.table()
    assert [(type(e), e.line) for e in feed.errors] == [(MalformedRow, 10)]
    assert table.column("sequence").to_pylist()[-1] <= struct.unpack_from(">Q", packets[9], 10)[0]

    # a packet that says 3 messages and holds 2 (the third cut): the 2 kept, B fills the third
    whole = [mold(1, messages[:3]), mold(4, messages[3:6]), mold(7, messages[6:])]
    a = capture(tmp_path, "20190130.A.pcap", [whole[0], whole[1][:-5], whole[2]])
    b = capture(tmp_path, "20190130.B.pcap", whole)
    feed = read_itch([a, b])
    assert feed.table().equals(read_itch(b).table())
    assert [(type(e), e.line, e.path.endswith("A.pcap")) for e in feed.errors] == [
        (MalformedRow, 2, True)]
    assert "says 3 messages" in feed.errors[0].reason
    assert [(f.kind, f.source, f.first_seq, f.last_seq) for f in feed.findings] == [
        ("filled", "20190130.A.pcap", 6, 6)]
    # before the feed's port is known, a datagram that does not frame is someone else's
    a = capture(tmp_path, "20190130.A.pcap", [whole[1][:-5], whole[2]])
    feed = read_itch(a)
    feed.table()
    assert feed.errors == [] and feed.merge.reports["20190130.A.pcap"].not_mold == 1
    feed = read_itch(a, port=PORT)       # unless the port is given
    feed.table()
    assert [(type(e), e.line) for e in feed.errors] == [(MalformedRow, 1)]


def test_another_feed_in_the_capture_is_left_out(tmp_path, day):
    messages, packets = day
    other = [mold(1, messages[:2], "OTHERFEED1"), mold(3, messages[2:4], "OTHERFEED1")]
    path = tmp_path / "20190130.mixed.pcap"
    frames = [frame(p) for p in packets]
    frames[5:5] = [frame(other[0], dport=PORT + 1)]
    frames[0:0] = [frame(b"NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n", dport=1900),
                   frame(other[1], dport=PORT + 1)]
    path.write_bytes(pcap(frames))
    feed = read_itch(path, port=PORT)
    expected = read_itch(capture(tmp_path, "20190130.p.pcap", packets)).table()
    assert feed.table().equals(expected) and feed.errors == []
    assert feed.merge.pcap["20190130.mixed.pcap"].other_port == 3
    # without the port: the first port to carry MoldUDP64 is taken, and the others are named
    feed = read_itch(path)
    assert feed.table().num_rows < expected.num_rows
    report = feed.merge.reports["20190130.mixed.pcap"]
    assert (report.port, report.not_mold, report.other_ports) == (PORT + 1, 1,
                                                                  {PORT: len(packets)})
    assert [(type(e), e.line) for e in feed.errors] == [(FeedError, 0)]
    assert f"UDP port {PORT + 1}" in feed.errors[0].reason
    assert f"({PORT}: {len(packets)})" in feed.errors[0].reason


def test_plain_files_cannot_be_merged(tmp_path, day):
    messages, _ = day
    p = tmp_path / "20190130.x.itch"
    p.write_bytes(b"".join(messages))
    assert read_itch(p).arbitration is None and read_itch(p).framing == "file"
    with pytest.raises(UnreadableFeed, match="A/B"):
        read_itch([p, p])
