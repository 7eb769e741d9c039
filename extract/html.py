"""HTML pages and EDGAR's HTML read into structured data: visible text, links, meta, filing index
pages, index-headers pages and inline XBRL cover facts.

Pure functions over bytes, parsed with selectolax's Lexbor, an HTML5 parser: it builds the tree a
browser builds, whatever the markup, and keeps inline XBRL tags as `ix:nonnumeric` elements with
lower-cased attributes. Text is what a reader sees: script, style, noscript, template, head,
`<ix:header>`, `hidden` and `display:none` content is left out. A document still in its EDGAR SGML
wrapper (`<DOCUMENT>`…`<TEXT>`) is read from its `<TEXT>`.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from urllib.parse import urljoin

from selectolax.lexbor import LexborHTMLParser, LexborNode

from extract.edgar_text import EASTERN
from extract.errors import ExtractError, MalformedSubmission
from extract.sgml import parse_submission

SNIFF_BYTES = 4096

_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))
_META_CHARSET = re.compile(rb"<meta\b[^>]*?charset\s*=\s*[\"']?\s*([\w.:-]+)", re.I)
_XML_ENCODING = re.compile(rb"\A\s*<\?xml\b[^>]*?encoding\s*=\s*[\"']([\w.:-]+)", re.I)
# the WHATWG Encoding Standard reads these labels as windows-1252
_WINDOWS_1252 = {"ascii", "latin-1", "iso8859-1", "cp1252"}
_SGML_HEAD = re.compile(r"\A\s*<DOCUMENT>.{0,4096}?<TEXT>", re.I | re.S)
_SGML_TAIL = re.compile(r"</TEXT>\s*</DOCUMENT>\s*\Z", re.I)

_INVISIBLE = "script, style, noscript, template, head, title, ix\\:header, [hidden]"
_STYLED = "[style*='none' i]"  # then checked for display:none
_DISPLAY_NONE = re.compile(r"display\s*:\s*none", re.I)
_BLOCKS = frozenset({
    "address", "article", "aside", "blockquote", "body", "caption", "center", "dd", "details",
    "dialog", "dir", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1",
    "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr", "html", "legend", "li", "main", "menu",
    "nav", "ol", "p", "pre", "section", "summary", "table", "tbody", "tfoot", "thead", "ul",
})
_ROLES_BY_TAG = {**dict.fromkeys(_BLOCKS, "block"), "pre": "pre", "td": "cell", "th": "cell",
                 "tr": "row", "br": "br", "-comment": "skip", "-doctype": "skip", None: "skip"}
_BREAK = "\x1e"  # a line break the walker makes; newlines in text are spaces (outside <pre>)
_LEADING_SYMBOLS = {"$", "(", "$(", "€", "£", "¥"}  # a cell of its own before its number
_TRAILING_SYMBOLS = {")", "%", ")%", "%)"}

_ACCESSION = re.compile(r"(?<!\d)(\d{10})-?(\d{2})-?(\d{6})(?!\d)")
_FILER = re.compile(r"^(?P<name>.*?)\s*(?:\((?P<role>[^()]*)\))?\s*CIK\W*(?P<cik>\d{1,10})")
_FILER_ROLES = {"filer": "filer", "issuer": "issuer", "reporting": "reporting-owner",
          "subject": "subject-company", "filed by": "filed-by"}
_IX_VIEWER = re.compile(r"^/ix\?doc=(?=/)")

_MAX_SCALE = 30  # ix:nonFraction scale beyond any real cover fact; guards against huge strings
_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug",
                                        "sep", "oct", "nov", "dec"), start=1)}
# ixt date transforms by the order of their parts; longest first so "monthnameday" is no "monthday"
_DATE_ORDERS = (("monthnamedayyear", "MDY"), ("daymonthnameyear", "DMY"), ("yearmonthday", "YMD"),
                ("monthdayyear", "MDY"), ("daymonthyear", "DMY"), ("monthnameday", "MD"),
                ("daymonthname", "DM"), ("monthday", "MD"), ("daymonth", "DM"))


class HtmlError(ExtractError):
    """The bytes are not the HTML page the caller asked for (or no HTML at all)."""


@dataclass(slots=True)
class Link:
    href: str  # resolved against the page URL (and its <base href>) when one is given
    text: str


@dataclass(slots=True)
class HtmlPage:
    """A page as a reader sees it. `text`: a line per block, a table row's cells joined by " | "."""

    title: str | None
    text: str
    links: list[Link]
    meta: dict[str, str]  # lower-cased name / property / http-equiv (and "charset") -> content
    language: str | None


@dataclass(slots=True)
class FilingIndexPage:
    """EDGAR's `<accession>-index.htm`. `accepted` is UTC (EDGAR shows it on the Eastern clock)."""

    accession: str | None
    form_type: str | None
    filing_date: date | None
    accepted: datetime | None
    period_of_report: date | None
    documents_count: int | None
    items: list[str] = field(default_factory=list)
    filers: list[dict] = field(default_factory=list)  # {"role", "name", "cik"}
    # {"seq", "description", "document", "href", "type", "size", "table", "inline_xbrl"}
    documents: list[dict] = field(default_factory=list)


# -- the old html_text API -------------------------------------------------------------------------


def looks_like_html(data: bytes) -> bool:
    head = data[:SNIFF_BYTES].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<html" in head


def html_title(data: bytes) -> str | None:
    return _title(_parse(data))


def html_to_text(data: bytes) -> str:
    """The visible text, one block per line, whitespace collapsed."""
    return _visible_text(_prune(_parse(data)).root)


# -- pages -----------------------------------------------------------------------------------------


def read_html(data: bytes, url: str | None = None) -> HtmlPage:
    """Title, visible text, links, meta tags and language of a page. Never raises on bad bytes."""
    tree = _parse(data)
    meta: dict[str, str] = {}
    for node in tree.css("meta"):
        attrs = node.attributes
        key = attrs.get("name") or attrs.get("property") or attrs.get("http-equiv")
        if key and attrs.get("content") is not None:
            meta.setdefault(key.strip().lower(), attrs["content"].strip())
        if attrs.get("charset"):
            meta.setdefault("charset", attrs["charset"].strip())
    root = tree.root.attributes if tree.root is not None else {}
    language = (root.get("lang") or root.get("xml:lang") or "").strip() or None
    base = tree.css_first("base[href]")
    if url and base is not None:
        url = _resolve(base.attributes.get("href") or "", url)
    title = _title(tree)
    _prune(tree)
    links = [Link(_resolve(node.attributes.get("href") or "", url), _words(node.text()))
             for node in tree.css("a[href]")]
    return HtmlPage(title, _visible_text(tree.root), links, meta, language)


def html_encoding(data: bytes) -> str:
    """The codec to read a page with: its BOM, else <meta charset> or http-equiv content-type (or
    an XML declaration) in the first 4 KiB, else UTF-8. Labels are read as browsers read them."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return codec
    head = data[:SNIFF_BYTES]
    found = _META_CHARSET.search(head) or _XML_ENCODING.search(head)
    if not found:
        return "utf-8"
    try:
        codec = codecs.lookup(found.group(1).decode("ascii")).name
    except (LookupError, UnicodeDecodeError):
        return "utf-8"
    if codec in _WINDOWS_1252:
        return "cp1252"
    return "utf-8" if codec.startswith("utf-16") else codec  # a BOM-less page is no UTF-16


# -- EDGAR pages -----------------------------------------------------------------------------------


def read_filing_index_page(data: bytes, url: str | None = None) -> FilingIndexPage:
    """EDGAR's filing index page: accession, form, dates, items, filers and documents tables.

    Raises HtmlError when the bytes are no filing index page (the reason says what they are).
    """
    tree = _parse(data)
    heads = tree.css("div.infoHead")
    tables = tree.css("table.tableFile")
    sec_num = tree.css_first("#secNum")
    if not heads and not tables and sec_num is None:
        raise HtmlError(_not_an_index_page(data, tree))
    info: dict[str, list[str]] = {}
    for head in heads:
        value = _next_element(head)
        if value is not None:
            info.setdefault(_words(head.text()), _visible_text(value).split("\n"))

    def first(label: str) -> str | None:
        return (info.get(label) or [None])[0] or None

    form = tree.css_first("#formName strong")
    form_type = _words(form.text()).removeprefix("Form ").strip() if form is not None else ""
    return FilingIndexPage(
        accession=_accession_in(sec_num.text() if sec_num else None)
        or _accession_in(_title(tree)) or _accession_in(url),
        form_type=form_type or None,
        filing_date=_iso_date(first("Filing Date")),
        accepted=_eastern_to_utc(first("Accepted")),
        period_of_report=_iso_date(first("Period of Report")),
        documents_count=_int(first("Documents")),
        items=[item for item in info.get("Items", []) if item],
        filers=[f for f in map(_filer, tree.css("#filerDiv .companyName")) if f],
        documents=[d for table in tables for d in _documents(table, url)],
    )


def read_index_headers_page(data: bytes) -> dict:
    """EDGAR's `-index-headers.html`: {"accession", "header_text"}, and "submission" (accession,
    form_type, filed_as_of, acceptance_time, period_of_report, filers) when extract.sgml reads it.

    `header_text` is the `<SEC-HEADER>`…`</SEC-HEADER>` part of the page's <pre>, entities
    decoded; some of these pages are the bare SGML header, not HTML at all. Never raises.
    """
    text = _decode(bytes(data))
    if looks_like_html(data):
        tree = LexborHTMLParser(text)
        pre = tree.css_first("pre")
        text = pre.text() if pre is not None else _visible_text(_prune(tree).root)
    start, end = text.find("<SEC-HEADER>"), text.find("</SEC-HEADER>")
    if 0 <= start < end:
        text = text[start:end + len("</SEC-HEADER>")]
    out: dict = {"accession": None, "header_text": text.strip()}
    try:
        submission = parse_submission(out["header_text"].encode("utf-8"))
    except MalformedSubmission:
        submission = None
    if submission is not None:
        out["submission"] = {
            "accession": submission.accession, "form_type": submission.form_type,
            "filed_as_of": submission.filed_as_of, "acceptance_time": submission.acceptance_time,
            "period_of_report": submission.period_of_report,
            "filers": [asdict(filer) for filer in submission.filers],
        }
    out["accession"] = (submission.accession if submission else None) or _accession_in(text)
    return out


def xbrl_cover_facts(data: bytes) -> dict[str, str]:
    """Inline XBRL `dei:` facts by local name, as the text shows them (whitespace collapsed).

    Where the inline transform changes the value, `<name>.value` holds it normalised: an
    ix:nonFraction's number with its scale and sign applied ("1234000", "-5.5"), a date as ISO
    ("2024-11-22", "--12-31" without a year), fixed-true/false as "true"/"false". The first fact
    of a name wins (a second share class's count is not read). Empty when there are none.
    """
    tree = _parse(data)
    root = tree.root.attributes if tree.root is not None else {}
    prefixes = {key[6:] for key, uri in root.items()
                if key.startswith("xmlns:") and uri and "xbrl.sec.gov/dei" in uri} or {"dei"}
    for node in reversed(tree.css("ix\\:exclude")):
        node.decompose()
    facts: dict[str, str] = {}
    for node in tree.css("ix\\:nonnumeric, ix\\:nonfraction"):
        prefix, _, name = (node.attributes.get("name") or "").partition(":")
        if prefix.lower() not in prefixes or not name or name in facts:
            continue
        shown = facts[name] = _words(node.text())
        value = _fact_value(node, shown)
        if value is not None and value != shown:
            facts[f"{name}.value"] = value
    return facts


# -- parsing and text ------------------------------------------------------------------------------


def _decode(data: bytes) -> str:
    encoding = html_encoding(data)
    bom = next((len(b) for b, codec in _BOMS if data.startswith(b) and codec == encoding), 0)
    text = data[bom:].decode(encoding, "replace")
    head = _SGML_HEAD.match(text)
    if head:  # a document cut from a complete submission: the HTML is its <TEXT>
        text = _SGML_TAIL.sub("", text[head.end():])
    return text


def _parse(data: bytes) -> LexborHTMLParser:
    return LexborHTMLParser(_decode(bytes(data)))


def _prune(tree: LexborHTMLParser) -> LexborHTMLParser:
    """Remove what a reader does not see; descendants go before their ancestors."""
    for node in reversed(tree.css(_INVISIBLE)):
        if node.tag != "html":
            node.decompose()
    for node in reversed(tree.css(_STYLED)):
        if node.tag != "html" and _DISPLAY_NONE.search(node.attributes.get("style") or ""):
            node.decompose()
    return tree


def _title(tree: LexborHTMLParser) -> str | None:
    node = tree.css_first("title")
    return (_words(node.text()) or None) if node is not None else None


def _visible_text(root: LexborNode | None) -> str:
    """Text in reading order: blocks on their own lines, a table row with two or more non-empty
    cells on one line (a one-cell layout row keeps its lines), whitespace collapsed."""
    if root is None:
        return ""
    out: list[str] = []
    saved: list[list[str]] = []  # the enclosing buffers of open cells
    rows: list[list[str]] = []  # the cells of open rows
    stack: list[tuple] = [(root.iter(include_text=True), None)]
    pre = 0
    while stack:
        for node in stack[-1][0]:
            tag = node.tag
            if tag == "-text":
                text = node.text_content or ""
                out.append(text.replace("\r", "").replace("\n", _BREAK) if pre else text)
                continue
            role = _ROLES_BY_TAG.get(tag)
            if role == "skip":
                continue
            if role == "br":
                out.append(_BREAK)
                continue
            if role == "cell":
                saved.append(out)
                out = []
            elif role == "row":
                rows.append([])
            elif role is not None:  # a block
                out.append(_BREAK)
                pre += role == "pre"
            stack.append((node.iter(include_text=True), role))
            break
        else:
            role = stack.pop()[1]
            if role == "cell":
                cell, out = "".join(out), saved.pop()
                if rows:
                    rows[-1].append(cell)
                else:
                    out.extend((_BREAK, cell, _BREAK))
            elif role == "row":
                out.extend((_BREAK, _row(rows.pop()), _BREAK))
            elif role is not None:
                out.append(_BREAK)
                pre -= role == "pre"
    return "\n".join(_lines("".join(out)))


def _lines(text: str) -> list[str]:
    """The non-empty lines of walker output, whitespace (text's own newlines too) collapsed."""
    return [line for line in map(_words, text.split(_BREAK)) if line]


def _row(cells: list[str]) -> str:
    filled = [lines for lines in map(_lines, cells) if lines]
    if len(filled) < 2:
        return _BREAK.join(filled[0]) if filled else ""
    merged: list[str] = []
    lead = ""
    for cell in (" ".join(lines) for lines in filled):
        if cell in _LEADING_SYMBOLS:
            lead += cell
        elif cell in _TRAILING_SYMBOLS and merged and not lead:
            merged[-1] += cell
        else:
            merged.append(lead + cell)
            lead = ""
    if lead:
        merged.append(lead)
    return " | ".join(merged)


def _words(text: str | None) -> str:
    return " ".join(text.split()) if text else ""


def _resolve(href: str, url: str | None) -> str:
    href = href.strip()
    try:
        return urljoin(url, href) if url else href
    except ValueError:  # a malformed URL (e.g. a bad IPv6 host) stays as written
        return href


def _next_element(node: LexborNode) -> LexborNode | None:
    node = node.next
    while node is not None and (node.tag or "-").startswith("-"):
        node = node.next
    return node


# -- EDGAR index page parts ------------------------------------------------------------------------


def _not_an_index_page(data: bytes, tree: LexborHTMLParser) -> str:
    if not looks_like_html(data):
        return (f"not HTML at all ({len(data)} bytes starting {bytes(data[:24])!r}): "
                "not an EDGAR filing index page")
    title = _title(tree) or "no title"
    if "rate threshold exceeded" in title.lower():
        return (f"EDGAR's rate-limit page ({title!r}), not a filing index page: wait 10 minutes "
                "and fetch again at no more than 10 requests per second")
    return (f"no 'Filing Detail' header and no document table in {title!r}: not an EDGAR "
            "filing index page (<accession>-index.htm)")


def _filer(node: LexborNode) -> dict | None:
    found = _FILER.search(_words(node.text()))
    if not found:
        return None
    role = (found["role"] or "").strip()
    return {"role": _FILER_ROLES.get(role.lower(), role.lower().replace(" ", "-") or None),
            "name": found["name"] or None, "cik": found["cik"]}


def _documents(table: LexborNode, url: str | None) -> list[dict]:
    summary = table.attributes.get("summary")
    documents = []
    for row in table.css("tr"):
        cells = row.css("td")
        if len(cells) < 5:
            continue  # the header row (th)
        link = cells[2].css_first("a[href]")
        href = _IX_VIEWER.sub("", (link.attributes.get("href") or "").strip()) if link else ""
        documents.append({
            "seq": _int(_words(cells[0].text())),
            "description": _words(cells[1].text()) or None,
            "document": _words((link or cells[2]).text()) or None,
            "href": _resolve(href, url) if href else None,
            "type": _words(cells[3].text()) or None,
            "size": _int(_words(cells[4].text())),
            "table": summary,
            "inline_xbrl": "iXBRL" in cells[2].text(),
        })
    return documents


def _accession_in(text: str | None) -> str | None:
    found = _ACCESSION.search(text) if text else None
    return "-".join(found.groups()) if found else None


def _iso_date(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text.strip()[:10]) if text else None
    except ValueError:
        return None


def _eastern_to_utc(text: str | None) -> datetime | None:
    """`2017-08-09 15:24:40` on EDGAR's Eastern clock -> 2017-08-09 19:24:40+00:00."""
    if not text:
        return None
    try:
        local = datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S")
        return local.replace(tzinfo=EASTERN).astimezone(UTC)
    except (ValueError, OverflowError):  # not a time, or year 9999 run past UTC's end
        return None


def _int(text: str | None) -> int | None:
    text = (text or "").replace(",", "")
    return int(text) if text.isascii() and text.isdigit() and len(text) < 19 else None


# -- inline XBRL values ----------------------------------------------------------------------------


def _fact_value(node: LexborNode, shown: str) -> str | None:
    attrs = node.attributes
    transform = (attrs.get("format") or "").rpartition(":")[2].replace("-", "").lower()
    if node.tag == "ix:nonfraction":
        return _number(shown, transform, attrs.get("scale"), attrs.get("sign"),
                       attrs.get("xsi:nil"))
    if transform.startswith("fixed") and transform[5:] in ("true", "false", "zero"):
        return {"zero": "0"}.get(transform[5:], transform[5:])
    if transform.startswith("date"):
        return _fact_date(shown, transform)
    return None


def _number(shown: str, transform: str, scale: str | None, sign: str | None,
            nil: str | None) -> str | None:
    if (nil or "").strip().lower() == "true":
        return ""
    if transform in ("fixedzero", "zerodash", "numzerodash"):
        digits = "0"
    elif "commadecimal" in transform:
        digits = re.sub(r"[^\d,]", "", shown).replace(",", ".")
    else:
        digits = re.sub(r"[^\d.]", "", shown)
    try:
        power = int(scale or 0)
        number = Decimal(digits).scaleb(power) if abs(power) <= _MAX_SCALE else None
    except (InvalidOperation, ValueError):
        return None
    if number is None:
        return None
    text = format(-number if (sign or "").strip() == "-" else number, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _fact_date(shown: str, transform: str) -> str | None:
    order = next((o for name, o in _DATE_ORDERS if name in transform), None)
    tokens = re.findall(r"[A-Za-z]+|\d+", shown)
    if order is None or len(tokens) < len(order):
        return None
    parts: dict[str, int] = {}
    for part, token in zip(order, tokens, strict=False):
        number = _MONTHS.get(token[:3].lower()) if part == "M" and token.isalpha() else None
        if number is None and not (token.isdigit() and len(token) <= 4):
            return None
        parts[part] = number if number is not None else int(token)
    year = parts.get("Y")
    try:
        if year is None:
            date(2000, parts["M"], parts["D"])  # a leap year, so --02-29 passes
            return f"--{parts['M']:02d}-{parts['D']:02d}"
        return date(year + 2000 if year < 100 else year, parts["M"], parts["D"]).isoformat()
    except ValueError:
        return None
