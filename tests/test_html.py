"""HTML pages and EDGAR's HTML: visible text, links, meta, encodings, filing index pages,
index-headers pages and inline XBRL cover facts. Expected values are read by eye from the files."""

from __future__ import annotations

import contextlib
import random
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from extract.errors import ExtractError
from extract.html import (
    FilingIndexPage,
    HtmlError,
    Link,
    html_encoding,
    html_title,
    html_to_text,
    looks_like_html,
    read_filing_index_page,
    read_html,
    read_index_headers_page,
    xbrl_cover_facts,
)

FIXTURES = Path(__file__).parent / "fixtures"
PAGES = FIXTURES / "edgar" / "pages"
HTML = FIXTURES / "edgar" / "html"
RATE_EXCEEDED = FIXTURES / "pages" / "rate-exceeded.html"
BUCKLE_URL = "https://www.sec.gov/Archives/edgar/data/885245/000088524524000045/bke-20241122.htm"
ALL_FILES = [*sorted(PAGES.iterdir()), *sorted(HTML.iterdir()), RATE_EXCEEDED]


def read(path: Path) -> bytes:
    return path.read_bytes()


def utc(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


@pytest.fixture(scope="module")
def buckle() -> bytes:
    return read(HTML / "BuckleInc.8-K.html")


# -- pages: text, title, links, meta ---------------------------------------------------------------


def test_buckle_8k_title_language_and_meta(buckle):
    page = read_html(buckle)
    assert page.title == "bke-20241122"
    assert page.language == "en-US"  # from xml:lang: the page has no lang attribute
    assert page.meta == {"content-type": "text/html"}


def test_buckle_8k_text_is_the_visible_cover_page_in_reading_order(buckle):
    lines = read_html(buckle).text.split("\n")
    assert lines[:5] == ["UNITED STATES", "SECURITIES AND EXCHANGE COMMISSION",
                         "WASHINGTON, D.C. 20549", "FORM 8-K", "CURRENT REPORT"]
    assert "THE BUCKLE, INC." in lines
    assert "Nebraska | 001-12951 | 47-0366193" in lines
    assert "Common Stock, $0.01 par value | BKE | New York Stock Exchange" in lines
    assert "Exhibit 99.1 | Press Release Dated November 22, 2024" in lines


def test_buckle_8k_text_leaves_out_the_hidden_ix_header(buckle):
    text = read_html(buckle).text
    assert "false 0000885245" not in text  # what the old tag-stripper leaked
    assert "0000885245" not in text  # the CIK is only in <ix:header> inside display:none
    assert "2024-11-22" not in text  # the xbrli:context dates
    assert "bke-20241122.xsd" not in text


def test_buckle_8k_links_resolve_against_the_page_url(buckle):
    assert read_html(buckle, url=BUCKLE_URL).links == [Link(
        "https://www.sec.gov/Archives/edgar/data/885245/000088524524000045/bke20241122-8kexhibit.htm",
        "Exhibit 99.1")]
    assert read_html(buckle).links == [Link("bke20241122-8kexhibit.htm", "Exhibit 99.1")]


def test_links_resolve_against_base_href_and_keep_malformed_ones_as_written():
    page = read_html(b'<head><base href="/docs/"></head><a href="a.htm">A</a>'
                     b'<a href=" http://[bad ">B</a><a href="#top">C</a>', url="https://x.org/p/q")
    assert page.links == [Link("https://x.org/docs/a.htm", "A"), Link("http://[bad", "B"),
                          Link("https://x.org/docs/#top", "C")]


def test_exhibit_in_its_sgml_wrapper_is_read_from_its_text():
    page = read_html(read(HTML / "BuckleInc.8-K.EX99.1.html"))
    assert page.title == "Document"
    assert page.text.startswith("Exhibit 99.1\nThe Buckle, Inc.\n")  # no "EX-99.1 2 bke…" line
    assert "<!--" not in page.text and "Wdesk" not in page.text


def test_financial_table_rows_keep_currency_and_parentheses_with_their_numbers():
    lines = read_html(read(HTML / "BuckleInc.8-K.EX99.1.html")).text.split("\n")
    assert ("SALES, Net of returns and allowances | $293,618 | $303,457 | $838,490 | $878,719"
            in lines)
    assert ("Less accumulated depreciation and amortization | (365,241) | (360,200) | (359,367)"
            in lines)
    assert "November 2, 2024 | October 28, 2023 | November 2, 2024 | October 28, 2023" in lines


def test_index_page_text_has_table_rows_and_decoded_entities():
    page = read_html(read(PAGES / "0001628280-17-000327-index.htm"))
    lines = page.text.split("\n")
    assert "SEC Home »" in lines  # &#187;
    assert "Office of Real Estate & Construction" in lines  # &amp;
    assert "Seq | Description | Document | Type | Size" in lines
    assert "2 | EXHIBIT 10.18 | len-20161130x10kxexh1018.htm | EX-10.18 | 94292" in lines
    assert "This page uses Javascript" not in page.text  # <noscript>
    assert "googletagmanager" not in page.text  # <script>
    assert page.meta == {"content-type": "text/html; charset=utf-8",
                         "last-modified": "Fri, 20 Jan 2017 21:27:11 GMT"}


def test_hidden_and_non_rendered_content_is_left_out():
    page = read_html(b"<html><head><title>T</title><style>p{color:red}</style></head><body>"
                     b"<div hidden>one</div><div style='color:red; DISPLAY : None'>two</div>"
                     b"<script>three()</script><noscript>four</noscript><template>five</template>"
                     b"<ix:header>six</ix:header><p style='display:block'>shown &amp; kept</p>"
                     b"<span style='font: none'>also shown</span></body></html>")
    assert page.text == "shown & kept\nalso shown"
    assert page.title == "T"


def test_blocks_are_lines_and_whitespace_collapses():
    page = read_html(b"<body>a <b>bold</b>\n  word<br>next&nbsp;&nbsp;line<p>para</p>"
                     b"<ul><li>one</li><li>two</li></ul><pre>keep\n  lines</pre>tail</body>")
    assert page.text == "a bold word\nnext line\npara\none\ntwo\nkeep\nlines\ntail"


def test_table_rows_drop_empty_cells_and_a_one_cell_layout_row_keeps_its_lines():
    page = read_html(b"<table><tr><th>Name</th><td></td><td>Value</td></tr>"
                     b"<tr><td><div>x</div><div>y</div></td></tr></table>")
    assert page.text == "Name | Value\nx\ny"


def test_meta_tags_by_name_property_and_http_equiv_with_lowercase_keys():
    page = read_html(b'<html lang="fr"><head><meta charset="utf-8">'
                     b'<meta name="Description" content=" A page ">'
                     b'<meta property="og:title" content="OG">'
                     b'<meta http-equiv="Refresh" content="5; url=/x">'
                     b'<meta name="empty"></head></html>')
    assert page.meta == {"charset": "utf-8", "description": "A page", "og:title": "OG",
                         "refresh": "5; url=/x"}
    assert page.language == "fr"


# -- encodings -------------------------------------------------------------------------------------


def test_windows_1252_page_with_meta_charset():
    page = ('<html><head><meta charset="windows-1252"><title>Caf\xe9</title></head>'
            "<body><p>\u201cquoted\u201d \u20ac5 \u2014 na\xefve</p></body></html>")
    data = page.encode("cp1252")
    assert html_encoding(data) == "cp1252"
    page = read_html(data)
    assert page.title == "Café"
    assert page.text == "\u201cquoted\u201d \u20ac5 \u2014 naïve"


def test_latin1_label_in_http_equiv_is_read_as_windows_1252_like_browsers():
    data = (b'<meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-1">'
            b"<p>it\x92s</p>")
    assert html_encoding(data) == "cp1252"
    assert read_html(data).text == "it\u2019s"


def test_utf8_bom_wins_over_a_meta_charset():
    data = b"\xef\xbb\xbf" + '<meta charset="windows-1252"><title>Na\xefve</title>'.encode()
    assert html_encoding(data) == "utf-8"
    assert read_html(data).title == "Naïve"


def test_undeclared_bytes_are_utf8_with_replacement():
    assert html_encoding(b"<p>x</p>") == "utf-8"
    assert read_html(b"<p>caf\xe9 ok</p>").text == "caf\ufffd ok"
    assert html_encoding(b'<meta charset="no-such-codec"><p>x') == "utf-8"
    assert html_encoding(b'<meta charset="utf-16"><p>x') == "utf-8"  # no BOM: not UTF-16


def test_garbage_never_raises_from_the_readers():
    rng = random.Random(4)
    corpus = [read(path) for path in ALL_FILES]
    samples = [b"", b"\x00", b"\xff\xfe", b"<" * 5000, b"<div>" * 20000, b"<DOCUMENT><TEXT>",
               bytes(rng.randrange(256) for _ in range(4000))]
    for data in corpus:
        for _ in range(10):
            mutated = bytearray(data)
            for _ in range(40):
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            samples.append(bytes(mutated[:rng.randrange(len(mutated))]))
    for data in samples:
        page = read_html(data, url="https://www.sec.gov/x/")
        assert isinstance(page.text, str)
        read_index_headers_page(data)
        xbrl_cover_facts(data)
        with contextlib.suppress(HtmlError):
            read_filing_index_page(data)


# -- the old html_text API -------------------------------------------------------------------------


def test_old_html_text_functions_are_available_here():
    data = read(RATE_EXCEEDED)
    assert looks_like_html(data)
    assert not looks_like_html(read(PAGES / "form4.index-headers.html"))
    assert html_title(data) == "SEC.gov | Request Rate Threshold Exceeded"
    text = html_to_text(data)
    assert text.startswith("U.S. Securities and Exchange Commission\nYou’ve Exceeded")
    assert "font-family" not in text


# -- EDGAR filing index pages ----------------------------------------------------------------------


def test_form4_index_page():
    page = read_filing_index_page(read(PAGES / "0001562180-17-002633-index.htm"))
    assert isinstance(page, FilingIndexPage)
    assert (page.accession, page.form_type) == ("0001562180-17-002633", "4")
    assert page.filing_date == date(2017, 8, 9)
    assert page.accepted == utc("2017-08-09 19:24:40")  # 15:24:40 EDT
    assert page.period_of_report == date(2017, 8, 8)
    assert page.documents_count == 1
    assert page.items == []
    assert page.filers == [
        {"role": "issuer", "name": "INTERNATIONAL BUSINESS MACHINES CORP", "cik": "0000051143"},
        {"role": "reporting-owner", "name": "Rometty Virginia M", "cik": "0001333712"},
    ]
    folder = "/Archives/edgar/data/51143/000156218017002633"
    assert [(d["seq"], d["description"], d["document"], d["href"], d["type"], d["size"])
            for d in page.documents] == [
        (1, "PRIMARY DOCUMENT", "primarydocument.html",
         f"{folder}/xslF345X03/primarydocument.xml", "4", None),
        (1, "PRIMARY DOCUMENT", "primarydocument.xml", f"{folder}/primarydocument.xml", "4", 4465),
        (None, "Complete submission text file", "0001562180-17-002633.txt",
         f"{folder}/0001562180-17-002633.txt", None, 5803),
    ]


def test_10k_index_page_with_data_files_and_inline_xbrl():
    url = "https://www.sec.gov/Archives/edgar/data/920760/000162828017000327/0001628280-17-000327-index.htm"
    page = read_filing_index_page(read(PAGES / "0001628280-17-000327-index.htm"), url=url)
    assert (page.accession, page.form_type) == ("0001628280-17-000327", "10-K")
    assert page.filing_date == date(2017, 1, 20)
    assert page.accepted == utc("2017-01-20 21:27:11")  # 16:27:11 EST
    assert page.period_of_report == date(2016, 11, 30)
    assert page.documents_count == 133  # EDGAR's count, not the 16 rows listed
    assert page.filers == [{"role": "filer", "name": "LENNAR CORP /NEW/", "cik": "0000920760"}]
    docs = page.documents
    assert len(docs) == 16
    assert [d["table"] for d in docs] == ["Document Format Files"] * 10 + ["Data Files"] * 6
    assert docs[0] == {  # the /ix?doc= viewer link gives way to the document itself
        "seq": 1, "description": "10-K", "document": "len-20161130x10k.htm",
        "href": "https://www.sec.gov/Archives/edgar/data/920760/000162828017000327/"
                "len-20161130x10k.htm",
        "type": "10-K", "size": 6566334, "table": "Document Format Files", "inline_xbrl": True}
    assert (docs[7]["seq"], docs[7]["description"], docs[7]["type"]) == (13, None, "GRAPHIC")
    assert (docs[-1]["seq"], docs[-1]["description"], docs[-1]["document"], docs[-1]["type"],
            docs[-1]["size"]) == (15, "EXTRACTED XBRL INSTANCE DOCUMENT",
                                  "len-20161130x10k_htm.xml", "XML", 6923208)


def test_minified_apple_10k_index_page():
    page = read_filing_index_page(read(PAGES / "aapl-10k-2019-index.htm"))
    assert (page.accession, page.form_type) == ("0000320193-19-000119", "10-K")
    assert page.filing_date == date(2019, 10, 31)
    assert page.accepted == utc("2019-10-30 22:12:36")  # accepted the evening before, EDT
    assert page.period_of_report == date(2019, 9, 28)
    assert page.documents_count == 96
    assert page.filers == [{"role": "filer", "name": "Apple Inc.", "cik": "0000320193"}]
    assert len(page.documents) == 18
    first = page.documents[0]
    assert (first["document"], first["href"], first["type"], first["size"]) == (
        "a10-k20199282019.htm",
        "/Archives/edgar/data/320193/000032019319000119/a10-k20199282019.htm", "10-K", 2714096)
    assert page.documents[11]["description"] == "Complete submission text file"


def test_index_page_items_are_one_per_line():
    data = (b'<div id="formDiv"><div id="formName"><strong>Form 8-K</strong> - Current report'
            b'</div><div id="secNum">0000320193-19-000117</div><div class="formGrouping">'
            b'<div class="infoHead">Accepted</div><div class="info">2019-01-02 08:00:00</div>'
            b'<div class="infoHead">Items</div><div class="info">Item 2.02: Results of Operations'
            b' and Financial Condition<br />Item 9.01: Financial Statements and Exhibits</div>'
            b'</div></div>')
    page = read_filing_index_page(data)
    assert page.items == ["Item 2.02: Results of Operations and Financial Condition",
                          "Item 9.01: Financial Statements and Exhibits"]
    assert page.accepted == utc("2019-01-02 13:00:00")  # EST in winter
    assert (page.form_type, page.filing_date, page.documents) == ("8-K", None, [])


def test_filing_index_reader_refuses_other_pages_with_a_reason(buckle):
    with pytest.raises(HtmlError, match="not an EDGAR filing index page") as refused:
        read_filing_index_page(buckle)
    assert isinstance(refused.value, ExtractError)
    with pytest.raises(HtmlError, match="rate-limit page.*10 requests per second"):
        read_filing_index_page(read(RATE_EXCEEDED))
    with pytest.raises(HtmlError, match="not HTML at all"):
        read_filing_index_page(b"\x89PNG\r\n\x1a\n\x00\x00")


# -- EDGAR index-headers pages ---------------------------------------------------------------------


def test_index_headers_page_holds_the_sgml_header_in_its_pre():
    found = read_index_headers_page(read(PAGES / "0001971857-23-000246-index-headers.html"))
    assert found["accession"] == "0001971857-23-000246"
    header = found["header_text"]
    assert header.startswith("<SEC-HEADER>0001971857-23-000246.hdr.sgml : 20240520\n"
                             "<ACCEPTANCE-DATETIME>20230612150550\n")
    assert header.endswith("\t\tZIP:\t\t\t49201\n</SEC-HEADER>")
    assert "ELECTRIC & OTHER SERVICES COMBINED [4931]" in header  # &amp; decoded
    assert "primary_doc.xml" not in header  # the document list after the header is left out
    submission = found["submission"]
    assert (submission["accession"], submission["form_type"]) == ("0001971857-23-000246", "144")
    assert submission["filed_as_of"] == date(2023, 6, 12)
    assert submission["acceptance_time"] == utc("2023-06-12 19:05:50")
    assert [(f["role"], f["name"], f["cik"]) for f in submission["filers"]] == [
        ("subject-company", "CONSUMERS ENERGY CO", "0000201533"),
        ("reporting-owner", "Hendrian Catherine A", "0001701746"),
    ]


def test_index_headers_page_that_is_a_bare_tagged_header():
    data = read(PAGES / "form4.index-headers.html")
    found = read_index_headers_page(data)
    assert found["accession"] == "0001062993-24-012217"
    assert found["header_text"] == data.decode().strip()
    submission = found["submission"]
    assert (submission["form_type"], submission["filed_as_of"], submission["period_of_report"]) == (
        "4", date(2024, 6, 7), date(2024, 6, 5))
    assert [(f["role"], f["cik"]) for f in submission["filers"]] == [
        ("reporting-owner", "0001641388"), ("issuer", "0000914156")]


def test_index_headers_reader_returns_what_it_can_of_other_bytes():
    assert read_index_headers_page(b"<html><pre>no header here</pre></html>") == {
        "accession": None, "header_text": "no header here"}


# -- inline XBRL cover facts -----------------------------------------------------------------------


def test_buckle_8k_cover_facts(buckle):
    facts = xbrl_cover_facts(buckle)
    assert facts["EntityRegistrantName"] == "BUCKLE, INC"  # the tag leaves out "THE" and "."
    assert facts["EntityCentralIndexKey"] == "0000885245"  # from the hidden ix:header
    assert facts["DocumentType"] == "8-K"
    assert facts["DocumentPeriodEndDate"] == "November 22, 2024"
    assert facts["DocumentPeriodEndDate.value"] == "2024-11-22"
    assert facts["TradingSymbol"] == "BKE"
    assert facts["SecurityExchangeName"] == "New York Stock Exchange"
    assert facts["Security12bTitle"] == "Common Stock, $0.01 par value"
    assert facts["EntityFileNumber"] == "001-12951"
    assert facts["AmendmentFlag"] == "false"
    assert (facts["EntityEmergingGrowthCompany"], facts["EntityEmergingGrowthCompany.value"]) == (
        "o", "false")  # a Wingdings box shown, ixt:fixed-false meant
    assert "AmendmentFlag.value" not in facts
    assert not any(key.startswith("dei:") for key in facts)


def test_shares_outstanding_apply_scale_sign_and_format():
    data = (b'<html xmlns:ix="http://www.xbrl.org/2013/inlineXBRL" '
            b'xmlns:cover="http://xbrl.sec.gov/dei/2023"><body>'
            b'<ix:nonFraction name="cover:EntityCommonStockSharesOutstanding" contextRef="c-3" '
            b'unitRef="shares" scale="3" format="ixt:num-dot-decimal">1,234.5</ix:nonFraction>'
            b'<ix:nonFraction name="cover:EntityPublicFloat" scale="6" sign="-" '
            b'format="ixt:num-comma-decimal">2.000,25</ix:nonFraction>'
            b'<ix:nonNumeric name="cover:CurrentFiscalYearEndDate" '
            b'format="ixt:date-monthname-day-en">December 31</ix:nonNumeric>'
            b'<ix:nonNumeric name="cover:DocumentFiscalYearFocus">2024</ix:nonNumeric>'
            b'<ix:nonFraction name="cover:EntityNumberOfEmployees" format="ixt:fixed-zero">'
            b'-</ix:nonFraction>'
            b'<ix:nonNumeric name="us-gaap:Revenues">9</ix:nonNumeric></body></html>')
    facts = xbrl_cover_facts(data)
    assert facts == {
        "EntityCommonStockSharesOutstanding": "1,234.5",
        "EntityCommonStockSharesOutstanding.value": "1234500",
        "EntityPublicFloat": "2.000,25", "EntityPublicFloat.value": "-2000250000",
        "CurrentFiscalYearEndDate": "December 31", "CurrentFiscalYearEndDate.value": "--12-31",
        "DocumentFiscalYearFocus": "2024",
        "EntityNumberOfEmployees": "-", "EntityNumberOfEmployees.value": "0",
    }


def test_pages_without_inline_xbrl_have_no_cover_facts():
    assert xbrl_cover_facts(read(HTML / "BuckleInc.8-K.EX99.1.html")) == {}
    assert xbrl_cover_facts(read(RATE_EXCEEDED)) == {}
