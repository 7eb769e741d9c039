"""Liquidity windows (orderbook/liquidity.py): spread, depth near the mid and the cost of a size
per interval, from the stored books, checked against a tiny MBO stream worked out by hand and
against a brute-force pass over LOBSTER's sample day; the `book liquidity` command end to end."""

from __future__ import annotations

import bisect
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import FIXTURES, salvage
from typer.testing import CliRunner

from archive.home import Home
from flows.cli import app
from orderbook.at import NoBook, iso_ns
from orderbook.liquidity import (
    LiquidityError,
    _metrics,
    _Spec,
    as_rows,
    liquidity,
    parse_bps,
    parse_interval,
    write_liquidity,
)
from orderbook.lobster import read_lobster
from orderbook.replay import replay
from orderbook.store import import_feeds

S = 1_000_000_000
T0 = 1_718_000_000 * S  # 2024-06-10T06:13:20Z, a multiple of 10 s
MBO_HEADER = ("ts_recv,ts_event,rtype,publisher_id,instrument_id,action,side,price,size,"
              "channel_id,order_id,flags,ts_in_delta,sequence,symbol")
LOBSTER = FIXTURES / "orderbook"
MESSAGES = "AAPL_2012-06-21_34200000_57600000_message_10.csv"
BOOK = "AAPL_2012-06-21_34200000_57600000_orderbook_10.csv"


def approx(value: float) -> object:
    return pytest.approx(value, rel=1e-9, abs=1e-12)


# -- a stream worked out by hand ------------------------------------------------------------------
#
#  second  event                        bids after            asks after
#    1     add bid 100.00 x100          100.00x100            -
#    2     add ask 100.10 x50           100.00x100            100.10x50
#    4     add bid 100.02 x40           100.02x40 100.00x100  100.10x50
#    6     add ask 100.20 x200          (same)                100.10x50 100.20x200
#   10     cancel ask 100.10            100.02x40 100.00x100  100.20x200
#   25     add bid 100.15 x30 (MAYBE_BAD_BOOK)  100.15x30 100.02x40 100.00x100   100.20x200
#
# Intervals of 10 s from T0: [0, 10) holds the first four, [10, 20) the cancel (on its boundary:
# the book carried in lasts no time), [20, 30) the flagged add; the stream's book is carried to
# 30 s (the end of the interval of its last event), so [30, 40) has none.

EVENTS = [  # second, action, side, price, size, order id, flags
    (1, "A", "B", "100.00", 100, 1, 128),
    (2, "A", "A", "100.10", 50, 2, 128),
    (4, "A", "B", "100.02", 40, 3, 128),
    (6, "A", "A", "100.20", 200, 4, 128),
    (10, "C", "A", "100.10", 50, 2, 128),
    (25, "A", "B", "100.15", 30, 5, 128 | 4),
]


def mbo_file(path: Path, day: int = 0) -> Path:
    lines = [MBO_HEADER]
    for seq, (sec, action, side, price, size, oid, flags) in enumerate(EVENTS, 1):
        ts = T0 + (day * 86_400 + sec) * S
        px = price.replace(".", "") + "0000000"  # 1e-9 units
        lines.append(f"{ts},{ts - 1000},160,2,77,{action},{side},{px},{size},0,{oid},{flags},0,"
                     f"{seq},SMCP")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def small(home: Home, tmp_path: Path) -> Home:
    report = import_feeds(home, [mbo_file(tmp_path / "smcp.mbo.csv")], "mbo", venue="XNAS",
                          checkpoint_every=2)
    assert report.ok, report.as_dict()
    return home


def cost(avg: float, mid: float, sign: int) -> float:
    return sign * (avg - mid) / mid * 1e4


def test_spread_depth_and_cost_per_interval_match_the_hand_worked_book(small: Home):
    table = liquidity(small, "SMCP", T0, T0 + 40 * S, interval_ns=10 * S, size=100,
                      bps=(10, 25), depth=5)
    assert table.num_rows == 4
    r0, r1, r2, r3 = as_rows(table)
    assert [r["interval_start"] for r in (r0, r3)] == [iso_ns(T0), iso_ns(T0 + 30 * S)]
    assert r3["interval_end"] == iso_ns(T0 + 40 * S)
    assert [r["state"] for r in (r0, r1, r2, r3)] == ["ok", "ok", "unknown", "no_book"]
    assert [r["events"] for r in (r0, r1, r2, r3)] == [4, 1, 1, 0]
    assert [r["maybe_bad_events"] for r in (r0, r1, r2, r3)] == [0, 0, 1, 0]
    assert {r["symbol"] for r in (r0, r3)} == {"SMCP"} and r0["venue"] == "XNAS"

    # [0, 10): no book before 1 s, one-sided 1-2 s, spread .10 for 2 s, then .08 for 6 s
    assert r0["two_sided_frac"] == approx(0.8)
    assert r0["spread_twa"] == approx((0.10 * 2 + 0.08 * 6) / 8)
    assert r0["spread_bps_twa"] == approx((0.10 / 100.05 * 2 + 0.08 / 100.06 * 6) / 8 * 1e4)
    assert (r0["spread_min"], r0["spread_max"]) == (approx(0.08), approx(0.10))
    assert r0["spread_close"] == approx(0.08) and r0["mid_close"] == approx(100.06)
    assert r0["spread_bps_close"] == approx(0.08 / 100.06 * 1e4)
    # within 10 bps of the mid: both bids, the 100.10 ask only; at 25 bps the 100.20 ask too
    assert r0["bid_depth_10bps_twa"] == approx((100 * 2 + 140 * 6) / 8)
    assert r0["ask_depth_10bps_twa"] == approx(50)
    assert r0["depth_10bps_twa"] == approx((150 * 2 + 190 * 6) / 8)
    assert (r0["bid_depth_10bps_close"], r0["ask_depth_10bps_close"],
            r0["depth_10bps_close"]) == (140, 50, 190)
    assert r0["ask_depth_25bps_twa"] == approx((50 * 4 + 250 * 4) / 8)
    assert r0["ask_depth_25bps_close"] == 250
    # 100 shares: the asks hold them only from 6 s (50 @ 100.10 + 50 @ 100.20)
    assert r0["buy_avg_price_twa"] == approx(100.15)
    assert r0["buy_cost_bps_twa"] == approx(cost(100.15, 100.06, 1))
    assert r0["buy_avg_price_close"] == approx(100.15) and r0["buy_size_unfilled"] == 0
    assert r0["buy_unfillable_frac"] == approx(0.5)  # 1-6 s
    # selling 100: 100 @ 100.00 until 4 s, then 40 @ 100.02 + 60 @ 100.00
    assert r0["sell_avg_price_twa"] == approx((100.00 * 3 + 100.008 * 6) / 9)
    assert r0["sell_cost_bps_twa"] == approx(
        (cost(100.00, 100.05, -1) * 2 + cost(100.008, 100.06, -1) * 6) / 8)
    assert r0["sell_avg_price_close"] == approx(100.008)
    assert r0["sell_unfillable_frac"] == 0

    # [10, 20): the cancel at 10 s is in it; the state carried in lasts no time
    assert r1["spread_twa"] == approx(0.18)
    assert (r1["spread_min"], r1["spread_max"], r1["spread_close"]) == \
        (approx(0.18), approx(0.18), approx(0.18))
    assert r1["mid_close"] == approx(100.11) and r1["two_sided_frac"] == 1
    assert r1["bid_depth_10bps_twa"] == approx(40) and r1["ask_depth_10bps_twa"] == approx(200)
    assert r1["buy_avg_price_close"] == approx(100.20)
    assert r1["buy_cost_bps_close"] == approx(cost(100.20, 100.11, 1))
    assert r1["sell_cost_bps_close"] == approx(cost(100.008, 100.11, -1))

    # [20, 30): flagged, so "unknown" although two-sided; the last state is carried to 30 s
    assert r2["spread_twa"] == approx((0.18 * 5 + 0.05 * 5) / 10)
    assert r2["spread_close"] == approx(0.05) and r2["mid_close"] == approx(100.175)
    assert r2["sell_avg_price_close"] == approx((30 * 100.15 + 40 * 100.02 + 30 * 100.00) / 100)

    # [30, 40): no stored book at all
    assert r3["two_sided_frac"] == 0 and r3["buy_unfillable_frac"] == 0
    assert all(r3[c] is None for c in ("spread_twa", "spread_close", "mid_close", "spread_min",
                                       "depth_25bps_twa", "buy_avg_price_twa",
                                       "sell_size_unfilled"))


def test_a_size_the_visible_book_cannot_fill_is_null_and_counted(small: Home):
    r0, r1, r2 = as_rows(liquidity(small, "SMCP", T0, T0 + 30 * S, interval_ns=10 * S,
                                   size=300, bps=(10,), depth=5))
    assert r0["buy_avg_price_twa"] is None and r0["buy_unfillable_frac"] == approx(0.9)
    assert r1["buy_avg_price_close"] is None and r1["buy_cost_bps_close"] is None
    assert r1["buy_size_unfilled"] == 100 and r1["buy_unfillable_frac"] == 1
    assert r1["sell_size_unfilled"] == 160 and r2["sell_size_unfilled"] == 130
    # two levels seen (--depth 1): the book holds less
    (one,) = as_rows(liquidity(small, "SMCP", T0 + 10 * S, T0 + 20 * S, interval_ns=10 * S,
                               size=100, bps=(10,), depth=1))
    assert one["sell_size_unfilled"] == 60 and one["buy_avg_price_close"] == approx(100.20)
    # no size: no cost columns
    plain = liquidity(small, "SMCP", T0, T0 + 30 * S, interval_ns=10 * S, bps=(10,))
    assert not [c for c in plain.column_names if c.startswith(("buy_", "sell_"))]


def test_each_day_is_read_from_its_own_stream_and_nothing_is_carried_overnight(
        small: Home, tmp_path: Path):
    assert import_feeds(small, [mbo_file(tmp_path / "next.mbo.csv", day=1)], "mbo",
                        venue="XNAS", checkpoint_every=4).ok
    day = 86_400 * S
    table = liquidity(small, "SMCP", T0, T0 + day + 40 * S, interval_ns=10 * S, size=100,
                      bps=(10,), depth=5)
    rows = as_rows(table)
    assert len(rows) == 8_644
    first, second = rows[:4], rows[-4:]
    for a, b in zip(first, second, strict=True):
        assert {k: v for k, v in a.items() if not k.startswith("interval_")} == \
            {k: v for k, v in b.items() if not k.startswith("interval_")}
    assert {r["state"] for r in rows[3:-4]} == {"no_book"}
    assert sum(r["events"] for r in rows) == 12
    assert len(json.loads(table.schema.metadata[b"salvage.streams"])) == 2


def test_intervals_start_at_from_and_the_last_is_cut_at_to(small: Home):
    rows = as_rows(liquidity(small, "SMCP", T0 + 5 * S, T0 + 17 * S, interval_ns=5 * S,
                             bps=(10,)))
    assert [(r["interval_start"], r["interval_end"]) for r in rows] == [
        (iso_ns(T0 + 5 * S), iso_ns(T0 + 10 * S)), (iso_ns(T0 + 10 * S), iso_ns(T0 + 15 * S)),
        (iso_ns(T0 + 15 * S), iso_ns(T0 + 17 * S))]
    # the book carried into 5 s is the one after the add at 4 s (spread .08)
    assert rows[0]["events"] == 1 and rows[0]["spread_twa"] == approx(0.08)
    assert rows[2]["spread_twa"] == approx(0.18) and rows[2]["two_sided_frac"] == 1


# -- LOBSTER's sample day against a brute-force pass ----------------------------------------------


def reference(rows: list[dict], times: list[int], start: int, step: int, k: int, size: int,
              levels: tuple[int, ...], scale: int) -> list[dict]:
    """Each interval worked out state by state in plain Python (the book after event i: rows[i])."""
    out = []
    for j in range(k):
        lo, hi = start + j * step, start + (j + 1) * step
        a, b = bisect.bisect_left(times, lo), bisect.bisect_left(times, hi)
        points = [(lo, a - 1)] + [(times[i], i) for i in range(a, b)]
        spans = [(points[n + 1][0] if n + 1 < len(points) else hi) - t
                 for n, (t, _) in enumerate(points)]
        sums: dict[str, float] = {}
        weights: dict[str, float] = {}
        spreads = []
        close: dict[str, float] = {}
        for (_, i), span in zip(points, spans, strict=True):
            row = rows[i]
            asks = [(row[f"ask_price_{d}"], row[f"ask_size_{d}"]) for d in range(1, 11)
                    if row[f"ask_size_{d}"]]
            bids = [(row[f"bid_price_{d}"], row[f"bid_size_{d}"]) for d in range(1, 11)
                    if row[f"bid_size_{d}"]]
            mid2 = asks[0][0] + bids[0][0]
            mid = mid2 / 2 / scale
            v = {"spread": (asks[0][0] - bids[0][0]) / scale, "mid": mid}
            for x in levels:
                v[f"bid{x}"] = sum(q for p, q in bids if (mid2 - 2 * p) * 10_000 <= x * mid2)
                v[f"ask{x}"] = sum(q for p, q in asks if (2 * p - mid2) * 10_000 <= x * mid2)
            for name, book, sign in (("buy", asks, 1), ("sell", bids, -1)):
                left, paid = size, 0
                for p, q in book:
                    take = min(left, q)
                    paid += take * p
                    left -= take
                if left == 0:
                    v[name] = paid / size / scale
                    v[name + "_bps"] = sign * (v[name] - mid) / mid * 1e4
            for key, value in v.items():
                sums[key] = sums.get(key, 0.0) + value * span
                weights[key] = weights.get(key, 0.0) + span
            if span > 0:
                spreads.append(v["spread"])
            close = v
        twa = {key: sums[key] / weights[key] for key in sums if weights[key]}
        out.append({"events": b - a, "twa": twa, "close": close, "min": min(spreads),
                    "max": max(spreads)})
    return out



def test_lobster_windows_equal_a_brute_force_pass_from_the_nearest_checkpoint(
        home: Home, pair: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("orderbook.liquidity.CHUNK_ROWS", 97)  # many chunks, carried across
    assert import_feeds(home, [pair], "lobster", checkpoint_every=100).ok
    replayed = replay(read_lobster(pair), 10).table.to_pylist()
    times = [r["ts"] for r in replayed]
    start, step, k = times[0] + 10 * S + 123_456, 7 * S, 5
    table = liquidity(home, "AAPL", start, start + k * step, interval_ns=step, size=500,
                      bps=(10, 25), depth=10)
    streams = json.loads(table.schema.metadata[b"salvage.streams"])
    # started from a checkpoint near `start`, not from the day's first event
    assert 0 < streams[0]["checkpoint_event"] <= bisect.bisect_left(times, start)
    assert streams[0]["checkpoint_event"] > bisect.bisect_left(times, start) - 100
    meta = table.schema.metadata
    assert meta[b"salvage.price_scale"] == b"10000" and meta[b"salvage.bps"] == b"10,25"
    assert meta[b"salvage.depth"] == b"10" and meta[b"salvage.interval"] == b"7s"
    want = reference(replayed, times, start, step, k, 500, (10, 25), 10_000)
    for got, ref in zip(as_rows(table), want, strict=True):
        assert got["state"] == "ok" and got["events"] == ref["events"]
        twa, close = ref["twa"], ref["close"]
        assert got["spread_twa"] == approx(twa["spread"])
        assert (got["spread_min"], got["spread_max"]) == (approx(ref["min"]), approx(ref["max"]))
        assert got["spread_close"] == approx(close["spread"])
        assert got["mid_close"] == approx(close["mid"])
        for x in (10, 25):
            assert got[f"bid_depth_{x}bps_twa"] == approx(twa[f"bid{x}"])
            assert got[f"ask_depth_{x}bps_twa"] == approx(twa[f"ask{x}"])
            assert got[f"depth_{x}bps_close"] == close[f"bid{x}"] + close[f"ask{x}"]
        for side in ("buy", "sell"):
            assert got[f"{side}_avg_price_twa"] == approx(twa[side])
            assert got[f"{side}_cost_bps_twa"] == approx(twa[side + "_bps"])
            assert got[f"{side}_avg_price_close"] == approx(close[side])


def test_size_and_price_scales_are_applied():
    # one state: asks 1.01 x 2.5, 1.02 x 10 (in coins); bids 0.99 x 1.0; prices in cents,
    # sizes in tenths of a coin
    spec = _Spec(bps=(100,), size=3.0, price_scale=100, size_scale=10)
    ap, asz = np.array([[101], [102]]), np.array([[25], [100]])  # level-major: row = level
    bp, bsz = np.array([[99], [0]]), np.array([[10], [0]])
    v = _metrics(ap, asz, bp, bsz, spec)[0]
    assert v[spec.MID] == approx(1.0) and v[spec.SPREAD] == approx(0.02)
    assert list(v[spec.depth_at(0):spec.depth_at(0) + 3]) == [1.0, 2.5, 3.5]  # within 1%
    at = spec.size_at
    assert v[at] == approx((2.5 * 1.01 + 0.5 * 1.02) / 3)  # buy 3 coins
    assert np.isnan(v[at + 4]) and v[at + 6] == approx(2.0) and v[at + 7] == 1  # sell: 1 of 3


# -- bad input, the command line -------------------------------------------------------------------


def test_bad_input_is_refused_with_a_clear_error(small: Home, tmp_path: Path):
    assert parse_interval("30s") == 30 * S and parse_interval("5m") == 300 * S
    assert parse_interval("1h") == 3600 * S and parse_interval("250ms") == 250_000_000
    assert parse_bps("10, 25,2.5") == (10.0, 25.0, 2.5)
    for bad in ("1", "m", "0s", "1.5m", "5y"):
        with pytest.raises(LiquidityError, match="interval"):
            parse_interval(bad)
    for bad in ("0", "1.234", "ten", "", "20000"):
        with pytest.raises(LiquidityError):
            parse_bps(bad)
    with pytest.raises(NoBook, match="no events of MSFT"):
        liquidity(small, "MSFT", T0, T0 + 10 * S)
    with pytest.raises(NoBook, match="no stored book of SMCP between"):
        liquidity(small, "SMCP", T0 + 3600 * S, T0 + 7200 * S)
    with pytest.raises(NoBook):
        liquidity(small, "SMCP", T0, T0 + 10 * S, venue="XLON")
    with pytest.raises(LiquidityError, match="before --to"):
        liquidity(small, "SMCP", T0 + 10 * S, T0)
    with pytest.raises(LiquidityError, match="size"):
        liquidity(small, "SMCP", T0, T0 + 10 * S, size=0)
    with pytest.raises(LiquidityError, match="intervals"):
        liquidity(small, "SMCP", T0, T0 + 10**7 * S, interval_ns=S)
    table = liquidity(small, "SMCP", T0, T0 + 10 * S, interval_ns=10 * S)
    with pytest.raises(LiquidityError, match="Parquet"):
        write_liquidity(table, tmp_path / "out.csv")
    with pytest.raises(LiquidityError, match="not a folder"):
        write_liquidity(table, tmp_path / "missing" / "out.parquet")
    path = write_liquidity(table, tmp_path / "out.parquet")
    assert pq.read_table(path).equals(table) and not list(tmp_path.glob(".*.tmp"))


def test_the_command_line_writes_parquet_and_refuses_bad_input(small: Home, tmp_path: Path):
    out = tmp_path / "smcp.parquet"
    base = ["--home", str(small.root), "book", "liquidity", "SMCP", "--from", iso_ns(T0),
            "--to", iso_ns(T0 + 40 * S), "--out", str(out)]
    args = [*base, "--interval", "10s", "--size", "100", "--bps", "10,25", "--depth", "5"]
    done = salvage(*args, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    written = pq.read_table(out)
    expected = liquidity(small, "SMCP", T0, T0 + 40 * S, interval_ns=10 * S, size=100,
                         bps=(10, 25), depth=5)
    assert written.equals(expected)
    meta = written.schema.metadata
    assert meta[b"salvage.symbol"] == b"SMCP" and meta[b"salvage.venue"] == b"XNAS"
    assert meta[b"salvage.size"] == b"100" and meta[b"salvage.interval"] == b"10s"
    assert report["out"] == str(out) and report["rows"] == as_rows(expected)
    assert report["metadata"]["price_scale"] == "1000000000"

    # the table summary, in this process (a second interpreter costs a second)
    summary = CliRunner().invoke(app, args, terminal_width=120)
    assert summary.exit_code == 0, summary.output
    assert "2 ok, 1 unknown, 1 no_book" in summary.stdout and "06:13:20" in summary.stdout
    assert "0.0850" in summary.stdout

    bad = salvage(*base[:4], "NOPE", *base[5:], "--interval", "7x")
    assert bad.returncode == 1 and "cannot read the interval '7x'" in bad.stderr
    assert "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
