"""`salvage import`: other tools' WARC, ARC and WACZ files copied read-only, indexed, checked."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import shutil
import stat
import subprocess
import zipfile
import zlib
from pathlib import Path

import pytest
from conftest import FIXTURES, interop_tool

from archive.cdxj import IndexLine
from archive.home import Home
from archive.importer import ImportReport, import_file, import_files
from storage.tables import read_table

CORPUS = sorted((FIXTURES / "warc").iterdir())
EXAMPLE = FIXTURES / "warc" / "example.warc.gz"
WGET = FIXTURES / "warc" / "example-wget-1-14.warc.gz"


# -- helpers --------------------------------------------------------------------------------------


def index_lines(home: Home, report: ImportReport) -> list[IndexLine]:
    assert report.name is not None
    text = home.index_path(report.name).read_text()
    return [IndexLine.parse(line) for line in text.splitlines()]


def gzip_members(data: bytes) -> list[bytes]:
    """The gzip members of a file, each as its own bytes."""
    members, pos = [], 0
    while pos < len(data):
        d = zlib.decompressobj(31)
        d.decompress(data[pos:])
        end = len(data) - len(d.unused_data)
        members.append(data[pos:end])
        pos = end
    return members


def audit_events(home: Home, event: str) -> list[dict]:
    return [e for e in home.audit.entries() if e["event"] == event]


def plain_warc_with_edited_payload() -> tuple[bytes, int]:
    """example.warc.gz uncompressed, with one byte of the response's payload changed and its old
    WARC-Payload-Digest kept: the producer's digest is now wrong. Returns (bytes, record offset)."""
    data = gzip.decompress(EXAMPLE.read_bytes())
    start = data.index(b"WARC/1.0\r\nWARC-Type: response")
    at = data.index(b"<title>Example Domain</title>", start)
    edited = data[:at] + b"<title>Exbmple Domain</title>" + data[at + 29:]
    assert len(edited) == len(data)
    return edited, start


def cdxj_indexer(path: Path) -> list[IndexLine]:
    out = subprocess.run([interop_tool("cdxj-indexer"), str(path)], check=True,
                         capture_output=True, text=True).stdout
    return [IndexLine.parse(line) for line in out.splitlines() if line.strip()]


# -- the corpus -----------------------------------------------------------------------------------


@pytest.mark.parametrize("source", CORPUS, ids=lambda p: p.name)
def test_every_corpus_file_imports_whole(home: Home, source: Path) -> None:
    report = import_file(home, source)
    assert report.ok, report.error
    assert report.error is None and report.broken == [] and report.digest_problems == []
    assert report.records > 0 and report.indexed > 0
    assert report.name == f"imported/{hashlib.sha256(source.read_bytes()).hexdigest()[:12]}-" \
                         f"{source.name}"
    assert (home.root / report.name).read_bytes() == source.read_bytes()
    lines = index_lines(home, report)
    assert len(lines) == report.indexed
    assert {line.filename for line in lines} == {report.name}
    rows = read_table(home.catalog, "captures").to_pylist()
    assert sorted((r["offset"], r["url"]) for r in rows) == \
        sorted((line.offset, line.url) for line in lines)


@pytest.mark.interop
@pytest.mark.parametrize("source", CORPUS, ids=lambda p: p.name)
def test_our_index_agrees_with_cdxj_indexer_on_every_record(home: Home, source: Path) -> None:
    report = import_file(home, source)
    ours = {line.offset: line for line in index_lines(home, report)}
    theirs = {line.offset: line for line in cdxj_indexer(home.root / str(report.name))}
    assert sorted(ours) == sorted(theirs)
    for offset, want in theirs.items():
        got = ours[offset]
        assert got.filename == report.name and want.filename == Path(report.name).name
        for key in ("url", "digest", "length", "offset", "status", "mime"):
            assert got.data.get(key) == want.data.get(key), (offset, key)
        assert (got.urlkey, got.timestamp) == (want.urlkey, want.timestamp), offset


def test_wget_uri_brackets_are_stripped(home: Home, tmp_path: Path) -> None:
    """wget 1.14 writes `WARC-Target-URI: <http://...>` (the WARC 1.0 grammar's brackets)."""
    members = [gzip.decompress(m) for m in gzip_members(WGET.read_bytes())]
    bracketed = [re.sub(rb"WARC-Target-URI: (\S+)", rb"WARC-Target-URI: <\1>", m)
                 for m in members]
    assert bracketed != members
    source = tmp_path / "wget-brackets.warc.gz"
    source.write_bytes(b"".join(gzip.compress(m) for m in bracketed))

    report = import_file(home, source)

    assert report.ok and report.broken == [] and report.indexed == 4
    urls = [line.url for line in index_lines(home, report)]
    assert "http://example.com/" in urls
    assert not any(u.startswith("<") or u.endswith(">") for u in urls)
    rows = read_table(home.catalog, "captures").to_pylist()
    assert "http://example.com/" in [r["url"] for r in rows]
    assert audit_events(home, "import")[0]["producer"] == "Wget/1.14 (linux-gnu)"


def test_an_arc_v1_file_imports_its_response(home: Home) -> None:
    report = import_file(home, FIXTURES / "warc" / "example.arc.gz")
    assert report.ok and report.indexed == 1
    (line,) = index_lines(home, report)
    assert (line.url, line.status, line.data["mime"]) == ("http://example.com/", 200, "text/html")
    assert line.timestamp == "20140216050221"


def test_revisit_records_are_imported_with_what_they_refer_to(home: Home) -> None:
    import_file(home, FIXTURES / "warc" / "dupes.warc.gz")
    import_file(home, FIXTURES / "warc" / "example-url-agnostic-revisit.warc.gz")
    rows = read_table(home.catalog, "captures").to_pylist()
    revisits = [r for r in rows if r["record_type"] == "revisit"]
    assert len(revisits) == 10
    assert all(r["mime"] == "warc/revisit" and r["digest"] for r in revisits)
    agnostic = [r for r in revisits if r["url"] == "http://test@example.com/"]
    assert agnostic and agnostic[0]["refers_to_uri"] == "http://example.iana.org/"


# -- damaged input --------------------------------------------------------------------------------


def test_a_broken_record_in_the_middle_is_skipped_and_the_rest_imports(home: Home,
                                                                        tmp_path: Path) -> None:
    members = gzip_members(EXAMPLE.read_bytes())
    assert len(members) == 6
    bad = bytearray(members[3])
    bad[20:60] = b"\xff" * 40  # the deflate stream of the revisit record, garbled
    members[3] = bytes(bad)
    broken_at = sum(len(m) for m in members[:3])
    damaged = tmp_path / "damaged.warc.gz"
    damaged.write_bytes(b"".join(members))

    report = import_file(home, damaged)

    assert report.ok and report.error is None
    assert [b["offset"] for b in report.broken] == [broken_at]
    assert report.records == 5
    assert any(str(broken_at) in w for w in report.warnings)
    offsets = {line.offset for line in index_lines(home, report)}
    whole = {line.offset for line in cdxj_indexer(EXAMPLE)}
    assert offsets == whole - {broken_at}
    assert audit_events(home, "import")[0]["broken"] == report.broken


@pytest.mark.timeout(30)
def test_a_garbled_gzip_trailer_is_reported_and_reading_moves_on(home: Home,
                                                                  tmp_path: Path) -> None:
    """One byte changed near the end of the response's gzip member sent warcio back before the
    record's start (negative length): reading must report it and go on, not loop forever."""
    data = bytearray(WGET.read_bytes())
    data[1925] = 237
    source = tmp_path / "garbled-trailer.warc.gz"
    source.write_bytes(bytes(data))

    report = import_file(home, source)

    assert report.ok and [b["offset"] for b in report.broken] == [792]
    assert report.records == 5
    assert sorted(line.offset for line in index_lines(home, report)) == [1943, 2258, 2598]


def test_a_file_cut_short_keeps_the_records_before_the_cut(home: Home, tmp_path: Path) -> None:
    data = EXAMPLE.read_bytes()
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(data[:2000])  # inside the revisit record, after the first response
    report = import_file(home, cut)
    assert report.ok and len(report.broken) == 1
    assert [line.url for line in index_lines(home, report)] == ["http://example.com?example=1"]


@pytest.mark.parametrize(("content", "cause"), [
    (b"", "empty"),
    (bytes(range(256)) * 40, "not a WARC, ARC or WACZ"),
    (b"url,price\nhttps://example.com,1\n", "not a WARC, ARC or WACZ"),
    (b"\x1f\x8b\x08" + bytes(200), "cut short or corrupt"),
], ids=["empty", "garbage", "csv", "truncated-gzip"])
def test_a_file_with_nothing_importable_fails_cleanly_and_is_quarantined(
        home: Home, tmp_path: Path, content: bytes, cause: str) -> None:
    source = tmp_path / "input.warc.gz"
    source.write_bytes(content)
    report = import_file(home, source)
    assert not report.ok and report.name is None
    assert report.error is not None and cause in report.error and str(source) in report.error
    assert report.quarantined is not None and report.quarantined in report.error
    kept = home.root / report.quarantined
    assert kept.read_bytes() == content
    assert cause in kept.with_name(kept.name + ".reason.txt").read_text()
    assert list(home.imported.iterdir()) == [] and list(home.indexes.iterdir()) == []
    assert audit_events(home, "import.quarantined")[0]["file"] == report.quarantined


def test_the_first_record_cut_short_is_quarantined(home: Home, tmp_path: Path) -> None:
    source = tmp_path / "head.warc.gz"
    source.write_bytes(EXAMPLE.read_bytes()[:200])
    report = import_file(home, source)
    assert not report.ok and "cut short" in str(report.error)
    assert report.quarantined is not None


def test_a_missing_path_or_a_directory_is_reported_not_raised(home: Home, tmp_path: Path) -> None:
    missing, folder = tmp_path / "nope.warc.gz", tmp_path / "folder"
    folder.mkdir()
    reports = import_files(home, [missing, folder, EXAMPLE])
    assert [r.ok for r in reports] == [False, False, True]
    assert "no such file" in str(reports[0].error)
    assert "is a directory" in str(reports[1].error) and "*.warc.gz" in str(reports[1].error)
    assert not (home.root / "quarantine").exists()


def test_a_wrong_producer_digest_is_imported_and_flagged(home: Home, tmp_path: Path) -> None:
    data, offset = plain_warc_with_edited_payload()
    source = tmp_path / "edited.warc"
    source.write_bytes(data)

    report = import_file(home, source)

    assert report.ok and report.broken == []
    assert [d["offset"] for d in report.digest_problems] == [offset]
    assert "payload" in report.digest_problems[0]["problem"]
    assert any("wrong producer digest" in w for w in report.warnings)
    rows = {r["offset"]: r for r in read_table(home.catalog, "captures").to_pylist()}
    assert rows[offset]["producer_digest_problem"]
    assert all(r["producer_digest_problem"] is None for o, r in rows.items() if o != offset)
    line = next(li for li in index_lines(home, report) if li.offset == offset)
    stored = (home.root / str(report.name)).read_bytes()
    own = hashlib.sha256(stored[offset:offset + line.length]).hexdigest()
    assert line.data["recordDigest"] == f"sha256:{own}"
    assert audit_events(home, "import")[0]["digest_problems"] == 1


# -- storage --------------------------------------------------------------------------------------


def test_importing_the_same_bytes_twice_is_a_no_op(home: Home, tmp_path: Path) -> None:
    first = import_file(home, EXAMPLE)
    renamed = tmp_path / "renamed.warc.gz"
    shutil.copyfile(EXAMPLE, renamed)
    again, other_name = import_files(home, [EXAMPLE, renamed])
    for report in (again, other_name):
        assert report.ok and report.already_imported and report.name == first.name
        assert "already imported" in report.summary
    assert first.summary.endswith(": 6 records, 3 indexed")
    assert len(list(home.imported.iterdir())) == 1
    assert len(audit_events(home, "import")) == 1


def test_two_files_with_the_same_name_do_not_collide(home: Home, tmp_path: Path) -> None:
    a, b = tmp_path / "a" / "data.warc.gz", tmp_path / "b" / "data.warc.gz"
    for dest, src in ((a, EXAMPLE), (b, WGET)):
        dest.parent.mkdir()
        shutil.copyfile(src, dest)
    ra, rb = import_files(home, [a, b])
    assert ra.ok and rb.ok and ra.name != rb.name
    assert (home.root / str(ra.name)).read_bytes() == EXAMPLE.read_bytes()
    assert (home.root / str(rb.name)).read_bytes() == WGET.read_bytes()


def test_imported_files_are_read_only_and_logged_with_their_sha256(home: Home) -> None:
    report = import_file(home, WGET)
    stored = home.root / str(report.name)
    assert stat.S_IMODE(stored.stat().st_mode) == 0o444
    (event,) = audit_events(home, "import")
    assert event["file"] == report.name and event["source"] == str(WGET)
    assert event["sha256"] == hashlib.sha256(WGET.read_bytes()).hexdigest()
    assert (event["bytes"], event["records"], event["indexed"]) == (WGET.stat().st_size, 6, 4)
    assert event["broken"] == [] and event["digest_problems"] == 0


def test_a_name_unfit_for_a_batch_id_is_made_safe(home: Home, tmp_path: Path) -> None:
    source = tmp_path / "crawl (copy) #2.warc.gz"
    shutil.copyfile(EXAMPLE, source)
    report = import_file(home, source)
    assert report.ok and report.name is not None
    assert report.name.endswith("-crawl_copy_2.warc.gz")
    long = tmp_path / ("x" * 240 + ".warc.gz")
    shutil.copyfile(WGET, long)
    report = import_file(home, long)
    assert report.ok and report.name is not None and report.name.endswith("x.warc.gz")
    assert len(home.index_path(report.name).name) < 255


# -- WACZ -----------------------------------------------------------------------------------------


def make_wacz(path: Path, members: dict[str, bytes]) -> Path:
    package = {"profile": "data-package", "wacz_version": "1.1.1",
               "resources": [{"name": Path(n).name, "path": n} for n in members]}
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data, compress_type=zipfile.ZIP_STORED)
        zf.writestr("datapackage.json", json.dumps(package))
    return path


def test_a_wacz_imports_the_warc_it_holds(home: Home, tmp_path: Path) -> None:
    wacz = make_wacz(tmp_path / "crawl.wacz", {"archive/data.warc.gz": EXAMPLE.read_bytes()})

    report = import_file(home, wacz)

    assert report.ok and report.indexed == 3 and report.broken == []
    assert report.name is not None and report.name.endswith("-crawl.wacz-data.warc.gz")
    assert (home.root / report.name).read_bytes() == EXAMPLE.read_bytes()
    assert {line.offset for line in index_lines(home, report)} == \
        {line.offset for line in cdxj_indexer(EXAMPLE)}
    (event,) = audit_events(home, "import")
    assert event["wacz_sha256"] == hashlib.sha256(wacz.read_bytes()).hexdigest()
    assert event["member"] == "archive/data.warc.gz"
    assert import_file(home, wacz).already_imported


def test_a_wacz_with_several_warcs_stores_each_one(home: Home, tmp_path: Path) -> None:
    wacz = make_wacz(tmp_path / "two.wacz", {"archive/a.warc.gz": EXAMPLE.read_bytes(),
                                             "archive/b.warc.gz": WGET.read_bytes()})
    report = import_file(home, wacz)
    assert report.ok and len(report.names) == 2 and report.indexed == 3 + 4
    assert all(home.index_path(n).exists() for n in report.names)


@pytest.mark.parametrize("content", [b"PK\x03\x04 not really a zip", None],
                         ids=["corrupt-zip", "no-warc-inside"])
def test_a_wacz_with_nothing_importable_is_quarantined(home: Home, tmp_path: Path,
                                                       content: bytes | None) -> None:
    path = tmp_path / "bad.wacz"
    if content is None:
        make_wacz(path, {"pages/pages.jsonl": b"{}\n"})
    else:
        path.write_bytes(content)
    report = import_file(home, path)
    assert not report.ok and report.quarantined is not None
    assert (home.root / report.quarantined).read_bytes() == path.read_bytes()
    assert list(home.imported.iterdir()) == []


# -- memory ---------------------------------------------------------------------------------------


def test_a_large_warc_imports_in_bounded_memory(home: Home, tmp_path: Path) -> None:
    """A 256 MB record streams through copy, hashing and indexing: the peak RSS stays small."""
    size = 256 << 20
    body_head = b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n" \
                b"Content-Length: %d\r\n\r\n" % size
    head = (b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Record-ID: <urn:uuid:big>\r\n"
            b"WARC-Date: 2024-01-02T03:04:05Z\r\nWARC-Target-URI: https://example.com/big\r\n"
            b"Content-Type: application/http; msgtype=response\r\n"
            b"Content-Length: %d\r\n\r\n" % (len(body_head) + size))
    source = tmp_path / "big.warc"
    with open(source, "wb") as fh:
        fh.write(head + body_head)
        chunk = bytes(range(256)) * 4096
        for _ in range(size // len(chunk)):
            fh.write(chunk)
        fh.write(b"\r\n\r\n")
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from archive.home import Home\n"
        "from archive.importer import import_file\n"
        "r = import_file(Home(Path(sys.argv[1])), Path(sys.argv[2]))\n"
        # VmHWM is this process image's own peak; ru_maxrss carries the parent's over exec
        "status = Path('/proc/self/status').read_text().split('VmHWM:')[1]\n"
        "peak = int(status.split()[0]) // 1024\n"
        "print(json.dumps({'ok': r.ok, 'indexed': r.indexed, 'peak_mb': peak}))\n"
    )
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([str(root / ".venv" / "bin" / "python"), "-c", script, str(home.root),
                          str(source)], cwd=root, check=True, capture_output=True, text=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["ok"] and result["indexed"] == 1
    assert result["peak_mb"] < 200, result


def test_import_report_warnings_read_as_sentences() -> None:
    report = ImportReport("x.warc.gz", broken=[{"offset": 10, "error": "EOFError: cut"}],
                          digest_problems=[{"offset": 99, "problem": "payload digest failed"}])
    assert report.warnings == [
        "x.warc.gz: broken record at offset 10 skipped (EOFError: cut)",
        "x.warc.gz: record at offset 99 has a wrong producer digest (payload digest failed); "
        "imported and flagged",
    ]

