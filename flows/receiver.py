"""A local webhook receiver on 127.0.0.1 for the demo and the tests: it records every POST (path,
headers, body) and answers with a chosen status, so a receiver that is down, then up, can be
played out for real."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """Records each POST and answers `status` (change it while running). A context manager."""

    def __init__(self, port: int = 0, status: int = 202):
        self.requests: list[dict] = []
        self.status = status
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                answer = receiver.status
                receiver.requests.append({"path": self.path, "headers": dict(self.headers),
                                          "body": body, "answered": answer})
                payload = b'{"status": "success", "message": "Event processed"}'
                self.send_response(answer)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def accepted(self) -> list[dict]:
        return [r for r in self.requests if 200 <= r["answered"] < 300]

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
