"""Typed extraction errors. Every reason says what is wrong with the bytes and where."""

from __future__ import annotations

from archive.errors import SalvageError


class ExtractError(SalvageError):
    """Bytes could not be turned into text or metadata; `reason` says why (and at which byte).

    `transient` errors lie in this machine (a missing program, a dead worker), not in the bytes:
    the run logs them and retries the payload next time instead of quarantining it.
    """

    transient = False

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class MalformedSubmission(ExtractError):
    """Not an EDGAR submission at all: no header and no documents, or binary junk."""


class TruncatedSubmission(MalformedSubmission):
    """A submission cut short: a <DOCUMENT>, <TEXT>, uuencoded block or wrapper never closes."""
