"""A threaded HTTP server on 127.0.0.1 that misbehaves on purpose, for capture tests."""

from __future__ import annotations

import gzip
import random
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PAGE = (b"<html><head><title>Form 8-K</title></head><body>" + b"<p>filing text</p>" * 200
        + b"</body></html>")
ETAG = '"v1-8k"'
LAST_MODIFIED = "Wed, 21 Oct 2015 07:28:00 GMT"
NOISE = random.Random(7).randbytes(1 << 20)  # incompressible: gzip cannot shrink /big


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def _hits(self) -> int:
        hits = self.server.hits  # type: ignore[attr-defined]
        hits[self.path] = hits.get(self.path, 0) + 1
        return hits[self.path]

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None,
              reason: str | None = None) -> None:
        self.send_response(status, reason)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        n = self._hits()
        path = self.path.split("?")[0]
        if path == "/etag.html":
            if self.headers.get("If-None-Match") == ETAG:
                self.send_response(304)
                self.send_header("ETag", ETAG)
                self.end_headers()
                return
            return self._send(200, PAGE, {"Content-Type": "text/html; charset=utf-8",
                                          "ETag": ETAG, "Last-Modified": LAST_MODIFIED,
                                          "x-amz-version-id": "3HL4kqtJlcpXroDTDmJ"})
        if path == "/plain.html":  # no validators: unchanged payload -> revisit by digest
            return self._send(200, PAGE, {"Content-Type": "text/html"})
        if path == "/changing.html":
            return self._send(200, PAGE + str(n).encode(), {"Content-Type": "text/html"})
        if path == "/chunked":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"first chunk, ", b"second chunk, ", b"last chunk."):
                self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
            return
        if path == "/gzip":
            return self._send(200, gzip.compress(PAGE), {"Content-Type": "text/html",
                                                         "Content-Encoding": "gzip"})
        if path == "/missing":
            return self._send(404, b"not here", {"Content-Type": "text/plain"})
        if path == "/busy":  # 429 with Retry-After twice, then the page
            if n <= 2:
                return self._send(429, b"slow down", {"Retry-After": "1"})
            return self._send(200, PAGE, {"Content-Type": "text/html"})
        if path == "/always-busy":
            return self._send(503, b"down", {"Retry-After": "0"})
        if path == "/throttle":
            return self._send(200, (FIXTURES / "pages" / "rate-exceeded.html").read_bytes(),
                              {"Content-Type": "text/html"})
        if path == "/nosuchkey":
            return self._send(200, b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>'
                              b"NoSuchKey</Code><Message>The specified key does not exist."
                              b"</Message></Error>", {"Content-Type": "application/xml"})
        if path == "/no-reason":
            return self._send(200, PAGE, {"Content-Type": "text/html"}, reason="")
        if path == "/reset":  # promise 100 kB, send 1 kB, then reset the connection
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(PAGE[:1000])
            self.wfile.flush()
            time.sleep(0.3)  # let the client read what was sent before the reset
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        if path == "/big":  # ?size=N bytes, streamed
            size = int(self.path.split("size=")[1])
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            block = NOISE
            left = size
            while left > 0:
                part = block[: min(len(block), left)]
                self.wfile.write(part)
                left -= len(part)
            return
        self._send(404, b"unknown test path", {"Content-Type": "text/plain"})


class ScenarioServer:
    def __init__(self) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.hits = {}  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def hits(self) -> dict[str, int]:
        return self.httpd.hits  # type: ignore[attr-defined]

    def __enter__(self) -> ScenarioServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
