"""Watched pages: capture a watchlist (and the pages its sitemaps list) and say what changed.

Every fetch is archived (the WARC is the evidence); what it means is one `watch_events` row per
page: `new` (first capture), `unchanged` (a revisit), `changed` (a payload unlike the last good
one), `redirected` (a 3xx: the record holds its Location), `removed` (404/410 after a good
capture), `missing` (404/410 never seen good) or `failed` (a server error, a throttle page, a cut
connection: retried on the next run). `via` is the configured sitemap that listed the page. The
gaps stage reads the removed and changed pages from there.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit
from xml.etree import ElementTree

from archive.capture import Capturer, CaptureResult
from archive.errors import SalvageError
from storage.tables import append_rows

log = logging.getLogger("salvage.watch")

GONE = (404, 410)
MAX_SITEMAP_URLS = 50_000
"""A sitemap lists at most this many URLs (the sitemaps.org limit); more are ignored, and said."""
_LOC = re.compile(r"\{[^}]*\}")


class SitemapError(SalvageError):
    """A sitemap that is not sitemap XML; its bytes are in the WARC."""


@dataclass
class WatchReport:
    pages: int = 0
    events: dict[str, int] = field(default_factory=dict)
    bytes: int = 0
    sitemaps: int = 0
    problems: list[str] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)

    def count(self, event: str) -> None:
        self.events[event] = self.events.get(event, 0) + 1


def watch_event(result: CaptureResult, previous: str | None) -> str:
    """What one capture of a watched page means, given the digest of its last good capture."""
    if result.status in GONE:
        return "removed" if previous else "missing"
    if not result.ok or result.soft_error:
        return "failed"
    if result.record_type == "revisit" or (previous and result.digest == previous):
        return "unchanged"  # a 304 to a conditional GET too
    if result.status is None or result.status >= 400:
        return "failed"
    if result.status >= 300:
        return "redirected"  # redirects are not followed: the page moved, say where it went
    return "changed" if previous else "new"


def capture_watchlist(capturer: Capturer, urls: Iterable[str] = (),
                      sitemaps: Iterable[str] = ()) -> WatchReport:
    """Capture every watched URL and every page the sitemaps list (each once), record one
    `watch_events` row per page in the home's catalog, and report the counts."""
    report = WatchReport()
    pages: dict[str, str] = {u: "watchlist" for u in urls}
    for sitemap in sitemaps:
        try:
            for url in sitemap_urls(capturer, sitemap, report):
                pages.setdefault(url, sitemap)
        except SitemapError as exc:
            report.problems.append(exc.args[0])
            log.warning("%s", exc)
    for url, via in pages.items():
        previous = capturer.last_good_digest(url)
        result = capturer.capture_url(url)
        event = watch_event(result, previous)
        report.pages += 1
        report.bytes += result.bytes
        report.count(event)
        report.rows.append({
            "url": url, "event": event, "status": result.status, "digest": result.digest,
            "previous_digest": previous, "record_type": result.record_type,
            "soft_error": result.soft_error, "error": result.error, "via": via,
            "filename": result.filename, "offset": result.offset,
            "observed_at": datetime.now(UTC)})
    append_rows(capturer.home.catalog, "watch_events", report.rows)
    return report


def sitemap_urls(capturer: Capturer, url: str, report: WatchReport,
                 depth: int = 0) -> list[str]:
    """The page URLs a sitemap (or a sitemap index, followed two levels deep) lists."""
    result = capturer.capture_url(url)
    report.sitemaps += 1
    if watch_event(result, None) not in ("new", "unchanged"):  # not a good capture
        raise SitemapError(f"sitemap {url} could not be fetched: HTTP {result.status}"
                           + (f", {result.error}" if result.error else ""))
    data = capturer.payload(result)
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        raise SitemapError(f"sitemap {url} is not XML ({exc}); its bytes are archived") from exc
    kind = _LOC.sub("", root.tag)
    locs = [(e.text or "").strip() for e in root.iter() if _LOC.sub("", e.tag) == "loc"]
    locs = [urljoin(url, loc) for loc in locs if loc]
    if kind == "sitemapindex":
        if depth >= 2:
            raise SitemapError(f"sitemap index {url} nests deeper than two levels")
        found: list[str] = []
        for child in locs:
            found.extend(sitemap_urls(capturer, child, report, depth + 1))
        return found
    if kind != "urlset":
        raise SitemapError(f"{url} is XML but not a sitemap (root element <{kind}>)")
    pages = [u for u in locs if urlsplit(u).scheme in ("http", "https")]
    if len(pages) > MAX_SITEMAP_URLS:
        report.problems.append(f"sitemap {url} lists {len(pages)} URLs; the first "
                               f"{MAX_SITEMAP_URLS} are watched")
    return pages[:MAX_SITEMAP_URLS]
