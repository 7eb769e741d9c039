"""Capture: fetch URLs (or take local files) and write them as WARC records.

One requests session, per-host pacing, retries with backoff that honour Retry-After, conditional
GET against the last capture, revisit records for unchanged payloads, soft-error flags, and bodies
streamed through a spool file so a 1 GB response never sits in memory.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import mimetypes
import random
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from archive import softerrors
from archive.cdxj import IndexEntry, IndexLine
from archive.describe import HttpHead, decoded_prefix
from archive.errors import NotArchived
from archive.home import Home
from archive.lookup import Index
from archive.payload import payload_line, read_headers, stream_payload
from archive.ratelimit import HostRateLimiter
from archive.records import HeadThenBody, http_head_bytes, new_record_id, warc_date
from archive.writer import DEFAULT_MAX_SIZE, WarcWriter

log = logging.getLogger("salvage.capture")

REVISIT_PROFILE = "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"
RETRY_STATUSES = {429, 500, 502, 503, 504}
READ_CHUNK = 1 << 16
SPOOL_IN_MEMORY = 8 << 20
#: Hop-by-hop framing Salvage removes from the stored body; the header is kept under this prefix.
ORIG_PREFIX = "X-Archive-Orig-"


@dataclass
class CaptureSettings:
    user_agent: str = "Salvage/0.1 (+https://github.com/salvage; set user_agent to 'Name email')"
    timeout: float = 30.0
    retries: int = 4
    backoff: float = 1.0
    max_retry_wait: float = 120.0
    rates: dict[str, float] = field(default_factory=dict)
    default_rate: float | None = 10.0
    retry_soft_errors: tuple[str, ...] = ("edgar-rate-limit",)
    max_warc_size: int = DEFAULT_MAX_SIZE


@dataclass
class CaptureResult:
    url: str
    ok: bool
    record_type: str | None = None
    status: int | None = None
    digest: str | None = None
    record_id: str | None = None
    soft_error: str | None = None
    truncated: str | None = None
    bytes: int = 0
    attempts: int = 0
    error: str | None = None
    filename: str | None = None
    offset: int | None = None
    retry_after: float | None = None

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class _Prior:
    """What the archive holds for a URL: for conditional GET and revisits."""

    digest: str | None
    record_id: str
    uri: str
    date: str
    etag: str | None
    last_modified: str | None
    where: tuple[str, int] | None = None  # (filename, offset) of the record holding the payload


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _peer_ip(resp: requests.Response) -> str | None:
    try:
        sock = resp.raw._connection.sock  # urllib3 keeps the connection while streaming
        return sock.getpeername()[0]
    except Exception:
        return None


def _stored_headers(resp: requests.Response) -> list[tuple[str, str]]:
    """Response headers as received, in order, with duplicates; Transfer-Encoding renamed because
    the stored body is de-chunked (see docs/DECISIONS.md)."""
    out = []
    for name, value in resp.raw.headers.items():
        if name.lower() == "transfer-encoding":
            name = ORIG_PREFIX + name
        out.append((name, value))
    return out


def _status_line(resp: requests.Response) -> str:
    version = {10: "HTTP/1.0", 11: "HTTP/1.1", 20: "HTTP/2"}.get(resp.raw.version, "HTTP/1.1")
    reason = resp.reason or ""
    return f"{version} {resp.status_code} {reason}".rstrip()


def _request_bytes(req: requests.PreparedRequest) -> bytes:
    parts = urlsplit(req.url)
    lines = [f"{req.method} {req.path_url} HTTP/1.1", f"Host: {parts.netloc}"]
    lines += [f"{k}: {v}" for k, v in req.headers.items()]
    body = req.body if isinstance(req.body, bytes) else (req.body or "").encode()
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace") + body


class Capturer:
    """Captures URLs and files into the home's WARCs. Use as a context manager (closes the file)."""

    def __init__(self, home: Home, settings: CaptureSettings | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        self.home = home.ensure()
        self.settings = settings or CaptureSettings()
        self.writer = WarcWriter(self.home, max_size=self.settings.max_warc_size)
        self.session = requests.Session()
        self.session.headers["User-Agent"] = self.settings.user_agent
        self.session.headers["Accept-Encoding"] = "gzip, deflate"
        adapter = HTTPAdapter(pool_connections=8, pool_maxsize=8, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.limiter = HostRateLimiter(self.settings.rates, self.settings.default_rate,
                                       state_dir=self.home.root / "locks")  # shared by the flows
        self._sleep = sleep
        self._seen: dict[str, _Prior] = {}
        self._index: Index | None = None

    def close(self) -> list[Path]:
        self.writer.close()
        self.session.close()
        if self._index:
            self._index.close()
        return self.writer.closed_files

    def __enter__(self) -> Capturer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- what we already hold -------------------------------------------------------------

    def _prior(self, url: str) -> _Prior | None:
        if url in self._seen:
            return self._seen[url]
        if self._index is None:
            self._index = Index(self.home)
        line = self._index.closest(url)
        if line is None:
            return None
        try:
            original = payload_line(self.home, self._index, line)
            head = read_headers(self.home, line).http
            orig = read_headers(self.home, original)
        except Exception as exc:  # an unreadable earlier capture must not stop a new one
            log.warning("cannot read the earlier capture of %s: %s", url, exc)
            return None
        return _Prior(
            digest=original.data.get("digest"),
            record_id=orig.warc.get("WARC-Record-ID", ""),
            uri=original.url,
            date=orig.warc.get("WARC-Date", ""),
            etag=head.get("etag") if head else None,
            last_modified=head.get("last-modified") if head else None,
            where=(original.filename, original.offset),
        )

    def last_good_digest(self, url: str) -> str | None:
        """The payload digest of the latest good capture of `url` (this session's included)."""
        prior = self._prior(url)
        return prior.digest if prior else None

    def payload(self, result: CaptureResult) -> bytes:
        """The decoded payload a capture of this session got; a revisit's is its original's
        (read back from the WARC: what is parsed is what was archived)."""
        if result.record_type == "revisit":
            prior = self._seen.get(result.url) or self._prior(result.url)
            where = prior.where if prior else None
        elif result.filename is not None and result.offset is not None:
            where = (result.filename, result.offset)
        else:
            where = None
        if where is None:
            raise NotArchived(f"no archived payload for {result.url} "
                              f"({result.error or result.record_type or 'not captured'})")
        filename, offset = where
        if not (self.home.root / filename).exists():  # the file this capturer still writes
            filename += ".open"
        line = IndexLine("", "", {"url": result.url, "filename": filename,
                                  "offset": str(offset), "length": "0", "mime": ""})
        return b"".join(stream_payload(self.home, line, decode=True))

    # -- URLs -------------------------------------------------------------------------------

    def capture_urls(
        self, urls: Iterable[str], progress: Callable[[CaptureResult], None] | None = None
    ) -> list[CaptureResult]:
        results = []
        for url in urls:
            result = self.capture_url(url)
            results.append(result)
            if progress:
                progress(result)
        return results

    def capture_url(self, url: str) -> CaptureResult:
        """Fetch `url` with retries; every response received is archived (as evidence)."""
        scheme = urlsplit(url).scheme.lower()
        if scheme not in ("http", "https"):
            return CaptureResult(url, ok=False, error=f"{url!r} is not an http(s) URL: "
                                 "use `salvage capture --file PATH --url URI` for local files")
        prior = self._prior(url)
        result = CaptureResult(url, ok=False)
        s = self.settings
        for attempt in range(s.retries + 1):
            result.attempts = attempt + 1
            self.limiter.wait(urlsplit(url).hostname or "")
            wait: float | None = None
            try:
                result = self._fetch_once(url, prior, result)
            except requests.RequestException as exc:
                result.ok, result.error = False, f"{type(exc).__name__}: {exc}"
                log.warning("capture of %s failed (attempt %d): %s", url, attempt + 1, exc)
            else:
                if result.ok:
                    return result
                wait = result.retry_after
            if attempt == s.retries:
                break
            backoff = s.backoff * (2**attempt) * (1 + random.random() / 4)
            delay = wait if wait is not None else backoff
            if delay > s.max_retry_wait:
                result.error = (f"the server asked to wait {delay:.0f} s, more than max_retry_wait "
                                f"({s.max_retry_wait:.0f} s): try again later")
                break
            self._sleep(delay)
        return result

    def _fetch_once(self, url: str, prior: _Prior | None, result: CaptureResult) -> CaptureResult:
        headers = {}
        if prior and prior.etag:
            headers["If-None-Match"] = prior.etag
        if prior and prior.last_modified:
            headers["If-Modified-Since"] = prior.last_modified
        started = datetime.now(UTC)
        with self.session.get(url, headers=headers, stream=True, timeout=self.settings.timeout,
                              allow_redirects=False) as resp:
            ip = _peer_ip(resp)
            stored = _stored_headers(resp)
            head = http_head_bytes(_status_line(resp), stored)
            http = HttpHead(resp.status_code, stored)
            with tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY, dir=self.home.tmp) as body:
                payload_sha, size, truncated, prefix = self._read_body(resp, body)
                body.seek(0)
                digest = "sha256:" + payload_sha.hexdigest()
                soft = softerrors.classify(url, resp.status_code, http.as_dict(),
                                           _decoded(prefix, http))
                entry = self._write_exchange(url, started, ip, resp, head, http, body, size,
                                             digest, prefix, truncated, prior)
        result = CaptureResult(
            url, ok=False, record_type=entry.record_type if entry else None,
            status=resp.status_code, record_id=entry.record_id if entry else None,
            digest=entry.digest if entry and entry.digest else digest,  # a 304: the original's
            soft_error=soft, truncated=truncated, bytes=size, attempts=result.attempts,
            filename=entry.filename if entry else None, offset=entry.offset if entry else None,
        )
        if truncated:
            result.error = f"connection lost after {size} bytes of the body (kept, flagged)"
        elif resp.status_code in RETRY_STATUSES:
            result.error = f"HTTP {resp.status_code}"
            result.retry_after = _retry_after(resp.headers.get("Retry-After"))
        elif soft and soft in self.settings.retry_soft_errors:
            result.error = f"soft error: {soft} (archived, flagged, retrying)"
        else:
            result.ok = True
            if soft:
                result.error = f"soft error: {soft} (archived as evidence, never served)"
            if entry and entry.good and resp.status_code < 300:
                self._remember(url, entry, resp, digest)
        return result

    def _read_body(self, resp: requests.Response, body: BinaryIO):
        """Copy the body (de-chunked, still content-encoded) to `body`; note a cut connection."""
        sha, size, truncated, prefix = hashlib.sha256(), 0, None, b""
        try:
            # read1 hands over whatever has arrived, so a reset loses nothing already received
            while data := resp.raw.read1(READ_CHUNK, decode_content=False):
                sha.update(data)
                body.write(data)
                size += len(data)
                if len(prefix) < softerrors.PREFIX_BYTES:
                    prefix += data[: softerrors.PREFIX_BYTES - len(prefix)]
        except Exception as exc:  # urllib3 ProtocolError / IncompleteRead / timeouts mid-body
            truncated = "disconnect"
            log.warning("connection lost while reading %s after %d bytes: %s", resp.url, size, exc)
        return sha, size, truncated, prefix

    def _write_exchange(self, url, started, ip, resp, head, http, body, size, digest, prefix,
                        truncated, prior) -> IndexEntry | None:
        response_id = new_record_id()
        date = warc_date(started)
        common = [("WARC-Record-ID", response_id), ("WARC-Date", date), ("WARC-Target-URI", url)]
        if ip:
            common.append(("WARC-IP-Address", ip))
        unchanged = prior is not None and not truncated and (
            resp.status_code == 304 or (resp.status_code == 200 and digest == prior.digest)
        )
        if unchanged:
            assert prior is not None
            fields = common + [
                ("WARC-Profile", REVISIT_PROFILE),
                ("WARC-Refers-To", prior.record_id),
                ("WARC-Refers-To-Target-URI", prior.uri),
                ("WARC-Refers-To-Date", prior.date),
                ("Content-Type", "application/http;msgtype=response"),
                ("WARC-Payload-Digest", prior.digest or digest),
                ("WARC-Block-Digest", "sha256:" + hashlib.sha256(head).hexdigest()),
                ("WARC-Truncated", "length"),
            ]
            entry = self.writer.write("revisit", fields, head, http=http)
        else:
            block_sha = hashlib.sha256(head)
            body.seek(0)
            while data := body.read(1 << 20):
                block_sha.update(data)
            body.seek(0)
            fields = common + [
                ("Content-Type", "application/http;msgtype=response"),
                ("WARC-Payload-Digest", digest),
                ("WARC-Block-Digest", "sha256:" + block_sha.hexdigest()),
            ]
            if truncated:
                fields.append(("WARC-Truncated", truncated))
            block = HeadThenBody(head, body)
            entry = self.writer.write("response", fields, block, len(head) + size,
                                      http=http, payload_prefix=prefix)
        request = _request_bytes(resp.request)
        self.writer.write("request", [
            ("WARC-Record-ID", new_record_id()), ("WARC-Date", date), ("WARC-Target-URI", url),
            ("WARC-Concurrent-To", response_id),
            ("Content-Type", "application/http;msgtype=request"),
            ("WARC-Block-Digest", "sha256:" + hashlib.sha256(request).hexdigest()),
        ], request)
        return entry

    def _remember(self, url: str, entry: IndexEntry, resp: requests.Response, digest: str) -> None:
        if entry.record_type == "revisit" and url in self._seen:
            prior = self._seen[url]
        else:
            prior = _Prior(digest, entry.record_id or "", url, warc_date(entry.warc_date),
                           None, None, (entry.filename, entry.offset))
        prior.etag = resp.headers.get("ETag") or prior.etag
        prior.last_modified = resp.headers.get("Last-Modified") or prior.last_modified
        self._seen[url] = prior

    # -- local files ------------------------------------------------------------------------

    def capture_file(self, path: Path, uri: str) -> CaptureResult:
        """Archive a local file as a `resource` record under `uri`."""
        path = Path(path)
        if not path.is_file():
            return CaptureResult(uri, ok=False, error=f"{path} is not a readable file")
        sha, size, prefix = hashlib.sha256(), 0, b""
        with open(path, "rb") as fh:
            while data := fh.read(1 << 20):
                sha.update(data)
                size += len(data)
                if len(prefix) < softerrors.PREFIX_BYTES:
                    prefix += data[: softerrors.PREFIX_BYTES - len(prefix)]
            fh.seek(0)
            digest = "sha256:" + sha.hexdigest()
            mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            mtime = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            fields = [
                ("WARC-Record-ID", new_record_id()),
                ("WARC-Date", warc_date(datetime.now(UTC))),
                ("WARC-Target-URI", uri),
                ("Content-Type", mime),
                ("WARC-Payload-Digest", digest),
                ("WARC-Block-Digest", digest),
                ("WARC-Source-File-Name", path.name),
                ("WARC-Source-File-Modified", warc_date(mtime)),
            ]
            entry = self.writer.write("resource", fields, fh, size, payload_prefix=prefix)
        assert entry is not None
        return CaptureResult(uri, ok=True, record_type="resource", digest=digest,
                             record_id=entry.record_id, bytes=size, attempts=1,
                             filename=entry.filename, offset=entry.offset,
                             soft_error=entry.soft_error)


def _decoded(prefix: bytes, http: HttpHead) -> bytes:
    return decoded_prefix(prefix, http.get("content-encoding"))
