"""Typed errors. Every message names the cause and what to do next."""

from __future__ import annotations


class SalvageError(Exception):
    """Base of every error Salvage reports to a user."""


class DiskFullError(SalvageError):
    """The disk filled up while writing; what was whole is kept, nothing partial is closed."""


class CaptureError(SalvageError):
    """A URL could not be captured (after retries)."""


class ImportFailed(SalvageError):
    """Nothing in a file could be imported."""


class NotArchived(SalvageError):
    """No (good) capture of a URL is in the archive."""


class BadTime(SalvageError):
    """A time argument could not be read."""
