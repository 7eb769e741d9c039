"""Watched pages against a local site: new, unchanged, changed, removed and failed pages, and
pages listed by a sitemap index, each recorded in `watch_events` with the capture behind it."""

from __future__ import annotations

from pathlib import Path

import pytest

from archive.capture import Capturer, CaptureSettings
from archive.home import Home
from archive.watch import capture_watchlist
from flows.mirror import Mirror
from storage.query import query

SETTINGS = CaptureSettings(user_agent="Salvage tests test@example.com", backoff=0.01, retries=1,
                           default_rate=None)
SITEMAP = """<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>{base}/ir/press-1.html</loc><lastmod>2025-01-10</lastmod></url>
  <url><loc>/ir/press-2.html</loc></url>
</urlset>"""
INDEX = """<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>{base}/sitemap-ir.xml</loc></sitemap>
</sitemapindex>"""


def _page(folder: Path, rel: str, text: str) -> None:
    (folder / rel).parent.mkdir(parents=True, exist_ok=True)
    (folder / rel).write_text(f"<html><body><p>{text}</p></body></html>")


def _watch(home: Home, mirror: Mirror, urls: list[str], sitemaps: list[str] = ()):
    with Capturer(home, SETTINGS) as capturer:
        return capture_watchlist(capturer, [f"{mirror.url}/{u}" for u in urls],
                                 [f"{mirror.url}/{s}" for s in sitemaps])


@pytest.fixture
def site(tmp_path: Path):
    folder = tmp_path / "site"
    for rel, text in [("investors.html", "Investor relations"), ("ir/press-1.html", "Q4 results"),
                      ("ir/press-2.html", "Dividend declared"), ("notice.html", "Notice")]:
        _page(folder, rel, text)
    with Mirror(folder) as mirror:
        (folder / "sitemap-ir.xml").write_text(SITEMAP.format(base=mirror.url))
        (folder / "sitemap.xml").write_text(INDEX.format(base=mirror.url))
        yield folder, mirror


def _events(home: Home) -> list[tuple[str, str, str]]:
    rows = query(home.catalog, "SELECT url, event, via FROM watch_events ORDER BY recorded_at, url")
    return [(r["url"].split("/", 3)[3], r["event"], r["via"].rsplit("/", 1)[-1])
            for r in rows.to_pylist()]


def test_pages_are_new_then_unchanged_then_changed_or_removed(home, site):
    folder, mirror = site
    urls = ["investors.html", "notice.html"]
    first = _watch(home, mirror, urls, ["sitemap.xml"])
    assert first.events == {"new": 4} and first.sitemaps == 2 and first.problems == []
    second = _watch(home, mirror, urls, ["sitemap.xml"])
    assert second.events == {"unchanged": 4}
    _page(folder, "ir/press-1.html", "Q4 results, restated")
    mirror.state.removed.add("/notice.html")
    third = _watch(home, mirror, urls, ["sitemap.xml"])
    assert third.events == {"unchanged": 2, "changed": 1, "removed": 1}
    events = _events(home)
    assert ("ir/press-2.html", "new", "sitemap.xml") in events  # a relative <loc>, resolved
    assert events[-4:] == sorted(events[-4:], key=lambda e: e[0])  # one batch per run
    changed = query(home.catalog, "SELECT * FROM watch_events WHERE event = 'changed'")
    [row] = changed.to_pylist()
    assert row["previous_digest"] != row["digest"] and row["filename"].startswith("warcs/")


def test_a_page_never_seen_is_missing_and_failures_are_not_changes(home, site):
    _, mirror = site
    mirror.state.failing.add("/investors.html")
    report = _watch(home, mirror, ["investors.html", "never-there.html"])
    assert report.events == {"failed": 1, "missing": 1}
    mirror.state.failing.clear()
    assert _watch(home, mirror, ["investors.html"]).events == {"new": 1}


def test_a_throttle_page_is_a_failure_not_a_change(home, site):
    _, mirror = site
    _watch(home, mirror, ["investors.html"])
    mirror.state.throttled.add("/investors.html")
    assert _watch(home, mirror, ["investors.html"]).events == {"failed": 1}


def test_a_broken_sitemap_is_reported_and_the_watchlist_still_runs(home, site):
    folder, mirror = site
    (folder / "broken.xml").write_text("<urlset><url><loc>unclosed")
    (folder / "feed.xml").write_text("<rss><channel/></rss>")
    report = _watch(home, mirror, ["investors.html"], ["broken.xml", "feed.xml", "absent.xml"])
    assert report.events == {"new": 1} and len(report.problems) == 3
    assert "not XML" in report.problems[0] and "<rss>" in report.problems[1]
    assert "HTTP 404" in report.problems[2]


def test_a_304_revisit_carries_the_digest_of_the_payload_it_stands_for(home, site):
    _, mirror = site
    first = _watch(home, mirror, ["investors.html"]).rows[0]
    again = _watch(home, mirror, ["investors.html"]).rows[0]
    assert again["status"] == 304 and again["record_type"] == "revisit"
    assert again["digest"] == first["digest"] == again["previous_digest"]
