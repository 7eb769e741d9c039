"""`verify`: the audit chain, the files it lists, the index lines and (deep) record digests."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, interop_tool
from warcgen import html, import_plain_warc, write_request, write_response, write_revisit

from archive.cdxj import IndexLine, write_index
from archive.fixity import verify
from archive.home import Home
from archive.indexing import index_file
from archive.repair import recover
from archive.writer import WarcWriter

URLS = [f"https://example.com/filings/{i}.htm" for i in range(4)]


@pytest.fixture
def written(home: Home) -> tuple[Home, Path, dict[str, IndexLine]]:
    """A home holding one closed WARC: responses, requests and a revisit, all indexed."""
    with WarcWriter(home) as writer:
        first = None
        for i, url in enumerate(URLS):
            entry = write_response(writer, url, html(f"Filing {i}", 4000))
            write_request(writer, url)
            first = first or entry
        assert first is not None
        write_revisit(writer, URLS[0], first)
    (path,) = writer.closed_files
    return home, path, {line.url: line for line in _lines(home) if not line.is_revisit}


def _lines(home: Home) -> list[IndexLine]:
    return [IndexLine.parse(raw) for p in home.indexes.glob("*.cdxj")
            for raw in p.read_bytes().splitlines()]


def _kinds(report) -> set[str]:
    return {p.kind for p in report.problems}


def _flip(path: Path, offset: int) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([byte[0] ^ 0x55]))


def test_a_freshly_written_home_verifies_ok(written):
    home, path, _ = written
    seen: list[tuple[str, int, int]] = []
    report = verify(home, progress=lambda *a: seen.append(a))
    assert report.ok, report.summary()
    size = path.stat().st_size
    assert seen[-1] == (home.relative(path), size, size)
    assert report.files_checked == 1
    assert report.records_checked == len(_lines(home)) == 5
    assert report.bytes == path.stat().st_size
    doc = json.loads(report.to_json())
    assert doc["ok"] is True and doc["problems"] == []
    last = home.audit.entries()[-1]
    assert last["event"] == "verify" and last["ok"] is True and last["problems"] == 0
    assert home.audit.verify() == []


def test_deep_verify_recomputes_every_records_digests(written):
    home, _, _ = written
    report = verify(home, deep=True)
    assert report.ok, report.summary()
    assert report.records_checked == 1 + 4 + 4 + 1  # warcinfo, responses, requests, revisit


def test_a_flipped_byte_fails_and_names_the_record(written):
    home, path, lines = written
    line = lines[URLS[2]]
    _flip(path, line.offset + line.length // 2)
    report = verify(home)
    assert not report.ok
    damaged = [p for p in report.problems if p.kind == "record-digest"]
    assert [(p.offset, p.url) for p in damaged] == [(line.offset, URLS[2])]
    assert damaged[0].expected == line.data["recordDigest"]
    assert "restore" in damaged[0].message
    assert "file-sha256" in _kinds(report)
    deep = verify(home, deep=True)
    assert any(p.offset == line.offset and p.kind in ("corrupt-member", "payload-digest")
               for p in deep.problems)
    assert home.audit.entries()[-1]["ok"] is False


def test_a_flipped_byte_outside_indexed_records_fails_the_file_and_deep_finds_it(written):
    home, path, lines = written
    _flip(path, 60)  # inside the warcinfo record, which no index line covers
    report = verify(home)
    assert _kinds(report) == {"file-sha256"}
    assert "--deep" in report.problems[0].message
    assert any(p.offset == 0 for p in verify(home, deep=True).problems)


def test_an_edited_audit_line_breaks_the_chain(written):
    home, _, _ = written
    assert verify(home).ok  # a second line, chained to the one edited below
    log = home.audit.path
    rows = log.read_bytes().splitlines(keepends=True)
    entry = json.loads(rows[0])
    entry["records"] += 1
    rows[0] = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    log.write_bytes(b"".join(rows))
    report = verify(home)
    assert not report.ok
    assert _kinds(report) == {"audit-chain"}
    assert "line 2" in report.problems[0].message


def test_a_deleted_warc_is_reported_missing(written):
    home, path, _ = written
    name = home.relative(path)
    path.unlink()
    report = verify(home)
    missing = [p for p in report.problems if p.kind == "file-missing"]
    assert [p.file for p in missing] == [name]
    assert "5 index lines" in missing[0].message


def test_an_index_line_with_a_changed_offset_is_reported(written):
    home, path, lines = written
    index = home.index_path(home.relative(path))
    line = lines[URLS[1]]
    other = lines[URLS[3]]
    text = index.read_text().replace(f'"offset": "{line.offset}"', f'"offset": "{other.offset}"')
    index.write_text(text)
    report = verify(home)
    assert not report.ok
    assert "file-sha256" not in _kinds(report)  # the file is intact: the index is wrong
    wrong = [p for p in report.problems if p.url == URLS[1]]
    assert {p.kind for p in wrong} == {"record-digest", "wrong-record"}
    assert all(p.offset == other.offset and "salvage reindex" in p.message for p in wrong)


def test_an_index_line_past_the_end_of_its_file_is_reported(written):
    home, path, lines = written
    index = home.index_path(home.relative(path))
    line = lines[URLS[0]]
    beyond = path.stat().st_size + 10
    index.write_text(index.read_text().replace(f'"offset": "{line.offset}"',
                                               f'"offset": "{beyond}"'))
    report = verify(home)
    assert [(p.kind, p.offset) for p in report.problems] == [("record-out-of-range", beyond)]


def test_a_file_the_chain_does_not_know_is_reported(written):
    home, path, _ = written
    shutil.copy(path, home.imported / "stray.warc.gz")
    report = verify(home)
    assert [(p.kind, p.file) for p in report.problems] == [
        ("file-unlogged", "imported/stray.warc.gz")]


def test_an_imported_file_verifies_against_its_import_event(written):
    home, path, _ = written
    dest = home.imported / "third-party.warc.gz"
    shutil.copy(path, dest)
    name = home.relative(dest)
    write_index(home.index_path(name), index_file(dest, name).entries)
    sha = hashlib.sha256(dest.read_bytes()).hexdigest()
    home.audit.append("import", file=name, sha256=sha)
    assert verify(home).ok
    _flip(dest, dest.stat().st_size - 3)
    assert "file-sha256" in _kinds(verify(home))


def test_a_plain_warc_from_another_tool_verifies_and_deep_checks_its_sha1_digests(home: Home):
    path = import_plain_warc(home)
    assert verify(home).ok
    deep = verify(home, deep=True)
    assert deep.ok and deep.records_checked == 3
    text = path.read_bytes()
    at = text.index(b"Crawled 1")
    path.write_bytes(text[:at] + b"X" + text[at + 1 :])
    report = verify(home, deep=True)
    kinds = {(p.kind, p.url) for p in report.problems}
    assert ("record-digest", "https://crawled.example/1") in kinds
    assert ("payload-digest", "https://crawled.example/1") in kinds
    assert ("block-digest", "https://crawled.example/1") in kinds


def test_a_warc_being_written_is_not_a_problem(written):
    home, _, _ = written
    with WarcWriter(home) as writer:
        write_response(writer, "https://example.com/live", html("Live"))
        assert list(home.warcs.glob("*.open"))
        assert verify(home).ok


def test_a_file_the_chain_retired_is_not_missing(written):
    home, path, _ = written
    name = home.relative(path)
    path.unlink()
    home.index_path(name).unlink()
    home.audit.append("warc.replaced", file=name, by="warcs/elsewhere.warc.gz")
    assert verify(home).ok


def test_deep_verify_checks_declared_digests_in_every_form(home: Home):
    body = html("Digest forms", 2000)
    sha1 = "sha1:" + base64.b32encode(hashlib.sha1(body).digest()).decode()
    wrong = "sha1:" + base64.b32encode(hashlib.sha1(b"other").digest()).decode()
    with WarcWriter(home) as writer:
        write_response(writer, "https://example.com/sha1", body, payload_digest=sha1)
        bad = write_response(writer, "https://example.com/bad", body, payload_digest=wrong)
    assert bad is not None
    assert verify(home).ok  # the stored bytes are as they were written
    report = verify(home, deep=True)
    assert [(p.kind, p.offset, p.url) for p in report.problems] == [
        ("payload-digest", bad.offset, "https://example.com/bad")]
    assert report.problems[0].expected == wrong


def test_a_writer_killed_mid_record_is_repaired_and_then_verifies(home: Home):
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "warcgen.py"), str(home.root)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "writing"
        (open_file,) = home.warcs.glob("*.warc.gz.open")
        size = open_file.stat().st_size
        deadline = time.monotonic() + 20
        while open_file.stat().st_size <= size and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert open_file.exists()
    assert "open-file" in _kinds(verify(home))
    assert recover(home) == [home.relative(open_file.with_suffix(""))]
    report = verify(home)
    assert report.ok, report.summary()
    assert report.records_checked == 5
    repaired = [e for e in home.audit.entries() if e["event"] == "warc.repaired"]
    assert len(repaired) == 1 and repaired[0]["cut_bytes"] > 0


@pytest.mark.interop
def test_warcio_check_accepts_what_the_writer_wrote(written):
    _, path, _ = written
    done = subprocess.run([interop_tool("warcio"), "check", "-v", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("digest pass") == 8  # responses and requests; revisits are skipped
