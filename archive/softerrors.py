"""Soft errors: responses whose status says success but whose body is an error page.

They are archived as evidence, flagged in the index, and never served as the document. A detector is
one function registered with `@detector("name")`; it sees the URL, the HTTP status, the response
headers and the first bytes of the (content-decoded) payload, and returns True when it recognises an
error page.
"""

from __future__ import annotations

from collections.abc import Callable

Detector = Callable[[str, int | None, dict[str, str], bytes], bool]

DETECTORS: dict[str, Detector] = {}

#: How much of a payload the detectors see.
PREFIX_BYTES = 64 * 1024


def detector(name: str) -> Callable[[Detector], Detector]:
    """Register a soft-error detector under `name` (the value the index's `soft_error` takes)."""

    def register(func: Detector) -> Detector:
        DETECTORS[name] = func
        return func

    return register


def classify(url: str, status: int | None, headers: dict[str, str], prefix: bytes) -> str | None:
    """The name of the first detector that recognises this response, or None."""
    for name, func in DETECTORS.items():
        if func(url, status, headers, prefix[:PREFIX_BYTES]):
            return name
    return None


@detector("edgar-rate-limit")
def edgar_rate_limit(url: str, status: int | None, headers: dict[str, str], prefix: bytes) -> bool:
    """EDGAR's "Request Rate Threshold Exceeded" page (served with 200 or 403)."""
    return b"Request Rate Threshold Exceeded" in prefix


@detector("s3-nosuchkey")
def s3_no_such_key(url: str, status: int | None, headers: dict[str, str], prefix: bytes) -> bool:
    """S3's XML error for a missing key, seen on EDGAR hosts with 404 and, behind caches, 200."""
    head = prefix[:2048]
    return b"<Error>" in head and b"<Code>NoSuchKey</Code>" in head
