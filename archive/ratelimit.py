"""Per-host request pacing (EDGAR allows at most 10 requests a second from one client)."""

from __future__ import annotations

import threading
import time

DEFAULT_RATES = {"sec.gov": 10.0}


class HostRateLimiter:
    """Spaces requests to each host at least 1/rate seconds apart.

    `rates` maps a host or a parent domain (`sec.gov` covers `www.sec.gov`) to requests per second;
    other hosts get `default_rate` (None or 0: unlimited).
    """

    def __init__(self, rates: dict[str, float] | None = None, default_rate: float | None = 10.0):
        self.rates = {k.lower(): v for k, v in (DEFAULT_RATES | (rates or {})).items()}
        self.default_rate = default_rate
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def rate_for(self, host: str) -> float | None:
        host = host.lower()
        parts = host.split(".")
        for i in range(len(parts)):
            rate = self.rates.get(".".join(parts[i:]))
            if rate is not None:
                return rate
        return self.default_rate

    def wait(self, host: str) -> float:
        """Block until a request to `host` may go; returns the seconds slept."""
        rate = self.rate_for(host)
        if not rate:
            return 0.0
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next.get(host, 0.0))
            self._next[host] = slot + 1.0 / rate
        delay = slot - now
        if delay > 0:
            time.sleep(delay)
        return max(delay, 0.0)
