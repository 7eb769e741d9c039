"""`salvage reindex`: indexes and catalog batches rebuilt from the archive files alone."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from conftest import FIXTURES
from warcgen import html, write_request, write_response, write_revisit

from archive.home import Home
from archive.importer import import_file
from archive.reindex import check_all, live_index_equals_rebuilt, orphans, reindex
from archive.writer import WarcWriter
from storage.tables import batch_path

CORPUS = sorted((FIXTURES / "warc").iterdir())


@pytest.fixture
def filled(home: Home, tmp_path: Path) -> Home:
    """A home holding one WARC of ours, every corpus file, and an import with a bad digest."""
    with WarcWriter(home) as writer:
        first = write_response(writer, "https://example.com/filings", html("Filings", 3000))
        write_request(writer, "https://example.com/filings")
        assert first is not None
        write_revisit(writer, "https://example.com/filings", first)
        write_response(writer, "https://example.com/missing", b"<h1>Not Found</h1>", status=404)
    for source in CORPUS:
        assert import_file(home, source).ok
    data = gzip.decompress((FIXTURES / "warc" / "example.warc.gz").read_bytes())
    edited = tmp_path / "edited.warc"
    edited.write_bytes(data.replace(b"<title>Example Domain", b"<title>Exbmple Domain", 1))
    assert import_file(home, edited).digest_problems
    return home


def snapshot(home: Home) -> dict[Path, bytes]:
    files = list(home.indexes.glob("*.cdxj")) + list((home.catalog / "captures").glob("*"))
    return {p: p.read_bytes() for p in files}


def names(home: Home) -> list[str]:
    return [home.relative(p) for p in home.archive_files()]


def test_reindex_on_an_untouched_home_rewrites_nothing(filled: Home) -> None:
    before = snapshot(filled)
    mtimes = {p: p.stat().st_mtime_ns for p in before}
    assert live_index_equals_rebuilt(filled)

    report = reindex(filled)

    assert report.rewritten == []
    assert report.unchanged == names(filled) and report.files == len(CORPUS) + 2
    assert snapshot(filled) == before
    assert {p: p.stat().st_mtime_ns for p in before} == mtimes
    event = filled.audit.entries()[-1]
    assert event["event"] == "reindex" and event["rebuilt"] == event["mismatched"] == []
    assert event["unchanged"] == report.unchanged


def test_reindex_restores_a_deleted_index_file_and_batch_byte_identical(filled: Home) -> None:
    before = snapshot(filled)
    ours = names(filled)[0]
    assert ours.startswith("warcs/")
    imported = next(n for n in names(filled) if n.endswith("-dupes.warc.gz"))
    filled.index_path(ours).unlink()
    batch_path(filled.catalog, "captures", filled.batch_id(imported)).unlink()
    assert not live_index_equals_rebuilt(filled)

    report = reindex(filled)

    assert sorted(report.rewritten) == sorted([(ours, "missing"), (imported, "missing")])
    assert snapshot(filled) == before
    assert live_index_equals_rebuilt(filled)
    event = filled.audit.entries()[-1]
    assert sorted(event["rebuilt"]) == sorted([ours, imported]) and event["mismatched"] == []


def test_reindex_rewrites_an_index_file_that_differs(filled: Home) -> None:
    before = snapshot(filled)
    name = next(n for n in names(filled) if n.endswith("-example.arc.gz"))
    path = filled.index_path(name)
    path.write_bytes(path.read_bytes().replace(b'"status": "200"', b'"status": "404"'))

    report = reindex(filled)

    assert report.rewritten == [(name, "differed")]
    assert snapshot(filled) == before
    assert filled.audit.entries()[-1]["mismatched"] == [name]


def test_reindex_rewrites_an_unreadable_catalog_batch(filled: Home) -> None:
    before = snapshot(filled)
    name = names(filled)[0]
    batch = batch_path(filled.catalog, "captures", filled.batch_id(name))
    batch.write_bytes(b"not parquet")

    report = reindex(filled)

    assert report.rewritten == [(name, "differed")]
    assert snapshot(filled) == before


def test_rebuilt_entries_keep_the_producer_digest_problems_import_found(filled: Home) -> None:
    name = next(n for n in names(filled) if n.endswith("-edited.warc"))
    batch = batch_path(filled.catalog, "captures", filled.batch_id(name))
    written = batch.read_bytes()
    batch.unlink()

    reindex(filled)

    assert batch.read_bytes() == written


def test_reindex_counts_every_index_line(filled: Home) -> None:
    lines = sum(len(p.read_text().splitlines()) for p in filled.indexes.glob("*.cdxj"))
    report = reindex(filled)
    assert report.lines == lines
    assert {c.name: c.lines for c in check_all(filled)} == {
        filled.relative(p): len(filled.index_path(filled.relative(p)).read_text().splitlines())
        for p in filled.archive_files()}


def test_reindex_of_a_file_with_a_broken_record_matches_what_import_wrote(home: Home,
                                                                            tmp_path: Path) -> None:
    data = (FIXTURES / "warc" / "example.warc.gz").read_bytes()
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(data[:2000])
    report = import_file(home, cut)
    assert report.ok and report.broken
    before = snapshot(home)
    for path in before:
        path.unlink()

    result = reindex(home)

    assert result.rewritten == [(report.name, "missing")]
    assert result.broken == {report.name: len(report.broken)}
    assert snapshot(home) == before


def test_reindex_of_an_empty_home_is_a_no_op(home: Home) -> None:
    report = reindex(home)
    assert (report.files, report.lines, report.rewritten) == (0, 0, [])
    assert live_index_equals_rebuilt(home)


def test_index_files_of_no_archive_file_are_reported_and_kept(filled: Home) -> None:
    stray = filled.indexes / "imported__gone.warc.gz.cdxj"
    stray.write_text("")
    assert not live_index_equals_rebuilt(filled)
    assert orphans(filled) == ["indexes/imported__gone.warc.gz.cdxj"]

    report = reindex(filled)

    assert report.orphans == ["indexes/imported__gone.warc.gz.cdxj"] and stray.exists()
    assert filled.audit.entries()[-1]["orphans"] == report.orphans
