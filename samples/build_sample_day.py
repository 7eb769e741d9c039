"""Build the local EDGAR's sample days from real complete submissions, the way EDGAR does.

The corpus holds real complete submissions (`.txt`) but not what EDGAR derives from them. For each
filing this writes, under `samples/site/` in EDGAR's URL layout (served by `flows/mirror.py`):

- `Archives/edgar/data/<cik>/<accession-no-dashes>/` for every filer CIK: the unmodified `.txt`,
  each document split out under its FILENAME (uuencoded binaries decoded), `<accession>-index.htm`
  (and `-index.html`, both served by EDGAR), `<accession>-index-headers.html` and `index.json`;
- `Archives/edgar/daily-index/<YYYY>/QTR<n>/form.<YYYYMMDD>.idx` and `master.<YYYYMMDD>.idx`;
- `submissions/CIK##########.json` per filer CIK, as data.sec.gov serves it;
- `cgi-bin/browse-edgar-getcurrent.atom`: the latest-filings Atom feed (the mirror routes
  `/cgi-bin/browse-edgar?action=getcurrent&output=atom` to it);

and under `samples/drop/` two paper scans (image-only 300 dpi PDFs rendered from the filings' own
text), one with a sidecar JSON tying it to its filing, one named by its accession.

Deterministic: every date and time comes from the filings; two runs write the same bytes.

    .venv/bin/python samples/build_sample_day.py [--site DIR] [--drop DIR]
"""

from __future__ import annotations

import argparse
import html
import io
import json
import textwrap
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from PIL import Image, ImageDraw, ImageFont

from extract.edgar_text import decode_text
from extract.html import html_to_text
from extract.sgml import Document, parse_submission

ROOT = Path(__file__).resolve().parent.parent
SOURCES = (ROOT.parent / "shared" / "corpus" / "edgar" / "submissions",
           ROOT / "tests" / "fixtures" / "edgar" / "submissions")
"""Where the real submissions are read from: the shared corpus, else its copies in the fixtures."""
FILINGS = ("0000943374-24-000509", "0001104659-25-002604", "0001127602-25-001055",
           "0001213900-25-032135")
FEED_FILE = "cgi-bin/browse-edgar-getcurrent.atom"
EASTERN = ZoneInfo("America/New_York")
UTC = ZoneInfo("UTC")
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf")
DPI = 300

ROLE_LABELS = {"FILER": "Filer", "SUBJECT COMPANY": "Subject", "FILED BY": "Filed by",
               "REPORTING-OWNER": "Reporting", "ISSUER": "Issuer"}
ROLE_TAGS = {"FILER": "FILER", "SUBJECT COMPANY": "SUBJECT-COMPANY", "FILED BY": "FILED-BY",
             "REPORTING-OWNER": "REPORTING-OWNER", "ISSUER": "ISSUER"}
FORM_TITLES = {
    "4": "Statement of changes in beneficial ownership of securities",
    "8-K": "Current report",
    "SC TO-T/A": "[Amend] Third party tender offer statement",
}
ITEMS_8K = {
    "Entry into a Material Definitive Agreement": "1.01",
    "Termination of a Material Definitive Agreement": "1.02",
    "Bankruptcy or Receivership": "1.03",
    "Material Cybersecurity Incidents": "1.05",
    "Completion of Acquisition or Disposition of Assets": "2.01",
    "Results of Operations and Financial Condition": "2.02",
    "Creation of a Direct Financial Obligation or an Obligation under an Off-Balance Sheet "
    "Arrangement of a Registrant": "2.03",
    "Costs Associated with Exit or Disposal Activities": "2.05",
    "Material Impairments": "2.06",
    "Notice of Delisting or Failure to Satisfy a Continued Listing Rule or Standard; Transfer of "
    "Listing": "3.01",
    "Unregistered Sales of Equity Securities": "3.02",
    "Material Modification to Rights of Security Holders": "3.03",
    "Changes in Registrant's Certifying Accountant": "4.01",
    "Non-Reliance on Previously Issued Financial Statements or a Related Audit Report or "
    "Completed Interim Review": "4.02",
    "Changes in Control of Registrant": "5.01",
    "Departure of Directors or Certain Officers; Election of Directors; Appointment of Certain "
    "Officers: Compensatory Arrangements of Certain Officers": "5.02",
    "Amendments to Articles of Incorporation or Bylaws; Change in Fiscal Year": "5.03",
    "Submission of Matters to a Vote of Security Holders": "5.07",
    "Regulation FD Disclosure": "7.01",
    "Other Events": "8.01",
    "Financial Statements and Exhibits": "9.01",
}
"""8-K item numbers by the wording the SEC header's ITEM INFORMATION uses."""
TAGS = {
    "ACCESSION NUMBER": "ACCESSION-NUMBER", "CONFORMED SUBMISSION TYPE": "TYPE",
    "PUBLIC DOCUMENT COUNT": "PUBLIC-DOCUMENT-COUNT", "CONFORMED PERIOD OF REPORT": "PERIOD",
    "ITEM INFORMATION": "ITEMS", "FILED AS OF DATE": "FILING-DATE",
    "DATE AS OF CHANGE": "DATE-OF-FILING-DATE-CHANGE", "COMPANY CONFORMED NAME": "CONFORMED-NAME",
    "CENTRAL INDEX KEY": "CIK", "STANDARD INDUSTRIAL CLASSIFICATION": "ASSIGNED-SIC",
    "SEC ACT": "ACT", "SEC FILE NUMBER": "FILE-NUMBER", "STREET 1": "STREET1",
    "STREET 2": "STREET2", "BUSINESS PHONE": "PHONE", "DATE OF NAME CHANGE": "DATE-CHANGED",
    "MAIL ADDRESS": "MAIL-ADDRESS",
}
"""The tagged (`.hdr.sgml`) names of the tab-indented header's fields; others: spaces -> '-'."""


# -- the filings -----------------------------------------------------------------------------------


@dataclass
class FilerBlock:
    """One FILER / SUBJECT COMPANY / FILED BY / REPORTING-OWNER / ISSUER block of the header."""

    role: str
    sections: list[tuple[str, list[tuple[str, str]]]] = field(default_factory=list)

    def section(self, name: str) -> dict[str, str]:
        return next((dict(fields) for title, fields in self.sections if title == name), {})

    @property
    def data(self) -> dict[str, str]:
        return self.section("COMPANY DATA") or self.section("OWNER DATA")

    @property
    def cik(self) -> str:
        return self.data["CENTRAL INDEX KEY"].zfill(10)

    @property
    def name(self) -> str:
        return self.data["COMPANY CONFORMED NAME"]

    @property
    def form_type(self) -> str | None:
        return self.section("FILING VALUES").get("FORM TYPE")


@dataclass
class Filing:
    """A real complete submission and what its tab-indented SEC header says."""

    raw: bytes
    fields: list[tuple[str, str]]
    blocks: list[FilerBlock]
    documents: list[Document]
    accepted: str  # ACCEPTANCE-DATETIME as written: YYYYMMDDHHMMSS on EDGAR's Eastern clock
    stamp: str  # the date after ' : ' on the <SEC-DOCUMENT> line

    def field(self, key: str) -> str | None:
        return next((v for k, v in self.fields if k == key), None)

    @property
    def accession(self) -> str:
        return self.field("ACCESSION NUMBER") or ""

    @property
    def form(self) -> str:
        return self.field("CONFORMED SUBMISSION TYPE") or ""

    @property
    def filed(self) -> date:
        return _day(self.field("FILED AS OF DATE"))  # type: ignore[return-value]

    @property
    def period(self) -> date | None:
        return _day(self.field("CONFORMED PERIOD OF REPORT"))

    @property
    def items(self) -> list[str]:
        return [v for k, v in self.fields if k == "ITEM INFORMATION"]

    @property
    def accepted_at(self) -> datetime:
        return datetime.strptime(self.accepted, "%Y%m%d%H%M%S").replace(tzinfo=EASTERN)

    @property
    def folder_name(self) -> str:
        return self.accession.replace("-", "")

    @property
    def ciks(self) -> list[str]:
        """The filer CIKs, sorted: EDGAR serves the filing under each one's folder."""
        return sorted({b.cik for b in self.blocks})

    def block(self, cik: str) -> FilerBlock:
        """The block of `cik` (the one filed under this submission's own form type, if several)."""
        mine = [b for b in self.blocks if b.cik == cik]
        return next((b for b in mine if b.form_type == self.form), mine[0])

    def roles(self) -> list[FilerBlock]:
        """One block per (role, CIK), in header order (the one filed under this form, if two)."""
        chosen: dict[tuple[str, str], FilerBlock] = {}
        for b in self.blocks:
            key = (b.role, b.cik)
            if key not in chosen or (b.form_type == self.form != chosen[key].form_type):
                chosen[key] = b
        return list(chosen.values())

    @property
    def primary(self) -> Document:
        return next((d for d in self.documents if d.sequence == 1), self.documents[0])

    @property
    def inline_xbrl(self) -> bool:
        return b"<ix:header" in self.primary.raw[:400_000].lower()

    @property
    def xbrl(self) -> bool:
        return any((d.type or "").startswith("EX-101") for d in self.documents)


def read_filing(raw: bytes) -> Filing:
    """Parse one complete submission (tab-indented `sec-header` dialect)."""
    submission = parse_submission(raw)
    start, end = raw.find(b"<SEC-HEADER>"), raw.find(b"</SEC-HEADER>")
    text = decode_text(raw[start:end])
    fields: list[tuple[str, str]] = []
    blocks: list[FilerBlock] = []
    block: FilerBlock | None = None
    accepted = ""
    for line in text.splitlines():
        if line.startswith("<ACCEPTANCE-DATETIME>"):
            accepted = line.removeprefix("<ACCEPTANCE-DATETIME>").strip()
        if not line.strip() or line.startswith("<"):
            continue
        depth = len(line) - len(line.lstrip("\t"))
        key, _, value = line.strip().partition(":")
        key, value = " ".join(key.split()), value.strip()
        if depth == 0 and not value and key in ROLE_LABELS:
            block = FilerBlock(key)
            blocks.append(block)
        elif depth == 0:
            fields.append((key, value))
            block = None
        elif block is not None and depth == 1:
            block.sections.append((key, []))
        elif block is not None and block.sections:
            block.sections[-1][1].append((key, value))
    first_line = raw[:raw.find(b"\n")].decode("ascii", "replace")
    return Filing(raw, fields, blocks, submission.documents, accepted,
                  first_line.rpartition(" : ")[2].strip())


def _day(text: str | None) -> date | None:
    return datetime.strptime(text, "%Y%m%d").date() if text else None


def _sic(data: dict[str, str]) -> tuple[str, str]:
    """(code, description) of `PETROLEUM REFINING [2911]`, the description in EDGAR's case."""
    text = data.get("STANDARD INDUSTRIAL CLASSIFICATION", "")
    if "[" not in text:
        return "", ""
    words, _, code = text.rpartition("[")
    return code.rstrip("]"), " ".join(w.capitalize() if w.isalpha() else w.title()
                                      for w in words.split())


def _act(value: str | None) -> str:
    return (value or "").removesuffix(" Act")[-2:]


def _item_numbers(filing: Filing) -> list[str]:
    return [ITEMS_8K[i] for i in filing.items if i in ITEMS_8K]


# -- a filing folder -------------------------------------------------------------------------------


def folder_files(filing: Filing, cik: str) -> dict[str, bytes]:
    """Every file of the filing's folder under `cik`, by name."""
    files = {f"{filing.accession}.txt": filing.raw}
    for doc in filing.documents:
        if doc.filename:
            files[doc.filename] = doc.payload()
    page = index_page(filing, cik)
    files[f"{filing.accession}-index.htm"] = page
    files[f"{filing.accession}-index.html"] = page
    files[f"{filing.accession}-index-headers.html"] = index_headers_page(filing)
    files["index.json"] = folder_listing(filing, cik, files)
    return files


def folder_listing(filing: Filing, cik: str, files: dict[str, bytes]) -> bytes:
    """EDGAR's `index.json`: index pages and the `.txt` first (no size), then the documents."""
    acc = filing.accession
    first = [f"{acc}-index-headers.html", f"{acc}-index.html", f"{acc}.txt"]
    rest = sorted((n for n in files if n not in first and n != f"{acc}-index.htm"),
                  key=str.lower)
    modified = filing.accepted_at.strftime("%Y-%m-%d %H:%M:%S")
    items = [{"last-modified": modified, "name": name, "type": _icon(name),
              "size": "" if name in first else str(len(files[name]))} for name in first + rest]
    folder = f"/Archives/edgar/data/{int(cik)}"
    listing = {"directory": {"item": items, "name": f"{folder}/{filing.folder_name}",
                             "parent-dir": folder}}
    return (json.dumps(listing, indent=2) + "\n").encode()


def _icon(name: str) -> str:
    suffix = name.rsplit(".", 1)[-1].lower()
    return {"zip": "compressed.gif", "jpg": "image2.gif", "gif": "image2.gif",
            "png": "image2.gif", "pdf": "acrobat.gif"}.get(suffix, "text.gif")


BANNER = """\
<!-- BEGIN BANNER -->
<div id="headerTop">
   <div id="Nav"><a href="/index.htm">Home</a> | <a href="/cgi-bin/browse-edgar?action=getcurrent">\
Latest Filings</a> | <a href="javascript:history.back()">Previous Page</a></div>
   <div id="seal"><a href="/index.htm"><img src="/images/sealTop.gif" alt="SEC Seal" border="0" />\
</a></div>
   <div id="secWordGraphic"><img src="/images/bannerTitle.gif" alt="SEC Banner" /></div>
</div>
<div id="headerBottom">
   <div id="searchHome"><a href="/edgar/searchedgar/webusers.htm">Search the Next-Generation EDGAR \
System</a></div>
   <div id="PageTitle">Filing Detail</div>
</div>
<!-- END BANNER -->


<!-- BEGIN BREADCRUMBS -->
<div id="breadCrumbs">
   <ul>
      <li><a href="/index.htm">SEC Home</a> &#187;</li>
      <li><a href="/edgar/searchedgar/webusers.htm">Search the Next-Generation EDGAR System</a> \
&#187;</li>
      <li><a href="/edgar/searchedgar/companysearch.html">Company Search</a> &#187;</li>
      <li class="last">Current Page</li>
   </ul>
</div>
<!-- END BREADCRUMBS -->
"""
TABLE_HEAD = """\
         <tr>
            <th scope="col" style="width: 5%;"><acronym title="Sequence Number">Seq</acronym></th>
            <th scope="col" style="width: 40%;">Description</th>
            <th scope="col" style="width: 20%;">Document</th>
            <th scope="col" style="width: 10%;">Type</th>
            <th scope="col">Size</th>
         </tr>
"""


def index_page(filing: Filing, cik: str) -> bytes:
    """`<accession>-index.htm` in the layout of EDGAR's filing index pages (see the corpus)."""
    acc, e = filing.accession, html.escape
    accepted = filing.accepted_at
    grouping = [("Filing Date", filing.filed.isoformat()),
                ("Accepted", accepted.strftime("%Y-%m-%d %H:%M:%S")),
                ("Documents", str(_declared(filing)))]
    second = [("Period of Report", filing.period.isoformat())] if filing.period else []
    items = [f"Item {ITEMS_8K[i]}: {e(i)}" if i in ITEMS_8K else e(i) for i in filing.items]
    if items:
        second.append(("Items", "<br />".join(items)))
    title = FORM_TITLES.get(filing.form, "")
    parts = [
        '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN" '
        '"http://www.w3.org/TR/html4/loose.dtd">\n<html xmlns="http://www.w3.org/1999/xhtml">\n'
        '<head>\n<meta http-equiv="Content-Type" content="text/html; charset=utf-8" />\n'
        '<meta http-equiv="Last-Modified" content="'
        f'{accepted.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")}" />\n'
        f"<title>EDGAR Filing Documents for {acc}</title>\n"
        '<link rel="stylesheet" type="text/css" href="/include/interactive.css" />\n</head>\n'
        '<body style="margin: 0">\n', BANNER,
        '\n<div id="contentDiv">\n<!-- START FILING DIV -->\n<div id="formDiv">\n'
        '   <div id="formHeader">\n      <div id="formName">\n'
        f"         <strong>Form {e(filing.form)}</strong> - {e(title)}: \n      </div>\n"
        '      <div id="secNum">\n         <strong><acronym title="Securities and Exchange '
        'Commission">SEC</acronym> Accession <acronym title="Number">No.</acronym></strong> '
        f"{acc}\n      </div>\n   </div>\n"
        '   <div class="formContent">\n', _grouping(grouping), _grouping(second) if second else "",
        '      <div style="clear:both"></div>\n   </div>\n</div>\n<!-- END FILING DIV -->\n'
        "<!-- START DOCUMENT DIV -->\n",
    ]
    folder = f"/Archives/edgar/data/{int(cik)}/{filing.folder_name}"
    if filing.xbrl:
        parts.append(
            '<div style="margin: 10px 0px 10px 0px; border: solid 1px #3F509D; '
            'background-color: #F5F5EB;">\n   <div style="padding: 4px 0px 4px 0px; font-size: '
            '12px; margin: 0px 2px 0px 5px; width: 100%; overflow:hidden" id="seriesDiv">\n'
            f'      <a href="/cgi-bin/viewer?action=view&amp;cik={int(cik)}&amp;accession_number='
            f'{acc}&amp;xbrl_type=v" id="interactiveDataBtn">&nbsp;Interactive Data</a>\n'
            "   </div>\n</div>\n")
    formats, data = _document_rows(filing, folder)
    formats.append(("&nbsp;", "Complete submission text file",
                    f'<a href="{folder}/{acc}.txt">{acc}.txt</a>', "&nbsp;", str(len(filing.raw))))
    parts.append(_table("Document Format Files", formats))
    if data:
        parts.append(_table("Data Files", data))
    parts.append("<!-- END DOCUMENT DIV -->\n<!-- START FILER DIV -->\n")
    parts.extend(_filer_div(b) for b in filing.roles())
    parts.append("<!-- END FILER DIV -->\n</div>\n</body>\n</html>\n")
    return "".join(parts).encode("utf-8")


def _declared(filing: Filing) -> int:
    count = filing.field("PUBLIC DOCUMENT COUNT")
    return int(count) if count and count.isdigit() else len(filing.documents)


def _grouping(pairs: list[tuple[str, str]]) -> str:
    rows = "".join(f'         <div class="infoHead">{k}</div>\n         <div class="info">{v}'
                   "</div>\n" for k, v in pairs)
    return f'      <div class="formGrouping">\n{rows}      </div>\n'


def _document_rows(filing: Filing, folder: str) -> tuple[list[tuple], list[tuple]]:
    """(Document Format Files, Data Files) rows. EDGAR lists XBRL exhibits and the extracted
    instance as data files and leaves out the viewer files it generates (R pages, zip, xlsx)."""
    formats, data = [], []
    for doc in filing.documents:
        if not doc.filename:
            continue
        kind = doc.type or ""
        description = html.escape(doc.description or "")
        link = f'<a href="{folder}/{doc.filename}">{doc.filename}</a>'
        generated = (doc.description or "").startswith("IDEA:")
        if generated and doc.filename.endswith("_htm.xml"):
            description, kind = "<b>EXTRACTED</b> XBRL INSTANCE DOCUMENT", "XML"
        elif generated:
            continue
        if doc is filing.primary and filing.inline_xbrl:
            link = (f'<a href="/ix?doc={folder}/{doc.filename}">{doc.filename}</a> &nbsp;&nbsp;'
                    '<span style="color: green">iXBRL</span>')
        row = (str(doc.sequence or ""), description, link, html.escape(kind),
               str(len(doc.payload())))
        (data if kind.startswith("EX-101") or kind == "XML" else formats).append(row)
    return formats, data


def _table(summary: str, rows: list[tuple]) -> str:
    body = []
    for i, row in enumerate(rows):
        cells = "".join(f'            <td scope="row">{cell}</td>\n' for cell in row)
        klass = ' class="blueRow"' if i % 2 else ""
        body.append(f"         <tr{klass}>\n{cells}         </tr>\n")
    return ('<div id="formDiv">\n   <div style="padding: 0px 0px 4px 0px; font-size: 12px; '
            'margin: 0px 2px 0px 5px; width: 100%; overflow:hidden">\n'
            f'      <p>{summary}</p>\n      <table class="tableFile" summary="{summary}">\n'
            f"{TABLE_HEAD}{''.join(body)}      </table>\t\n   </div>\n</div>\n")


def _filer_div(block: FilerBlock) -> str:
    e, data, values = html.escape, block.data, block.section("FILING VALUES")
    label, cik = ROLE_LABELS[block.role], block.cik
    if block.role == "ISSUER":
        label = f'<a href="/cgi-bin/own-disp?CIK={cik}&amp;action=getissuer">{label}</a>'
    elif block.role == "REPORTING-OWNER":
        label = f'<a href="/cgi-bin/own-disp?CIK={cik}&amp;action=getowner">{label}</a>'
    ident = []
    company = []
    if data.get("IRS NUMBER"):
        company.append('<acronym title="Internal Revenue Service Number">IRS No.</acronym>: '
                       f'<strong>{e(data["IRS NUMBER"])}</strong>')
    if data.get("STATE OF INCORPORATION"):
        company.append(f'State of Incorp.: <strong>{e(data["STATE OF INCORPORATION"])}</strong>')
    if data.get("FISCAL YEAR END"):
        company.append(f'Fiscal Year End: <strong>{e(data["FISCAL YEAR END"])}</strong>')
    if company:
        ident.append(" | ".join(company))
    filing = []
    if values.get("FORM TYPE"):
        filing.append(f'Type: <strong>{e(values["FORM TYPE"])}</strong>')
    if values.get("SEC ACT"):
        filing.append(f'Act: <strong>{_act(values["SEC ACT"])}</strong>')
    if values.get("SEC FILE NUMBER"):
        number = e(values["SEC FILE NUMBER"])
        filing.append(f'File No.: <a href="/cgi-bin/browse-edgar?filenum={number}&amp;action='
                      f'getcompany"><strong>{number}</strong></a>')
    if values.get("FILM NUMBER"):
        filing.append(f'Film No.: <strong>{e(values["FILM NUMBER"])}</strong>')
    if filing:
        ident.append(" | ".join(filing))
    code, description = _sic(data)
    if code:
        office = data.get("ORGANIZATION NAME", "").lstrip("0123456789 ")
        ident.append('<acronym title="Standard Industrial Code">SIC</acronym>: <b><a href="/cgi-'
                     f'bin/browse-edgar?action=getcompany&amp;SIC={code}&amp;owner=include">{code}'
                     f"</a></b> {e(description)}" + (f"<br />Office of {e(office)}" if office
                                                     else ""))
    return (
        '<div id="filerDiv">\n' + _mailer("Mailing Address", block.section("MAIL ADDRESS"))
        + _mailer("Business Address", block.section("BUSINESS ADDRESS"))
        + f'<div class="companyInfo">\n  <span class="companyName">{e(block.name)} ({label})\n'
        ' <acronym title="Central Index Key">CIK</acronym>: <a href="/cgi-bin/browse-edgar?CIK='
        f'{cik}&amp;action=getcompany">{cik} (see all company filings)</a></span>\n'
        f'<p class="identInfo">{"<br />".join(ident)}</p>\n</div>\n<div class="clear"></div>\n'
        "</div>\n")


def _mailer(title: str, address: dict[str, str]) -> str:
    lines = [address[k] for k in ("STREET 1", "STREET 2") if address.get(k)]
    place = " ".join(address[k] for k in ("CITY", "STATE", "ZIP") if address.get(k))
    spans = [f'      <span class="mailerAddress">{html.escape(line)}</span>\n' for line in lines]
    if place:
        spans.append(f'      <span class="mailerAddress">\n{html.escape(place)}      </span>\n')
    if address.get("BUSINESS PHONE"):
        spans.append(f'      <span class="mailerAddress">{address["BUSINESS PHONE"]}</span>\n')
    return f'   <div class="mailer">{title}\n{"".join(spans)}   </div>\n'


def index_headers_page(filing: Filing) -> bytes:
    """`<accession>-index-headers.html`: the tagged header in a comment, the SEC header and each
    document's tags in a <pre> with links to the documents (the corpus's layout)."""
    raw = filing.raw
    header = decode_text(raw[raw.find(b"<SEC-HEADER>"):raw.find(b"</SEC-HEADER>")])
    header = header.rstrip("\n") + "\n</SEC-HEADER>\n"
    docs = []
    for doc in filing.documents:
        tags = [f"<TYPE>{doc.type}", f"<SEQUENCE>{doc.sequence}", f"<FILENAME>{doc.filename}"]
        if doc.description:
            tags.append(f"<DESCRIPTION>{doc.description}")
        link = (f'<a href="{doc.filename}">Document {doc.sequence} - file: {doc.filename}'
                "</a><br>\n")
        docs.append(html.escape("<DOCUMENT>\n" + "\n".join(tags) + "\n<TEXT>\n") + link
                    + html.escape("</DOCUMENT>\n"))
    pre = (html.escape(f"<SEC-DOCUMENT>{filing.accession}-index.html : {filing.stamp}\n" + header)
           + "".join(docs) + html.escape("</SEC-DOCUMENT>"))
    page = (f"<HTML><HEAD><TITLE>SEC EDGAR Submission {filing.accession}</TITLE>\n<!--\n"
            f"{tagged_header(filing)}-->\n</HEAD><BODY>\n<PRE>{pre}</PRE></BODY></HTML>\n")
    return page.encode("utf-8")


def tagged_header(filing: Filing) -> str:
    """The header in EDGAR's tagged dialect (`<CIK>0000320193`), as `.hdr.sgml` files have it."""
    lines = [f"<SEC-HEADER>{filing.accession}.hdr.sgml : {filing.stamp}",
             f"<ACCEPTANCE-DATETIME>{filing.accepted}"]
    for key, value in filing.fields:
        if key == "ITEM INFORMATION":
            value = ITEMS_8K.get(value, value)
        lines.append(f"<{_tag(key)}>{value}")
    for block in filing.blocks:
        role = ROLE_TAGS[block.role]
        lines.append(f"<{role}>")
        for title, fields in block.sections:
            lines.append(f"<{_tag(title)}>")
            for key, value in fields:
                if key == "STANDARD INDUSTRIAL CLASSIFICATION":
                    value = _sic({key: value})[0]
                elif key == "SEC ACT":
                    value = _act(value)
                lines.append(f"<{_tag(key)}>{value}")
            lines.append(f"</{_tag(title)}>")
        lines.append(f"</{role}>")
    lines.append("</SEC-HEADER>")
    return "\n".join(lines) + "\n"


def _tag(key: str) -> str:
    return TAGS.get(key, key.replace(" ", "-"))


# -- what EDGAR says about the day and the filers ------------------------------------------------


def daily_indexes(day: date, filings: list[Filing]) -> dict[str, bytes]:
    """`form.<day>.idx` and `master.<day>.idx`: one row per filer CIK of each filing."""
    rows = [(f.form, f.block(cik).name, str(int(cik)), f.accession)
            for f in filings for cik in f.ciks]
    received = f"{day:%b} {day.day:>2}, {day.year}"
    stamp = f"{day:%Y%m%d}"
    form = [f"Description:           Daily Index of EDGAR Dissemination Feed by Form Type\n"
            f"Last Data Received:    {received}\nComments:              webmaster@sec.gov\n"
            "Anonymous FTP:         ftp://ftp.sec.gov/edgar/\n" + " \n" * 4
            + f"{'Form Type':<12}{'Company Name':<62}{'CIK':<12}{'Date Filed':<12}File Name\n"
            + "-" * 141 + "\n"]
    for kind, name, cik, acc in sorted(rows, key=lambda r: (r[0], r[1], r[2], r[3])):
        path = f"edgar/data/{cik}/{acc}.txt"
        form.append(f"{kind:<12}{name[:60]:<62}{cik:<12}{stamp:<12}{path:<52}\n")
    master = ["Description:           Daily Index of EDGAR Dissemination Feed\n"
              f"Last Data Received:    {received}\nComments:              webmaster@sec.gov\n"
              "Anonymous FTP:         ftp://ftp.sec.gov/edgar/\n\n"
              "CIK|Company Name|Form Type|Date Filed|File Name\n" + "-" * 80 + "\n"]
    for kind, name, cik, acc in sorted(rows, key=lambda r: (r[2], r[3])):
        master.append(f"{cik}|{name}|{kind}|{stamp}|edgar/data/{cik}/{acc}.txt\n")
    folder = f"Archives/edgar/daily-index/{day.year}/QTR{(day.month - 1) // 3 + 1}"
    return {f"{folder}/form.{stamp}.idx": "".join(form).encode("latin-1", "replace"),
            f"{folder}/master.{stamp}.idx": "".join(master).encode("latin-1", "replace")}


def submissions_json(cik: str, filings: list[Filing]) -> bytes:
    """data.sec.gov's `CIK##########.json`: the filer, and its filings newest first in columns."""
    mine = sorted(filings, key=lambda f: f.accepted, reverse=True)
    latest = mine[0].block(cik)
    data, owner = latest.data, latest.role == "REPORTING-OWNER"
    code, description = _sic(data)
    state = data.get("STATE OF INCORPORATION", "")
    doc = {
        "cik": str(int(cik)), "entityType": "other" if owner else "operating",
        "sic": code, "sicDescription": description,
        "insiderTransactionForOwnerExists": int(any(f.block(cik).role == "REPORTING-OWNER"
                                                    for f in mine)),
        "insiderTransactionForIssuerExists": int(any(f.block(cik).role == "ISSUER"
                                                     for f in mine)),
        "name": latest.name, "tickers": [], "exchanges": [], "ein": data.get("IRS NUMBER"),
        "description": "", "website": "", "investorWebsite": "", "category": "",
        "fiscalYearEnd": data.get("FISCAL YEAR END"), "stateOfIncorporation": state,
        "stateOfIncorporationDescription": state,
        "addresses": {"mailing": _address(latest.section("MAIL ADDRESS")),
                      "business": _address(latest.section("BUSINESS ADDRESS"))},
        "phone": latest.section("BUSINESS ADDRESS").get("BUSINESS PHONE", ""), "flags": "",
        "formerNames": [{"name": s.get("FORMER CONFORMED NAME"), "from": None,
                         "to": _iso_day(s.get("DATE OF NAME CHANGE"))}
                        for title, fields in latest.sections if title == "FORMER COMPANY"
                        for s in [dict(fields)]],
        "filings": {"recent": _recent(cik, mine), "files": []},
    }
    return (json.dumps(doc, separators=(",", ":")) + "\n").encode()


def _recent(cik: str, filings: list[Filing]) -> dict[str, list]:
    columns: dict[str, list] = defaultdict(list)
    for f in filings:
        values = f.block(cik).section("FILING VALUES")
        accepted = datetime.strptime(f.accepted, "%Y%m%d%H%M%S")
        primary = f.primary
        for key, value in (
            ("accessionNumber", f.accession), ("filingDate", f.filed.isoformat()),
            ("reportDate", f.period.isoformat() if f.period else ""),
            ("acceptanceDateTime", accepted.strftime("%Y-%m-%dT%H:%M:%S.000Z")),
            ("act", _act(values.get("SEC ACT"))), ("form", f.form),
            ("fileNumber", values.get("SEC FILE NUMBER", "")),
            ("filmNumber", values.get("FILM NUMBER", "")),
            ("items", ",".join(_item_numbers(f))), ("size", len(f.raw)),
            ("isXBRL", int(f.xbrl)), ("isInlineXBRL", int(f.inline_xbrl)),
            ("primaryDocument", primary.filename),
            ("primaryDocDescription", primary.description or primary.type or ""),
        ):
            columns[key].append(value)
    return dict(columns)


def _address(section: dict[str, str]) -> dict[str, str | None]:
    state = section.get("STATE")
    return {"street1": section.get("STREET 1"), "street2": section.get("STREET 2"),
            "city": section.get("CITY"), "stateOrCountry": state,
            "zipCode": section.get("ZIP"), "stateOrCountryDescription": state}


def _iso_day(text: str | None) -> str | None:
    day = _day(text)
    return f"{day.isoformat()}T00:00:00.000Z" if day else None


def latest_filings_feed(filings: list[Filing], archives: str = "https://www.sec.gov") -> bytes:
    """The getcurrent Atom feed: one entry per filer of each filing, newest first."""
    newest = sorted(filings, key=lambda f: f.accepted, reverse=True)
    now = newest[0].accepted_at
    e = html.escape
    out = ['<?xml version="1.0" encoding="ISO-8859-1" ?>\n'
           '<feed xmlns="http://www.w3.org/2005/Atom">\n'
           f"<title>Latest Filings - {now.strftime('%a, %d %b %Y %H:%M:%S %Z')}</title>\n"
           '<link rel="alternate" href="/cgi-bin/browse-edgar?action=getcurrent"/>\n'
           '<link rel="self" href="/cgi-bin/browse-edgar?action=getcurrent"/>\n'
           f"<id>{archives}/cgi-bin/browse-edgar?action=getcurrent</id>\n"
           "<author><name>Webmaster</name><email>webmaster@sec.gov</email></author>\n"
           f"<updated>{now.isoformat()}</updated>\n"]
    for f in newest:
        summary = (f"<b>Filed:</b> {f.filed.isoformat()} <b>AccNo:</b> {f.accession} "
                   f"<b>Size:</b> {max(1, round(len(f.raw) / 1024))} KB")
        summary += "".join(f"<br>Item {ITEMS_8K[i]}: {i}" for i in f.items if i in ITEMS_8K)
        for block in f.roles():
            href = (f"{archives}/Archives/edgar/data/{int(block.cik)}/{f.folder_name}/"
                    f"{f.accession}-index.htm")
            out.append(
                "<entry>\n"
                f"<title>{e(f.form)} - {e(block.name)} ({block.cik}) "
                f"({ROLE_LABELS[block.role]})</title>\n"
                f'<link rel="alternate" type="text/html" href="{href}"/>\n'
                f'<summary type="html"> {e(summary)}</summary>\n'
                f"<updated>{f.accepted_at.isoformat()}</updated>\n"
                f'<category scheme="https://www.sec.gov/" label="form type" term="{e(f.form)}"/>\n'
                f"<id>urn:tag:sec.gov,2008:accession-number={f.accession}</id>\n"
                "</entry>\n")
    out.append("</feed>\n")
    return "".join(out).encode("iso-8859-1", "xmlcharrefreplace")


# -- paper scans for the drop folder ---------------------------------------------------------------


def scanned_pdf(title: str, text: str, when: datetime) -> bytes:
    """An image-only 300 dpi greyscale PDF (JPEG pages) of `text` typed on letter paper, set a
    little askew as a feeder leaves it. Dated `when`, so the bytes never change."""
    font = (ImageFont.truetype(str(DEJAVU), 44) if DEJAVU.exists()
            else ImageFont.load_default(44))
    lines = [line for para in text.split("\n")
             for line in (textwrap.wrap(para, 72) or [""]) + [""]]
    per_page = 46
    pages = []
    for start in range(0, len(lines), per_page):
        page = Image.new("L", (int(8.5 * DPI), 11 * DPI), 255)
        ImageDraw.Draw(page).multiline_text((DPI, DPI), "\n".join(lines[start:start + per_page]),
                                            font=font, fill=24, spacing=14)
        pages.append(page.rotate(0.4, resample=Image.Resampling.BICUBIC, fillcolor=255))
    stamp = when.astimezone(UTC).timetuple()
    out = io.BytesIO()
    pages[0].save(out, "PDF", save_all=True, append_images=pages[1:], resolution=DPI, quality=35,
                  title=title, creationDate=stamp, modDate=stamp)
    return out.getvalue()


def drop_files(filings: dict[str, Filing]) -> dict[str, bytes]:
    """A scanned power of attorney (its opening and its signature) with a sidecar tying it to
    its Form 4, and the opening of a press release, named by its filing's accession number."""
    form4 = filings["0001127602-25-001055"]
    poa = html_to_text(next(d for d in form4.documents if d.type == "EX-24").payload())
    paragraphs = poa.split("\n")
    poa = "\n".join(paragraphs[:5] + paragraphs[-3:])
    tender = filings["0001104659-25-002604"]
    release = next(d for d in tender.documents if (d.type or "").startswith("EX-99"))
    release_text = "\n".join(html_to_text(release.payload()).split("\n")[:3])
    sidecar = {"accession": form4.accession, "cik": form4.ciks[0], "form": form4.form,
               "received": form4.accepted_at.isoformat()}
    return {
        "aar-power-of-attorney.pdf": scanned_pdf("Power of Attorney", poa, form4.accepted_at),
        "aar-power-of-attorney.json": (json.dumps(sidecar, indent=2) + "\n").encode(),
        f"{tender.accession}-press-release.pdf": scanned_pdf("Press release", release_text,
                                                             tender.accepted_at),
    }


# -- the run ---------------------------------------------------------------------------------------


def source_file(accession: str) -> Path:
    for folder in SOURCES:
        if (folder / f"{accession}.txt").is_file():
            return folder / f"{accession}.txt"
    raise SystemExit(f"{accession}.txt is in none of {[str(s) for s in SOURCES]}: restore the "
                     "shared corpus or tests/fixtures/edgar/submissions")


def site_files(filings: list[Filing]) -> dict[str, bytes]:
    """Every file the sample days add to the site, by path relative to it."""
    files: dict[str, bytes] = {}
    by_day: dict[date, list[Filing]] = defaultdict(list)
    by_cik: dict[str, list[Filing]] = defaultdict(list)
    for filing in filings:
        by_day[filing.filed].append(filing)
        for cik in filing.ciks:
            by_cik[cik].append(filing)
            folder = f"Archives/edgar/data/{int(cik)}/{filing.folder_name}"
            files.update({f"{folder}/{name}": data
                          for name, data in folder_files(filing, cik).items()})
    for day, day_filings in by_day.items():
        files.update(daily_indexes(day, day_filings))
    for cik, cik_filings in by_cik.items():
        files[f"submissions/CIK{cik}.json"] = submissions_json(cik, cik_filings)
    files[FEED_FILE] = latest_filings_feed(filings)
    return files


def write(folder: Path, files: dict[str, bytes]) -> None:
    for rel, data in sorted(files.items()):
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, default=ROOT / "samples" / "site")
    parser.add_argument("--drop", type=Path, default=ROOT / "samples" / "drop")
    args = parser.parse_args(argv)
    filings = {acc: read_filing(source_file(acc).read_bytes()) for acc in FILINGS}
    site = site_files(list(filings.values()))
    drop = drop_files(filings)
    write(args.site, site)
    write(args.drop, drop)
    print(f"{len(site)} files ({sum(map(len, site.values())):,} bytes) in {args.site}, "
          f"{len(drop)} in {args.drop}")


if __name__ == "__main__":
    main()
