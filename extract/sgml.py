"""EDGAR complete-submission files (`.txt`, feed `.nc`) read into a header, filers and documents.

Pure functions over bytes. Four dialects are read:

- `sec-header`: `<SEC-DOCUMENT>` + a tab-indented `<SEC-HEADER>` (`KEY:<tab>value`), optionally
  inside a PEM wrapper (1990s); also a bare header (`.hdr.sgml`, index-headers), with or without
  blank lines between fields, and possibly no documents at all;
- `feed`: `<SUBMISSION>` with tagged fields (`<CIK>0000320193`), closing tags optional, lines
  ended by CR, LF or nothing;
- `ims-header`: the 1993-1996 `<IMS-DOCUMENT>`/`<IMS-HEADER>` pair inside a PEM wrapper;
- `headerless`: the file starts with `<DOCUMENT>` (some 1995 filings).

Documents are found with `bytes.find` over the whole buffer: only the few hundred bytes of tags
before each `<TEXT>` are decoded, bodies stay byte slices and uuencoded payloads are decoded when
`Document.payload()` is called. A FILENAME is reduced to a safe basename: it is never a path.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from extract.edgar_text import EASTERN, decode_text
from extract.errors import MalformedSubmission, TruncatedSubmission

SNIFF_BYTES = 1024
PEM_BEGIN = b"-----BEGIN PRIVACY-ENHANCED MESSAGE-----"
PEM_END = b"-----END PRIVACY-ENHANCED MESSAGE-----"
CUT = "the file is cut short: fetch it again"

# opening tag -> (dialect, closing tag, header opening tag, header closing tag)
_WRAPPERS: dict[bytes, tuple[str, bytes | None, bytes | None, bytes | None]] = {
    b"<SEC-DOCUMENT>": ("sec-header", b"</SEC-DOCUMENT>", b"<SEC-HEADER>", b"</SEC-HEADER>"),
    b"<IMS-DOCUMENT>": ("ims-header", b"</IMS-DOCUMENT>", b"<IMS-HEADER>", b"</IMS-HEADER>"),
    b"<SUBMISSION>": ("feed", b"</SUBMISSION>", None, None),
    b"<DOCUMENT>": ("headerless", None, None, None),
    # a header on its own (index-headers, .hdr.sgml), perhaps with blank lines between fields
    b"<SEC-HEADER>": ("sec-header", None, b"<SEC-HEADER>", b"</SEC-HEADER>"),
    b"<ACCEPTANCE-DATETIME>": ("sec-header", None, b"<SEC-HEADER>", b"</SEC-HEADER>"),
    b"<PRIVATE-TO-PUBLIC>": ("sec-header", None, b"<SEC-HEADER>", b"</SEC-HEADER>"),
    b"ACCESSION NUMBER:": ("sec-header", None, b"<SEC-HEADER>", b"</SEC-HEADER>"),
}
_OPENERS = (PEM_BEGIN, *_WRAPPERS)
_WRAPPER_TAGS = {"SUBMISSION", "SEC-DOCUMENT", "SEC-HEADER", "IMS-DOCUMENT", "IMS-HEADER"}

_ROLES = {"FILER": "filer", "REPORTING-OWNER": "reporting-owner", "ISSUER": "issuer",
          "SUBJECT-COMPANY": "subject-company", "FILED-BY": "filed-by"}
_FILER_FIELDS = {
    "COMPANY-CONFORMED-NAME": "name", "CONFORMED-NAME": "name",
    "CENTRAL-INDEX-KEY": "cik", "CIK": "cik",
    "STANDARD-INDUSTRIAL-CLASSIFICATION": "sic", "ASSIGNED-SIC": "sic",
    "STATE-OF-INCORPORATION": "state_of_incorporation",
    "FISCAL-YEAR-END": "fiscal_year_end",
    "IRS-NUMBER": "irs_number", "EIN": "irs_number",
    "FORM-TYPE": "form_type",
    "SEC-FILE-NUMBER": "file_number", "FILE-NUMBER": "file_number",
    "FILM-NUMBER": "film_number",
}
_FORMER_NAMES = {"FORMER-CONFORMED-NAME", "FORMER-NAME"}

_ACCESSION_DASHED = re.compile(r"(?<!\d)(\d{10})-(\d{2})-(\d{6})(?!\d)")
_ACCESSION_PLAIN = re.compile(r"(?<!\d)(\d{10})(\d{2})(\d{6})(?!\d)")
_SIC = re.compile(r"\[(\d+)\]")
_BLANK_LINE = re.compile(rb"\r?\n[ \t]*\r?\n")
_UU_BEGIN = re.compile(rb"\s*(?:<[A-Za-z]+>\s*)?begin [0-7]{3,4} ")
_UU_END = re.compile(rb"[\r\n]end[ \t]*\s*(?:</[A-Za-z]+>\s*)?\Z")
# A 14-byte uuencoded line starts with "." and is 21 characters long; EDGAR files of some years
# were dot-stuffed like mail ("." doubled at the start of a line): a longer ".." line is stuffed.
_DOT_LINE = 21
_CONTROL = {c: None for c in [*range(32), *range(127, 160)]}


@dataclass(slots=True)
class Filer:
    """One FILER, REPORTING-OWNER, ISSUER, SUBJECT COMPANY or FILED BY block of a header."""

    role: str
    cik: str | None = None
    name: str | None = None
    sic: str | None = None
    state_of_incorporation: str | None = None
    fiscal_year_end: str | None = None
    irs_number: str | None = None
    form_type: str | None = None
    file_number: str | None = None
    film_number: str | None = None
    former_names: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Document:
    """One `<DOCUMENT>`: its tags and the bytes between `<TEXT>` and `</TEXT>`, as in the file."""

    ordinal: int
    sequence: int | None
    type: str | None
    filename: str | None
    description: str | None
    raw: bytes
    uuencoded: bool
    offset: int = 0  # byte offset of `<DOCUMENT>` in the file

    def payload(self) -> bytes:
        """The document's bytes: uudecoded for binaries, else `raw` without its edge newlines."""
        if self.uuencoded:
            return _uudecode(self.raw, self.ordinal, self.offset)
        return _strip_newline(self.raw)

    def text(self) -> str | None:
        """Decoded text (UTF-8, errors replaced) without an <XBRL>/<XML> wrapper; None if binary."""
        if self.uuencoded:
            return None
        return _unwrap(self.payload()).decode("utf-8", "replace")


@dataclass(slots=True)
class Submission:
    """A complete submission: its header fields, filers and documents.

    `header` holds every field outside the filer blocks as written (PEM fields and the wrapper
    lines' values included). A header-only file (index headers) has `documents == []` whatever
    PUBLIC DOCUMENT COUNT says; a headerless file takes `form_type` from its first document.
    """

    accession: str | None
    form_type: str | None
    period_of_report: date | None
    filed_as_of: date | None
    date_as_of_change: date | None
    acceptance_time: datetime | None
    items: list[str]
    declared_documents: int | None
    group_members: list[str]
    filers: list[Filer]
    documents: list[Document]
    dialect: str
    header: dict[str, list[str]]

    @property
    def file_numbers(self) -> list[str]:
        return _distinct(f.file_number for f in self.filers)

    @property
    def film_numbers(self) -> list[str]:
        return _distinct(f.film_number for f in self.filers)


def looks_like_submission(data: bytes) -> bool:
    """True if the first kilobyte starts like a submission (PEM banner, wrapper, or header)."""
    head = bytes(data[:SNIFF_BYTES]).removeprefix(b"\xef\xbb\xbf").lstrip()
    return head.startswith(_OPENERS)


def parse_submission(data: bytes, *, name_hint: str | None = None) -> Submission:
    """Read a complete submission. `name_hint` (URL or filename) supplies a missing accession.

    Raises MalformedSubmission for bytes that are no submission, TruncatedSubmission for one
    that is cut short; never anything else.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise MalformedSubmission(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    header: dict[str, list[str]] = {}
    start = _content_start(data, 0)
    pem = data.startswith(PEM_BEGIN, start)
    if pem:
        start = _content_start(data, _read_pem_fields(data, start, header))
    dialect, close, head_open, head_close = _wrapper(data, start)
    head_end, docs_from = _header_span(data, start, dialect, head_open, head_close)
    filers = _read_header(decode_text(data[start:head_end]), header)
    documents, end = _read_documents(data, docs_from)
    _check_closed(data, start, end, close, pem)
    if not documents and not _has_fields(header, filers):
        raise MalformedSubmission(f"no header fields and no <DOCUMENT> in {len(data)} bytes")
    return _submission(header, filers, documents, dialect, name_hint)


# -- layout ----------------------------------------------------------------------------------------


def _content_start(data: bytes, pos: int) -> int:
    """Offset of the first byte after BOM and whitespace, within SNIFF_BYTES of `pos`."""
    if data.startswith(b"\xef\xbb\xbf", pos):
        pos += 3
    window = data[pos:pos + SNIFF_BYTES]
    skipped = len(window) - len(window.lstrip())
    if skipped == len(window):
        what = "is empty" if not window else "is only whitespace"
        raise MalformedSubmission(f"the content from byte {pos} {what}: not a submission")
    return pos + skipped


def _read_pem_fields(data: bytes, start: int, header: dict[str, list[str]]) -> int:
    """Record the PEM header fields (Proc-Type, MIC-Info...); return where the message starts."""
    limit = start + 16384
    blank = _BLANK_LINE.search(data, start, limit)
    if blank is None:
        if len(data) < limit:
            raise TruncatedSubmission(f"the PEM header at byte {start} never ends: {CUT}")
        raise MalformedSubmission(f"no blank line ends the PEM header at byte {start}")
    key = None
    for line in decode_text(data[start:blank.start()]).splitlines()[1:]:
        if line[:1] in (" ", "\t") and key is not None:
            header[key][-1] = (header[key][-1] + " " + line.strip()).strip()
            continue
        key, _, value = line.partition(":")
        key = key.strip()
        header.setdefault(key, []).append(value.strip())
    return blank.end()


def _wrapper(data: bytes, start: int) -> tuple[str, bytes | None, bytes | None, bytes | None]:
    for opener, layout in _WRAPPERS.items():
        if data.startswith(opener, start):
            return layout
    sample = data[start:start + 40]
    raise MalformedSubmission(f"byte {start} starts with {sample!r}, not <SEC-DOCUMENT>, "
                              "<SUBMISSION>, <IMS-DOCUMENT>, <DOCUMENT> or a header: "
                              "not a submission")


def _header_span(data: bytes, start: int, dialect: str, head_open: bytes | None,
                 head_close: bytes | None) -> tuple[int, int]:
    """(end of the header, where documents may start)."""
    if dialect == "headerless":
        return start, start
    first_doc = data.find(b"<DOCUMENT>", start)
    bound = len(data) if first_doc == -1 else first_doc
    opened = data.find(head_open, start, bound) if head_open else -1
    if opened != -1:
        closed = data.find(head_close, opened)
        if closed == -1:
            raise TruncatedSubmission(f"{head_open.decode()} at byte {opened} is never closed: "
                                      f"no {head_close.decode()} ({CUT})")
        return closed, closed + len(head_close)
    return bound, bound


def _check_closed(data: bytes, start: int, end: int, close: bytes | None, pem: bool) -> None:
    """The wrapper (and PEM message) opened at the start must close after the last document."""
    if close is not None and data.find(close, end) == -1:
        raise TruncatedSubmission(f"the {close.decode().replace('/', '')} opened at byte {start} "
                                  f"is never closed: no {close.decode()} after byte {end} "
                                  f"(file ends at byte {len(data)}; {CUT})")
    if pem and data.find(PEM_END, end) == -1:
        raise TruncatedSubmission(f"the PEM message is never closed: no {PEM_END.decode()} "
                                  f"after byte {end} (file ends at byte {len(data)}; {CUT})")


# -- header ----------------------------------------------------------------------------------------



def _norm(key: str) -> str:
    """`SUBJECT COMPANY` and `SUBJECT-COMPANY` -> `SUBJECT-COMPANY`."""
    return "-".join(key.upper().split())


def _header_tokens(text: str):
    """(key as written, value, depth, is_tag, is_close) for every field of a header."""
    for line in text.splitlines():
        body = line.lstrip()
        if not body:
            continue
        depth = len(line) - len(body)
        if body[0] == "<":
            for piece in body[1:].split("<"):
                tag, sep, value = piece.partition(">")
                if sep and tag.startswith("/"):
                    yield tag[1:].strip(), "", depth, True, True
                elif sep:
                    yield tag.strip(), value.strip(), depth, True, False
            continue
        key, sep, value = body.partition(":")
        if sep:
            yield key.strip(), value.strip(), depth, False, False


def _read_header(text: str, header: dict[str, list[str]]) -> list[Filer]:
    """Fill `header` with the fields outside filer blocks; return the filers in file order.

    A block opened by a tag (`<REPORTING-OWNER>`) ends at its closing tag; one opened by a line
    (`FILER:`) ends at the next unindented field. Either ends where the next filer starts.
    """
    filers: list[Filer] = []
    current: Filer | None = None
    closing_tag = None  # the tag that closes `current`, or None for an indented block
    for key, value, depth, is_tag, is_close in _header_tokens(text):
        norm = _norm(key)
        if is_close:
            if current is not None and norm == closing_tag:
                current = None
            continue
        if norm in _ROLES:
            current = Filer(role=_ROLES[norm])
            closing_tag = norm if is_tag else None
            filers.append(current)
            continue
        if current is not None and (closing_tag is not None or depth > 0):
            _set_filer_field(current, norm, value)
            continue
        current = None
        if norm in _WRAPPER_TAGS and not value:
            continue
        header.setdefault(key, []).append(value)
    return filers


def _set_filer_field(filer: Filer, norm: str, value: str) -> None:
    if not value:
        return
    if norm in _FORMER_NAMES:
        filer.former_names.append(value)
        return
    attr = _FILER_FIELDS.get(norm)
    if attr is None or getattr(filer, attr) is not None:
        return
    if attr == "cik":
        value = value.zfill(10) if value.isascii() and value.isdigit() else None
    elif attr == "sic":
        value = _sic(value)
    setattr(filer, attr, value)


def _sic(value: str) -> str | None:
    """`PETROLEUM REFINING [2911]` or `2911` -> `2911`; `[]` -> None."""
    if value.isascii() and value.isdigit():
        return value
    found = _SIC.search(value)
    return found.group(1) if found else None


def _has_fields(header: dict[str, list[str]], filers: list[Filer]) -> bool:
    return bool(filers) or any(_norm(k) not in _WRAPPER_TAGS for k in header)


# -- documents -------------------------------------------------------------------------------------


def _read_documents(data: bytes, pos: int) -> tuple[list[Document], int]:
    """Every `<DOCUMENT>` from `pos` on, and the offset just after the last one."""
    docs: list[Document] = []
    find = data.find
    while (opened := find(b"<DOCUMENT>", pos)) != -1:
        ordinal = len(docs) + 1
        tags_from = opened + 10
        text = find(b"<TEXT>", tags_from)
        closed = find(b"</DOCUMENT>", tags_from, len(data) if text == -1 else text)
        if closed != -1:  # a document without <TEXT>
            tags_to = raw_from = raw_to = closed
        elif text == -1:
            raise TruncatedSubmission(f"document {ordinal} opened at byte {opened} is never "
                                      f"closed: no <TEXT> or </DOCUMENT> follows ({CUT})")
        else:
            tags_to, raw_from = text, text + 6
            raw_to = find(b"</TEXT>", raw_from)
            if raw_to == -1:
                raise TruncatedSubmission(f"the <TEXT> of document {ordinal} at byte {text} is "
                                          f"never closed: no </TEXT> follows ({CUT})")
            closed = find(b"</DOCUMENT>", raw_to + 7)
            if closed == -1:
                raise TruncatedSubmission(f"document {ordinal} opened at byte {opened} is never "
                                          f"closed: no </DOCUMENT> after byte {raw_to} ({CUT})")
        _check_no_document(data, ordinal, opened, tags_from, tags_to)
        _check_no_document(data, ordinal, opened, raw_to, closed)
        docs.append(_document(data, ordinal, opened, tags_from, tags_to, raw_from, raw_to))
        pos = closed + 11
    return docs, pos


def _check_no_document(data: bytes, ordinal: int, opened: int, lo: int, hi: int) -> None:
    """A `<DOCUMENT>` between a document's tags or after its `</TEXT>` means it never closed."""
    nested = data.find(b"<DOCUMENT>", lo, hi)
    if nested != -1:
        raise TruncatedSubmission(f"document {ordinal} opened at byte {opened} is not closed "
                                  f"before the next <DOCUMENT> at byte {nested}")


def _document(data: bytes, ordinal: int, opened: int, tags_from: int, tags_to: int,
              raw_from: int, raw_to: int) -> Document:
    tags = _read_tags(data[tags_from:tags_to])
    uuencoded = _UU_BEGIN.match(data, raw_from, min(raw_to, raw_from + 256)) is not None
    if uuencoded and _UU_END.search(data, max(raw_from, raw_to - 256), raw_to) is None:
        raise TruncatedSubmission(f"the uuencoded block of document {ordinal} at byte {raw_from} "
                                  f"has no `end` line before </TEXT> at byte {raw_to}")
    sequence = tags.get("SEQUENCE")
    return Document(
        ordinal=ordinal,
        sequence=int(sequence) if sequence and sequence.isascii() and sequence.isdigit()
        and len(sequence) < 10 else None,
        type=tags.get("TYPE") or None,
        filename=_safe_basename(tags.get("FILENAME")),
        description=tags.get("DESCRIPTION") or None,
        raw=data[raw_from:raw_to],
        uuencoded=uuencoded,
        offset=opened,
    )


def _read_tags(block: bytes) -> dict[str, str]:
    """`<TYPE>8-K\\n<SEQUENCE>1...` (any line ends, closing tags optional) -> first values."""
    tags: dict[str, str] = {}
    for piece in decode_text(block).split("<")[1:]:
        tag, sep, value = piece.partition(">")
        if sep and not tag.startswith("/"):
            tags.setdefault(tag.strip().upper(), value.strip())
    return tags


def _safe_basename(name: str | None) -> str | None:
    """The last path segment of a FILENAME, without control characters or leading dots."""
    if not name:
        return None
    name = name.translate(_CONTROL).replace("\\", "/").rsplit("/", 1)[-1]
    if len(name) > 1 and name[1] == ":":  # C:name.htm
        name = name[2:]
    return name.strip().lstrip(".").strip() or None


def _strip_newline(raw: bytes) -> bytes:
    """`raw` without the line end after <TEXT> and the one before </TEXT>."""
    if raw.startswith(b"\r\n"):
        raw = raw[2:]
    elif raw.startswith((b"\n", b"\r")):
        raw = raw[1:]
    if raw.endswith(b"\r\n"):
        return raw[:-2]
    if raw.endswith((b"\n", b"\r")):
        return raw[:-1]
    return raw


def _unwrap(body: bytes) -> bytes:
    """Drop an outer <XBRL>, <XML> or <XHTML> wrapper."""
    head = body[:16].lstrip()
    for tag in (b"XBRL", b"XML", b"XHTML"):
        opening, closing = b"<" + tag + b">", b"</" + tag + b">"
        if head.startswith(opening) and body.rstrip().endswith(closing):
            inner = body.strip()[len(opening):-len(closing)]
            return _strip_newline(inner)
    return body


def _uu_lines(raw: bytes) -> list[bytes]:
    """The lines between `begin NNN name` and `end`, empty ones left out, dots unstuffed."""
    lines = raw.splitlines()
    first = next((i for i, line in enumerate(lines[:4]) if line.lstrip().startswith(b"begin ")),
                 0)
    last = len(lines)
    for i in range(len(lines) - 1, first, -1):
        if lines[i].strip() == b"end":
            last = i
            break
    return [line[1:] if line.startswith(b"..") and len(line) > _DOT_LINE else line
            for line in lines[first + 1:last] if line.strip()]


def _uudecode(raw: bytes, ordinal: int, offset: int) -> bytes:
    """Decode a uuencoded body, tolerating stripped trailing spaces, overlong lines, '`' for
    space and dot-stuffed lines ("..")."""
    lines = _uu_lines(raw)
    try:
        return b"".join(map(binascii.a2b_uu, lines))
    except binascii.Error:
        pass
    out = []
    for n, line in enumerate(lines, 1):
        try:
            out.append(binascii.a2b_uu(line))
            continue
        except binascii.Error:
            pass
        size = (((line[0] - 32) & 63) * 4 + 5) // 3  # encoders that pad past the count
        try:
            out.append(binascii.a2b_uu(line[:size]))
        except binascii.Error as exc:
            raise MalformedSubmission(f"uuencoded line {n} of document {ordinal} (at byte "
                                      f"{offset}) cannot be decoded: {exc}") from None
    return b"".join(out)


# -- the submission --------------------------------------------------------------------------------


def _submission(header: dict[str, list[str]], filers: list[Filer], documents: list[Document],
                dialect: str, name_hint: str | None) -> Submission:
    fields: dict[str, list[str]] = {}
    for key, values in header.items():
        fields.setdefault(_norm(key), []).extend(values)

    def first(*keys: str) -> str | None:
        for key in keys:
            for value in fields.get(key, ()):
                if value:
                    return value
        return None

    def every(*keys: str) -> list[str]:
        return [v for key in keys for v in fields.get(key, ()) if v]

    form_type = first("CONFORMED-SUBMISSION-TYPE", "TYPE")
    if form_type is None and dialect == "headerless" and documents:
        form_type = documents[0].type  # the first document is the submission's form
    return Submission(
        accession=_accession(first("ACCESSION-NUMBER"))
        or _accession_in(first("SEC-DOCUMENT", "IMS-DOCUMENT")) or _accession_in(name_hint),
        form_type=form_type,
        period_of_report=_date(first("CONFORMED-PERIOD-OF-REPORT", "PERIOD")),
        filed_as_of=_date(first("FILED-AS-OF-DATE", "FILING-DATE")),
        date_as_of_change=_date(first("DATE-AS-OF-CHANGE", "DATE-OF-FILING-DATE-CHANGE")),
        acceptance_time=_eastern_to_utc(first("ACCEPTANCE-DATETIME")),
        items=every("ITEM-INFORMATION", "ITEMS"),
        declared_documents=_count(first("PUBLIC-DOCUMENT-COUNT")),
        group_members=every("GROUP-MEMBERS"),
        filers=filers,
        documents=documents,
        dialect=dialect,
        header=header,
    )


def _accession(value: str | None) -> str | None:
    """The accession as written, with dashes added to the 18-digit form."""
    if not value:
        return None
    return _accession_in(value) or value


def _accession_in(text: str | None) -> str | None:
    """The first accession number (dashed or 18 digits) in a name, URL or wrapper line."""
    if not text:
        return None
    found = _ACCESSION_DASHED.search(text) or _ACCESSION_PLAIN.search(text)
    return "-".join(found.groups()) if found else None


def _date(value: str | None) -> date | None:
    if not value or len(value) < 8 or not value[:8].isascii() or not value[:8].isdigit():
        return None
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:8]))
    except ValueError:
        return None


def _eastern_to_utc(value: str | None) -> datetime | None:
    """`20250110171538` (EDGAR's clock, US/Eastern) -> 2025-01-10 22:15:38+00:00."""
    if not value or len(value) < 14 or not value[:14].isascii() or not value[:14].isdigit():
        return None
    v = value
    try:
        local = datetime(int(v[:4]), int(v[4:6]), int(v[6:8]), int(v[8:10]), int(v[10:12]),
                         int(v[12:14]), tzinfo=EASTERN)
    except ValueError:
        return None
    return local.astimezone(UTC)


def _count(value: str | None) -> int | None:
    if value and value.isascii() and value.isdigit() and len(value) < 10:
        return int(value)
    return None


def _distinct(values) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))
