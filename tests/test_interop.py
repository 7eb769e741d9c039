"""Interoperability with third-party web-archive tools (warcio, cdxj-indexer, pywb).

One home is filled once for the module: every scenario path captured twice (so revisits exist, by
304 and by identical payload digest) plus a local file as a `resource` record. The tools then run
on that home as they would on any archive, from .venv-interop.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import socket
import subprocess
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from conftest import interop_tool
from scenario_server import PAGE, ScenarioServer

from archive.capture import Capturer, CaptureResult, CaptureSettings
from archive.cdxj import IndexLine
from archive.home import Home
from archive.lookup import Index
from archive.payload import payload_line, stream_payload

pytestmark = pytest.mark.interop

SCENARIO_PATHS = ("/etag.html", "/plain.html", "/chunked", "/gzip", "/missing", "/busy",
                  "/throttle", "/nosuchkey", "/no-reason", "/reset")
NOTE_URI = "file:///evidence/note.txt"
NOTE = b"a local file kept as evidence\n"
COMPARED_FIELDS = ("urlkey", "timestamp", "url", "digest", "length", "status", "mime")
WAIT = 30.0  # seconds: the longest any step here waits for a tool


@dataclass
class Archive:
    home: Home
    rounds: list[dict[str, CaptureResult]]

    def warc_files(self) -> list[Path]:
        return sorted(self.home.warcs.glob("*.warc.gz"))

    def index_lines(self) -> list[IndexLine]:
        return [IndexLine.parse(line)
                for path in sorted(self.home.indexes.glob("*.cdxj"))
                for line in path.read_text("utf-8").splitlines() if line.strip()]

    def line_of(self, result: CaptureResult) -> IndexLine:
        [line] = [x for x in self.index_lines()
                  if x.filename == result.filename and x.offset == result.offset]
        return line


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Archive:
    root = tmp_path_factory.mktemp("interop")
    home = Home(root / "home").ensure()
    note = root / "note.txt"
    note.write_bytes(NOTE)
    settings = CaptureSettings(backoff=0.01, default_rate=None, retries=2)
    rounds: list[dict[str, CaptureResult]] = []
    with ScenarioServer() as server:
        for n in range(2):
            if n:
                time.sleep(1.0)  # second-precision timestamps: keep the revisits apart in pywb
            with Capturer(home, settings) as c:
                done = {p: c.capture_url(server.url + p) for p in SCENARIO_PATHS}
                if n == 0:
                    done[NOTE_URI] = c.capture_file(note, NOTE_URI)
            rounds.append(done)
    first, second = rounds
    # the captures the tests below rely on are what the fixture meant to make
    assert first["/etag.html"].record_type == first["/plain.html"].record_type == "response"
    assert second["/etag.html"].record_type == "revisit" and second["/etag.html"].status == 304
    assert second["/plain.html"].record_type == "revisit" and second["/plain.html"].status == 200
    assert first[NOTE_URI].record_type == "resource"
    return Archive(home, rounds)


def run_tool(name: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([interop_tool(name), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=WAIT)


# -- warcio ------------------------------------------------------------------------------------


def test_warcio_check_passes_every_record_salvage_writes(archive):
    files = archive.warc_files()
    assert len(files) == 2
    proc = run_tool("warcio", "check", "-v", *map(str, files))
    report = proc.stdout + proc.stderr
    assert proc.returncode == 0, report
    assert "digest failed" not in report
    types = [line.split()[-1] for line in report.splitlines() if "WARC-Record-ID" in line]
    assert {"warcinfo", "response", "request", "revisit", "resource"} <= set(types)
    # every record but warcinfo (no digest) and revisits (not checked by warcio) passed its check
    checked = [t for t in types if t not in ("warcinfo", "revisit")]
    assert report.count("digest pass") == len(checked)


# -- cdxj-indexer ------------------------------------------------------------------------------


def _by_record(lines: list[IndexLine], filename) -> dict[tuple[str, int], dict]:
    out = {}
    for line in lines:
        row = line.as_dict()
        key = (filename(row["filename"]), int(row["offset"]))
        assert key not in out, f"two index lines for one record: {key}"
        out[key] = {f: row.get(f) for f in COMPARED_FIELDS}
    return out


def test_cdxj_indexer_indexes_every_record_as_salvage_does(archive):
    proc = run_tool("cdxj-indexer", *(p.name for p in archive.warc_files()),
                    cwd=archive.home.warcs)
    assert proc.returncode == 0, proc.stderr
    theirs = _by_record([IndexLine.parse(x) for x in proc.stdout.splitlines() if x.strip()],
                        filename=lambda name: name)
    ours = _by_record(archive.index_lines(),
                      filename=lambda name: name.removeprefix("warcs/"))
    assert all(name.startswith("warcs/") for name in (x.filename for x in archive.index_lines()))
    assert ours == theirs
    assert any(row["mime"] == "warc/revisit" for row in ours.values())


# -- pywb --------------------------------------------------------------------------------------


@dataclass
class Wayback:
    port: int

    def get(self, path: str) -> tuple[int, http.client.HTTPMessage, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=WAIT)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            return resp.status, resp.headers, resp.read()
        finally:
            conn.close()

    def replay(self, timestamp: str, url: str) -> tuple[int, http.client.HTTPMessage, bytes]:
        """The `id_` replay: the archived payload without pywb's rewriting."""
        return self.get(f"/salvage/{timestamp}id_/{url}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def wayback(archive, tmp_path_factory):
    """pywb's `wayback` serving the home as collection `salvage`, stopped whatever happens."""
    where = tmp_path_factory.mktemp("pywb")
    home = archive.home.root.resolve()
    # index_paths: a directory of .cdxj files; archive_paths: a prefix joined to each line's
    # `filename`, which Salvage writes relative to the home, hence the home with a trailing slash
    config = {"collections": {"salvage": {"index_paths": f"{home}/indexes/",
                                          "archive_paths": f"{home}/"}}}
    (where / "config.yaml").write_text(json.dumps(config))  # JSON is YAML
    port = _free_port()
    log = (where / "wayback.log").open("wb")
    proc = subprocess.Popen([interop_tool("wayback"), "-p", str(port)], cwd=where,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        server = Wayback(port)
        deadline = time.monotonic() + WAIT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"wayback exited ({proc.returncode}): "
                            f"{(where / 'wayback.log').read_text(errors='replace')}")
            try:
                server.get("/")
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"wayback did not answer on port {port} within {WAIT:.0f} s")
                time.sleep(0.2)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


@pytest.mark.parametrize(("path", "status", "body"), [
    ("/plain.html", 200, PAGE),
    ("/etag.html", 200, PAGE),
    ("/chunked", 200, b"first chunk, second chunk, last chunk."),
    ("/no-reason", 200, PAGE),
    ("/missing", 404, b"not here"),
    ("/gzip", 200, PAGE),  # pywb removes the content encoding, even for `id_`
])
def test_pywb_replays_the_captured_page_as_served(archive, wayback, path, status, body):
    first = archive.line_of(archive.rounds[0][path])
    got_status, headers, got = wayback.replay(first.timestamp, first.url)
    assert (got_status, got) == (status, body)
    assert headers["Memento-Datetime"]  # an archived memento, not an error page


@pytest.mark.parametrize("path", ["/plain.html", "/chunked", "/no-reason"])
def test_pywb_resolves_an_identical_digest_revisit_to_the_original_payload(archive, wayback,
                                                                           path):
    original = archive.line_of(archive.rounds[0][path])
    revisit = archive.line_of(archive.rounds[1][path])
    assert revisit.is_revisit and revisit.status == 200
    assert revisit.timestamp > original.timestamp
    status, headers, body = wayback.replay(revisit.timestamp, revisit.url)
    _, _, original_body = wayback.replay(original.timestamp, original.url)
    assert status == 200
    assert body == original_body
    assert "sha256:" + hashlib.sha256(body).hexdigest() == revisit.data["digest"]
    # the memento served is the revisit (its own date), with the original's bytes
    assert _memento_timestamp(headers) == revisit.timestamp


def test_pywb_replays_a_not_modified_revisit_as_the_304_the_server_sent(archive, wayback):
    """pywb 2.10 never resolves a revisit whose stored status is 3xx (ResolvingLoader replays it
    as-is), so our 304 revisit replays as the 304 it was; Salvage's own `get` resolves it to the
    original payload. See docs/DECISIONS.md (Revisits)."""
    original = archive.line_of(archive.rounds[0]["/etag.html"])
    revisit = archive.line_of(archive.rounds[1]["/etag.html"])
    assert revisit.is_revisit and revisit.status == 304
    assert revisit.timestamp > original.timestamp
    status, headers, body = wayback.replay(revisit.timestamp, revisit.url)
    assert _memento_timestamp(headers) == revisit.timestamp
    assert (status, body) == (304, b"")
    home = archive.home
    with Index(home) as index:
        source = payload_line(home, index, revisit)
        assert b"".join(stream_payload(home, source)) == PAGE


def _memento_timestamp(headers: http.client.HTTPMessage) -> str:
    return parsedate_to_datetime(headers["Memento-Datetime"]).strftime("%Y%m%d%H%M%S")
