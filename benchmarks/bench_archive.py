"""Salvage archive benchmarks, side by side with the baselines, in one run.

    .venv/bin/python benchmarks/bench_archive.py            # full run (about 2 minutes on 2 cores)
    .venv/bin/python benchmarks/bench_archive.py --quick    # smoke run (seconds)

1. write   - 10,000 ~20 KB HTML responses: Salvage's WarcWriter (SHA-256 payload and block digests,
             CDXJ index and Parquet catalog batch at close) against warcio's WARCWriter(gzip=True)
             with its defaults. Best of 3 each. Goals: >= 2x warcio's records/s, file <= 1.15x.
2. verify  - archive.fixity.verify on a home holding that file against `warcio check` on the same
             file (in-process, warcio.checker.Checker; the CLI is timed too). Goal: >= 2x faster.
3. lookup  - Index.closest over 1,000,000 captures in 20 sorted CDXJ files, 10,000 random queries:
             p50/p95/p99 against an in-memory baseline (every line in one sorted Python list,
             bisect). Goal: p50 < 0.5 ms.
4. memory  - peak RSS (VmHWM) of a fresh process capturing a 1 GB response from a local server,
             importing that 1 GB single-record WARC, and importing a 1 GB-of-payload WARC of 50,000
             records. Goal: < 200 MB each.

Scratch data lives in a temporary folder under /tmp and is removed at the end. `--json PATH` also
writes every figure as JSON; `--only write,lookup` runs a subset.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import gc
import hashlib
import io
import json
import os
import platform
import random
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archive.cdxj import IndexLine, timestamp14, url_key  # noqa: E402
from archive.describe import HttpHead  # noqa: E402
from archive.home import Home  # noqa: E402
from archive.records import http_head_bytes, new_record_id, warc_date  # noqa: E402
from archive.softerrors import PREFIX_BYTES  # noqa: E402

INTEROP_BIN = ROOT / ".venv-interop" / "bin"
SEED = 20240501
SITES = 97  # the pages come from this many sites, each with its own template
MB = 1 << 20
GB = 1 << 30

# -- figures ---------------------------------------------------------------------------------------


@dataclass
class Goal:
    name: str
    measured: str
    target: str
    passed: bool | None  # None: not run
    info: bool = False  # a figure for context, not one of the goals

    @property
    def result(self) -> str:
        if self.passed is None:
            return "n/a"
        return ("met" if self.passed else "not met") if self.info else \
            ("PASS" if self.passed else "FAIL")


GOALS: list[Goal] = []
RESULTS: dict = {}


def log(msg: str = "") -> None:
    print(msg, flush=True)


def table(headers: list[str], rows: list[list]) -> None:
    cells = [[str(c) for c in r] for r in [headers, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, r in enumerate(cells):
        log("  " + "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in
                             enumerate(zip(r, widths, strict=True))))
        if n == 0:
            log("  " + "  ".join("-" * w for w in widths))


def machine() -> dict:
    info = {"python": platform.python_version(), "platform": platform.platform(),
            "nproc": os.cpu_count(), "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}
    with contextlib.suppress(Exception):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(Exception):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["ram_gb"] = round(int(line.split()[1]) / MB, 1)
    return info


def rss_kb(field: str = "VmHWM") -> int:
    """VmHWM (peak RSS) or VmRSS of this process, in KiB. VmHWM belongs to this process image
    alone, unlike ru_maxrss, which Linux carries over from the parent across fork+exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# -- realistic HTML --------------------------------------------------------------------------------

_SYLLABLES = [
    "ka", "ri", "to", "mel", "an", "sor", "ve", "lin", "da", "pro", "ex", "ten", "ment", "al",
    "ic", "tion", "qui", "bar", "fin", "cap", "sec", "port", "rat", "ed", "in", "ter", "ol",
    "um", "es", "ar", "on", "ly", "co", "re", "de", "mar", "ket", "trad", "val", "stock", "bond",
    "fund", "yield", "quart", "rep", "ann", "div", "net", "gro", "ass", "lia", "equ", "cash",
    "flow",
]
_TAGS = ("p", "div", "span", "li", "td", "section", "article", "em", "strong", "a")
_CLASSES = ("row", "col-md-6", "col-sm-12", "card", "card-body", "nav-item", "text-muted", "lead",
            "table", "table-striped", "badge", "btn", "btn-primary", "container", "footer",
            "sidebar", "filing", "filing-meta", "price", "change-up", "change-down", "disclaimer")


class HtmlGenerator:
    """Deterministic pseudo-random HTML pages: Zipf-distributed words from a synthetic vocabulary,
    nested tags with varied attributes, links, scripts and tables of market figures."""

    def __init__(self, seed: int = SEED):
        self.rng = random.Random(seed)
        rng = self.rng
        words = set()
        while len(words) < 6000:
            parts = rng.choice((1, 2, 2, 3, 3, 4))
            words.add("".join(rng.choice(_SYLLABLES) for _ in range(parts)))
        self.words = sorted(words)
        rng.shuffle(self.words)
        weights = [1 / (i + 1) ** 1.05 for i in range(len(self.words))]
        self.cum = list(_accumulate(weights))
        self.tickers = ["".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
                                for _ in range(rng.randint(2, 5))) for _ in range(400)]
        self.sites = [self.site() for _ in range(SITES)]

    def site(self) -> tuple[str, str, str]:
        """One site's template (inline CSS, navigation, footer): shared by all its pages."""
        rng = self.rng
        rules = []
        for _ in range(rng.randint(25, 45)):
            sel = rng.choice(("." + rng.choice(_CLASSES), rng.choice(_TAGS),
                              f"#{rng.choice(self.words)}", f".{rng.choice(_CLASSES)} > a"))
            props = ";".join(rng.sample((
                f"margin:{rng.randint(0, 32)}px",
                f"padding:{rng.randint(0, 24)}px {rng.randint(0, 24)}px",
                f"color:#{rng.getrandbits(24):06x}",
                f"font-size:{rng.choice((12, 13, 14, 16, 18, 24))}px",
                "display:flex", "display:block", "font-weight:600", "text-decoration:none",
                f"border:1px solid #{rng.getrandbits(24):06x}",
                f"line-height:{rng.uniform(1, 2):.2f}",
                f"max-width:{rng.randint(300, 1400)}px"), rng.randint(2, 5)))
            rules.append(f"{sel}{{{props}}}")
        head = (f'<link rel="stylesheet" href="/static/css/site.{rng.getrandbits(40):010x}.css">'
                f'\n<script src="/static/js/app.{rng.getrandbits(40):010x}.js" defer></script>'
                f"\n<style>\n" + "\n".join(rules) + "\n</style>")
        nav = ('<header class="navbar container"><ul class="nav">\n' + "\n".join(
            f'<li class="nav-item"><a class="nav-link" href="/{rng.choice(self.words)}/">'
            f"{self.text(rng.randint(1, 3)).title()}</a></li>" for _ in range(rng.randint(12, 30)))
            + "\n</ul></header>")
        foot = ('<footer class="footer container"><div class="row">' + "".join(
            f'<div class="col-sm-12 col-md-6"><h4>{self.text(2).title()}</h4><ul>' + "".join(
                f'<li><a href="/{rng.choice(self.words)}/{rng.choice(self.words)}">{self.text(2)}'
                "</a></li>" for _ in range(rng.randint(3, 8))) + "</ul></div>"
            for _ in range(rng.randint(2, 4)))
            + f'</div><p class="disclaimer text-muted">{self.sentence_block(40)}</p></footer>')
        return head, nav, foot

    def text(self, n: int) -> str:
        return " ".join(self.rng.choices(self.words, cum_weights=self.cum, k=n))

    def sentence_block(self, n: int) -> str:
        rng, parts = self.rng, []
        left = n
        while left > 0:
            k = min(left, rng.randint(6, 24))
            s = self.text(k)
            parts.append(s[:1].upper() + s[1:] + rng.choice((".", ".", ".", ",", ";", "?")))
            left -= k
        return " ".join(parts)

    def attrs(self) -> str:
        rng = self.rng
        out = [f'class="{" ".join(rng.sample(_CLASSES, rng.randint(1, 3)))}"']
        if rng.random() < 0.3:
            out.append(f'id="{rng.choice(self.words)}-{rng.randint(1, 9999)}"')
        if rng.random() < 0.2:
            out.append(f'data-{rng.choice(self.words)}="{rng.randint(0, 10**6)}"')
        if rng.random() < 0.1:
            out.append(f'style="margin:{rng.randint(0, 24)}px;color:#{rng.getrandbits(24):06x}"')
        return " ".join(out)

    def link(self) -> str:
        rng = self.rng
        t = rng.choice(self.tickers)
        return (f'<a href="/company/{t}/filings/{rng.randint(1000, 999999)}-'
                f'{rng.choice(self.words)}.htm" {self.attrs()} title="{self.text(3)}">'
                f"{self.text(rng.randint(1, 5))}</a>")

    def table(self) -> str:
        rng = self.rng
        cols = rng.randint(4, 7)
        head = "".join(f"<th>{self.text(1).title()}</th>" for _ in range(cols))
        rows = []
        day = datetime(2024, 1, 2) + timedelta(days=rng.randint(0, 300))
        price = rng.uniform(5, 500)
        for _ in range(rng.randint(8, 30)):
            day += timedelta(days=1)
            price *= 1 + rng.gauss(0, 0.02)
            cells = [f"<td>{day:%Y-%m-%d}</td>", f'<td class="price">{price:.2f}</td>']
            cells += [f"<td>{rng.randint(0, 10**7):,}</td>" for _ in range(cols - 2)]
            rows.append("<tr>" + "".join(cells) + "</tr>")
        return (f'<table {self.attrs()}><thead><tr>{head}</tr></thead><tbody>\n'
                + "\n".join(rows) + "\n</tbody></table>")

    def page(self, target: int, site: int = 0) -> bytes:
        rng = self.rng
        head, nav, foot = self.sites[site % len(self.sites)]
        title = self.text(rng.randint(3, 9)).title()
        out = [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{title}</title>",
            f'<meta name="description" content="{self.sentence_block(20)}">',
            head,
            f"<script>window.__cfg={{id:{rng.randint(1, 10**9)},"
            f'sess:"{rng.getrandbits(64):016x}",'
            f"ts:{rng.randint(1_600_000_000, 1_800_000_000)}}};</script>",
            "</head><body>",
            nav,
            '<nav class="breadcrumb"><ul>'
            + "".join(f"<li>{self.link()}</li>" for _ in range(rng.randint(2, 5))) + "</ul></nav>",
            f'<main {self.attrs()}><h1>{title}</h1>',
        ]
        size = sum(len(s) for s in out)
        while size < target:
            r = rng.random()
            if r < 0.55:
                tag = rng.choice(_TAGS[:6])
                inner = self.sentence_block(rng.randint(20, 120))
                if rng.random() < 0.4:
                    words = inner.split(" ")
                    at = rng.randrange(len(words))
                    words.insert(at, self.link())
                    inner = " ".join(words)
                piece = f"<{tag} {self.attrs()}>{inner}</{tag}>"
            elif r < 0.7:
                level = rng.randint(2, 4)
                heading = self.text(rng.randint(2, 8)).title()
                piece = f"<h{level} {self.attrs()}>{heading}</h{level}>"
            elif r < 0.85:
                piece = ("<ul " + self.attrs() + ">" + "".join(
                    f"<li>{self.link()} {self.text(rng.randint(3, 12))}</li>"
                    for _ in range(rng.randint(3, 10))) + "</ul>")
            else:
                piece = self.table()
            out.append(piece)
            size += len(piece) + 1
        out.append(f"</main>{foot}<p>&copy; {rng.randint(1999, 2024)}</p></body></html>")
        return "\n".join(out).encode("utf-8")

    def response(self, i: int, target: int | None = None):
        """(url, headers, body) of one HTML response of about 20 KB."""
        rng = self.rng
        site = rng.randrange(SITES)
        body = self.page(target or rng.randint(13_500, 21_500), site)
        host = f"www.{self.words[site]}-{site}.example.com"
        url = f"https://{host}/{self.text(1)}/{rng.choice(self.tickers).lower()}/{i}.html"
        moment = datetime(2024, 6, 1, tzinfo=UTC) + timedelta(seconds=i * 7)
        headers = [
            ("Date", moment.strftime("%a, %d %b %Y %H:%M:%S GMT")),
            ("Server", rng.choice(("nginx/1.24.0", "Apache", "cloudflare", "AmazonS3"))),
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("Last-Modified", (moment - timedelta(days=rng.randint(0, 900)))
             .strftime("%a, %d %b %Y %H:%M:%S GMT")),
            ("ETag", f'"{rng.getrandbits(64):016x}"'),
            ("Cache-Control", f"max-age={rng.choice((0, 60, 600, 3600))}"),
            ("Vary", "Accept-Encoding"),
        ]
        return url, headers, body


def _accumulate(values):
    total = 0.0
    for v in values:
        total += v
        yield total


def make_pages(n: int, seed: int = SEED) -> list[tuple[str, list[tuple[str, str]], bytes]]:
    gen = HtmlGenerator(seed)
    return [gen.response(i) for i in range(n)]


# -- 1. write --------------------------------------------------------------------------------------


def write_salvage(pages, root: Path) -> tuple[float, Path, Home]:
    from archive.writer import WarcWriter

    home = Home(root).ensure()
    gc.collect()
    t0 = time.perf_counter()
    writer = WarcWriter(home)
    for url, headers, body in pages:
        head = http_head_bytes("HTTP/1.1 200 OK", headers)
        block_sha = hashlib.sha256(head)
        block_sha.update(body)
        fields = [
            ("WARC-Record-ID", new_record_id()),
            ("WARC-Date", warc_date(datetime.now(UTC))),
            ("WARC-Target-URI", url),
            ("Content-Type", "application/http;msgtype=response"),
            ("WARC-Payload-Digest", "sha256:" + hashlib.sha256(body).hexdigest()),
            ("WARC-Block-Digest", "sha256:" + block_sha.hexdigest()),
        ]
        writer.write("response", fields, head + body, http=HttpHead(200, headers),
                     payload_prefix=body[:PREFIX_BYTES])
    path = writer.close()
    elapsed = time.perf_counter() - t0
    assert path is not None
    return elapsed, path, home


def write_warcio(pages, path: Path) -> float:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    gc.collect()
    t0 = time.perf_counter()
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        writer.write_record(writer.create_warcinfo_record(
            path.name, {"software": "warcio", "format": "WARC File Format 1.0",
                        "hostname": socket.gethostname()}))
        for url, headers, body in pages:
            http = StatusAndHeaders("200 OK", headers, protocol="HTTP/1.1")
            record = writer.create_warc_record(url, "response", payload=io.BytesIO(body),
                                               http_headers=http)
            writer.write_record(record)
    return time.perf_counter() - t0


def bench_write(scratch: Path, n: int, runs: int) -> Path | None:
    log(f"\n== 1. write {n:,} HTML responses (best of {runs}) ==")
    t0 = time.perf_counter()
    pages = make_pages(n)
    payload = sum(len(b) for _, _, b in pages)
    log(f"  generated {n:,} pages, {payload / MB:.1f} MiB of HTML "
        f"(mean {payload / n / 1000:.1f} kB) in {time.perf_counter() - t0:.1f} s")
    s_times, w_times, s_size, w_size = [], [], 0, 0
    keep: Path | None = None
    for run in range(runs):
        root = scratch / f"write-salvage-{run}"
        elapsed, path, _home = write_salvage(pages, root)
        s_times.append(elapsed)
        s_size = path.stat().st_size
        side = sum(f.stat().st_size for d in (_home.indexes, _home.catalog)
                   for f in d.rglob("*") if f.is_file())
        if run == runs - 1:
            keep = root
        else:
            shutil.rmtree(root)
        wpath = scratch / f"warcio-{run}.warc.gz"
        w_times.append(write_warcio(pages, wpath))
        w_size = wpath.stat().st_size
        wpath.unlink()
        log(f"  run {run + 1}: salvage {elapsed:.2f} s, warcio {w_times[-1]:.2f} s")
    records = n + 1  # + warcinfo
    s_rate, w_rate = records / min(s_times), records / min(w_times)
    speed, size = s_rate / w_rate, s_size / w_size
    table(["writer", "best s", "records/s", "MB/s (payload)", "file MiB", "index+catalog"], [
        ["salvage WarcWriter", f"{min(s_times):.2f}", f"{s_rate:,.0f}",
         f"{payload / MB / min(s_times):.1f}", f"{s_size / MB:.1f}",
         f"CDXJ + Parquet, {side / MB:.1f} MiB"],
        ["warcio WARCWriter", f"{min(w_times):.2f}", f"{w_rate:,.0f}",
         f"{payload / MB / min(w_times):.1f}", f"{w_size / MB:.1f}", "none"],
    ])
    log(f"  speed ratio salvage/warcio: {speed:.2f}x   size ratio salvage/warcio: {size:.3f}x")
    RESULTS["write"] = {"records": n, "payload_bytes": payload, "salvage_s": s_times,
                        "warcio_s": w_times, "salvage_rps": s_rate, "warcio_rps": w_rate,
                        "salvage_bytes": s_size, "warcio_bytes": w_size, "index_bytes": side,
                        "speed_ratio": speed, "size_ratio": size}
    GOALS.append(Goal("write speed vs warcio", f"{speed:.2f}x", ">= 2x", speed >= 2))
    GOALS.append(Goal("write file size vs warcio", f"{size:.3f}x", "<= 1.15x", size <= 1.15))
    compression_table(pages[:2000])
    return keep


def compression_table(pages) -> None:
    """How the size ratio depends on the HTML: every page as its own gzip member (as in a WARC)
    with warcio's zlib level 9 and with ISA-L's levels, on the synthetic pages and on the
    repository's sample pages (EDGAR filing index pages and an 8-K with its exhibit)."""
    import zlib

    from isal import isal_zlib

    from archive.records import GZIP_LEVEL

    corpora = [("synthetic pages (this benchmark)", [b for _, _, b in pages])]
    samples = sorted((ROOT / "samples").rglob("*.htm*"))
    if samples:
        corpora.append((f"samples/ ({len(samples)} EDGAR pages)",
                        [p.read_bytes() for p in samples] * 25))
    log("  compressed size per record against warcio's zlib -9 (1 gzip member per page):")
    rows = []
    out: dict = {}
    for label, datas in corpora:
        raw = sum(len(d) for d in datas)
        sizes = {}
        for name, mod, level in (("zlib 9 (warcio)", zlib, 9), ("zlib 6", zlib, 6),
                                 ("isal 1", isal_zlib, 1), ("isal 2", isal_zlib, 2),
                                 ("isal 3", isal_zlib, 3)):
            t0, n = time.perf_counter(), 0
            for d in datas:
                c = mod.compressobj(level, mod.DEFLATED, 31)
                n += len(c.compress(d)) + len(c.flush())
            sizes[name] = (n, raw / MB / (time.perf_counter() - t0))
        base = sizes["zlib 9 (warcio)"][0]
        rows += [[label if i == 0 else "", name + (" (salvage)" if name == f"isal {GZIP_LEVEL}"
                                                   else ""),
                  f"{raw / n:.2f}", f"{n / base:.3f}x", f"{speed:.0f}"]
                 for i, (name, (n, speed)) in enumerate(sizes.items())]
        out[label] = {k: {"bytes": v[0], "mib_s": v[1]} for k, v in sizes.items()} | {"raw": raw}
    table(["corpus", "compressor", "ratio", "size vs zlib 9", "MiB/s"], rows)
    RESULTS["compression"] = out


# -- 2. verify -------------------------------------------------------------------------------------


def bench_verify(home_root: Path | None, runs: int) -> None:
    log("\n== 2. verify: salvage verify vs warcio check ==")
    try:
        from archive import fixity
    except ImportError as exc:
        log(f"  skipped: archive.fixity is not available ({exc})")
        GOALS.append(Goal("verify vs warcio check", "not run", ">= 2x faster", None))
        return
    if home_root is None:
        log("  skipped: no home from the write benchmark")
        GOALS.append(Goal("verify vs warcio check", "not run", ">= 2x faster", None))
        return
    from warcio.checker import Checker

    home = Home(home_root)
    warc = home.archive_files()[0]
    size = warc.stat().st_size

    def timed(fn) -> tuple[float, object]:
        best, out = float("inf"), None
        for _ in range(runs):
            gc.collect()
            t0 = time.perf_counter()
            out = fn()
            best = min(best, time.perf_counter() - t0)
        return best, out

    quick_s, quick_rep = timed(lambda: fixity.verify(home, deep=False))
    deep_s, deep_rep = timed(lambda: fixity.verify(home, deep=True))
    for label, rep in (("verify", quick_rep), ("verify --deep", deep_rep)):
        ok = getattr(rep, "ok", None)
        log(f"  salvage {label}: ok={ok}  {_short(rep)}")

    cmd = argparse.Namespace(inputs=[str(warc)], verbose=False)
    sink = io.StringIO()

    def check_inprocess():
        with contextlib.redirect_stdout(sink):
            return Checker(cmd).process_all()

    check_s, check_rc = timed(check_inprocess)
    cli = INTEROP_BIN / "warcio"
    cli_s = None
    if cli.exists():
        def check_cli():
            return subprocess.run([str(cli), "check", str(warc)], capture_output=True).returncode
        cli_s, cli_rc = timed(check_cli)
        log(f"  warcio check CLI exit status {cli_rc}")
    log(f"  warcio check (in-process) exit status {check_rc}")
    rows = [
        ["salvage verify (in-process)", f"{quick_s:.3f}", f"{size / MB / quick_s:.0f}",
         f"{check_s / quick_s:.1f}x"],
        ["salvage verify deep=True (in-process)", f"{deep_s:.3f}", f"{size / MB / deep_s:.0f}",
         f"{check_s / deep_s:.1f}x"],
        ["warcio check (in-process Checker)", f"{check_s:.3f}", f"{size / MB / check_s:.0f}",
         "1.0x"],
    ]
    if cli_s is not None:
        rows.append(["warcio check (.venv-interop CLI)", f"{cli_s:.3f}",
                     f"{size / MB / cli_s:.0f}", f"{check_s / cli_s:.1f}x"])
    table(["tool", "best s", "MiB/s", "speed vs warcio check"], rows)
    RESULTS["verify"] = {"file_bytes": size, "salvage_s": quick_s, "salvage_deep_s": deep_s,
                         "warcio_check_s": check_s, "warcio_check_cli_s": cli_s,
                         "salvage_ok": getattr(quick_rep, "ok", None),
                         "salvage_deep_ok": getattr(deep_rep, "ok", None), "warcio_rc": check_rc}
    GOALS.append(Goal("verify vs warcio check", f"{check_s / quick_s:.1f}x faster",
                      ">= 2x faster", check_s / quick_s >= 2))
    GOALS.append(Goal("verify deep=True vs warcio check", f"{check_s / deep_s:.1f}x faster",
                      ">= 2x faster", check_s / deep_s >= 2, info=True))


def _short(rep) -> str:
    text = repr(rep)
    return text if len(text) < 300 else text[:300] + "..."


# -- 3. lookup -------------------------------------------------------------------------------------


def make_index(home: Home, n_urls: int, n_crawls: int, files_per_crawl: int,
               seed: int = SEED) -> tuple[list[str], datetime, datetime]:
    """Synthetic CDXJ files as a rolling writer would leave them: each crawl visits every URL once
    in a shuffled order, its captures fill `files_per_crawl` consecutive WARCs."""
    rng = random.Random(seed)
    gen = HtmlGenerator(seed)
    words = gen.words[:3000]
    urls, keys = [], []
    for i in range(n_urls):
        host = f"{words[i % 211]}{i % 211}.example.com"
        sub = "www." if i % 3 else ""
        ticker = rng.choice(gen.tickers).lower()
        path = f"{rng.choice(words)}/{ticker}/{i:07d}-{rng.choice(words)}.htm"
        urls.append(f"https://{sub}{host}/{path}")
        parts = host.split(".")
        keys.append(",".join(reversed(parts)) + ")/" + path)
    for u, k in zip(urls[:2000], keys[:2000], strict=True):  # the synthetic SURTs are real SURTs
        assert url_key(u) == k, (u, url_key(u), k)
    home.indexes.mkdir(parents=True, exist_ok=True)
    start = datetime(2023, 1, 1, tzinfo=UTC)
    crawl_every, crawl_span = timedelta(days=30), 2 * 86400
    order = list(range(n_urls))
    per_file = -(-n_urls // files_per_crawl)
    for c in range(n_crawls):
        rng.shuffle(order)
        base = start + crawl_every * c
        for f in range(files_per_crawl):
            chunk = order[f * per_file:(f + 1) * per_file]
            stamp = (base + timedelta(hours=f)).strftime("%Y%m%d%H%M%S%f")[:17]
            name = f"warcs/salvage-{stamp}-{c:03d}{f:04d}-bench.warc.gz"
            lines, offset = [], 0
            for i in chunk:
                moment = base + timedelta(seconds=rng.randrange(crawl_span))
                r = rng.random()
                status = 404 if r < 0.03 else 200
                length = rng.randint(3000, 9000)
                data = {"url": urls[i], "mime": "text/html", "status": str(status),
                        "digest": f"sha256:{rng.getrandbits(256):064x}", "length": str(length),
                        "offset": str(offset), "filename": name,
                        "recordDigest": f"sha256:{rng.getrandbits(256):064x}"}
                if 0.03 <= r < 0.04:
                    data["soft_error"] = "edgar-rate-limit"
                offset += length
                lines.append(f"{keys[i]} {moment:%Y%m%d%H%M%S} {json.dumps(data)}".encode())
            lines.sort()
            (home.index_path(name)).write_bytes(b"\n".join(lines) + b"\n")
    end = start + crawl_every * (n_crawls - 1) + timedelta(seconds=crawl_span)
    return urls, start, end


class ListIndex:
    """The baseline: every CDXJ line of the home in one sorted Python list, searched with bisect,
    with the same choice rules as archive.lookup.Index.closest."""

    def __init__(self, home: Home):
        lines: list[bytes] = []
        for path in sorted(home.indexes.glob("*.cdxj")):
            lines.extend(path.read_bytes().splitlines())
        lines.sort()
        self.lines = lines

    def closest(self, url: str, at: datetime, good_only: bool = True) -> IndexLine | None:
        from archive.lookup import _better, _first_match

        prefix = (url_key(url) + " ").encode()
        key = prefix + timestamp14(at).encode()
        lines, best = self.lines, None
        pos = bisect.bisect_left(lines, key)
        after = (lines[i] for i in range(pos, len(lines)))
        before = (lines[i] for i in range(pos - 1, -1, -1))
        for side in (after, before):
            line = _first_match(side, prefix, good_only)
            if line is not None:
                best = _better(best, line, at)
        return best


def _percentiles(samples_ns: list[int]) -> dict[str, float]:
    qs = statistics.quantiles(samples_ns, n=100, method="inclusive")
    return {"p50": qs[49] / 1e6, "p95": qs[94] / 1e6, "p99": qs[98] / 1e6,
            "mean": statistics.fmean(samples_ns) / 1e6, "max": max(samples_ns) / 1e6}


def bench_lookup(scratch: Path, n_urls: int, n_crawls: int, n_files: int, n_queries: int) -> None:
    from archive.lookup import Index

    total = n_urls * n_crawls
    log(f"\n== 3. closest-capture lookup: {total:,} captures in {n_files} CDXJ files, "
        f"{n_queries:,} queries ==")
    home = Home(scratch / "lookup-home")
    t0 = time.perf_counter()
    urls, start, end = make_index(home, n_urls, n_crawls, n_files // n_crawls)
    files = sorted(home.indexes.glob("*.cdxj"))
    index_bytes = sum(p.stat().st_size for p in files)
    log(f"  generated {len(files)} files, {index_bytes / MB:.0f} MiB of CDXJ in "
        f"{time.perf_counter() - t0:.1f} s")
    rng = random.Random(SEED + 3)
    span = int((end - start).total_seconds())
    queries = [(rng.choice(urls), start + timedelta(seconds=rng.randrange(-86400, span + 86400)))
               for _ in range(n_queries)]

    gc.collect()
    anon0, file0 = rss_kb("RssAnon"), rss_kb("RssFile")
    t0 = time.perf_counter()
    index = Index(home)
    open_s = time.perf_counter() - t0
    for url, at in queries[:100]:  # warm-up: the first touch of the interpreter's caches
        index.closest(url, at)
    ours, found = [], []
    for url, at in queries:
        t0 = time.perf_counter_ns()
        hit = index.closest(url, at)
        ours.append(time.perf_counter_ns() - t0)
        found.append(hit)
    # heap growth, and index pages the queries touched (mapped page cache, reclaimable)
    ours_anon = (rss_kb("RssAnon") - anon0) / 1024
    ours_file = (rss_kb("RssFile") - file0) / 1024
    index.close()

    gc.collect()
    anon0 = rss_kb("RssAnon")
    t0 = time.perf_counter()
    baseline = ListIndex(home)
    load_s = time.perf_counter() - t0
    base_mem = (rss_kb("RssAnon") - anon0) / 1024
    theirs, mismatch = [], 0
    for (url, at), mine in zip(queries, found, strict=True):
        t0 = time.perf_counter_ns()
        hit = baseline.closest(url, at)
        theirs.append(time.perf_counter_ns() - t0)
        a = mine and (mine.timestamp, mine.filename, mine.offset)
        b = hit and (hit.timestamp, hit.filename, hit.offset)
        mismatch += a != b
    del baseline
    gc.collect()

    p, q = _percentiles(ours), _percentiles(theirs)
    hits = sum(1 for f in found if f is not None)
    log(f"  {hits:,} of {n_queries:,} queries found a capture; answers differing from the "
        f"baseline: {mismatch}")
    table(["lookup", "open/load s", "heap MiB", "mapped MiB", "p50 ms", "p95 ms", "p99 ms",
           "mean ms"], [
        ["salvage Index.closest (mmap, bisect per file)", f"{open_s:.4f}", f"{ours_anon:.0f}",
         f"{ours_file:.0f}",
         f"{p['p50']:.3f}",
         f"{p['p95']:.3f}", f"{p['p99']:.3f}", f"{p['mean']:.3f}"],
        ["baseline: all lines in one sorted list + bisect", f"{load_s:.2f}", f"{base_mem:.0f}", "0",
         f"{q['p50']:.3f}", f"{q['p95']:.3f}", f"{q['p99']:.3f}", f"{q['mean']:.3f}"],
    ])
    ratio = p["p50"] / q["p50"]
    breakeven = load_s / max((p["mean"] - q["mean"]) / 1000, 1e-9)
    log(f"  p50 ratio salvage/baseline: {ratio:.2f}x; the baseline's load time equals the extra "
        f"time of {breakeven:,.0f} salvage lookups" if p["mean"] > q["mean"] else
        f"  p50 ratio salvage/baseline: {ratio:.2f}x")
    RESULTS["lookup"] = {"captures": total, "files": len(files), "index_bytes": index_bytes,
                         "queries": n_queries, "hits": hits, "mismatches": mismatch,
                         "open_s": open_s, "salvage": p, "baseline": q,
                         "salvage_heap_mib": ours_anon, "salvage_mapped_mib": ours_file,
                         "baseline_load_s": load_s, "baseline_rss_mib": base_mem}
    GOALS.append(Goal("lookup p50", f"{p['p50']:.3f} ms", "< 0.5 ms", p["p50"] < 0.5))
    GOALS.append(Goal("lookup answers = baseline", f"{mismatch} differ", "0 differ", mismatch == 0))
    shutil.rmtree(home.root)


# -- 4. memory -------------------------------------------------------------------------------------


def child(argv: list[str]) -> None:
    """Run one measured job in this fresh process and print its figures as JSON."""
    job = argv[0]
    if job == "serve":
        serve(int(argv[1]))
        return
    idle = rss_kb("VmRSS")
    t0 = time.perf_counter()
    out: dict = {"job": job}
    if job == "capture":
        from archive.capture import Capturer, CaptureSettings

        url, root = argv[1], Path(argv[2])
        with Capturer(Home(root), CaptureSettings(default_rate=None)) as cap:
            res = cap.capture_url(url)
        out.update(ok=res.ok, bytes=res.bytes, error=res.error,
                   files=[str(p) for p in cap.writer.closed_files])
    elif job == "import":
        from archive.importer import import_files

        root, path = Path(argv[1]), Path(argv[2])
        reports = import_files(Home(root), [path])
        out.update(ok=all(r.ok for r in reports), records=sum(r.records for r in reports),
                   indexed=sum(r.indexed for r in reports),
                   problems=sum(len(r.broken) + len(r.digest_problems) for r in reports),
                   reports=[_short(r) for r in reports])
    elif job == "write-many":
        from archive.writer import WarcWriter

        root, records, distinct = Path(argv[1]), int(argv[2]), int(argv[3])
        gen = HtmlGenerator(SEED + 7)
        pages = [gen.response(i) for i in range(distinct)]
        home = Home(root).ensure()
        idle = rss_kb("VmRSS")
        payload = 0
        with WarcWriter(home) as writer:
            for i in range(records):
                url, headers, body = pages[i % distinct]
                head = http_head_bytes("HTTP/1.1 200 OK", headers)
                url = f"{url}?n={i}"
                payload += len(body)
                writer.write("response", [
                    ("WARC-Record-ID", new_record_id()),
                    ("WARC-Date", warc_date(datetime.now(UTC))),
                    ("WARC-Target-URI", url),
                    ("Content-Type", "application/http;msgtype=response"),
                    ("WARC-Payload-Digest", "sha256:" + hashlib.sha256(body).hexdigest()),
                    ("WARC-Block-Digest", "sha256:" + hashlib.sha256(head + body).hexdigest()),
                ], head + body, http=HttpHead(200, headers), payload_prefix=body[:PREFIX_BYTES])
        out.update(files=[str(p) for p in writer.closed_files], payload=payload)
    else:
        raise SystemExit(f"unknown child job {job}")
    out.update(seconds=time.perf_counter() - t0, idle_kb=idle, peak_kb=rss_kb("VmHWM"),
               ru_maxrss_kb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    print("RESULT " + json.dumps(out), flush=True)


def serve(size: int) -> None:
    """Serve `size` bytes (with Content-Length) at every path, on a free port; print the port."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    block = random.Random(SEED).randbytes(MB)  # incompressible: deflate's window is 32 KiB

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            left = size
            view = memoryview(block)
            while left > 0:
                n = min(left, len(block))
                self.wfile.write(view[:n])
                left -= n

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


def run_child(*args: str) -> dict:
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", *args],
                          capture_output=True, text=True, cwd=ROOT)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"child {args[0]} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


def bench_memory(scratch: Path, size: int, many_records: int) -> None:
    log(f"\n== 4. memory: peak RSS of fresh processes streaming {_size(size)} ==")
    free = shutil.disk_usage(scratch).free
    need = 4 * size + GB
    if free < need:
        log(f"  skipped: {free / GB:.1f} GiB free under {scratch}, {need / GB:.1f} GiB needed")
        GOALS.append(Goal("capture peak RSS", "not run", "< 200 MB", None))
        return
    log(f"  {free / GB:.0f} GiB free under {scratch}")
    try:
        import archive.importer  # noqa: F401
        importer = True
    except ImportError as exc:
        log(f"  imports skipped: archive.importer is not available ({exc})")
        importer = False
    rows, limit_kb, out = [], 200 * 1000, {"size": size}  # 200 MB = 200,000 x 1000 bytes

    server = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--child", "serve",
                               str(size)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        cap = run_child("capture", f"http://127.0.0.1:{port}/big.bin", str(scratch / "cap-home"))
    finally:
        server.terminate()
        server.wait()
    assert cap["ok"] and cap["bytes"] == size, cap
    warc = Path(cap["files"][0])
    wsize = warc.stat().st_size
    out["capture"] = cap
    rows.append(_mem_row(f"capture a {_size(size)} response (Capturer)", cap, size))
    GOALS.append(_mem_goal(f"capture {_size(size)}: peak RSS", cap, limit_kb))
    if importer:
        imp = out["import"] = run_child("import", str(scratch / "import-home"), str(warc))
        _log_import(imp)
        rows.append(_mem_row(f"import that WARC ({wsize / GB:.2f} GiB, 1 record)", imp, wsize))
        GOALS.append(_mem_goal(f"import {_size(size)} WARC (1 record): peak RSS", imp, limit_kb))
        shutil.rmtree(scratch / "import-home")
    else:
        GOALS.append(Goal(f"import {_size(size)} WARC: peak RSS", "not run", "< 200 MB", None))
    shutil.rmtree(scratch / "cap-home")

    wm = out["write_many"] = run_child("write-many", str(scratch / "many-home"),
                                       str(many_records), "500")
    many = Path(wm["files"][0])
    msize = many.stat().st_size
    rows.append(_mem_row(f"write {many_records:,} ~20 kB records ({wm['payload'] / GB:.2f} GiB)",
                         wm, wm["payload"]))
    GOALS.append(_mem_goal(f"write {many_records:,} records: peak RSS", wm, limit_kb, info=True))
    if importer:
        imp2 = out["import_many"] = run_child("import", str(scratch / "import-many-home"),
                                              str(many))
        _log_import(imp2)
        rows.append(_mem_row(f"import that WARC ({msize / MB:.0f} MiB, {many_records:,} records)",
                             imp2, wm["payload"]))
        GOALS.append(_mem_goal(f"import {many_records:,}-record WARC: peak RSS", imp2,
                               limit_kb))
        shutil.rmtree(scratch / "import-many-home")
    shutil.rmtree(scratch / "many-home")
    table(["job (fresh process)", "seconds", "MiB/s (payload)", "RSS at start MiB",
           "peak RSS MiB"], rows)
    RESULTS["memory"] = out


def _log_import(res: dict) -> None:
    log(f"  import: ok={res['ok']}, {res['records']:,} records, {res['indexed']:,} indexed, "
        f"{res['problems']} problems")
    if not res["ok"]:
        log(f"  {res['reports']}")


def _size(n: int) -> str:
    return f"{n / GB:.0f} GiB" if n >= GB else f"{n / MB:.0f} MiB"


def _mem_row(label: str, res: dict, nbytes: int) -> list:
    return [label, f"{res['seconds']:.1f}", f"{nbytes / MB / res['seconds']:.0f}",
            f"{res['idle_kb'] / 1024:.0f}", f"{res['peak_kb'] / 1024:.0f}"]


def _mem_goal(name: str, res: dict, limit_kb: int, info: bool = False) -> Goal:
    peak = res["peak_kb"]
    return Goal(name, f"{peak / 1024:.0f} MiB ({peak * 1.024 / 1000:.0f} MB)", "< 200 MB",
                peak * 1.024 < limit_kb, info=info)


# -- main ------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: everything shrunk")
    parser.add_argument("--only", default="write,verify,lookup,memory",
                        help="comma-separated subset of write,verify,lookup,memory")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    parser.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return 0

    only = set(args.only.split(","))
    q = args.quick
    n_records, runs = (1_000, 2) if q else (10_000, 3)
    n_urls, n_crawls, n_files = (10_000, 10, 20) if q else (100_000, 10, 20)
    n_queries = 2_000 if q else 10_000
    big, many = (100 * MB, 5_000) if q else (GB, 50_000)

    info = machine()
    info["loadavg_at_start"] = os.getloadavg()
    RESULTS["machine"] = info
    RESULTS["quick"] = q
    log(f"Salvage benchmarks{' (--quick)' if q else ''}: {info.get('cpu', '?')}, "
        f"{info['nproc']} CPUs, {info.get('ram_gb', '?')} GB RAM, Python {info['python']}, "
        f"{info['date']}, load average {info['loadavg_at_start'][0]:.2f}")
    started = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="salvage-bench-", dir="/tmp"))
    try:
        keep = None
        if "write" in only or "verify" in only:
            keep = bench_write(scratch, n_records, runs)
        if "verify" in only:
            bench_verify(keep, runs)
        if keep is not None:
            shutil.rmtree(keep)
        if "lookup" in only:
            bench_lookup(scratch, n_urls, n_crawls, n_files, n_queries)
        if "memory" in only:
            bench_memory(scratch, big, many)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    total = time.perf_counter() - started
    note = ", --quick: shrunk sizes, the goals are for the full run" if q else ""
    log(f"\n== summary ({total:.0f} s{note}) ==")
    table(["goal", "measured", "target", "result"],
          [[g.name, g.measured, g.target, g.result] for g in GOALS])
    log("  (rows marked met/not met are context, not goals of the issue)")
    RESULTS["goals"] = [g.__dict__ for g in GOALS]
    RESULTS["seconds"] = total
    if args.json:
        args.json.write_text(json.dumps(RESULTS, indent=2, default=str))
    return 0 if all(g.passed is not False for g in GOALS if not g.info) else 1


if __name__ == "__main__":
    sys.exit(main())


def median_time(fn, runs: int) -> tuple[float, object]:
    """The median wall time of `runs` calls of `fn`, and the last call's result."""
    import statistics

    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result
