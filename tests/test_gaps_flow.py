"""The detect-gaps flow end to end, through Prefect, against the EDGAR mirror: a filing removed
at the source after capture is found on recheck, rebuilt byte-exact from our own WARCs and
resolved; a damaged WARC is restored from the replica; each step reaches a webhook as a signed
CloudEvent."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
from pathlib import Path

import pytest
from cloudevents.core.bindings.http import HTTPMessage, from_http
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from flows.ingest import ingest_edgar
from flows.mirror import Mirror
from flows.receiver import Receiver
from storage.query import query

pytestmark = pytest.mark.usefixtures("prefect_api")
SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "site"
SC_TO = "0001104659-25-002604"
KEY = "test-webhook-key-0123456789"


@pytest.fixture
def edgar(tmp_path, monkeypatch):
    replica = tmp_path / "replica"
    with Mirror(SAMPLES) as mirror, Receiver() as receiver:
        config = tmp_path / "salvage.toml"
        config.write_text(
            f'[replica]\nuri = "{replica}"\n\n'
            f'[[incidents.sinks]]\nkind = "webhook"\nurl = "{receiver.url}/hook"\n'
            'secret = "webhook_key"\nretries = 1\nbackoff = 0.01\n\n'
            '[[incidents.sinks]]\nkind = "file"\n')
        monkeypatch.setenv("SALVAGE_CONFIG", str(config))
        monkeypatch.setenv("SALVAGE_SECRET_WEBHOOK_KEY", KEY)
        for key, value in {"ARCHIVES_URL": mirror.url, "DATA_URL": mirror.url, "FEED": "false",
                           "RECHECK_DAYS": "0"}.items():
            monkeypatch.setenv(f"SALVAGE_EDGAR__{key}", value)
        monkeypatch.setenv("SALVAGE_CAPTURE__DEFAULT_RATE", "0")
        monkeypatch.setenv("SALVAGE_CAPTURE__BACKOFF", "0.01")
        monkeypatch.setenv("SALVAGE_USER_AGENT", "Salvage tests test@example.com")
        yield mirror, receiver


def _events(receiver: Receiver) -> list:
    found = []
    for request in receiver.accepted():
        body = request["body"]
        expected = hmac.new(KEY.encode(), body, hashlib.sha256).hexdigest()
        assert request["headers"]["X-Salvage-Signature"] == f"sha256={expected}"
        found.append(from_http(HTTPMessage(request["headers"], body), JSONFormat(), CloudEvent))
    return found


def test_a_removed_filing_is_rebuilt_byte_exact_and_its_incident_resolved(tmp_path, edgar):
    mirror, receiver = edgar
    home = str(tmp_path / "home")
    ingest_edgar(start="2025-01-10", end="2025-01-10", home=home)
    [txt] = query(Path(home) / "catalog", "SELECT DISTINCT url FROM captures WHERE url LIKE "
                  f"'%/{SC_TO}.txt'").column("url").to_pylist()
    mirror.state.removed.add(txt.replace(mirror.url, ""))
    run = ingest_edgar(start="2025-01-10", end="2025-01-10", recheck_since="2025-01-01",
                       home=home)
    assert run["recheck_gone"] == 1
    incidents = query(Path(home) / "catalog", "SELECT * FROM incidents WHERE type = "
                      "'filing.removed'").to_pylist()
    assert [(i["entity"], i["status"]) for i in incidents] == [(SC_TO, "resolved")]
    manifest = json.loads((Path(home) / "recovered" / SC_TO / "manifest.json").read_text())
    assert manifest["status"] == "recovered"
    original = SAMPLES / txt.split("/", 3)[3]
    rebuilt = Path(home) / "recovered" / SC_TO / f"{SC_TO}.txt"
    assert rebuilt.read_bytes() == original.read_bytes()
    types = [e.get_type() for e in _events(receiver)
             if e.get_subject() == incidents[0]["incident_id"]]
    assert types == ["com.salvage.data-gap.opened", "com.salvage.data-gap.recovering",
                     "com.salvage.data-gap.recovered", "com.salvage.data-gap.resolved"]
    lines = (Path(home) / "incidents.jsonl").read_text().splitlines()
    assert len(lines) >= 4  # the default file sink has the same events


def test_a_damaged_warc_is_restored_from_the_replica(tmp_path, edgar):
    home = Path(tmp_path / "home")
    ingest_edgar(start="2025-01-10", end="2025-01-10", home=str(home))  # replicates after
    warc = max((home / "warcs").glob("*.warc.gz"), key=lambda p: p.stat().st_size)
    good = warc.read_bytes()
    damaged = bytearray(good)
    damaged[len(good) // 2] ^= 0xFF
    warc.write_bytes(bytes(damaged))
    from flows.gaps import detect_gaps

    report = detect_gaps(home=str(home))
    assert report["found archive.fixity"] >= 1
    assert warc.read_bytes() == good  # byte-exact from the replica
    fixed = query(home / "catalog", "SELECT status FROM incidents WHERE type = "
                  "'archive.fixity'").column("status").to_pylist()
    assert fixed and set(fixed) == {"resolved"}
    assert list((home / "quarantine").glob(f"*{warc.name}.damaged-*"))  # kept as evidence
    shutil.rmtree(tmp_path / "replica")


def test_a_removed_and_a_changed_watched_page_point_at_their_archived_copies(tmp_path, edgar):
    from flows.ingest import ingest_pages

    site = tmp_path / "site"
    site.mkdir()
    (site / "a.html").write_text("<html><body>Dividend policy: quarterly</body></html>")
    (site / "b.html").write_text("<html><body>Board of directors</body></html>")
    home = str(tmp_path / "home")
    with Mirror(site) as pages:
        urls = [f"{pages.url}/a.html", f"{pages.url}/b.html"]
        ingest_pages(urls=urls, sitemaps=[], home=home)
        (site / "a.html").write_text("<html><body>Dividend policy: suspended</body></html>")
        pages.state.removed.add("/b.html")
        ingest_pages(urls=urls, sitemaps=[], home=home)
    rows = query(Path(home) / "catalog", "SELECT type, entity, status FROM incidents "
                 "WHERE type LIKE 'page.%' ORDER BY type").to_pylist()
    assert rows == [{"type": "page.altered", "entity": urls[0], "status": "resolved"},
                    {"type": "page.removed", "entity": urls[1], "status": "resolved"}]
    altered = [json.loads(e) for e in query(
        Path(home) / "catalog", "SELECT evidence FROM incident_events WHERE type = "
        "'page.altered' ORDER BY seq").column("evidence").to_pylist()]
    assert "suspended" in json.dumps(altered[0]["diff"])  # the diff summary of the text
    assert any(e.get("verified") is True for e in altered[1:])  # the copy before the change
