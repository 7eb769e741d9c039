"""EDGAR index files and JSON APIs become expected-filing and issuer rows; bad bytes are refused."""

from __future__ import annotations

import contextlib
import json
import random
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from extract.edgar_index import (
    FILING_KEYS,
    ISSUER_KEYS,
    IndexFormatError,
    expected_filing_from_index,
    index_kind,
    iter_index_file,
    parse_filing_index_json,
    parse_index_file,
    parse_submissions_json,
)
from extract.errors import ExtractError

EDGAR = Path(__file__).parent / "fixtures" / "edgar"
INDEX = EDGAR / "index"
API = EDGAR / "api"


def read(path: Path) -> bytes:
    return path.read_bytes()


def rows_of(name: str) -> list[dict]:
    return parse_index_file(read(INDEX / name))


def with_accession(rows: list[dict], accession: str, cik: str | None = None) -> list[dict]:
    """The rows of one accession (one per filer), or of one filer of it."""
    return [r for r in rows if r["accession"] == accession and cik in (None, r["cik"])]


def data_lines(name: str, header_lines: int) -> int:
    return len(read(INDEX / name).splitlines()) - header_lines


# --- index_kind ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "kind"), [
    ("https://www.sec.gov/Archives/edgar/daily-index/2020/QTR1/form.20200318.idx", "form-idx"),
    ("https://www.sec.gov/Archives/edgar/daily-index/2022/QTR4/company.20221003.idx",
     "company-idx"),
    ("https://www.sec.gov/Archives/edgar/full-index/1993/QTR4/master.idx", "master-idx"),
    ("https://www.sec.gov/Archives/edgar/full-index/1993/QTR4/form.idx", "form-idx"),
    ("master.1993QTR4.idx", "master-idx"),
    ("empty-form.idx", "form-idx"),
    ("https://data.sec.gov/submissions/CIK0000320193.json", "submissions-json"),
    ("https://data.sec.gov/submissions/CIK0000320193-submissions-001.json",
     "submissions-page-json"),
    ("https://www.sec.gov/Archives/edgar/data/1648960/000121390024004875/index.json",
     "filing-index-json"),
    ("0001213900-24-004875-index.json", "filing-index-json"),
    ("https://www.sec.gov/Archives/edgar/data/1648960/index.json", None),
    ("https://www.sec.gov/Archives/edgar/daily-index/2020/QTR1/crawler.20200318.idx", None),
    ("https://www.sec.gov/Archives/edgar/data/320193/000119312519292676/d8k.htm", None),
    ("", None),
])
def test_index_kind_is_read_from_the_name(name, kind):
    assert index_kind(name) == kind


@pytest.mark.parametrize(("path", "kind"), [
    (INDEX / "form.20200318.idx", "form-idx"),
    (INDEX / "company.20221003.idx", "company-idx"),
    (INDEX / "master.1993QTR4.idx", "master-idx"),
    (INDEX / "empty-form.idx", "form-idx"),
    (API / "CIK0000320193.json", "submissions-json"),
    (API / "CIK0000320193-submissions-001.json", "submissions-page-json"),
    (API / "0001213900-24-004875-index.json", "filing-index-json"),
])
def test_index_kind_sniffs_the_bytes_when_the_name_says_nothing(path, kind):
    assert index_kind("https://example.org/download?id=7", read(path)) == kind


def test_index_kind_sniff_says_none_for_other_bytes(fixtures):
    assert index_kind("page", read(fixtures / "pages" / "rate-exceeded.html")) is None
    assert index_kind("blob", bytes(range(256))) is None
    assert index_kind("blob", b"") is None


# --- form.idx -------------------------------------------------------------------------------------


def test_form_idx_gives_one_row_per_data_line():
    rows = rows_of("form.20200318.idx")
    assert len(rows) == data_lines("form.20200318.idx", 10) == 4084
    assert all(tuple(r) == FILING_KEYS for r in rows)
    assert {r["index_kind"] for r in rows} == {"form-idx"}


def test_form_idx_row_is_read_exactly():
    [row] = with_accession(rows_of("form.20200318.idx"), "0001413898-20-000015")
    assert row == {
        "accession": "0001413898-20-000015", "cik": "0001413898",
        "company_name": "A. H. Belo Corp", "form_type": "10-K/A",
        "date_filed": date(2020, 3, 18), "path": "edgar/data/1413898/0001413898-20-000015.txt",
        "index_kind": "form-idx", "acceptance_time": None, "report_date": None,
        "primary_document": None, "items": None, "file_number": None, "film_number": None,
        "size": None, "paper": False,
    }


@pytest.mark.parametrize(("accession", "form", "company", "cik"), [
    ("0001376339-20-000010", "NT 10-K", "MIMEDX GROUP, INC.", "0001376339"),
    ("0001731122-20-000276", "NT 10-K/A", "INNOVATIVE DESIGNS INC", "0001190370"),
    ("0001493152-20-004219", "S-1", "Deep Green Waste & Recycling, Inc.", "0001637866"),
    ("0000846087-20-000051", "SC 13G",
     "Wellington Trust Company, National Association Multiple Comm", "0001600473"),
])
def test_form_idx_keeps_spaces_inside_form_types_and_long_names(accession, form, company, cik):
    [row] = with_accession(rows_of("form.20200318.idx"), accession, cik)
    assert (row["form_type"], row["company_name"]) == (form, company)
    assert row["paper"] is False


def test_form_idx_ct_order_with_a_paper_accession():
    [row] = with_accession(rows_of("form.20200318.idx"), "9999999997-20-001254")
    assert row["form_type"] == "CT ORDER"
    assert row["company_name"] == "MSCI Inc."
    assert row["cik"] == "0001408198"
    assert row["path"] == "edgar/data/1408198/9999999997-20-001254.txt"
    assert row["paper"] is True


def test_form_idx_daily_file_lists_older_date_filed_as_written():
    [row] = with_accession(rows_of("form.20200318.idx"), "9999999997-19-006418")
    assert (row["form_type"], row["company_name"]) == ("SEC STAFF", "FEDEX CORP")
    assert row["date_filed"] == date(2019, 8, 9)


def test_one_accession_gives_one_row_per_filer():
    rows = with_accession(rows_of("form.20200318.idx"), "0001193125-20-076296")
    assert len(rows) == 7
    assert {r["form_type"] for r in rows} == {"40-APP"}
    same_name = [r["cik"] for r in rows if r["company_name"] == (
        "AB Private Credit Investors Middle Market Direct Lending Fun")]
    assert sorted(same_name) == ["0001634385", "0001746553"]


def test_empty_form_idx_gives_no_rows():
    assert rows_of("empty-form.idx") == []


# --- company.idx ----------------------------------------------------------------------------------


def test_company_idx_with_its_wrapped_header():
    rows = rows_of("company.20221003.idx")
    assert len(rows) == data_lines("company.20221003.idx", 11) == 4925
    assert rows[0]["company_name"] == "1st stREIT Office Inc."
    assert rows[0]["form_type"] == "1-A POS"
    assert rows[0]["index_kind"] == "company-idx"
    assert rows[-1]["company_name"] == "voxeljet AG"
    assert rows[-1]["accession"] == "0001558370-22-014789"


@pytest.mark.parametrize(("accession", "cik", "company", "form"), [
    ("0001104659-22-104841", "0001779476", "36Kr Holdings Inc.", "SC 13D/A"),
    ("0000945621-22-000333", "0001948813",
     "StepStone (Luxembourg) SCA SICAV-RAIF - StepStone Private Ve", "D"),
    ("0001645873-22-000272", "0001255094", "NOLAN THOMAS  H JR", "4"),
    ("9999999997-22-004450", "0001757271", "Long-Term Stock Exchange, Inc.", "1/A"),
])
def test_company_idx_rows_are_read_exactly(accession, cik, company, form):
    [row] = with_accession(rows_of("company.20221003.idx"), accession, cik)
    assert (row["company_name"], row["form_type"]) == (company, form)


def test_company_idx_names_keep_their_inner_spaces():
    rows = with_accession(rows_of("company.20221003.idx"), "0001193125-22-256796")
    assert "SALEM MEDIA OF  HAWAII  INC" in {r["company_name"] for r in rows}


# --- master.idx -----------------------------------------------------------------------------------


def test_daily_master_idx_with_yyyymmdd_dates_and_no_final_newline():
    rows = rows_of("master.20181231.idx")
    assert len(rows) == data_lines("master.20181231.idx", 7) == 10
    assert rows[5]["company_name"] == (
        "PERUSAHAAN PERSEROAN PERSERO PT TELEKOMUNIKASI INDONESIA TBK")
    assert rows[-1]["accession"] == "0000899681-18-000091"
    assert rows[-1]["cik"] == "0000010048"
    assert {r["date_filed"] for r in rows} == {date(2018, 12, 31)}


def test_full_index_master_of_1993_with_a_paper_regdex_line():
    rows = rows_of("master.1993QTR4.idx")
    assert len(rows) == data_lines("master.1993QTR4.idx", 11) == 20
    assert rows[0] == {
        "accession": "9999999997-02-056978", "cik": "0001095785", "company_name": "SAGE CAPITAL LP",
        "form_type": "REGDEX", "date_filed": date(1993, 12, 30),
        "path": "edgar/data/1095785/9999999997-02-056978.txt", "index_kind": "master-idx",
        "acceptance_time": None, "report_date": None, "primary_document": None, "items": None,
        "file_number": None, "film_number": None, "size": None, "paper": True,
    }
    walt = next(r for r in rows if r["company_name"] == "DISNEY WALT CO")
    assert (walt["accession"], walt["date_filed"]) == ("0000950131-94-000021", date(1993, 12, 22))
    assert walt["paper"] is False


def test_the_whole_file_streams_row_by_row():
    rows = iter_index_file(read(INDEX / "master.1993QTR4.idx"))
    assert next(rows)["form_type"] == "REGDEX"
    assert sum(1 for _ in rows) == 19


# --- columns that overflow ------------------------------------------------------------------------


FORM_HEADER = (
    b"Description:           Daily Index of EDGAR Dissemination Feed by Form Type\n\n"
    b"Form Type   Company Name                                                  CIK         "
    b"Date Filed  File Name\n" + b"-" * 137 + b"\n")
COMPANY_HEADER = (
    b"Company Name                                                  Form Type   CIK\n"
    b"      Date Filed  File Name\n" + b"-" * 141 + b"\n")


def test_form_idx_company_name_overflowing_into_the_cik_column():
    name = b"A VERY LONG FUND NAME WITH  TWO SPACES THAT RUNS PAST THE SIXTY-TWO COLUMN MARK LP"
    line = b"NT 10-K     " + name + b" 1234567 20200318 edgar/data/1234567/0001234567-20-000001.txt"
    [row] = parse_index_file(FORM_HEADER + line + b"\n")
    assert (row["form_type"], row["company_name"]) == ("NT 10-K", name.decode())
    assert row["cik"] == "0001234567"


def test_form_idx_form_type_overflowing_into_the_company_column():
    line = (b"SEC STAFF ACTION  AKORN INC" + b" " * 47
            + b"3116        20200318    edgar/data/3116/9999999997-20-001251.txt")
    [row] = parse_index_file(FORM_HEADER + line + b"\n")
    assert (row["form_type"], row["company_name"]) == ("SEC STAFF ACTION", "AKORN INC")
    assert row["paper"] is True


def test_company_idx_name_overflowing_into_the_form_type_column():
    name = b"A VERY LONG FUND NAME THAT RUNS PAST THE SIXTY-TWO COLUMN MARK OF THE FILE"
    line = name + b"  SC 13G/A 1234567 20221003 edgar/data/1234567/0001234567-22-000001.txt"
    [row] = parse_index_file(COMPANY_HEADER + line + b"\n")
    assert (row["company_name"], row["form_type"]) == (name.decode(), "SC 13G/A")


# --- submissions JSON -----------------------------------------------------------------------------


def test_apple_submissions_give_the_issuer():
    issuer, _, _ = parse_submissions_json(read(API / "CIK0000320193.json"))
    assert tuple(issuer) == ISSUER_KEYS
    assert issuer == {
        "cik": "0000320193", "name": "Apple Inc.", "entity_type": "operating", "sic": "3571",
        "sic_description": "Electronic Computers", "tickers": ["AAPL"], "exchanges": ["Nasdaq"],
        "former_names": [
            {"name": "APPLE INC", "from": "2007-01-10T00:00:00.000Z",
             "to": "2019-08-05T00:00:00.000Z"},
            {"name": "APPLE COMPUTER INC", "from": "1994-01-26T00:00:00.000Z",
             "to": "2007-01-04T00:00:00.000Z"},
            {"name": "APPLE COMPUTER INC/ FA", "from": "1997-07-28T00:00:00.000Z",
             "to": "1997-07-28T00:00:00.000Z"},
        ],
        "state_of_incorporation": "CA", "fiscal_year_end": "0930", "ein": "942404110",
    }


def test_apple_submissions_give_one_expected_filing_per_accession():
    data = read(API / "CIK0000320193.json")
    _, rows, older = parse_submissions_json(data)
    assert len(rows) == len(json.loads(data)["filings"]["recent"]["accessionNumber"]) == 1000
    assert all(tuple(r) == FILING_KEYS for r in rows)
    assert older == ["CIK0000320193-submissions-001.json"]
    [earnings] = with_accession(rows, "0000320193-23-000075")
    assert earnings == {
        "accession": "0000320193-23-000075", "cik": "0000320193", "company_name": "Apple Inc.",
        "form_type": "8-K", "date_filed": date(2023, 8, 3),
        "path": "edgar/data/320193/000032019323000075/aapl-20230803.htm",
        "index_kind": "submissions-json",
        "acceptance_time": datetime(2023, 8, 3, 20, 30, 21, tzinfo=UTC),
        "report_date": date(2023, 8, 3), "primary_document": "aapl-20230803.htm",
        "items": ["2.02", "9.01"], "file_number": "001-36743", "film_number": "231140568",
        "size": 452428, "paper": False,
    }


def test_acceptance_time_is_edgars_eastern_clock_in_utc():
    # The API writes 2019-11-15T06:02:24.000Z for this 8-K; the filing's own SGML header says
    # <ACCEPTANCE-DATETIME>20191115060224, EDGAR's US/Eastern clock: 11:02:24 UTC.
    _, rows, _ = parse_submissions_json(read(API / "CIK0000320193.json"))
    [row] = with_accession(rows, "0001193125-19-292676")
    assert row["acceptance_time"] == datetime(2019, 11, 15, 11, 2, 24, tzinfo=UTC)


def test_apple_paper_filing_in_the_recent_list():
    _, rows, _ = parse_submissions_json(read(API / "CIK0000320193.json"))
    [row] = with_accession(rows, "9999999997-17-006550")
    assert row["paper"] is True
    assert row["form_type"] == "CERTNYS"
    assert row["primary_document"] == "9999999997-17-006550.paper"
    assert row["report_date"] is None
    assert row["items"] == []


def test_apple_older_page_parses_into_rows_too():
    data = read(API / "CIK0000320193-submissions-001.json")
    issuer, rows, older = parse_submissions_json(data, cik="320193")
    assert issuer is None and older == []
    assert len(rows) == len(json.loads(data)["accessionNumber"]) == 988
    assert {r["index_kind"] for r in rows} == {"submissions-page-json"}
    oldest = rows[-1]
    assert oldest["accession"] == "0000320193-94-000002"
    assert (oldest["form_type"], oldest["date_filed"]) == ("10-Q", date(1994, 1, 26))
    assert oldest["report_date"] == date(1993, 12, 31)
    assert oldest["primary_document"] is None and oldest["path"] is None
    [no_act] = with_accession(rows, "9999999997-08-047872")
    assert no_act["paper"] is True
    assert no_act["path"] == (
        "edgar/data/320193/999999999708047872/9999999997-08-047872.paper")


def test_older_page_without_a_cik_leaves_cik_unknown():
    _, rows, _ = parse_submissions_json(read(API / "CIK0000320193-submissions-001.json"))
    assert {r["cik"] for r in rows} == {None}
    assert {r["company_name"] for r in rows} == {None}


def test_tesla_submissions():
    issuer, rows, older = parse_submissions_json(read(API / "CIK0001318605.json"))
    assert (issuer["cik"], issuer["name"], issuer["tickers"]) == ("0001318605", "Tesla, Inc.",
                                                                  ["TSLA"])
    assert issuer["former_names"][0]["name"] == "TESLA MOTORS INC"
    assert len(rows) == 1001
    assert older == ["CIK0001318605-submissions-001.json"]


# --- a filing folder's index.json -----------------------------------------------------------------


def test_filing_index_json_gives_its_documents():
    info = parse_filing_index_json(read(API / "0001213900-24-004875-index.json"))
    assert info["accession"] == "0001213900-24-004875"
    assert info["cik"] == "0001648960"
    docs = info["documents"]
    assert len(docs) == 25
    assert docs[0] == {"name": "0001213900-24-004875-index-headers.html", "type": "text.gif",
                       "size": None, "last_modified": "2024-01-19 16:21:45"}
    assert docs[3] == {"name": "0001213900-24-004875-xbrl.zip", "type": "compressed.gif",
                       "size": 101351, "last_modified": "2024-01-19 16:21:45"}
    assert docs[-1]["name"] == "Show.js"


def test_filing_index_json_as_an_expected_filing():
    info = parse_filing_index_json(read(API / "0001213900-24-004875-index.json"))
    row = expected_filing_from_index(
        info, "Archives/edgar/data/1648960/000121390024004875/index.json")
    assert tuple(row) == FILING_KEYS
    assert (row["accession"], row["cik"], row["index_kind"]) == (
        "0001213900-24-004875", "0001648960", "filing-index-json")
    assert row["path"] == "Archives/edgar/data/1648960/000121390024004875/index.json"
    assert row["paper"] is False


# --- bad input ------------------------------------------------------------------------------------


def test_idx_without_a_header_is_refused():
    with pytest.raises(IndexFormatError, match="no column header"):
        parse_index_file(b"1000228|HENRY SCHEIN INC|4|20181231|edgar/data/1000228/x.txt\n")


def test_idx_row_with_a_non_date_fails_the_file_with_its_line_number():
    data = read(INDEX / "master.20181231.idx").replace(b"|20181231|edgar/data/1000694",
                                                      b"|20181332|edgar/data/1000694")
    with pytest.raises(IndexFormatError, match=r"line 11: Date Filed '20181332' is not a date"):
        parse_index_file(data)


def test_idx_cut_inside_a_row_is_refused():
    data = read(INDEX / "form.20200318.idx")
    cut = data.index(b"0001140361-20-006155.txt") + 10
    with pytest.raises(IndexFormatError, match="line 11: File Name .* does not end in .txt"):
        parse_index_file(data[:cut])


def test_idx_cut_inside_its_header_is_refused():
    data = read(INDEX / "form.20200318.idx")
    with pytest.raises(IndexFormatError, match="no '-----' rule"):
        parse_index_file(data[:data.index(b"-----")])


def test_idx_row_with_a_bad_cik_is_refused():
    data = read(INDEX / "master.1993QTR4.idx").replace(b"\n11860|", b"\n11860X|")
    with pytest.raises(IndexFormatError, match="line 13: CIK '11860X'"):
        parse_index_file(data)


def test_truncated_submissions_json_is_refused():
    data = read(API / "CIK0000320193.json")
    with pytest.raises(IndexFormatError, match="cut short"):
        parse_submissions_json(data[: len(data) // 2])


def test_html_error_page_is_refused(fixtures):
    page = read(fixtures / "pages" / "rate-exceeded.html")
    for parse in (parse_submissions_json, parse_filing_index_json):
        with pytest.raises(IndexFormatError, match="not JSON"):
            parse(page)
    with pytest.raises(IndexFormatError, match="not an EDGAR index file"):
        parse_index_file(page)


def test_s3_no_such_key_answer_is_refused():
    body = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code>'
            b"<Message>The specified key does not exist.</Message></Error>")
    with pytest.raises(IndexFormatError, match="markup"):
        parse_submissions_json(body)


def test_binary_blob_is_refused():
    blob = bytes(range(256)) * 4
    for parse in (parse_index_file, parse_submissions_json, parse_filing_index_json):
        with pytest.raises(IndexFormatError):
            parse(blob)


def test_columns_that_do_not_line_up_are_refused():
    doc = json.loads(read(API / "CIK0000320193-submissions-001.json"))
    doc["form"].pop()
    with pytest.raises(IndexFormatError, match="form has 987 values, accessionNumber 988"):
        parse_submissions_json(json.dumps(doc).encode())


def test_a_filing_index_given_as_submissions_is_refused():
    with pytest.raises(IndexFormatError, match="neither 'filings'"):
        parse_submissions_json(read(API / "0001213900-24-004875-index.json"))


def test_an_older_page_name_that_is_not_a_page_is_refused():
    doc = json.loads(read(API / "CIK0000320193.json"))
    doc["filings"]["files"][0]["name"] = "../../evil.json"
    with pytest.raises(IndexFormatError, match=r"filings.files\[0\].name '../../evil.json'"):
        parse_submissions_json(json.dumps(doc).encode())


def test_a_bad_acceptance_time_names_its_position():
    doc = json.loads(read(API / "CIK0000320193-submissions-001.json"))
    doc["acceptanceDateTime"][5] = "yesterday"
    with pytest.raises(IndexFormatError, match=r"acceptanceDateTime\[5\] 'yesterday'"):
        parse_submissions_json(json.dumps(doc).encode())


# --- fuzz: only ExtractError, whatever the bytes --------------------------------------------------


PARSERS = (parse_index_file, parse_submissions_json, parse_filing_index_json,
           lambda data: index_kind("x", data))


def _feed(data: bytes) -> None:
    for parse in PARSERS:
        with contextlib.suppress(ExtractError):
            parse(data)


@pytest.mark.parametrize("path", sorted(INDEX.iterdir()) + sorted(API.iterdir()),
                         ids=lambda p: p.name)
def test_truncations_and_flipped_bytes_raise_only_extract_errors(path):
    data = read(path)
    rng = random.Random(path.name)
    cuts = range(len(data) + 1) if len(data) < 3000 else sorted(
        rng.randrange(len(data)) for _ in range(25))
    for cut in cuts:
        _feed(data[:cut])
    head = bytearray(data[:20000])
    for _ in range(40):
        mutated = bytearray(head)
        for _ in range(rng.randint(1, 8)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        _feed(bytes(mutated))


def test_random_bytes_raise_only_extract_errors():
    rng = random.Random(20250101)
    for _ in range(300):
        _feed(rng.randbytes(rng.randint(0, 2000)))
    for prefix in (b"{", b"[", b"CIK|Company Name|Form Type|Date Filed|File Name\n---\n",
                   b"Form Type   Company Name   CIK\n---\n"):
        for _ in range(100):
            _feed(prefix + rng.randbytes(rng.randint(0, 300)))


@pytest.mark.parametrize("doc", [
    [], 1, "x", None, {"filings": []}, {"filings": {"recent": None}}, {"cik": [], "filings": {}},
    {"cik": "1", "filings": {"recent": {"accessionNumber": [1]}}},
    {"cik": "1", "tickers": {}, "filings": {"recent": {"accessionNumber": []}}},
    {"cik": "1", "formerNames": [1], "filings": {"recent": {"accessionNumber": []}}},
    {"cik": "1", "filings": {"recent": {"accessionNumber": []}, "files": [{"name": {}}]}},
    {"accessionNumber": ["0000320193-94-000002"], "size": [-1]},
    {"accessionNumber": ["0000320193-94-000002"], "items": [7]},
    {"accessionNumber": ["0000320193-94-000002"], "filingDate": ["1994-02-30"]},
    {"accessionNumber": ["0000320193-94-000002"], "acceptanceDateTime": ["9999-12-31T23:59:59Z"]},
    {"directory": {"item": [{"name": "a", "size": "x"}]}}, {"directory": {"item": [[]]}},
    {"directory": {"item": [{"name": "a", "size": "9" * 5000}]}},
    {"directory": {"item": {}}}, {"directory": {"item": [{}], "name": 5}},
])
def test_odd_json_shapes_raise_only_extract_errors(doc):
    _feed(json.dumps(doc).encode())
