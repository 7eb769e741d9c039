"""What EDGAR says exists: its index files and JSON APIs, read into expected-filing rows.

Pure functions over bytes. Read here:

- `form.idx`, `company.idx` (fixed-width; the header line gives the columns) and `master.idx`
  (`CIK|Company Name|Form Type|Date Filed|File Name`), daily (`YYYYMMDD` dates) or full-index
  (`YYYY-MM-DD`);
- `data.sec.gov/submissions/CIK##########.json` (an issuer and its recent filings, in columns) and
  its older pages `CIK##########-submissions-001.json` (the columns alone);
- a filing folder's `index.json` (its documents).

A file either reads whole or raises `IndexFormatError` naming what is wrong and where (line
number, JSON path): a row is never dropped in silence.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

from extract.edgar_text import EASTERN, decode_text
from extract.errors import ExtractError

HEADER_LINES = 40
"""An index file's column header is within its first lines (daily: line 9, full: line 10)."""

PAPER_PREFIX = "9999999997"
PAPER_FORMS = frozenset({"REGDEX", "REGDEX/A"})

FILING_KEYS = (
    "accession", "cik", "company_name", "form_type", "date_filed", "path", "index_kind",
    "acceptance_time", "report_date", "primary_document", "items", "file_number", "film_number",
    "size", "paper",
)
"""The keys of an expected-filing row (the `expected_filings` table)."""

ISSUER_KEYS = (
    "cik", "name", "entity_type", "sic", "sic_description", "tickers", "exchanges",
    "former_names", "state_of_incorporation", "fiscal_year_end", "ein",
)
"""The keys of an issuer row (the `issuers` table)."""

_IDX_NAME = re.compile(r"(?:^|[-_.])(form|company|master)(?:\.[0-9A-Za-z]+)?\.idx$", re.I)
_SUBMISSIONS_NAME = re.compile(r"CIK\d{10}\.json$", re.I)
_SUBMISSIONS_PAGE_NAME = re.compile(r"CIK\d{10}-submissions-\d+\.json$", re.I)
_FILING_INDEX_NAME = re.compile(r"\d{10}-\d{2}-\d{6}-index\.json$")
_FOLDER_NAME = re.compile(r"\d{18}$")
_FOLDER_PATH = re.compile(r"/edgar/data/(\d{1,10})/(\d{10})(\d{2})(\d{6})/?$", re.A)
_FOLDER_IN_JSON = re.compile(rb'"/Archives/edgar/data/\d{1,10}/\d{18}/?"')
_ACCESSION = re.compile(r"\d{10}-\d{2}-\d{6}", re.A)
_ACCESSION_IN_PATH = re.compile(r"(\d{10}-\d{2}-\d{6})\.txt$", re.A)
_ACCESSION_FILE = re.compile(r"(\d{10}-\d{2}-\d{6})(?:\.txt|-index\.html?|-index-headers\.html)$")
_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})|(\d{4})-(\d{2})-(\d{2})", re.A)
_ACCEPTANCE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})?", re.A)
_SPACES = re.compile(rb" +")


class IndexFormatError(ExtractError):
    """An EDGAR index file or JSON answer that cannot be read; `reason` says what and where."""


# --- what a payload is --------------------------------------------------------------------------


def index_kind(url_or_name: str, data: bytes | None = None) -> str | None:
    """`form-idx`, `company-idx`, `master-idx`, `submissions-json`, `submissions-page-json`,
    `filing-index-json`, or None: from the URL or file name, else from a sniff of `data`."""
    path = str(url_or_name).split("?", 1)[0].split("#", 1)[0].rstrip("/")
    parts = path.rsplit("/", 2)
    name = parts[-1]
    if m := _IDX_NAME.search(name):
        return f"{m.group(1).lower()}-idx"
    if _SUBMISSIONS_NAME.fullmatch(name):
        return "submissions-json"
    if _SUBMISSIONS_PAGE_NAME.fullmatch(name):
        return "submissions-page-json"
    if _FILING_INDEX_NAME.fullmatch(name):
        return "filing-index-json"
    if name == "index.json" and len(parts) == 3 and _FOLDER_NAME.fullmatch(parts[1]):
        return "filing-index-json"
    return _sniff(data) if isinstance(data, bytes | bytearray | memoryview) else None


def _sniff(data: bytes) -> str | None:
    data = bytes(data)
    head = data[:65536]
    if head.lstrip()[:1] == b"{":
        if b'"filings"' in data and b'"cik"' in data:
            return "submissions-json"
        if b'"accessionNumber"' in head:
            return "submissions-page-json"
        if b'"directory"' in head and _FOLDER_IN_JSON.search(data):
            return "filing-index-json"
        return None
    for _, line in zip(range(HEADER_LINES), io.BytesIO(head), strict=False):
        if found := _header_kind(line.rstrip()):
            return found[0]
    return None


# --- form.idx, company.idx, master.idx ----------------------------------------------------------


def parse_index_file(data: bytes) -> list[dict]:
    """Every row of a form/company/master .idx file (the kind is read from its header)."""
    return list(iter_index_file(data))


def iter_index_file(data: bytes) -> Iterator[dict]:
    """Rows of an .idx file one at a time (a full-index file holds hundreds of thousands)."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise IndexFormatError(f"index file: expected bytes, got {type(data).__name__}")
    lines = enumerate(io.BytesIO(data), 1)
    kind, second_at = _read_header(lines, data)
    dates: dict[bytes, date] = {}
    for n, raw in lines:
        line = raw.rstrip()
        if not line:
            continue
        if kind == "master-idx":
            cik, company, form, filed, filename = _pipe_fields(line, n)
        else:
            cik, company, form, filed, filename = _fixed_fields(line, n, kind, second_at)
        yield _index_row(kind, line, n, cik, company, form, filed, filename, dates)


def _header_kind(line: bytes) -> tuple[str, int] | None:
    """(kind, where its second column starts) if `line` is an index file's column header."""
    if line.startswith(b"CIK|Company Name|Form Type|Date Filed|"):
        return "master-idx", 0
    if line.startswith(b"Form Type") and b"Company Name" in line:
        return "form-idx", line.index(b"Company Name")
    if line.startswith(b"Company Name") and b"Form Type" in line:
        return "company-idx", line.index(b"Form Type")
    return None


def _read_header(lines: Iterator[tuple[int, bytes]], data: bytes) -> tuple[str, int]:
    """Consume the preamble up to the `-----` rule under the column header; return its columns."""
    for n, raw in lines:
        if found := _header_kind(raw.rstrip()):
            break
        if n >= HEADER_LINES:
            raise IndexFormatError(
                f"index file: no column header ('Form Type  Company Name…', 'Company Name  Form "
                f"Type…' or 'CIK|Company Name|…') in the first {HEADER_LINES} lines; it starts "
                f"{_snippet(bytes(data[:80]))}: not an EDGAR index file")
    else:
        raise IndexFormatError(
            f"index file: no column header ('Form Type  Company Name…', 'Company Name  Form Type…' "
            f"or 'CIK|Company Name|…'); it starts {_snippet(bytes(data[:80]))}: "
            "not an EDGAR index file (or cut short before its header)")
    for m, raw in lines:
        if raw.startswith(b"---"):
            return found
        if m > n + 2:
            break
    raise IndexFormatError(
        f"index file line {n}: a column header with no '-----' rule under it: "
        "cut short, or not an EDGAR index file")


def _pipe_fields(line: bytes, n: int) -> tuple[bytes, bytes, bytes, bytes, bytes]:
    parts = line.split(b"|")
    if len(parts) < 5:
        raise _bad_row(n, line, f"{len(parts)} '|'-separated fields, 5 expected")
    return parts[0], b"|".join(parts[1:-3]), parts[-3], parts[-2], parts[-1]


def _fixed_fields(line: bytes, n: int, kind: str, second_at: int):
    """Split from the right (File Name, Date Filed, CIK), then form type from company name."""
    parts = line.rsplit(None, 3)
    if len(parts) < 4:
        raise _bad_row(n, line, f"{len(parts)} columns, at least 4 expected")
    head, cik, filed, filename = parts
    if kind == "form-idx" and len(head) <= second_at:
        return cik, b"", head.strip(), filed, filename
    first, second = (_split_at_column(head, second_at, kind)
                     or _split_overflowed(head, second_at, n, line))
    if kind == "form-idx":
        return cik, second, first, filed, filename
    return cik, first, second, filed, filename


def _split_at_column(head: bytes, at: int, kind: str) -> tuple[bytes, bytes] | None:
    """Split where the header puts the second column, if a column starts there and the form
    type so found has no run of spaces (form types have single spaces, names may have more)."""
    if head[at - 1:at] != b" " or not head[at:at + 1].strip():
        return None
    first, second = head[:at].strip(), head[at:].strip()
    form = first if kind == "form-idx" else second
    return None if b"  " in form else (first, second)


def _split_overflowed(head: bytes, second_at: int, n: int, line: bytes) -> tuple[bytes, bytes]:
    """A column overflowed: split at the widest run of spaces, the one nearest the column start."""
    runs = list(_SPACES.finditer(head))
    if not runs:
        raise _bad_row(n, line, "form type and company name cannot be told apart")
    best = max(runs, key=lambda m: (m.end() - m.start(), -abs(m.end() - second_at)))
    return head[:best.start()].strip(), head[best.end():].strip()


def _index_row(kind: str, line: bytes, n: int, cik: bytes, company: bytes, form: bytes,
               filed: bytes, filename: bytes, dates: dict[bytes, date]) -> dict:
    cik = cik.strip()
    if not (cik.isdigit() and len(cik) <= 10):
        raise _bad_row(n, line, f"CIK {_snippet(cik)} is not a number of up to 10 digits")
    day = dates.get(filed)
    if day is None:
        day = dates[filed] = _idx_date(filed, n, line)
    path = decode_text(filename.strip())
    if not path.endswith(".txt"):
        raise _bad_row(n, line, f"File Name {path!r} does not end in .txt (a line cut short?)")
    m = _ACCESSION_IN_PATH.search(path)
    accession = m.group(1) if m else None
    form_type = decode_text(form.strip()) or None
    return {
        "accession": accession, "cik": cik.decode().zfill(10),
        "company_name": decode_text(company.strip()) or None, "form_type": form_type,
        "date_filed": day, "path": path, "index_kind": kind, "acceptance_time": None,
        "report_date": None, "primary_document": None, "items": None, "file_number": None,
        "film_number": None, "size": None, "paper": _is_paper(accession, form_type),
    }


def _idx_date(raw: bytes, n: int, line: bytes) -> date:
    day = _date(raw.decode("latin-1"))
    if day is None:
        raise _bad_row(n, line, f"Date Filed {_snippet(raw)} is not a date (YYYYMMDD or "
                                "YYYY-MM-DD)")
    return day


def _bad_row(n: int, line: bytes, problem: str) -> IndexFormatError:
    return IndexFormatError(f"index file line {n}: {problem}: {_snippet(line[:160])}")


# --- data.sec.gov/submissions -------------------------------------------------------------------


def parse_submissions_json(data: bytes, *, cik: str | None = None
                           ) -> tuple[dict | None, list[dict], list[str]]:
    """(issuer row, expected-filing rows, names of older pages) of a submissions JSON.

    An older page (`CIK…-submissions-001.json`) is the filing columns alone: its issuer is None,
    and its rows' `cik` (and so `path`) is `cik` if given (the page itself does not say).
    """
    doc = _load_json(data, "submissions JSON")
    if not isinstance(doc, dict):
        raise IndexFormatError(f"submissions JSON: top level is a {_kind(doc)}, not an object")
    if "filings" in doc:
        issuer = _issuer(doc)
        filings = _object(doc["filings"], "filings")
        recent = _object(filings.get("recent"), "filings.recent")
        rows = _filing_rows(recent, issuer["cik"], issuer["name"], "submissions-json",
                            "filings.recent")
        return issuer, rows, _older_pages(filings.get("files"))
    if "accessionNumber" in doc:
        page_cik = _cik(cik, "the cik argument") if cik is not None else None
        return None, _filing_rows(doc, page_cik, None, "submissions-page-json", ""), []
    raise IndexFormatError(
        "submissions JSON: neither 'filings' (a CIK##########.json) nor 'accessionNumber' (an "
        f"older page) at the top level; keys: {sorted(map(str, doc))[:10]}")


def filer_category(data: bytes) -> str | None:
    """The filer category of a submissions JSON (`Large accelerated filer`, `Non-accelerated
    filer<br>Smaller reporting company`…) as EDGAR writes it; None when absent or empty. Filing
    deadlines depend on it (storage/deadlines.py)."""
    doc = _load_json(data, "submissions JSON")
    value = doc.get("category") if isinstance(doc, dict) else None
    return (value.strip() or None) if isinstance(value, str) else None


def _issuer(doc: dict) -> dict:
    former = doc.get("formerNames") or []
    if not isinstance(former, list):
        raise IndexFormatError(f"submissions JSON: formerNames is a {_kind(former)}, not a list")
    return {
        "cik": _cik(doc.get("cik"), "cik"),
        "name": _scalar(doc.get("name"), "name"),
        "entity_type": _scalar(doc.get("entityType"), "entityType"),
        "sic": _scalar(doc.get("sic"), "sic"),
        "sic_description": _scalar(doc.get("sicDescription"), "sicDescription"),
        "tickers": _strings(doc.get("tickers"), "tickers"),
        "exchanges": _strings(doc.get("exchanges"), "exchanges"),
        "former_names": [_former_name(f, i) for i, f in enumerate(former)],
        "state_of_incorporation": _scalar(doc.get("stateOfIncorporation"),
                                          "stateOfIncorporation"),
        "fiscal_year_end": _scalar(doc.get("fiscalYearEnd"), "fiscalYearEnd"),
        "ein": _scalar(doc.get("ein"), "ein"),
    }


def _former_name(entry: object, i: int) -> dict:
    where = f"formerNames[{i}]"
    entry = _object(entry, where)
    return {k: _scalar(entry.get(k), f"{where}.{k}") for k in ("name", "from", "to")}


def _older_pages(files: object) -> list[str]:
    """Names of the older pages (plain `CIK##########-submissions-###.json`: they become URLs)."""
    if files is None:
        return []
    if not isinstance(files, list):
        raise IndexFormatError(f"submissions JSON: filings.files is a {_kind(files)}, not a list")
    names = []
    for i, entry in enumerate(files):
        where = f"filings.files[{i}]"
        name = _scalar(_object(entry, where).get("name"), f"{where}.name")
        if not (name and _SUBMISSIONS_PAGE_NAME.fullmatch(name)):
            raise IndexFormatError(f"submissions JSON: {where}.name {name!r} is not a page name "
                                   "(CIK##########-submissions-###.json)")
        names.append(name)
    return names


_COLUMNS = ("filingDate", "reportDate", "acceptanceDateTime", "form", "fileNumber", "filmNumber",
            "items", "size", "primaryDocument")


def _filing_rows(cols: dict, cik: str | None, company: str | None, kind: str,
                 where: str) -> list[dict]:
    """One row per accession of EDGAR's columnar filing arrays."""
    at = f"{where}." if where else ""
    accessions = cols.get("accessionNumber")
    if not isinstance(accessions, list):
        raise IndexFormatError(
            f"submissions JSON: {at}accessionNumber is a {_kind(accessions)}, not a list")
    n = len(accessions)
    columns = {}
    for name in _COLUMNS:
        column = cols.get(name)
        if column is None:
            column = [None] * n
        elif not isinstance(column, list) or len(column) != n:
            size = len(column) if isinstance(column, list) else _kind(column)
            raise IndexFormatError(f"submissions JSON: {at}{name} has {size} values, "
                                   f"{at}accessionNumber {n}: the columns do not line up")
        columns[name] = column
    return [_filing_row(i, accessions[i], columns, cik, company, kind, at) for i in range(n)]


def _filing_row(i: int, accession: object, cols: dict, cik: str | None, company: str | None,
                kind: str, at: str) -> dict:
    def value(name: str) -> str | None:
        return _scalar(cols[name][i], f"{at}{name}[{i}]")

    where = f"{at}accessionNumber[{i}]"
    text = _scalar(accession, where)
    if not (text and _ACCESSION.fullmatch(text)):
        raise IndexFormatError(f"submissions JSON: {where} {accession!r} is not an accession "
                               "number (##########-##-######)")
    accession = text
    filed, report = value("filingDate"), value("reportDate")
    primary = value("primaryDocument")
    path = None
    if cik and primary:
        path = f"edgar/data/{int(cik)}/{accession.replace('-', '')}/{primary}"
    form = value("form")
    return {
        "accession": accession, "cik": cik, "company_name": company, "form_type": form,
        "date_filed": _json_date(filed, f"{at}filingDate[{i}]"), "path": path,
        "index_kind": kind,
        "acceptance_time": _acceptance(value("acceptanceDateTime"),
                                       f"{at}acceptanceDateTime[{i}]"),
        "report_date": _json_date(report, f"{at}reportDate[{i}]"),
        "primary_document": primary, "items": _items(cols["items"][i], f"{at}items[{i}]"),
        "file_number": value("fileNumber"), "film_number": value("filmNumber"),
        "size": _size(cols["size"][i], f"{at}size[{i}]"), "paper": _is_paper(accession, form),
    }


def _acceptance(text: str | None, where: str) -> datetime | None:
    """EDGAR's acceptance clock in UTC. The API writes US/Eastern wall time with a `Z` suffix
    (`2019-11-15T06:02:24.000Z` is `<ACCEPTANCE-DATETIME>20191115060224`, 11:02:24 UTC): `Z` or
    no suffix is read as Eastern; an explicit offset is honoured."""
    if text is None:
        return None
    m = _ACCEPTANCE.fullmatch(text)
    try:
        if not m:
            raise ValueError(text)
        wall = datetime(*map(int, m.groups()[:6]))
        zone = m.group(7)
        if zone and zone != "Z":
            sign = 1 if zone[0] == "+" else -1
            minutes = sign * (int(zone[1:3]) * 60 + int(zone[-2:]))
            return (wall - timedelta(minutes=minutes)).replace(tzinfo=UTC)
        return wall.replace(tzinfo=EASTERN).astimezone(UTC)
    except (ValueError, OverflowError):
        raise IndexFormatError(f"submissions JSON: {where} {text!r} is not a date-time "
                               "(YYYY-MM-DDTHH:MM:SS.000Z)") from None


def _items(value: object, where: str) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise IndexFormatError(f"submissions JSON: {where} is a {_kind(value)}, not a string")
    return [item.strip() for item in value.split(",") if item.strip()]


def _size(value: object, where: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        return int(value)
    raise IndexFormatError(f"submissions JSON: {where} {value!r} is not a size in bytes")


# --- a filing folder's index.json ---------------------------------------------------------------


def parse_filing_index_json(data: bytes) -> dict:
    """`{"accession", "cik", "documents": [{"name", "type", "size", "last_modified"}]}` of a
    filing folder's index.json. `last_modified` is as written (EDGAR's clock, US/Eastern)."""
    doc = _load_json(data, "filing index.json")
    if not isinstance(doc, dict) or not isinstance(doc.get("directory"), dict):
        raise IndexFormatError("filing index.json: no 'directory' object at the top level: not a "
                               "folder listing")
    directory = doc["directory"]
    items = directory.get("item")
    if not isinstance(items, list):
        raise IndexFormatError(f"filing index.json: directory.item is a {_kind(items)}, not a list")
    documents = [_document(item, i) for i, item in enumerate(items)]
    folder = _scalar(directory.get("name"), "directory.name", "filing index.json") or ""
    accession, cik = None, None
    if m := _FOLDER_PATH.search(folder):
        cik, accession = m.group(1).zfill(10), "-".join(m.groups()[1:])
    else:
        named = (_ACCESSION_FILE.fullmatch(d["name"]) for d in documents)
        accession = next((m.group(1) for m in named if m), None)
        if m := re.search(r"/edgar/data/(\d{1,10})(?:/|$)", folder, re.A):
            cik = m.group(1).zfill(10)
    return {"accession": accession, "cik": cik, "documents": documents}


def _document(item: object, i: int) -> dict:
    where = f"directory.item[{i}]"
    what = "filing index.json"
    item = _object(item, where, what)
    name = _scalar(item.get("name"), f"{where}.name", what)
    if not name:
        raise IndexFormatError(f"{what}: {where} has no name")
    size = item.get("size")
    try:
        size = _size(size, f"{where}.size")
    except IndexFormatError:
        raise IndexFormatError(f"{what}: {where}.size {size!r} is not a size in bytes") from None
    return {"name": name, "type": _scalar(item.get("type"), f"{where}.type", what), "size": size,
            "last_modified": _scalar(item.get("last-modified"), f"{where}.last-modified", what)}


def expected_filing_from_index(info: dict, path: str | None = None) -> dict:
    """An expected-filing row for a parsed filing index.json (`path`: where it was fetched)."""
    row = dict.fromkeys(FILING_KEYS)
    row.update(accession=info.get("accession"), cik=info.get("cik"), path=path,
               index_kind="filing-index-json", paper=_is_paper(info.get("accession"), None))
    return row


# --- small readers ------------------------------------------------------------------------------


def _load_json(data: bytes, what: str) -> object:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise IndexFormatError(f"{what}: expected bytes, got {type(data).__name__}")
    data = bytes(data)
    start = data.lstrip()[:1]
    if not start:
        raise IndexFormatError(f"{what}: empty")
    if start == b"<":
        raise IndexFormatError(f"{what}: markup, not JSON (an error page?); it starts "
                               f"{_snippet(data.lstrip()[:80])}")
    try:
        return json.loads(data)
    except UnicodeDecodeError as exc:
        raise IndexFormatError(f"{what}: not UTF-8 text (byte {exc.start}): binary?") from None
    except json.JSONDecodeError as exc:
        ends = exc.pos >= len(exc.doc.rstrip()) or exc.msg.startswith("Unterminated string")
        cut = " (cut short: fetch it again)" if ends else ""
        raise IndexFormatError(f"{what}: not valid JSON: {exc.msg} at line {exc.lineno} column "
                               f"{exc.colno} (character {exc.pos}){cut}") from None
    except (ValueError, RecursionError) as exc:
        raise IndexFormatError(f"{what}: not valid JSON: {exc}"[:300]) from None


def _object(value: object, where: str, what: str = "submissions JSON") -> dict:
    if not isinstance(value, dict):
        raise IndexFormatError(f"{what}: {where} is a {_kind(value)}, not an object")
    return value


def _scalar(value: object, where: str, what: str = "submissions JSON") -> str | None:
    """A string field as text; empty is None; numbers (EDGAR is not consistent) become text."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise IndexFormatError(f"{what}: {where} is a {_kind(value)}, not a string")


def _strings(value: object, where: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise IndexFormatError(f"submissions JSON: {where} is a {_kind(value)}, not a list")
    return [_scalar(v, f"{where}[{i}]") for i, v in enumerate(value)]


def _cik(value: object, where: str) -> str:
    text = _scalar(value, where)
    if not (text and text.isascii() and text.isdigit() and len(text) <= 10):
        raise IndexFormatError(f"submissions JSON: {where} {value!r} is not a CIK (up to 10 "
                               "digits)")
    return text.zfill(10)


def _json_date(text: str | None, where: str) -> date | None:
    if text is None:
        return None
    day = _date(text)
    if day is None:
        raise IndexFormatError(f"submissions JSON: {where} {text!r} is not a date (YYYY-MM-DD)")
    return day


def _date(text: str) -> date | None:
    """`20200318` or `2020-03-18`, else None."""
    m = _DATE.fullmatch(text)
    if not m:
        return None
    y, mo, d = (g for g in m.groups() if g is not None)
    try:
        return date(int(y), int(mo), int(d))
    except ValueError:
        return None


def _is_paper(accession: str | None, form_type: str | None) -> bool:
    return bool(accession and accession.startswith(PAPER_PREFIX)) or form_type in PAPER_FORMS



def _snippet(raw: bytes) -> str:
    return repr(bytes(raw))[1:]


def _kind(value: object) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number")
