"""A local source mirror: serves a folder over HTTP on 127.0.0.1 the way a real source does
(ETag, Last-Modified, conditional GET), and can be told to remove, throttle, fail or delay a path.

Tests and the demo point Salvage at it; users point Salvage at the real source. URLs with a
query string are served through `routes` ("path?query" -> file): a route matches when the path is
the same and every parameter it names has the same value in the request (so EDGAR's long
`getcurrent` URL reaches the feed file). Any other URL is served from its path, query ignored.
"""

from __future__ import annotations

import email.utils
import hashlib
import mimetypes
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
_RATE_PAGE = SAMPLES / "rate-exceeded.html"
THROTTLE_PAGE = _RATE_PAGE.read_bytes() if _RATE_PAGE.is_file() else (
    b"<html><head><title>SEC.gov | Request Rate Threshold Exceeded</title></head><body>"
    b"<h1>Your Request Originates from an Undeclared Automated Tool</h1>"
    b"<p>Request Rate Threshold Exceeded</p></body></html>"
)
"""EDGAR's real "Request Rate Threshold Exceeded" page (samples/rate-exceeded.html)."""
NO_SUCH_KEY = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code>'
    b"<Message>The specified key does not exist.</Message></Error>"
)
EDGAR_ROUTES = {
    "/cgi-bin/browse-edgar?action=getcurrent&output=atom": "cgi-bin/browse-edgar-getcurrent.atom",
}
"""EDGAR's latest-filings Atom feed, as samples/build_sample_day.py writes it."""
MEDIA_TYPES = {".idx": "text/plain", ".atom": "application/atom+xml", ".xsd": "application/xml"}


@dataclass
class MirrorState:
    """What the mirror is told to do, path by path (paths as in the URL, starting with '/',
    without the query string).

    `throttled` paths answer EDGAR's rate-limit page with `throttle_status` (200 as some caches
    do, or 403 as EDGAR does), unless `throttle_statuses` names another status for the path;
    `failing` paths answer 503, `removed` paths 404, `delayed` paths answer that many seconds late.
    """

    removed: set[str] = field(default_factory=set)
    throttled: set[str] = field(default_factory=set)
    failing: set[str] = field(default_factory=set)
    delayed: dict[str, float] = field(default_factory=dict)
    throttle_status: int = 200
    throttle_statuses: dict[str, int] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)


class _Handler(BaseHTTPRequestHandler):
    server_version = "SalvageMirror/0.2"
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._answer(with_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(with_body=False)

    def _answer(self, with_body: bool) -> None:
        mirror: Mirror = self.server.mirror  # type: ignore[attr-defined]
        parts = urlsplit(self.path)
        path, state = unquote(parts.path), mirror.state
        with mirror.lock:
            state.hits[path] = state.hits.get(path, 0) + 1
        if delay := state.delayed.get(path):
            time.sleep(delay)
        if path in state.failing:
            return self._send(503, b"temporarily unavailable", "text/plain", with_body,
                              {"Retry-After": "1"})
        if path in state.throttled:
            status = state.throttle_statuses.get(path, state.throttle_status)
            return self._send(status, THROTTLE_PAGE, "text/html", with_body)
        file = mirror.resolve(path, parts.query)
        if path in state.removed or file is None:
            return self._send(404, NO_SUCH_KEY, "application/xml", with_body)
        data = file.read_bytes()
        mtime = int(file.stat().st_mtime)
        validators = {"ETag": '"' + hashlib.sha256(data).hexdigest()[:32] + '"',
                      "Last-Modified": email.utils.formatdate(mtime, usegmt=True)}
        if _not_modified(self.headers.get("If-None-Match"), self.headers.get("If-Modified-Since"),
                         validators["ETag"], mtime):
            return self._send(304, b"", None, with_body, validators)
        self._send(200, data, media_type(file), with_body, validators)

    def _send(self, status: int, body: bytes, mime: str | None, with_body: bool,
              extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        if mime:
            self.send_header("Content-Type", mime)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if status != 304 and with_body:
            self.wfile.write(body)


def _not_modified(if_none_match: str | None, if_modified_since: str | None, etag: str,
                  mtime: int) -> bool:
    """RFC 9110 §13.2.2: If-None-Match decides when sent (weak comparison, `*`, lists);
    If-Modified-Since only without it, at one-second resolution."""
    if if_none_match is not None:
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        return "*" in tags or etag in tags
    if if_modified_since:
        try:
            since = email.utils.parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False  # an unreadable date is ignored, as the RFC says
        return since.tzinfo is not None and mtime <= since.timestamp()
    return False


def media_type(file: Path) -> str:
    return (MEDIA_TYPES.get(file.suffix.lower()) or mimetypes.guess_type(file.name)[0]
            or "application/octet-stream")


class Mirror:
    """Serve `root` on 127.0.0.1 in a background thread. Use as a context manager.

    `routes` maps "path?query" to a file under `root` (default: EDGAR_ROUTES).
    """

    def __init__(self, root: Path, port: int = 0, routes: dict[str, str] | None = None):
        self.root = Path(root).resolve()
        self.state = MirrorState()
        self.lock = threading.Lock()
        self.routes = [(urlsplit(key).path, dict(parse_qsl(urlsplit(key).query)), file)
                       for key, file in (EDGAR_ROUTES if routes is None else routes).items()]
        self.routes.sort(key=lambda route: -len(route[1]))  # the most specific first
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.mirror = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def resolve(self, path: str, query: str = "") -> Path | None:
        """The file a request for `path?query` is answered from, or None (404)."""
        if query:
            asked = dict(parse_qsl(query, keep_blank_values=True))
            for route_path, params, file in self.routes:
                if route_path == path and all(asked.get(k) == v for k, v in params.items()):
                    return self._inside(file)
        return self._inside(path)

    def _inside(self, rel: str) -> Path | None:
        target = (self.root / rel.lstrip("/")).resolve()
        if target.is_dir():
            target = target / "index.html"
        if not target.is_relative_to(self.root) or not target.is_file():
            return None
        return target

    def start(self) -> Mirror:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> Mirror:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
