"""EDGAR complete submissions: every dialect of the corpus, its filers, documents and failures."""

from __future__ import annotations

import io
import random
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from extract.errors import ExtractError, MalformedSubmission, TruncatedSubmission
from extract.sgml import Filer, looks_like_submission, parse_submission

SUBMISSIONS = Path(__file__).parent / "fixtures" / "edgar" / "submissions"
FILES = sorted(p.name for p in SUBMISSIONS.iterdir())

# Files whose PUBLIC DOCUMENT COUNT is not the number of documents they hold, checked by eye:
# the two 8-Ks are whole (</SEC-DOCUMENT> closes them) but their SEQUENCE numbers skip 7, 12, 14
# and 5, 10, 12: EDGAR left documents it counted out of the file. The 485APOS is a header alone.
COUNT_DIFFERS = {
    "0001213900-25-032135.txt": (15, 14),
    "0000943374-24-000509.txt": (13, 12),
    "header_with_double_newlines.txt": (7, 0),
}


def read(name: str) -> bytes:
    return (SUBMISSIONS / name).read_bytes()


def parse(name: str):
    return parse_submission(read(name), name_hint=name)


def at_utc(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


# -- every file ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FILES)
def test_every_corpus_submission_parses(name):
    sub = parse(name)
    assert sub.accession and sub.form_type
    assert [d.ordinal for d in sub.documents] == list(range(1, len(sub.documents) + 1))
    if name in COUNT_DIFFERS:
        assert (sub.declared_documents, len(sub.documents)) == COUNT_DIFFERS[name]
    elif sub.declared_documents is not None:
        assert len(sub.documents) == sub.declared_documents
    for doc in sub.documents:
        assert doc.type and doc.raw
        assert read(name).find(doc.raw) > doc.offset


def test_document_count_gaps_are_edgars_not_the_parsers():
    sequences = [d.sequence for d in parse("0001213900-25-032135.txt").documents]
    assert sequences == [1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 13, 15, 16, 17]
    assert read("0001213900-25-032135.txt").count(b"<DOCUMENT>") == 14


def test_every_corpus_file_is_recognised_by_its_first_kilobyte():
    assert all(looks_like_submission(read(name)) for name in FILES)
    assert not looks_like_submission(b"%PDF-1.4\n")
    assert not looks_like_submission(b"<html><body>rate exceeded</body></html>")


# -- header fields, read by eye from the files -----------------------------------------------------


def test_form4_has_a_reporting_owner_and_an_issuer():
    sub = parse("0001127602-25-001055.txt")
    assert (sub.accession, sub.form_type, sub.dialect) == \
        ("0001127602-25-001055", "4", "sec-header")
    assert sub.period_of_report == sub.filed_as_of == sub.date_as_of_change == date(2025, 1, 10)
    assert sub.acceptance_time == at_utc("2025-01-10 21:07:30")  # 16:07:30 Eastern
    owner, issuer = sub.filers
    assert owner == Filer(role="reporting-owner", cik="0001806647", name="Garascia Jessica A.",
                          form_type="4", file_number="001-06263", film_number="25522924")
    assert (issuer.role, issuer.cik, issuer.name, issuer.sic) == \
        ("issuer", "0000001750", "AAR CORP", "3720")
    assert (issuer.state_of_incorporation, issuer.fiscal_year_end, issuer.irs_number) == \
        ("DE", "0531", "362334820")
    assert issuer.former_names == ["ALLEN AIRCRAFT RADIO INC"]
    assert (sub.file_numbers, sub.film_numbers) == (["001-06263"], ["25522924"])
    assert [(d.type, d.filename) for d in sub.documents] == [("4", "form4.xml"),
                                                             ("EX-24", "doc1.htm")]


def test_form4_feed_reads_owner_data_and_assigned_sic():
    sub = parse("0001127602-25-004598.nc")
    assert (sub.accession, sub.form_type, sub.dialect) == ("0001127602-25-004598", "4", "feed")
    assert (sub.period_of_report, sub.filed_as_of) == (date(2025, 2, 12), date(2025, 2, 13))
    owner, issuer = sub.filers
    assert (owner.role, owner.cik, owner.name) == \
        ("reporting-owner", "0001870985", "Jean-Claude Carine Lamercie")
    assert (issuer.cik, issuer.sic, issuer.state_of_incorporation) == ("0000007536", "5065", "NY")
    assert issuer.former_names == ["ARROW ELECTRONICS, INC", "ARROW ELECTRONICS INC"]


def test_sc_to_t_a_reads_the_same_in_both_dialects():
    txt, nc = parse("0001104659-25-002604.txt"), parse("0001104659-25-002604.nc")
    assert (txt.dialect, nc.dialect) == ("sec-header", "feed")
    for sub in (txt, nc):
        assert (sub.accession, sub.form_type) == ("0001104659-25-002604", "SC TO-T/A")
        assert sub.filed_as_of == sub.date_as_of_change == date(2025, 1, 10)
        assert sub.declared_documents == len(sub.documents) == 2
        assert sub.file_numbers == ["005-83522"]
        assert sub.film_numbers == ["25523922", "25523921"]
    assert txt.filers == nc.filers  # "PETROLEUM REFINING [2911]" and <ASSIGNED-SIC>2911 alike
    assert txt.group_members == nc.group_members
    assert txt.acceptance_time == at_utc("2025-01-10 22:15:38")  # 17:15:38 Eastern
    assert nc.acceptance_time is None  # the feed file does not carry it
    for a, b in zip(txt.documents, nc.documents, strict=True):
        assert (a.sequence, a.type, a.filename, a.description) == \
            (b.sequence, b.type, b.filename, b.description)
        assert b.payload().replace(b"\r", b"\n") == a.payload()  # the feed ends lines with CR


def test_multi_filer_submission_lists_every_filer():
    sub = parse("0001104659-25-002604.txt")
    assert [(f.role, f.cik, f.name, f.form_type) for f in sub.filers] == [
        ("subject-company", "0001376139", "CVR ENERGY INC", "SC 13D/A"),
        ("subject-company", "0001376139", "CVR ENERGY INC", "SC TO-T/A"),
        ("filed-by", "0001034563", "ICAHN ENTERPRISES HOLDINGS L.P.", "SC TO-T/A"),
    ]
    assert sub.filers[0].sic == "2911" and sub.filers[2].sic == "3714"
    assert sub.filers[2].former_names == ["AMERICAN REAL ESTATE HOLDINGS L P"]
    assert sub.group_members == [
        "AMERICAN ENTERTAINMENT PROPERTIES CORP.", "BECKTON CORP.", "CARL C. ICAHN",
        "ICAHN ENTERPRISES G.P. INC.", "ICAHN ENTERPRISES L.P.", "IEP ENERGY HOLDING LLC"]


def _owner(n: int, indented: bool) -> str:
    if indented:
        return (f"REPORTING-OWNER:\n\n\tOWNER DATA:\n\t\tCOMPANY CONFORMED NAME:\t\t\tOWNER {n}\n"
                f"\t\tCENTRAL INDEX KEY:\t\t\t{n:010d}\n\n\tFILING VALUES:\n"
                f"\t\tFORM TYPE:\t\t4\n\t\tSEC FILE NUMBER:\t001-0000{n}\n\n")
    return (f"<REPORTING-OWNER>\r<OWNER-DATA>\r<CONFORMED-NAME>OWNER {n}\r<CIK>{n}\r"
            f"</OWNER-DATA>\r<FILING-VALUES>\r<FORM-TYPE>4\r<FILE-NUMBER>001-0000{n}\r"
            "</FILING-VALUES>\r</REPORTING-OWNER>\r")


@pytest.mark.parametrize("indented", [True, False], ids=["sec-header", "feed"])
def test_four_reporting_owners_are_all_listed(indented):
    # No corpus file has four filers (the most is the SC TO-T/A's three): a synthetic Form 4.
    owners = "".join(_owner(n, indented) for n in range(1, 5))
    doc = "<DOCUMENT>\n<TYPE>4\n<SEQUENCE>1\n<TEXT>\n<XML>\n<a/>\n</XML>\n</TEXT>\n</DOCUMENT>\n"
    if indented:
        data = ("<SEC-DOCUMENT>0000000000-25-000001.txt : 20250101\n<SEC-HEADER>x\n"
                "ACCESSION NUMBER:\t\t0000000000-25-000001\nCONFORMED SUBMISSION TYPE:\t4\n\n"
                f"{owners}ISSUER:\n\n\tCOMPANY DATA:\n\t\tCENTRAL INDEX KEY:\t\t\t0000000099\n"
                f"</SEC-HEADER>\n{doc}</SEC-DOCUMENT>\n")
    else:
        data = ("<SUBMISSION>\n<ACCESSION-NUMBER>0000000000-25-000001\r<TYPE>4\r"
                f"{owners}<ISSUER>\r<COMPANY-DATA>\r<CIK>0000000099\r</COMPANY-DATA>\r"
                f"</ISSUER>\r{doc}</SUBMISSION>\r")
    sub = parse_submission(data.encode())
    assert [(f.role, f.cik, f.name) for f in sub.filers] == [
        ("reporting-owner", f"{n:010d}", f"OWNER {n}") for n in range(1, 5)] + [
        ("issuer", "0000000099", None)]
    assert sub.file_numbers == [f"001-0000{n}" for n in range(1, 5)]
    assert sub.documents[0].text() == "<a/>"


def test_ford_1994_reads_pem_and_ims_header():
    sub = parse("0000037996-94-000005.txt")
    assert (sub.accession, sub.form_type, sub.dialect) == \
        ("0000037996-94-000005", "10-K", "ims-header")
    assert (sub.period_of_report, sub.filed_as_of) == (date(1993, 12, 31), date(1994, 3, 21))
    assert sub.acceptance_time is None and sub.declared_documents == len(sub.documents) == 11
    [ford] = sub.filers
    assert (ford.role, ford.cik, ford.name, ford.sic) == ("filer", "0000037996", "FORD MOTOR CO",
                                                          "3711")
    assert (ford.state_of_incorporation, ford.fiscal_year_end, ford.irs_number) == \
        ("DE", "1231", "380549190")
    assert (sub.file_numbers, sub.film_numbers) == (["001-03950"], ["94517065"])
    assert sub.header["Originator-Name"] == ["keymaster@town.hall.org"]  # the PEM fields are kept
    assert sub.header["IMS-DOCUMENT"] == ["0000037996-94-000005.txt : 19940322"]
    assert [d.type for d in sub.documents][:3] == ["10-K", "EX-3.B", "EX-10.A"]
    assert sub.documents[0].filename is None  # 1994: no FILENAME tags
    assert "FORD MOTOR COMPANY" in sub.documents[0].text()


def test_headerless_1995_file_takes_its_accession_from_the_name():
    data = read("0000899681-95-000096.txt")
    sub = parse_submission(data, name_hint="0000899681-95-000096.txt")
    assert (sub.accession, sub.dialect, sub.header, sub.filers) == \
        ("0000899681-95-000096", "headerless", {}, [])
    assert sub.form_type == "S-3/A"  # from the first document's <TYPE>
    assert [(d.sequence, d.type) for d in sub.documents] == [(1, "S-3/A"), (2, "EX-99")]
    assert parse_submission(data).accession is None
    hint = "https://www.sec.gov/Archives/edgar/data/1/000089968195000096/"
    assert parse_submission(data, name_hint=hint).accession == "0000899681-95-000096"


def test_header_with_blank_lines_is_a_header_without_documents():
    sub = parse("header_with_double_newlines.txt")
    assert (sub.accession, sub.form_type, sub.dialect) == \
        ("0001193125-24-066744", "485APOS", "sec-header")
    assert (sub.filed_as_of, sub.date_as_of_change) == (date(2024, 3, 13), date(2024, 6, 26))
    assert sub.acceptance_time == at_utc("2024-03-13 19:00:33")  # 15:00:33 EDT, after the switch
    assert sub.documents == [] and sub.declared_documents == 7
    assert [(f.role, f.cik, f.name) for f in sub.filers] == [
        ("filer", "0001100663", "iSHARES TRUST")] * 2
    assert sub.file_numbers == ["811-09729", "333-92935"]
    assert sub.film_numbers == ["24745649", "24745648"]
    assert sub.filers[0].former_names == ["ISHARES TRUST"]
    assert sub.header["PRIVATE-TO-PUBLIC"] == [""]
    assert sub.header["SERIES-ID"] == ["S000085230"]


def test_13f_hr_header_and_information_table():
    sub = parse("0001894188-23-000007.txt")
    assert (sub.accession, sub.form_type) == ("0001894188-23-000007", "13F-HR")
    assert (sub.period_of_report, sub.filed_as_of) == (date(2023, 9, 30), date(2023, 11, 14))
    assert sub.acceptance_time == at_utc("2023-11-14 14:38:54")  # 09:38:54 EST
    [lts] = sub.filers
    assert (lts.cik, lts.name, lts.sic, lts.irs_number) == \
        ("0001894188", "LTS One Management LP", None, "871396377")
    assert (sub.file_numbers, sub.film_numbers) == (["028-22111"], ["231402140"])
    assert [(d.type, d.filename) for d in sub.documents] == [
        ("13F-HR", "primary_doc.xml"), ("INFORMATION TABLE", "index.xml")]
    assert sub.documents[0].text().startswith('<?xml version="1.0" encoding="UTF-8"?>')


def test_form_d_feed_lists_its_items():
    sub = parse("0002002260-24-000001.nc")
    assert (sub.accession, sub.form_type, sub.dialect) == ("0002002260-24-000001", "D", "feed")
    assert sub.items == ["06b", "3C", "3C.7"]
    assert sub.filed_as_of == date(2024, 1, 11) and sub.period_of_report is None
    [issuer] = sub.filers
    assert (issuer.role, issuer.cik, issuer.name, issuer.irs_number) == \
        ("filer", "0002002260", "VEPF VIII Co-Invest 4-A, L.P.", "000000000")
    assert (sub.file_numbers, sub.film_numbers) == (["021-502201"], ["24529009"])


def test_form4_of_2000_mixes_indented_and_tagged_filer_blocks():
    sub = parse("0001094891-00-000193.txt")
    company, owner = sub.filers
    assert (company.role, company.cik, company.sic) == ("subject-company", "0000911787", "3540")
    assert company.former_names == ["PRODUCTIVITY TECHNOLOGIES CORP /DE"]
    assert (owner.role, owner.cik, owner.name) == ("reporting-owner", "0001050609", "FOSTER ALAN H")


def test_8k_items_and_former_names_keep_file_order():
    sub = parse("0001213900-25-032135.txt")
    assert sub.items == ["Results of Operations and Financial Condition",
                         "Non-Reliance on Previously Issued Financial Statements or a Related "
                         "Audit Report or Completed Interim Review",
                         "Regulation FD Disclosure", "Financial Statements and Exhibits"]
    assert sub.filers[0].irs_number == "260014658"  # written EIN: in this header
    assert sub.filers[0].former_names == ["American BriVision (Holding) Corp",
                                          "METU BRANDS, INC.", "ECOLOGY COATINGS, INC."]
    apple = parse("aapl-8k-20191115.txt")
    assert apple.accession == "0001193125-19-292676"
    assert apple.acceptance_time == at_utc("2019-11-15 11:02:24")


# -- uuencoded documents ---------------------------------------------------------------------------

BINARIES = [
    ("0001213900-25-032135.txt", "ex99-1_001.jpg"),
    ("0001213900-25-032135.txt", "Financial_Report.xlsx"),
    ("0001213900-25-032135.txt", "0001213900-25-032135-xbrl.zip"),
    ("0000943374-24-000509.txt", "Financial_Report.xlsx"),
    ("0000943374-24-000509.txt", "0000943374-24-000509-xbrl.zip"),
    ("aapl-8k-20191115.txt", "g828969g1112231605750.jpg"),
    ("aapl-8k-20191115.txt", "g828969g1113115003167.jpg"),
    ("aapl-8k-20191115.txt", "g828969g1113115003588.jpg"),
    ("aapl-8k-20191115.txt", "0001193125-19-292676-xbrl.zip"),
    ("aapl-8k-20191115.txt", "Financial_Report.xlsx"),  # its last line is dot-stuffed
]


@pytest.mark.parametrize(("name", "filename"), BINARIES)
def test_uuencoded_images_and_archives_decode(name, filename):
    [doc] = [d for d in parse(name).documents if d.filename == filename]
    assert doc.uuencoded and doc.text() is None
    data = doc.payload()
    if filename.endswith(".jpg"):
        assert data[:2] == b"\xff\xd8" and data.rstrip(b"\0")[-2:] == b"\xff\xd9"
    else:
        assert zipfile.ZipFile(io.BytesIO(data)).testzip() is None


def test_only_binaries_are_uuencoded():
    found = {(n, d.filename) for n in FILES for d in parse(n).documents if d.uuencoded}
    assert found == set(BINARIES)


def _synthetic(body: str, filename: str = "a.jpg") -> bytes:
    return (f"<SEC-DOCUMENT>0000000000-25-000002.txt : 20250101\n<SEC-HEADER>x\n"
            f"ACCESSION NUMBER:\t\t0000000000-25-000002\n</SEC-HEADER>\n<DOCUMENT>\n<TYPE>GRAPHIC\n"
            f"<SEQUENCE>1\n<FILENAME>{filename}\n<TEXT>\n{body}</TEXT>\n</DOCUMENT>\n"
            "</SEC-DOCUMENT>\n").encode()


def test_uuencoding_quirks_are_tolerated():
    lines = ["begin 644 q.bin",
             "M86)C9&5F9VAI:FML;6YO<'%R<W1U=G=X>7I!0D-$149'2$E*2TQ-3D]045)3",  # 45 bytes
             "%,3(S-#4`   ",  # "12345": backquote for space, padded with spaces
             "`", "end", ""]
    doc = parse_submission(_synthetic("\n".join(lines))).documents[0]
    assert doc.payload() == b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRS12345"


def test_a_uuencoded_block_without_end_is_truncated():
    body = "begin 644 q.bin\nM86)C9&5F9VAI:FML;6YO<'%R<W1U=G=X>7I!0D-$149'2$E*2TQ-3D]045)3\n"
    with pytest.raises(TruncatedSubmission, match="no `end` line") as err:
        parse_submission(_synthetic(body))
    assert "byte" in err.value.reason


# -- safety ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("written", "kept"), [
    ("../../etc/passwd", "passwd"),
    ("a/b.htm", "b.htm"),
    ("C:\\x\\y.htm", "y.htm"),
    ("C:evil.htm", "evil.htm"),
    ("..\\..\\..\\windows\\win.ini", "win.ini"),
    ("/abs/path/\x00nul\x07.htm", "nul.htm"),
    (".hidden", "hidden"),
    ("../..", None),
    ("ok-name_1.htm", "ok-name_1.htm"),
])
def test_path_bearing_filename_is_reduced_to_a_basename(written, kept):
    doc = parse_submission(_synthetic("hello\n", filename=written)).documents[0]
    assert doc.filename == kept
    assert doc.payload() == b"hello"


# -- failures --------------------------------------------------------------------------------------


def _cuts(data: bytes) -> list[int]:
    """Offsets inside documents: after <DOCUMENT>, after <TEXT>, mid-body, around </TEXT>."""
    opened, text, closed = (data.rfind(tag) for tag in (b"<DOCUMENT>", b"<TEXT>", b"</TEXT>"))
    cuts = [opened + 10, opened + 11, text + 6, text + 7, (text + closed) // 2, closed + 3,
            closed + 8]
    middle = data.find(b"<TEXT>", len(data) // 2)
    if middle != -1:
        cuts.append(middle + 100)
    if b"begin 644" in data:
        cuts.append(data.find(b"begin 644") + 300)
    return cuts


@pytest.mark.parametrize("name", [n for n in FILES if n != "header_with_double_newlines.txt"])
def test_a_submission_cut_inside_a_document_is_truncated(name):
    data = read(name)
    for cut in _cuts(data):
        with pytest.raises(TruncatedSubmission) as err:
            parse_submission(data[:cut])
        assert err.value.reason and "byte" in err.value.reason


@pytest.mark.parametrize("name", [n for n in FILES if n.startswith("0") and "-95-000096" not in n])
def test_a_submission_missing_its_closing_wrapper_is_truncated(name):
    data = read(name)
    end = data.rfind(b"</DOCUMENT>") + len(b"</DOCUMENT>\n")
    with pytest.raises(TruncatedSubmission, match="never closed"):
        parse_submission(data[:end])


def test_a_header_cut_short_is_truncated():
    data = read("0001104659-25-002604.txt")
    with pytest.raises(TruncatedSubmission, match="SEC-HEADER"):
        parse_submission(data[:2000])


@pytest.mark.parametrize("garbage", [
    b"", b"   \n\n", b"hello world", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", b"\x89PNG\r\n\x1a\n" * 40,
    b"<html><head><title>Too Many Requests</title></head></html>",
    b"<SUBMISSION>\n</SUBMISSION>\n", b"<SEC-DOCUMENT>\n</SEC-DOCUMENT>\n",
    b"-----BEGIN PRIVACY-ENHANCED MESSAGE-----\nProc-Type: 2001\n\n\x00\x01\x02junk",
    bytes(range(256)) * 8,
], ids=lambda g: repr(g[:12]))
def test_garbage_is_malformed(garbage):
    with pytest.raises(MalformedSubmission) as err:
        parse_submission(garbage)
    assert err.value.reason


def test_a_document_left_open_before_the_next_is_truncated():
    data = read("0001127602-25-001055.txt")
    first_close = data.find(b"</DOCUMENT>")
    with pytest.raises(TruncatedSubmission, match="before the next <DOCUMENT>"):
        parse_submission(data[:first_close] + data[first_close + 11:])


def _check(data: bytes) -> None:
    try:
        sub = parse_submission(data)
    except ExtractError as exc:
        assert exc.reason
        return
    for doc in sub.documents:
        try:
            doc.payload()
            doc.text()
        except ExtractError:
            pass


def test_random_bytes_raise_only_extract_errors():
    rng = random.Random(20251122)
    openers = [b"<SEC-DOCUMENT>", b"<SUBMISSION>", b"<DOCUMENT>", b"<TEXT>", b"</TEXT>",
               b"</DOCUMENT>", b"begin 644 x\n", b"\nend\n", b"<SEC-HEADER>", b"</SEC-HEADER>",
               b"-----BEGIN PRIVACY-ENHANCED MESSAGE-----\n", b"\n\n", b"FILER:\n",
               b"<FILER>", b"\t\tCENTRAL INDEX KEY:\t", b"<ACCEPTANCE-DATETIME>99999999999999"]
    for _ in range(400):  # random bytes, some of them around real tags
        parts = [rng.randbytes(rng.randint(0, 64)) if rng.random() < 0.5 else rng.choice(openers)
                 for _ in range(rng.randint(0, 30))]
        _check(b"".join(parts))
    for name in FILES:  # real files cut anywhere, and with bytes flipped
        data = read(name)
        for _ in range(25):
            _check(data[:rng.randint(0, len(data))])
            mutated = bytearray(data)
            for _ in range(rng.randint(1, 40)):
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            _check(bytes(mutated))
