"""Request pacing per site (EDGAR allows at most 10 requests a second from one client).

A rate set for a domain covers its subdomains as one site: `sec.gov` paces `www.sec.gov` and
`data.sec.gov` together, as EDGAR counts them. With a `state_dir`, the pace is shared by every
process using that folder (all the flows of one home): the next free slot of each site sits in a
small file updated under an exclusive `flock`, so two flows capturing at once still make at most
`rate` requests a second between them.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

DEFAULT_RATES = {"sec.gov": 10.0}


class HostRateLimiter:
    """Spaces requests to each site at least 1/rate seconds apart.

    `rates` maps a host or a parent domain (`sec.gov` covers `www.sec.gov`) to requests per second;
    other hosts get `default_rate` (None or 0: unlimited), each host on its own.
    """

    def __init__(self, rates: dict[str, float] | None = None, default_rate: float | None = 10.0,
                 state_dir: Path | None = None):
        self.rates = {k.lower(): v for k, v in (DEFAULT_RATES | (rates or {})).items()}
        self.default_rate = default_rate
        self.state_dir = Path(state_dir) if state_dir else None
        if self.state_dir:
            self.state_dir.mkdir(parents=True, exist_ok=True)
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def site(self, host: str) -> tuple[str, float | None]:
        """The site a host's requests are paced as (its configured domain, else the host), and
        its rate."""
        host = host.lower()
        parts = host.split(".")
        for i in range(len(parts)):
            domain = ".".join(parts[i:])
            rate = self.rates.get(domain)
            if rate is not None:
                return domain, rate
        return host, self.default_rate

    def rate_for(self, host: str) -> float | None:
        return self.site(host)[1]

    def wait(self, host: str) -> float:
        """Block until a request to `host` may go; returns the seconds slept."""
        site, rate = self.site(host)
        if not rate:
            return 0.0
        with self._lock:
            now = time.time()
            if self.state_dir is None:
                slot = max(now, self._next.get(site, 0.0))
                self._next[site] = slot + 1.0 / rate
            else:
                slot = self._shared_slot(site, now, 1.0 / rate)
        delay = slot - now
        if delay > 0:
            time.sleep(delay)
        return max(delay, 0.0)

    def _shared_slot(self, site: str, now: float, interval: float) -> float:
        path = self.state_dir / f"rate-{site.replace('/', '_')}"  # type: ignore[operator]
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                taken = float(os.pread(fd, 64, 0) or 0)
            except ValueError:  # a torn or foreign file: start afresh
                taken = 0.0
            slot = max(now, taken)
            if slot - now > 3600:  # a clock set back, or a bad file: do not wait for hours
                slot = now
            stamp = repr(slot + interval).encode().ljust(32)
            os.pwrite(fd, stamp, 0)
            return slot
        finally:
            os.close(fd)  # releases the lock
