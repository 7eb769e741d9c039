"""Closest-capture lookup over real CDXJ files written by the writer."""

from __future__ import annotations

from datetime import UTC, datetime

from archive.cdxj import IndexEntry, url_key, write_index
from archive.home import Home
from archive.lookup import Index
from archive.timeparse import parse_time


def entry(url: str, ts: str, *, status=200, soft=None, revisit=False, digest="sha256:aa",
          name="warcs/a.warc.gz", offset=0) -> IndexEntry:
    return IndexEntry(
        urlkey=url_key(url), timestamp=ts, url=url,
        warc_date=datetime.strptime(ts, "%Y%m%d%H%M%S").replace(tzinfo=UTC),
        record_type="revisit" if revisit else "response", filename=name, offset=offset,
        length=10, record_digest="sha256:00", status=status,
        mime="warc/revisit" if revisit else "text/html", digest=digest, soft_error=soft,
    )


def make_index(home: Home, *files: list[IndexEntry]) -> None:
    for i, entries in enumerate(files):
        write_index(home.indexes / f"f{i}.cdxj", entries)


URL = "https://www.sec.gov/Archives/edgar/data/320193/x.htm"


def test_closest_capture_is_nearest_in_absolute_time(home):
    make_index(home, [entry(URL, "20240101000000"), entry(URL, "20240110000000")],
               [entry(URL, "20240120000000"), entry("https://www.sec.gov/other", "20240109000000")])
    with Index(home) as index:
        assert index.closest(URL, parse_time("20240108")).timestamp == "20240110000000"
        assert index.closest(URL, parse_time("20240103")).timestamp == "20240101000000"
        assert index.closest(URL, parse_time("2030")).timestamp == "20240120000000"
        assert index.closest(URL, parse_time("1999")).timestamp == "20240101000000"


def test_a_tie_goes_to_the_earlier_capture(home):
    make_index(home, [entry(URL, "20240101000000")], [entry(URL, "20240103000000")])
    with Index(home) as index:
        assert index.closest(URL, parse_time("20240102")).timestamp == "20240101000000"


def test_soft_errors_and_error_statuses_are_listed_but_never_chosen(home):
    make_index(home, [
        entry(URL, "20240101000000"),
        entry(URL, "20240105000000", soft="edgar-rate-limit"),
        entry(URL, "20240106000000", status=404),
    ])
    with Index(home) as index:
        assert index.closest(URL, parse_time("20240106")).timestamp == "20240101000000"
        assert len(index.captures(URL)) == 3
        assert index.closest(URL, parse_time("20240106"), good_only=False).status == 404


def test_timemap_lists_every_capture_oldest_first_across_files(home):
    make_index(home, [entry(URL, "20240103000000")], [entry(URL, "20240101000000")],
               [entry(URL + "x", "20240102000000")])
    with Index(home) as index:
        assert [c.timestamp for c in index.captures(URL)] == ["20240101000000", "20240103000000"]
        assert index.captures("https://example.com/none") == []


def test_revisit_resolves_to_the_original_with_the_same_digest(home):
    make_index(home, [
        entry(URL, "20240101000000", digest="sha256:one", offset=1),
        entry(URL, "20240102000000", digest="sha256:two", offset=2),
        entry(URL, "20240103000000", digest="sha256:one", revisit=True, offset=3),
    ])
    with Index(home) as index:
        revisit = index.closest(URL, parse_time("20240103"))
        assert revisit.is_revisit
        assert index.resolve(revisit).offset == 1


def test_empty_index_files_and_unknown_urls_find_nothing(home):
    (home.indexes / "empty.cdxj").write_bytes(b"")
    with Index(home) as index:
        assert index.closest(URL) is None


def test_times_are_read_in_iso_and_warc_forms():
    assert parse_time("2024-01-31T12:00:00Z") == datetime(2024, 1, 31, 12, tzinfo=UTC)
    assert parse_time("20240131") == datetime(2024, 1, 31, tzinfo=UTC)
    assert parse_time("2024-01-31") == datetime(2024, 1, 31, tzinfo=UTC)
