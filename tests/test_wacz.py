"""`export_wacz`: a WACZ 1.1.1 package of a selection: streamed, atomic, valid for `wacz`."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import interop_tool
from warcgen import html, import_plain_warc, write_request, write_response, write_revisit
from warcio.archiveiterator import ArchiveIterator

from archive.cdxj import IndexLine
from archive.home import Home
from archive.wacz import EmptyExport, ExportFailed, export_wacz
from archive.writer import WarcWriter

NEWS = "https://example.com/news/"


def _at(month: int, day: int = 1) -> datetime:
    return datetime(2024, month, day, 12, 0, tzinfo=UTC)


@pytest.fixture
def archived(home: Home) -> Home:
    """Two WARCs: news pages, a JSON file and another site; a revisit of news/1 in the second."""
    with WarcWriter(home) as writer:
        first = write_response(writer, NEWS + "1", html("First story", 3000), when=_at(1))
        write_request(writer, NEWS + "1")
        write_response(writer, NEWS + "2", html("Second &amp; last", 3000), when=_at(2))
        write_response(writer, "https://example.com/data/x.json", b'{"bid": 1.5}',
                       mime="application/json", when=_at(1, 15))
        write_response(writer, NEWS + "gone", html("Not here"), status=404, when=_at(2, 2))
    with WarcWriter(home) as writer:
        write_response(writer, "https://other.org/", html("Other"), when=_at(3))
        assert first is not None
        write_revisit(writer, NEWS + "1", first, when=_at(3, 5))
    return home


def _export(home: Home, tmp_path: Path, **kw) -> Path:
    out = tmp_path / "out" / "export.wacz"
    export_wacz(home, out, **kw)
    return out


def _index(zf: zipfile.ZipFile) -> list[IndexLine]:
    text = gzip.decompress(zf.read("indexes/index.cdx.gz"))
    return [IndexLine.parse(raw) for raw in text.splitlines()]


@pytest.mark.interop
def test_wacz_validate_accepts_the_export(archived, tmp_path):
    out = _export(archived, tmp_path)
    done = subprocess.run([interop_tool("wacz"), "validate", "-f", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Validation succeeded" in done.stdout


def test_datapackage_hashes_match_the_members(archived, tmp_path):
    out = _export(archived, tmp_path)
    with zipfile.ZipFile(out) as zf:
        package_bytes = zf.read("datapackage.json")
        package = json.loads(package_bytes)
        digest = json.loads(zf.read("datapackage-digest.json"))
        assert digest == {"path": "datapackage.json",
                          "hash": "sha256:" + hashlib.sha256(package_bytes).hexdigest()}
        assert package["profile"] == "data-package"
        assert package["wacz_version"] == "1.1.1"
        assert package["software"] == "Salvage 0.1.0"
        assert package["title"] and package["created"].endswith("Z")
        members = set(zf.namelist()) - {"datapackage.json", "datapackage-digest.json"}
        assert {r["path"] for r in package["resources"]} == members
        for res in package["resources"]:
            data = zf.read(res["path"])
            assert res["hash"] == "sha256:" + hashlib.sha256(data).hexdigest()
            assert res["bytes"] == len(data)
        assert zf.getinfo("archive/data.warc.gz").compress_type == zipfile.ZIP_STORED
        assert zf.testzip() is None


def test_filters_select_the_expected_records(archived, tmp_path):
    out = _export(archived, tmp_path, url_prefix=NEWS, start=_at(1), end=_at(2, 10))
    with zipfile.ZipFile(out) as zf:
        urls = sorted(line.url for line in _index(zf))
    assert urls == [NEWS + "1", NEWS + "2", NEWS + "gone"]
    out = _export(archived, tmp_path, start=datetime(2024, 1, 10), end=_at(2, 1))  # naive: UTC
    with zipfile.ZipFile(out) as zf:
        urls = sorted(line.url for line in _index(zf))
    assert urls == ["https://example.com/data/x.json", NEWS + "2"]


def test_offsets_inside_the_package_read_back_the_same_payload(archived, tmp_path):
    out = _export(archived, tmp_path)
    with zipfile.ZipFile(out) as zf:
        lines = _index(zf)
        assert {line.filename for line in lines} == {"data.warc.gz"}
        with zf.open("archive/data.warc.gz") as fh:
            warc = fh.read()
    assert len(lines) == 6
    for line in lines:
        stored = warc[line.offset : line.offset + line.length]
        assert "sha256:" + hashlib.sha256(stored).hexdigest() == line.data["recordDigest"]
        record = next(iter(ArchiveIterator(io.BytesIO(stored))))
        assert record.rec_headers.get_header("WARC-Target-URI") == line.url
        if not line.is_revisit:
            payload = record.content_stream().read()
            assert "sha256:" + hashlib.sha256(payload).hexdigest() == line.data["digest"]
    first = next(iter(ArchiveIterator(io.BytesIO(warc))))
    assert first.rec_type == "warcinfo"
    assert b"Salvage 0.1.0" in first.content_stream().read()


def test_uncompressed_records_keep_their_form_in_their_own_package_file(archived, tmp_path):
    import_plain_warc(archived)
    out = _export(archived, tmp_path, url_prefix="https://")
    with zipfile.ZipFile(out) as zf:
        lines = [line for line in _index(zf) if line.url.startswith("https://crawled.")]
        plain = zf.read("archive/data.warc")
    assert len(lines) == 3 and {line.filename for line in lines} == {"data.warc"}
    assert plain.startswith(b"WARC/1.")  # a warcinfo of the package first
    for line in lines:
        stored = plain[line.offset : line.offset + line.length]
        assert "sha256:" + hashlib.sha256(stored).hexdigest() == line.data["recordDigest"]
        record = next(iter(ArchiveIterator(io.BytesIO(stored))))
        assert record.rec_headers.get_header("WARC-Target-URI") == line.url


def test_a_selected_revisit_brings_its_original(archived, tmp_path):
    out = tmp_path / "revisit.wacz"
    report = export_wacz(archived, out, url_prefix=NEWS, start=_at(3))
    assert report.revisit_originals == 1 and report.unresolved_revisits == []
    with zipfile.ZipFile(out) as zf:
        lines = _index(zf)
        pages = zf.read("pages/pages.jsonl").decode().splitlines()
    assert sorted((line.url, line.data["mime"]) for line in lines) == [
        (NEWS + "1", "text/html"), (NEWS + "1", "warc/revisit")]
    assert lines[0].data["digest"] == lines[1].data["digest"]
    assert len(pages) == 1  # the original came along for the revisit: it is not a page


def test_pages_list_the_good_html_captures_with_titles(archived, tmp_path):
    out = _export(archived, tmp_path)
    with zipfile.ZipFile(out) as zf:
        rows = [json.loads(x) for x in zf.read("pages/pages.jsonl").splitlines()]
    assert rows[0] == {"format": "json-pages-1.0", "id": "pages", "title": "All Pages"}
    pages = {p["url"]: p for p in rows[1:]}
    assert set(pages) == {NEWS + "1", NEWS + "2", "https://other.org/"}  # no 404, no JSON
    assert pages[NEWS + "1"]["ts"] == "2024-01-01T12:00:00Z"
    assert pages[NEWS + "2"]["title"] == "Second & last"
    assert all(p["id"] for p in pages.values())


def test_an_empty_selection_is_an_error_and_writes_nothing(archived, tmp_path):
    out = tmp_path / "none.wacz"
    with pytest.raises(EmptyExport, match="no indexed record matches"):
        export_wacz(archived, out, url_prefix="https://nowhere.example/")
    assert list(tmp_path.iterdir()) == [archived.root]


def test_a_damaged_record_fails_the_export_and_leaves_nothing(archived, tmp_path):
    line = next(IndexLine.parse(raw) for p in sorted(archived.indexes.glob("*.cdxj"))
                for raw in p.read_bytes().splitlines())
    with open(archived.root / line.filename, "r+b") as fh:
        fh.seek(line.offset + line.length // 2)
        byte = fh.read(1)
        fh.seek(line.offset + line.length // 2)
        fh.write(bytes([byte[0] ^ 1]))
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ExportFailed, match="salvage verify"):
        export_wacz(archived, out / "damaged.wacz")
    assert list(out.iterdir()) == []

