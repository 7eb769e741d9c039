"""A local source mirror: serves a folder over HTTP on 127.0.0.1 the way a real source does
(ETag, Last-Modified, conditional GET), and can be told to remove, throttle or fail a path.

Tests and the demo point Salvage at it; users point Salvage at the real source.
"""

from __future__ import annotations

import email.utils
import hashlib
import mimetypes
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

THROTTLE_PAGE = (
    b"<html><head><title>SEC.gov | Request Rate Threshold Exceeded</title></head><body>"
    b"<h1>Your Request Originates from an Undeclared Automated Tool</h1>"
    b"<p>Request Rate Threshold Exceeded</p></body></html>"
)
NO_SUCH_KEY = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code>'
    b"<Message>The specified key does not exist.</Message></Error>"
)


@dataclass
class MirrorState:
    """What the mirror is told to do, path by path (paths as in the URL, starting with '/')."""

    removed: set[str] = field(default_factory=set)
    throttled: set[str] = field(default_factory=set)
    failing: set[str] = field(default_factory=set)
    hits: dict[str, int] = field(default_factory=dict)


class _Handler(BaseHTTPRequestHandler):
    server_version = "SalvageMirror/0.1"
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        server: Mirror = self.server.mirror  # type: ignore[attr-defined]
        path = unquote(urlsplit(self.path).path)
        state = server.state
        state.hits[path] = state.hits.get(path, 0) + 1
        if path in state.failing:
            return self._send(503, b"temporarily unavailable", "text/plain",
                              extra={"Retry-After": "1"})
        if path in state.throttled:
            return self._send(200, THROTTLE_PAGE, "text/html")
        file = server.resolve(path)
        if path in state.removed or file is None:
            return self._send(404, NO_SUCH_KEY, "application/xml")
        data = file.read_bytes()
        etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
        modified = email.utils.formatdate(file.stat().st_mtime, usegmt=True)
        if self.headers.get("If-None-Match") == etag:
            return self._send(304, b"", None, extra={"ETag": etag, "Last-Modified": modified})
        mime = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        self._send(200, data, mime, extra={"ETag": etag, "Last-Modified": modified})

    def _send(self, status: int, body: bytes, mime: str | None, extra: dict | None = None) -> None:
        self.send_response(status)
        if mime:
            self.send_header("Content-Type", mime)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if status != 304:
            self.wfile.write(body)


class Mirror:
    """Serve `root` on 127.0.0.1 in a background thread. Use as a context manager."""

    def __init__(self, root: Path, port: int = 0):
        self.root = Path(root).resolve()
        self.state = MirrorState()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.mirror = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def resolve(self, path: str) -> Path | None:
        target = (self.root / path.lstrip("/")).resolve()
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
