"""EDGAR discovery and capture: what EDGAR says was filed, then the filings themselves, in WARCs.

Plain functions over a `Capturer`. Discovery captures its document first (a daily index, a
submissions JSON and its older pages, the latest-filings Atom feed) and parses what was archived:
the WARC is the source of truth. It yields `FilingTarget`s, one per accession whatever the number
of CIKs it was listed under. `capture_filings` fetches each target's index page, its primary
documents and, last, its complete submission `.txt`: a filing counts as captured once its `.txt`
has a good capture (`captured_accessions`), so a run cut short is finished by the next one.

Source problems never raise out of a run: they are typed errors (`EdgarError`) collected in the
results. A 404 daily index is a day without filings (weekends, holidays, a day not yet indexed).
EDGAR's rate-limit page is never counted as a filing: its capture is flagged as a soft error, the
filing stays uncaptured, and the run stops asking (EDGAR extends a block while requests go on).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from xml.etree import ElementTree

import pyarrow.compute as pc

from archive.capture import Capturer, CaptureResult, CaptureSettings
from archive.errors import SalvageError
from archive.home import Home
from archive.repair import recover
from extract.edgar_index import IndexFormatError, parse_index_file, parse_submissions_json
from extract.html import FilingIndexPage, HtmlError, read_filing_index_page
from storage.tables import read_table

log = logging.getLogger("salvage.edgar")

INDEX_KINDS = ("master", "form", "company")
GONE = (404, 410)
ATOM = "{http://www.w3.org/2005/Atom}"
FEED_QUERY = "action=getcurrent&type=&company=&dateb=&owner=include&start=0&count=100&output=atom"
MAX_FEED_BYTES = 16 << 20
_TXT_URL = r"/Archives/edgar/data/[0-9]{1,10}/([0-9]{18})/([0-9]{10}-[0-9]{2}-[0-9]{6})\.txt$"
_INDEX_HREF = re.compile(r"/Archives/edgar/data/(\d{1,10})/(\d{18})/(\d{10}-\d{2}-\d{6})"
                         r"-index\.html?$", re.A)
_FILED = re.compile(r"Filed:\s*(?:</b>)?\s*(\d{4}-\d{2}-\d{2})")
_TITLE = re.compile(r"^(?P<form>.+?) - (?P<name>.*) \((?P<cik>\d{1,10})\) \((?P<role>[^()]*)\)$")


# -- errors ----------------------------------------------------------------------------------------


class EdgarError(SalvageError):
    """EDGAR could not give what was asked. `url` says where, `reason` why and what to do;
    `where` is (WARC file, offset) of the archived answer, when there is one."""

    def __init__(self, url: str, reason: str, where: tuple[str, int] | None = None):
        super().__init__(f"{url}: {reason}" if url else reason)
        self.url, self.reason, self.where = url, reason, where


class SourceThrottled(EdgarError):
    """EDGAR answered its "Request Rate Threshold Exceeded" page, retries included."""


class SourceUnavailable(EdgarError):
    """A 5xx, a refusal, a cut connection or an unexpected status, retries included."""


class SourceMissing(EdgarError):
    """EDGAR has no such file (404/410, or S3's NoSuchKey page)."""


class DiscoveryFormatError(EdgarError):
    """A discovery document was captured but cannot be read (its bytes stay in the WARC)."""


class BadCik(EdgarError):
    """A CIK that is not a number of up to 10 digits."""


# -- where things are ------------------------------------------------------------------------------


def cik10(cik: str | int) -> str:
    """`320193`, `0000320193` or 320193 -> `0000320193`; BadCik otherwise."""
    text = str(cik).strip()
    if not (text.isascii() and text.isdigit() and 0 < len(text) <= 10):
        raise BadCik("", f"CIK {cik!r} is not a number of up to 10 digits: give it as EDGAR "
                         "writes it (320193 or 0000320193)")
    return text.zfill(10)


@dataclass(frozen=True)
class EdgarSource:
    """EDGAR's two hosts; tests and the demo point both at a local mirror."""

    archives: str = "https://www.sec.gov"
    data: str = "https://data.sec.gov"

    def daily_index(self, day: date, kind: str = "master") -> str:
        """`…/Archives/edgar/daily-index/2025/QTR1/master.20250110.idx` (form, company too)."""
        if kind not in INDEX_KINDS:
            raise EdgarError("", f"no {kind!r} daily index: EDGAR has {', '.join(INDEX_KINDS)}")
        quarter = (day.month - 1) // 3 + 1
        return (f"{self._archives}/Archives/edgar/daily-index/{day.year}/QTR{quarter}/"
                f"{kind}.{day:%Y%m%d}.idx")

    def submissions(self, cik: str | int) -> str:
        return f"{self.data.rstrip('/')}/submissions/CIK{cik10(cik)}.json"

    def submissions_page(self, name: str) -> str:
        """An older page listed in `filings.files` (`CIK##########-submissions-001.json`)."""
        return f"{self.data.rstrip('/')}/submissions/{name}"

    def folder(self, cik: str | int, accession: str) -> str:
        return (f"{self._archives}/Archives/edgar/data/{int(cik10(cik))}/"
                f"{accession.replace('-', '')}/")

    def complete_submission(self, cik: str | int, accession: str) -> str:
        return f"{self.folder(cik, accession)}{accession}.txt"

    def index_page(self, cik: str | int, accession: str) -> str:
        return f"{self.folder(cik, accession)}{accession}-index.htm"

    def feed(self) -> str:
        """The latest-filings Atom feed (`getcurrent`, 100 entries)."""
        return f"{self._archives}/cgi-bin/browse-edgar?{FEED_QUERY}"

    @property
    def _archives(self) -> str:
        return self.archives.rstrip("/")


def calendar_days(first: date, last: date) -> list[date]:
    """Every day from `first` to `last`, both included (weekends too: EDGAR says which are
    empty)."""
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


# -- what to capture -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FilingTarget:
    """One filing to capture: an accession and every CIK it was listed under (sorted, 10-digit),
    with the discovery documents that listed it (`found_in`)."""

    accession: str
    ciks: tuple[str, ...]
    form: str | None = None
    filed: date | None = None
    company: str | None = None
    found_in: tuple[str, ...] = ()

    def merged(self, other: FilingTarget) -> FilingTarget:
        return replace(self, ciks=tuple(sorted({*self.ciks, *other.ciks})),
                       form=self.form or other.form, filed=self.filed or other.filed,
                       company=self.company or other.company,
                       found_in=tuple(dict.fromkeys(self.found_in + other.found_in)))


@dataclass(frozen=True)
class TargetFilter:
    """Which listed filings to keep: form types (exact, case-insensitive), CIKs, filed since."""

    forms: frozenset[str] | None = None
    ciks: frozenset[str] | None = None
    since: date | None = None

    @classmethod
    def of(cls, forms: Iterable[str] | None = None, ciks: Iterable[str | int] | None = None,
           since: date | None = None) -> TargetFilter:
        return cls(frozenset(_form(f) for f in forms) if forms else None,
                   frozenset(cik10(c) for c in ciks) if ciks else None, since)

    def keeps(self, target: FilingTarget) -> bool:
        if self.forms is not None and _form(target.form or "") not in self.forms:
            return False
        if self.ciks is not None and not self.ciks.intersection(target.ciks):
            return False
        return self.since is None or (target.filed is not None and target.filed >= self.since)


def _form(text: str) -> str:
    return " ".join(text.split()).upper()


# -- discovery -------------------------------------------------------------------------------------


@dataclass
class Discovery:
    """What discovery found: targets, the captures of its documents, counts and errors."""

    documents: list[CaptureResult] = field(default_factory=list)
    listed: int = 0  # entries read (index rows, JSON rows, feed entries)
    missing: list[str] = field(default_factory=list)  # documents EDGAR does not have (404)
    errors: list[EdgarError] = field(default_factory=list)
    by_accession: dict[str, FilingTarget] = field(default_factory=dict, repr=False)

    @property
    def targets(self) -> list[FilingTarget]:
        """One target per accession, in order of first sight."""
        return list(self.by_accession.values())

    @property
    def requests(self) -> int:
        return sum(r.attempts for r in self.documents)

    @property
    def bytes(self) -> int:
        return sum(r.bytes for r in self.documents)

    @property
    def revisits(self) -> int:
        return sum(r.record_type == "revisit" for r in self.documents)

    @property
    def throttled(self) -> bool:
        return any(isinstance(e, SourceThrottled) for e in self.errors)

    def add(self, targets: Iterable[FilingTarget], keep: TargetFilter) -> None:
        for target in targets:
            self.listed += 1
            if keep.keeps(target):
                seen = self.by_accession.get(target.accession)
                self.by_accession[target.accession] = seen.merged(target) if seen else target


def discover_day(capturer: Capturer, source: EdgarSource, day: date,
                 forms: Iterable[str] | None = None, ciks: Iterable[str | int] | None = None,
                 kind: str = "master") -> Discovery:
    """The filings of one day, from its daily index (master.idx unless `kind` says otherwise).
    A 404 is a day without filings, listed in `missing`, not an error."""
    found = Discovery()
    url = source.daily_index(day, kind)
    try:
        keep = TargetFilter.of(forms, ciks)
        data = _fetch(capturer, url, found)
        rows = parse_index_file(data)
    except SourceMissing:
        found.missing.append(url)
    except IndexFormatError as exc:
        found.errors.append(_unreadable(url, exc.reason, found))
    except EdgarError as exc:
        found.errors.append(exc)
    else:
        found.add((_row_target(row, url) for row in rows if row["accession"]), keep)
    return found


def discover_ciks(capturer: Capturer, source: EdgarSource, ciks: Iterable[str | int],
                  forms: Iterable[str] | None = None, since: date | None = None) -> Discovery:
    """The filings of each CIK from data.sec.gov's submissions JSON, every older page in
    `filings.files` followed. A CIK that cannot be read is an error; the others go on."""
    found = Discovery()
    keep = TargetFilter.of(forms, None, since)
    for cik in ciks:
        try:
            url = source.submissions(cik)
            issuer, rows, pages = parse_submissions_json(_fetch(capturer, url, found))
            found.add((_row_target(row, url) for row in rows), keep)
            company = issuer["name"] if issuer else None
            for name in pages:
                url = source.submissions_page(name)
                _, rows, _ = parse_submissions_json(_fetch(capturer, url, found), cik=cik10(cik))
                found.add((replace(_row_target(row, url), company=company) for row in rows), keep)
        except IndexFormatError as exc:
            found.errors.append(_unreadable(url, exc.reason, found))
        except SourceThrottled as exc:
            found.errors.append(exc)
            break
        except EdgarError as exc:
            found.errors.append(exc)
    return found


def discover_feed(capturer: Capturer, source: EdgarSource, forms: Iterable[str] | None = None,
                  ciks: Iterable[str | int] | None = None) -> Discovery:
    """The filings of EDGAR's latest-filings Atom feed. Malformed XML is an error (the bytes
    are archived); an entry that names no filing is an error too, the others are kept."""
    found = Discovery()
    url = source.feed()
    try:
        keep = TargetFilter.of(forms, ciks)
        targets, problems = read_feed(_fetch(capturer, url, found), url)
    except DiscoveryFormatError as exc:
        found.errors.append(_unreadable(url, exc.reason, found))
    except EdgarError as exc:
        found.errors.append(exc)
    else:
        found.add(targets, keep)
        found.errors.extend(_unreadable(url, p, found) for p in problems)
    return found


def read_feed(data: bytes, url: str = "") -> tuple[list[FilingTarget], list[str]]:
    """(targets, problems) of a getcurrent Atom feed. Raises DiscoveryFormatError when the
    bytes are no Atom feed; an unreadable entry is a problem, not a failure."""
    if len(data) > MAX_FEED_BYTES:
        raise DiscoveryFormatError(url, f"{len(data):,} bytes: far larger than any Atom feed")
    if b"<!ENTITY" in data:
        raise DiscoveryFormatError(url, "the XML declares entities: refused (an entity bomb "
                                        "or not EDGAR's feed)")
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        raise DiscoveryFormatError(url, f"not well-formed XML ({exc}): EDGAR sent an error "
                                        "page or cut the feed short; fetch it again") from None
    if root.tag != f"{ATOM}feed":
        raise DiscoveryFormatError(url, f"not an Atom feed (root <{root.tag}>): ask for "
                                        "output=atom")
    targets, problems = [], []
    for n, entry in enumerate(root.iter(f"{ATOM}entry"), 1):
        target = _entry_target(entry, url)
        if target is None:
            title = (entry.findtext(f"{ATOM}title") or "").strip()
            problems.append(f"entry {n} ({title[:80]!r}) names no filing index link")
        else:
            targets.append(target)
    return targets, problems


def _entry_target(entry: ElementTree.Element, url: str) -> FilingTarget | None:
    links = [link.get("href") or "" for link in entry.iter(f"{ATOM}link")]
    found = next((m for m in map(_INDEX_HREF.search, links) if m), None)
    if found is None:
        return None
    cik, folder, accession = found.groups()
    if folder != accession.replace("-", ""):
        return None
    title = _TITLE.match((entry.findtext(f"{ATOM}title") or "").strip())
    category = entry.find(f"{ATOM}category")
    filed = _FILED.search(entry.findtext(f"{ATOM}summary") or "")
    form = category.get("term") if category is not None else None
    return FilingTarget(accession, (cik.zfill(10),),
                        form=form or (title["form"] if title else None),
                        filed=date.fromisoformat(filed.group(1)) if filed else None,
                        company=title["name"] if title else None, found_in=(url,))


def _row_target(row: dict, url: str) -> FilingTarget:
    return FilingTarget(row["accession"], (row["cik"],) if row["cik"] else (),
                        form=row["form_type"], filed=row["date_filed"],
                        company=row["company_name"], found_in=(url,))


# -- fetching --------------------------------------------------------------------------------------


def _check(r: CaptureResult) -> CaptureResult:
    """`r` if it is a good capture (a 200 or a revisit), else the typed error saying why."""
    where = (r.filename, r.offset) if r.filename is not None and r.offset is not None else None
    tries = f"{r.attempts} attempt{'s' * (r.attempts != 1)}"
    if r.soft_error == "edgar-rate-limit":
        raise SourceThrottled(r.url, f"EDGAR's rate-limit page (HTTP {r.status}) after {tries}: "
                                     "wait 10 minutes, keep under 10 requests a second and set "
                                     "user_agent = \"Firm name email\" in salvage.toml", where)
    if r.status in GONE or r.soft_error == "s3-nosuchkey":
        raise SourceMissing(r.url, f"HTTP {r.status}: EDGAR has no such file", where)
    if r.ok and not r.truncated and not r.soft_error and (
            r.record_type == "revisit" or r.status == 200):
        return r
    reason = r.error or f"HTTP {r.status}"
    if r.status == 403:
        reason += " (EDGAR refuses undeclared tools: set user_agent in salvage.toml)"
    raise SourceUnavailable(r.url, f"{reason} after {tries}: try again later", where)


def _fetch(capturer: Capturer, url: str, found: Discovery) -> bytes:
    """Capture a discovery document and read back what was archived."""
    result = capturer.capture_url(url)
    found.documents.append(result)
    _check(result)
    try:
        return capturer.payload(result)
    except SalvageError as exc:
        raise DiscoveryFormatError(url, f"archived but cannot be read back: {exc}") from None


def _unreadable(url: str, reason: str, found: Discovery) -> DiscoveryFormatError:
    where = next(((r.filename, r.offset) for r in reversed(found.documents)
                  if r.url == url and r.filename is not None and r.offset is not None), None)
    at = f"; its bytes are in {where[0]} at offset {where[1]}" if where else ""
    return DiscoveryFormatError(url, f"{reason}{at}", where)


# -- capture ---------------------------------------------------------------------------------------


def captured_accessions(home: Home) -> set[str]:
    """Accessions whose complete submission `.txt` has a good capture in the catalog (a 200
    response or a revisit, no soft error, not cut short), from any host: the catalog's
    `captures` table, refreshed when a capturer closes its WARC."""
    table = read_table(home.catalog, "captures").select(
        ["url", "record_type", "status", "soft_error", "truncated"])
    good = pc.and_(
        pc.and_(pc.is_null(table["soft_error"]), pc.is_null(table["truncated"])),
        pc.or_(pc.equal(table["record_type"], "revisit"),
               pc.and_(pc.equal(table["record_type"], "response"),
                       pc.equal(table["status"], 200))))
    keep = pc.and_kleene(good, pc.match_substring_regex(table["url"], _TXT_URL))
    pattern = re.compile(_TXT_URL)
    out = set()
    for url in table.filter(keep)["url"].to_pylist():
        m = pattern.search(url.split("?", 1)[0])
        if m and m.group(1) == m.group(2).replace("-", ""):
            out.add(m.group(2))
    return out


@dataclass
class FilingFailure:
    """A URL of a filing that was not captured, and why (`kind`: throttled, missing,
    unavailable, unreadable, not-attempted)."""

    accession: str
    url: str
    kind: str
    reason: str

    def __str__(self) -> str:
        return f"{self.accession}: {self.kind}: {self.url + ': ' if self.url else ''}{self.reason}"


@dataclass
class FilingsReport:
    """What capture_filings did. `filings`: targets whose `.txt` got a good capture."""

    filings: int = 0
    documents: int = 0
    requests: int = 0
    bytes: int = 0
    revisits: int = 0
    captured: list[str] = field(default_factory=list)
    failures: list[FilingFailure] = field(default_factory=list)
    stopped: str | None = None  # why the run stopped asking EDGAR (its rate limit)

    def count(self, result: CaptureResult) -> None:
        self.requests += result.attempts
        self.bytes += result.bytes
        self.revisits += result.record_type == "revisit"

    def fail(self, accession: str, exc: EdgarError) -> None:
        kind = {SourceThrottled: "throttled", SourceMissing: "missing",
                DiscoveryFormatError: "unreadable"}.get(type(exc), "unavailable")
        self.failures.append(FilingFailure(accession, exc.url, kind, exc.reason))
        if kind == "throttled":
            self.stopped = f"EDGAR throttled the run at {exc.url}: wait 10 minutes"

    def add(self, other: FilingsReport) -> None:
        for name in ("filings", "documents", "requests", "bytes", "revisits"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.captured += other.captured
        self.failures += other.failures
        self.stopped = self.stopped or other.stopped


def capture_filings(capturer: Capturer, source: EdgarSource,
                    targets: Iterable[FilingTarget]) -> FilingsReport:
    """Capture each target from its first CIK's folder: the index page, the primary documents
    it lists (`primary_documents`), then the complete submission `.txt`. Failures are
    recorded, never raised; once EDGAR throttles, the rest is left for the next run."""
    report = FilingsReport()
    for target in targets:
        if report.stopped:
            report.failures.append(FilingFailure(target.accession, "", "not-attempted",
                                                 f"not attempted: {report.stopped}"))
        elif not target.ciks:
            report.failures.append(FilingFailure(target.accession, "", "not-attempted",
                                                 "no CIK to find the filing's folder under"))
        else:
            _capture_filing(capturer, source, target, report)
    return report


def _capture_filing(capturer: Capturer, source: EdgarSource, target: FilingTarget,
                    report: FilingsReport) -> None:
    accession, cik = target.accession, target.ciks[0]
    page_url = source.index_page(cik, accession)
    documents: list[str] = []
    try:
        page = capturer.capture_url(page_url)
        report.count(page)
        index = read_filing_index_page(capturer.payload(_check(page)), page_url)
        folder = source.folder(cik, accession)
        documents = [u for u in primary_documents(index, target.form) if u.startswith(folder)]
    except HtmlError as exc:
        report.fail(accession, DiscoveryFormatError(page_url, exc.reason))
    except EdgarError as exc:
        report.fail(accession, exc)
    except SalvageError as exc:  # archived, but not readable back
        report.fail(accession, DiscoveryFormatError(page_url, str(exc)))
    txt = source.complete_submission(cik, accession)  # last: it marks the filing captured
    for url in [*(d for d in documents if d != txt), txt]:
        if report.stopped:
            return
        result = capturer.capture_url(url)
        report.count(result)
        try:
            _check(result)
        except EdgarError as exc:
            report.fail(accession, exc)
            continue
        if url == txt:
            report.filings += 1
            report.captured.append(accession)
        else:
            report.documents += 1


def primary_documents(index: FilingIndexPage, form: str | None = None) -> list[str]:
    """The URLs of a filing's primary documents on its index page: Seq 1 (EDGAR lists a form's
    rendering and its raw XML both as 1) and any document whose Type is the filing's form.
    Exhibits, graphics and XBRL are in the `.txt` already."""
    form = _form(form or index.form_type or "")
    urls: list[str] = []
    for doc in index.documents:
        if not doc["href"] or doc["seq"] is None or doc["href"] in urls:
            continue
        if doc["seq"] == 1 or (form and _form(doc["type"] or "") == form):
            urls.append(doc["href"])
    return urls


# -- the loop --------------------------------------------------------------------------------------


@dataclass
class IngestReport:
    """What ingest_edgar did: discovery counts and errors, and the capture report."""

    days: int = 0
    empty_days: list[date] = field(default_factory=list)
    accessions: set[str] = field(default_factory=set)  # what discovery kept
    skipped: int = 0  # already captured before this run
    discovery_requests: int = 0
    discovery_bytes: int = 0
    discovery_revisits: int = 0
    errors: list[EdgarError] = field(default_factory=list)
    filings: FilingsReport = field(default_factory=FilingsReport)
    stopped: str | None = None

    @property
    def discovered(self) -> int:
        return len(self.accessions)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.filings.failures and not self.stopped

    def note(self, found: Discovery) -> None:
        self.discovery_requests += found.requests
        self.discovery_bytes += found.bytes
        self.discovery_revisits += found.revisits
        self.errors += found.errors
        self.accessions.update(found.by_accession)

    def as_dict(self) -> dict:
        f = self.filings
        return {
            "days": self.days, "empty_days": [d.isoformat() for d in self.empty_days],
            "discovered": self.discovered, "skipped": self.skipped,
            "filings": f.filings, "documents": f.documents,
            "requests": self.discovery_requests + f.requests,
            "bytes": self.discovery_bytes + f.bytes,
            "revisits": self.discovery_revisits + f.revisits,
            "failures": [vars(x) for x in f.failures],
            "errors": [{"type": type(e).__name__, "url": e.url, "reason": e.reason}
                       for e in self.errors],
            "stopped": self.stopped, "ok": self.ok,
        }


def ingest_edgar(home: Home, settings: CaptureSettings, source: EdgarSource,
                 days: Iterable[date] = (), forms: Iterable[str] | None = None,
                 ciks: Iterable[str | int] | None = None, feed: bool = False,
                 since: date | None = None) -> IngestReport:
    """Discover and capture EDGAR filings into `home`; no extraction (run
    `extract.run.extract_home` after).

    `days`: their daily indexes; `feed`: the latest-filings feed; both filtered by `forms` and
    `ciks`. With `ciks` and neither days nor feed, the CIKs' submissions JSON (filed `since`).
    Accessions with a good `.txt` capture are skipped, so a re-run adds only revisits of the
    discovery documents and a run cut short is finished by the next.
    """
    forms = [_form(f) for f in forms] if forms else None
    ciks = [cik10(c) for c in ciks] if ciks else None  # BadCik before anything is fetched
    recover(home)  # a killed run's open WARC is closed, so its captures count
    have = captured_accessions(home)
    report = IngestReport()
    with Capturer(home, settings) as capturer:
        for found in _discoveries(capturer, source, list(days), forms, ciks, feed, since, report):
            report.note(found)
            todo = [t for t in found.targets if t.accession not in have]
            report.skipped += len(found.targets) - len(todo)
            done = capture_filings(capturer, source, todo)
            report.filings.add(done)
            have.update(done.captured)
            if found.throttled or done.stopped:
                report.stopped = done.stopped or "EDGAR throttled discovery: wait 10 minutes"
                break
    log.info("EDGAR ingest: %d days (%d empty), %d filings discovered, %d skipped, %d captured,"
             " %d failures, %d errors", report.days, len(report.empty_days), report.discovered,
             report.skipped, report.filings.filings, len(report.filings.failures),
             len(report.errors))
    return report


def _discoveries(capturer: Capturer, source: EdgarSource, days: list[date],
                 forms: list[str] | None, ciks: list[str] | None, feed: bool,
                 since: date | None, report: IngestReport) -> Iterator[Discovery]:
    for day in days:
        found = discover_day(capturer, source, day, forms, ciks)
        report.days += 1
        if found.missing:
            report.empty_days.append(day)
        yield found
    if feed:
        yield discover_feed(capturer, source, forms, ciks)
    if ciks and not days and not feed:
        yield discover_ciks(capturer, source, ciks, forms, since)
