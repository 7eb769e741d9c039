"""The Prefect flows, run for real under one temporary Prefect API, against a local site."""

from __future__ import annotations

from pathlib import Path

import pytest

from archive.home import Home
from flows.ingest import extract_pending, ingest_pages
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
