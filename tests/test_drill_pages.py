"""The `pages` drill scenario (storage/drill_pages.py): watched pages captured from a local mirror
are lost at their source in a scratch copy, found by the gaps check, recovered from their archived
copies and verified — and the real home is byte-identical afterwards."""

from __future__ import annotations

import shutil
import zlib
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from archive.capture import Capturer, CaptureSettings
from archive.home import Home
from archive.records import gzip_member
from archive.watch import capture_watchlist
from flows.mirror import Mirror
from storage.drill import run_drill, tree_digest
from storage.drill_pages import page_candidates
from storage.query import query

SETTINGS = CaptureSettings(user_agent="Salvage tests test@example.com", backoff=0.01, retries=0,
                           default_rate=None)
PAGES = {"investors.html": "Investor relations", "ir/press-1.html": "Q4 results",
         "ir/press-2.html": "Dividend declared"}


def _watch(home: Home, urls: list[str]) -> dict[str, int]:
    with Capturer(home, SETTINGS) as capturer:
        return capture_watchlist(capturer, urls).events


@pytest.fixture(scope="module")
def watched(tmp_path_factory):
    """A home watching three pages of a running mirror: two captured twice (the second time a
    revisit), one once; the mirror keeps running for the module."""
    root = tmp_path_factory.mktemp("drill-pages")
    folder = root / "site"
    for rel, text in [*PAGES.items(), ("notice.html", "Notice to shareholders")]:
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(f"<html><body><p>{text}</p></body></html>")
    home = Home(root / "home").ensure()
    with Mirror(folder) as mirror:
        urls = [f"{mirror.url}/{rel}" for rel in PAGES]
        assert _watch(home, urls) == {"new": 3}
        assert _watch(home, urls[:2]) == {"unchanged": 2}
        yield home, mirror, urls


def test_candidates_are_the_latest_good_captures_by_host_and_month(watched, home):
    real, mirror, urls = watched
    found = {c["item"]: c for c in page_candidates(real)}
    assert sorted(found) == sorted(urls)
    host = urlsplit(mirror.url).netloc
    assert {c["stratum"].split(" ")[0] for c in found.values()} == {host}
    assert [found[u]["revisit"] for u in urls] == [True, True, False]
    for c in found.values():  # a revisit's payload is its original's, in another WARC
        assert (c["payload_warc"] != c["warc"]) is c["revisit"] and c["digest"].startswith("sha")
    assert page_candidates(home) == []  # a home watching nothing has nothing to sample


def test_a_pages_drill_recovers_every_page_and_leaves_the_home_as_it_was(watched):
    home, mirror, urls = watched
    before, hits = tree_digest(home.root), dict(mirror.state.hits)
    result = run_drill(home, scenarios=["pages"], sample="10", seed=7)
    assert tree_digest(home.root) == before
    assert mirror.state.hits == hits  # the capturer's own transport answered: nothing left
    assert result["verdict"] == "pass", result["checks"]
    items = {i["item"]: i for i in result["items"]}
    assert sorted(items) == sorted(urls)
    for url, item in items.items():
        assert item["scenario"] == "pages" and item["detected"] and item["success"]
        assert item["byte_exact"] and item["expected_sha256"] == item["actual_sha256"]
        assert "the source answered 404 (removed)" in item["loss"] and item["note"] == ""
        assert item["method"].startswith("the archived copy (")
        assert ("through its revisit" in item["method"]) is (url != urls[2])
        assert item["source_warc"].startswith("warcs/") and item["rpo_s"] >= 0
        assert item["recovery_point"].endswith("Z") and item["book_accuracy"] is None
    assert {c["name"] for c in result["checks"]} == {"pages byte-exact", "RTO for the sample"}


def test_a_drill_can_switch_the_real_source_off_instead(watched):
    home, mirror, urls = watched
    paths = {urlsplit(u).path for u in urls}

    def unavailable(lost: list[str]) -> None:
        mirror.state.removed.update(urlsplit(u).path for u in lost)

    before = tree_digest(home.root)
    try:
        result = run_drill(home, scenarios=["pages"], sample="2", seed=3,
                           make_unavailable=unavailable)
    finally:
        switched, mirror.state.removed = set(mirror.state.removed), set()
    assert tree_digest(home.root) == before
    assert result["verdict"] == "pass", result["checks"]
    assert len(result["items"]) == 2 and switched <= paths and len(switched) == 2
    assert all(i["byte_exact"] and i["detected"] for i in result["items"])


def _flip_payload_byte(home: Home, url: str) -> None:
    """Flip one byte of the body in the response record of `url` (its WARC's last but one
    record, so only the request record after it moves)."""
    [rec] = query(home.catalog, f"SELECT filename, \"offset\", length FROM captures WHERE url = "
                  f"'{url}' AND record_type = 'response'").to_pylist()
    path = home.root / rec["filename"]
    data = path.read_bytes()
    start, end = rec["offset"], rec["offset"] + rec["length"]
    record = bytearray(zlib.decompress(data[start:end], 16 + zlib.MAX_WBITS))
    body = record.index(b"\r\n\r\n", record.index(b"\r\n\r\n") + 4) + 4
    record[body + 15] ^= 0x20  # "Notice" -> "notice"
    path.write_bytes(data[:start] + gzip_member(bytes(record)) + data[end:])


def test_a_damaged_archived_copy_fails_with_a_clear_note(watched, tmp_path: Path):
    real, mirror, _ = watched
    home = Home(tmp_path / "home")
    shutil.copytree(real.root, home.root)
    notice = f"{mirror.url}/notice.html"
    assert _watch(home, [notice]) == {"new": 1}
    _flip_payload_byte(home, notice)
    before = tree_digest(home.root)
    result = run_drill(home, scenarios=["pages"], sample="10", seed=1)
    assert tree_digest(home.root) == before
    assert result["verdict"] == "fail"
    items = {i["item"]: i for i in result["items"]}
    bad = items.pop(notice)
    assert bad["detected"] and not bad["success"] and not bad["byte_exact"]
    assert "does not match its recorded digest" in bad["note"]
    assert "damaged in the home" in bad["note"]  # the home reads the same bytes
    assert len(items) == 3 and all(i["byte_exact"] for i in items.values())
