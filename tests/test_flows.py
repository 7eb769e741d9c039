"""The Prefect flows, run for real under one temporary Prefect API, against a local site."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from archive.home import Home
from flows.ingest import extract_pending, ingest_drop, ingest_edgar, ingest_pages
from flows.mirror import Mirror
from storage.query import query

pytestmark = pytest.mark.usefixtures("prefect_api")


@pytest.fixture
def site(tmp_path: Path):
    folder = tmp_path / "site"
    folder.mkdir()
    for name, text in [("a.html", "Alpha notice"), ("b.html", "Bravo notice")]:
        (folder / name).write_text(f"<html><title>{name}</title><body>{text}</body></html>")
    with Mirror(folder) as mirror:
        yield folder, mirror


def test_ingest_pages_captures_records_changes_and_extracts(tmp_path, site, monkeypatch):
    folder, mirror = site
    monkeypatch.setenv("SALVAGE_USER_AGENT", "Salvage tests test@example.com")
    home = str(tmp_path / "home")
    urls = [f"{mirror.url}/a.html", f"{mirror.url}/b.html"]
    first = ingest_pages(urls=urls, sitemaps=[], home=home)
    assert first["pages"] == 2 and first["pages_new"] == 2
    (folder / "b.html").write_text("<html><body>Bravo notice, withdrawn</body></html>")
    mirror.state.removed.add("/a.html")
    second = ingest_pages(urls=urls, sitemaps=[], home=home)
    assert {c["event"] for c in second["changes"]} == {"changed", "removed"}
    events = query(Path(home) / "catalog", "SELECT event, count(*) AS n FROM watch_events "
                   "GROUP BY 1 ORDER BY 1").to_pylist()
    assert events == [{"event": "changed", "n": 1}, {"event": "new", "n": 2},
                      {"event": "removed", "n": 1}]
    docs = query(Path(home) / "catalog", "SELECT count(*) AS n FROM documents").to_pylist()
    assert docs == [{"n": 3}]  # a, b, and b's new version


def test_extract_pending_is_a_no_op_when_nothing_is_new(tmp_path):
    home = Home(tmp_path / "home").ensure()
    report = extract_pending(home=str(home.root))
    assert report["extracted"] == 0 and report["problems"] == []


def test_ingest_drop_archives_ties_and_ocrs_a_scan(tmp_path):
    home = Home(tmp_path / "home").ensure()
    drop = home.root / "drop"
    drop.mkdir()
    font_path = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    font = ImageFont.truetype(str(font_path), 42) if font_path.exists() \
        else ImageFont.load_default(42)
    page = Image.new("L", (2550, 1200), "white")
    ImageDraw.Draw(page).text((300, 300), "Received by mail: notice of Quorvane Mining",
                              font=font, fill="black")
    page.save(drop / "letter.png", dpi=(300, 300))
    (drop / "letter.png.json").write_text('{"accession": "0001127602-25-001055", '
                                          '"form": "4", "received": "2025-01-13"}')
    old = time.time() - 60  # settled: not still being copied
    for name in ("letter.png", "letter.png.json"):
        os.utime(drop / name, (old, old))
    report = ingest_drop(home=str(home.root))
    assert report["archived"] == 1 and report["untied"] == 0 and report["extracted"] >= 1
    assert report["files"][0]["accession"] == "0001127602-25-001055"
    assert not (drop / "letter.png").exists() and list((drop / "processed").rglob("letter.png"))
    found = query(home.catalog, "SELECT d.text FROM documents d JOIN drops x "
                  "ON d.source_digest = 'sha256:' || x.sha256").to_pylist()
    assert "Quorvane" in found[0]["text"]


ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples" / "site"


@pytest.fixture
def edgar(monkeypatch):
    """The sample days served as EDGAR, and the flows pointed at them."""
    with Mirror(SAMPLES) as mirror:
        monkeypatch.setenv("SALVAGE_EDGAR__ARCHIVES_URL", mirror.url)
        monkeypatch.setenv("SALVAGE_EDGAR__DATA_URL", mirror.url)
        monkeypatch.setenv("SALVAGE_EDGAR__FEED", "false")
        monkeypatch.setenv("SALVAGE_CAPTURE__DEFAULT_RATE", "0")
        monkeypatch.setenv("SALVAGE_CAPTURE__BACKOFF", "0.01")
        monkeypatch.setenv("SALVAGE_USER_AGENT", "Salvage tests test@example.com")
        yield mirror


def _filing_captures(home: str) -> list[dict]:
    return query(Path(home) / "catalog", "SELECT url, record_type FROM captures WHERE url LIKE "
                 "'%.txt' AND status = 200 ORDER BY url").to_pylist()


def test_ingest_edgar_backfills_two_days_and_a_rerun_adds_no_filing(tmp_path, edgar):
    home = str(tmp_path / "home")
    first = ingest_edgar(start="2024-12-27", end="2025-01-10", home=home)
    assert first["filings"] == 3 and first["problems"] == []
    assert [d["discovered"] for d in first["per_day"] if d["discovered"]] == [1, 2]
    filings = query(Path(home) / "catalog", "SELECT accession, len(filers) AS filers FROM "
                    "filings ORDER BY accession").to_pylist()
    assert {"accession": "0001104659-25-002604", "filers": 3} in filings  # one filing, 3 CIKs
    assert len(filings) == 3
    captured = _filing_captures(home)
    again = ingest_edgar(start="2024-12-27", end="2025-01-10", home=home)
    assert again["filings"] == 0 and again["already_archived"] == 3 and again["problems"] == []
    assert _filing_captures(home) == captured  # no second capture of any filing


def test_a_throttled_edgar_is_retried_later_and_the_throttle_page_is_never_a_filing(
        tmp_path, edgar):
    home = str(tmp_path / "home")
    txt = "/Archives/edgar/data/1847360/000094337424000509/0000943374-24-000509.txt"
    edgar.state.throttled.add(txt)
    edgar.state.throttle_status = 403
    blocked = ingest_edgar(day="2024-12-27", home=home)
    assert blocked["filings"] == 0 and any("throttl" in p for p in blocked["problems"])
    assert query(Path(home) / "catalog", "SELECT count(*) AS n FROM filings").to_pylist() == [
        {"n": 0}]
    flagged = query(Path(home) / "catalog", "SELECT soft_error FROM captures WHERE url LIKE "
                    "'%0000943374-24-000509.txt'").to_pylist()
    assert flagged and all(f["soft_error"] for f in flagged)  # archived as evidence, flagged
    edgar.state.throttled.clear()
    later = ingest_edgar(day="2024-12-27", home=home)
    assert later["filings"] == 1 and later["problems"] == []


def test_a_flow_run_killed_half_way_is_finished_by_the_next(tmp_path, edgar):
    """`salvage run ingest-edgar` is killed (SIGKILL, with its Prefect server) while EDGAR is
    slow to send a filing; the next run repairs the open WARC and captures what is missing."""
    home = tmp_path / "home"
    slow = "/Archives/edgar/data/1034563/000110465925002604/0001104659-25-002604.txt"
    edgar.state.delayed[slow] = 60
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_LOGGING_LEVEL": "WARNING"}
    run = subprocess.Popen([sys.executable, "-m", "flows", "--home", str(home), "run",
                            "ingest-edgar", "-p", "day=2025-01-10", "-p", "feed=false"],
                           cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not edgar.state.hits.get(slow) and time.monotonic() < deadline:
            assert run.poll() is None, "the run ended before EDGAR answered"
            time.sleep(0.2)
        assert edgar.state.hits.get(slow), "the run never asked for the slow filing"
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait(30)
    assert list((home / "warcs").glob("*.open"))  # what the killed run was writing
    edgar.state.delayed.clear()
    resumed = ingest_edgar(day="2025-01-10", feed=False, home=str(home))
    assert not list((home / "warcs").glob("*.open")) and resumed["problems"] == []
    assert resumed["filings"] + resumed["already_archived"] == 2
    txts = query(home / "catalog", "SELECT url FROM captures WHERE url LIKE '%.txt' AND "
                 "status = 200 AND record_type = 'response'").to_pylist()
    assert len(txts) == 2  # each filing's complete submission captured once


def test_ingest_feeds_imports_the_folder_and_finds_book_gaps(tmp_path):
    from test_book_gaps import _troubled_day

    from flows.ingest import ingest_feeds

    home = Home(tmp_path / "home").ensure()
    feeds = home.root / "feeds"
    feeds.mkdir()
    path = _troubled_day(datetime(2024, 3, 4).date()).write(feeds)  # a weekday of trouble
    (feeds / "notes.txt").write_text("not a feed")
    old = time.time() - 60
    for p in feeds.iterdir():
        os.utime(p, (old, old))
    report = ingest_feeds(home=str(home.root))
    assert report["files"] == 1 and report["events"] > 2000 and report["errors"] == 0
    assert not path.exists() and list((feeds / "processed").rglob(path.name))
    assert (feeds / "notes.txt").exists()  # not a feed: left alone, and said
    types = query(home.catalog, "SELECT DISTINCT type FROM incidents WHERE type LIKE "
                  "'orderbook.%' ORDER BY 1").column("type").to_pylist()
    assert types == ["orderbook.bad_book", "orderbook.crossed", "orderbook.locked",
                     "orderbook.time_gap"]
