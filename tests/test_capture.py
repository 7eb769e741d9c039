"""Capture against a real threaded HTTP server on 127.0.0.1 that misbehaves on purpose."""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from scenario_server import ETAG, LAST_MODIFIED, PAGE, ScenarioServer
from warcio.archiveiterator import ArchiveIterator

from archive.capture import Capturer, CaptureSettings
from archive.home import Home
from archive.lookup import Index
from archive.payload import payload_line, read_headers, stream_payload
from archive.ratelimit import HostRateLimiter

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def server():
    with ScenarioServer() as srv:
        yield srv


def fast(**kw) -> CaptureSettings:
    return CaptureSettings(backoff=0.01, default_rate=None, **kw)


def capture(home: Home, *urls: str, **kw):
    with Capturer(home, fast(**kw)) as c:
        return [c.capture_url(u) for u in urls]


def payload(home: Home, url: str, decode: bool = False) -> bytes:
    with Index(home) as index:
        line = index.closest(url)
        assert line is not None, f"no good capture of {url}"
        return b"".join(stream_payload(home, payload_line(home, index, line), decode=decode))


def test_chunked_response_is_stored_dechunked_with_payload_digest_of_the_entity(home, server):
    url = server.url + "/chunked"
    [r] = capture(home, url)
    body = b"first chunk, second chunk, last chunk."
    assert r.ok and r.digest == "sha256:" + hashlib.sha256(body).hexdigest()
    assert payload(home, url) == body
    with Index(home) as index:
        rec = read_headers(home, index.closest(url))
    assert rec.warc["WARC-Payload-Digest"] == r.digest
    assert rec.http.get("X-Archive-Orig-Transfer-Encoding") == "chunked"
    assert rec.http.get("Transfer-Encoding") is None


def test_gzip_content_encoding_is_kept_and_removed_only_on_decode(home, server):
    url = server.url + "/gzip"
    [r] = capture(home, url)
    raw = payload(home, url)
    assert r.digest == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert gzip.decompress(raw) == PAGE
    assert payload(home, url, decode=True) == PAGE


def test_headers_are_kept_as_received_and_request_follows_response(home, server):
    url = server.url + "/etag.html"
    capture(home, url, user_agent="Example Research data@example.com")
    with Index(home) as index:
        line = index.closest(url)
        rec = read_headers(home, line)
    assert rec.http.get("ETag") == ETAG
    assert rec.http.get("Last-Modified") == LAST_MODIFIED
    assert rec.http.get("x-amz-version-id") == "3HL4kqtJlcpXroDTDmJ"
    with open(home.root / line.filename, "rb") as fh:
        records = [(r.rec_type, dict(r.rec_headers.headers), r.http_headers)
                   for r in ArchiveIterator(fh)]
    types = [t for t, _, _ in records]
    assert types[:3] == ["warcinfo", "response", "request"]
    response, request = records[1][1], records[2]
    assert request[1]["WARC-Concurrent-To"] == response["WARC-Record-ID"]
    assert request[2].get_header("User-Agent") == "Example Research data@example.com"
    assert response["WARC-Block-Digest"].startswith("sha256:")


def test_unchanged_page_with_etag_becomes_a_revisit_of_the_first_capture(home, server):
    url = server.url + "/etag.html"
    [first] = capture(home, url)
    [second] = capture(home, url)
    assert first.record_type == "response"
    assert second.record_type == "revisit" and second.status == 304
    with Index(home) as index:
        lines = index.captures(url)
        revisit = read_headers(home, lines[-1])
    w = revisit.warc
    assert w["WARC-Profile"].endswith("/revisit/identical-payload-digest")
    assert w["WARC-Refers-To"] == first.record_id
    assert w["WARC-Refers-To-Target-URI"] == url
    assert w["WARC-Refers-To-Date"]
    assert w["WARC-Truncated"] == "length"
    assert w["WARC-Payload-Digest"] == first.digest
    assert payload(home, url) == PAGE  # the revisit resolves to the original payload


def test_identical_payload_without_validators_becomes_a_revisit(home, server):
    url = server.url + "/plain.html"
    results = capture(home, url, url)
    assert [r.record_type for r in results] == ["response", "revisit"]
    assert payload(home, url) == PAGE


def test_changed_payload_is_a_new_response(home, server):
    url = server.url + "/changing.html"
    results = capture(home, url, url)
    assert [r.record_type for r in results] == ["response", "response"]
    assert results[0].digest != results[1].digest


def test_404_is_archived_but_not_served_as_the_document(home, server):
    url = server.url + "/missing"
    [r] = capture(home, url)
    assert r.status == 404 and r.record_type == "response"
    with Index(home) as index:
        assert index.closest(url) is None
        assert index.closest(url, good_only=False).status == 404


def test_429_retries_honour_retry_after_and_every_answer_is_evidence(home, server):
    slept: list[float] = []
    with Capturer(home, fast(), sleep=slept.append) as c:
        r = c.capture_url(server.url + "/busy")
    assert r.ok and r.status == 200 and r.attempts == 3
    assert slept == [1.0, 1.0]
    with Index(home) as index:
        statuses = [ln.status for ln in index.captures(server.url + "/busy")]
    assert sorted(statuses) == [200, 429, 429]


def test_a_server_that_never_recovers_fails_after_the_configured_retries(home, server):
    slept: list[float] = []
    with Capturer(home, fast(retries=2), sleep=slept.append) as c:
        r = c.capture_url(server.url + "/always-busy")
    assert not r.ok and r.attempts == 3 and r.status == 503 and "503" in r.error


def test_throttle_page_with_status_200_is_flagged_and_never_chosen(home, server):
    url = server.url + "/throttle"
    [r] = capture(home, url, retries=1)
    assert not r.ok and r.soft_error == "edgar-rate-limit"
    with Index(home) as index:
        every = index.captures(url)
        assert len(every) == 2 and all(ln.data["soft_error"] == "edgar-rate-limit" for ln in every)
        assert index.closest(url) is None


def test_s3_nosuchkey_served_with_200_is_a_soft_error(home, server):
    url = server.url + "/nosuchkey"
    [r] = capture(home, url)
    assert r.soft_error == "s3-nosuchkey"
    with Index(home) as index:
        assert index.closest(url) is None


def test_connection_reset_mid_body_keeps_the_partial_record_flagged(home, server):
    url = server.url + "/reset"
    [r] = capture(home, url, retries=0)
    assert not r.ok and r.truncated == "disconnect" and 0 < r.bytes < 100000
    with Index(home) as index:
        [line] = index.captures(url)
        assert line.data["truncated"] == "disconnect"
        assert index.closest(url) is None
        assert read_headers(home, line).warc["WARC-Truncated"] == "disconnect"


def test_missing_status_text_is_captured(home, server):
    [r] = capture(home, server.url + "/no-reason")
    assert r.ok and r.status == 200


def test_local_file_becomes_a_resource_record(home, tmp_path):
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(b"%PDF-1.4 not really a scan")
    with Capturer(home, fast()) as c:
        r = c.capture_file(scan, "file:///drop/scan.pdf")
    assert r.ok and r.record_type == "resource"
    assert payload(home, "file:///drop/scan.pdf") == scan.read_bytes()
    with Index(home) as index:
        assert index.closest("file:///drop/scan.pdf").data["mime"] == "application/pdf"


def test_non_http_url_is_refused_with_a_hint(home):
    [r] = capture(home, "ftp://example.com/x")
    assert not r.ok and "--file" in r.error


def test_rate_limiter_spaces_requests_to_one_host():
    limiter = HostRateLimiter({"sec.gov": 20.0}, default_rate=None)
    waited = sum(limiter.wait("www.sec.gov") for _ in range(5))
    assert waited >= 4 / 20.0 - 0.01
    assert limiter.rate_for("efts.sec.gov") == 20.0
    assert limiter.rate_for("example.com") is None


def test_full_disk_fails_cleanly_and_leaves_only_whole_closed_files(tmp_path, server):
    home = tmp_path / "home"
    small = server.url + "/etag.html"
    big = server.url + "/big?size=3000000"
    env = dict(os.environ, SALVAGE_HOME=str(home))
    code = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, 1_000_000))\n"
        "sys.argv = ['salvage', 'capture', sys.argv[1], sys.argv[2]]\n"
        "from flows.cli import main\n"
        "main()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, small, big], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "disk full" in proc.stderr
    assert not list((home / "warcs").glob("*.open"))
    verify = subprocess.run([sys.executable, "-m", "flows", "--home", str(home), "verify"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    with Index(Home(home)) as index:
        assert index.closest(small) is not None
        assert index.closest(big, good_only=False) is None


def _paced(state_dir: str, count: int, out) -> None:
    limiter = HostRateLimiter({"sec.gov": 20.0}, default_rate=None, state_dir=state_dir)
    for n in range(count):
        before = time.time()
        waited = limiter.wait("www.sec.gov" if n % 2 else "data.sec.gov")
        out.append(before + waited)  # the slot granted (to within the time to take the lock)


def test_rate_limit_is_shared_by_processes_and_hosts_of_one_site(tmp_path):
    """Two processes capturing www.sec.gov and data.sec.gov at once stay at 20 requests a second
    between them: every request gets its own 50 ms slot."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        stamps = [manager.list(), manager.list()]
        workers = [context.Process(target=_paced, args=(str(tmp_path), 8, s)) for s in stamps]
        for w in workers:
            w.start()
        for w in workers:
            w.join(60)
        times = sorted([*stamps[0], *stamps[1]])
    assert len(times) == 16 and all(w.exitcode == 0 for w in workers)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert min(gaps) >= 0.04
