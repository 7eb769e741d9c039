"""Visible text of an HTML page, quickly: scripts, styles and tags dropped, entities decoded.

A first, deliberately plain reader so pages and HTML filing documents are searchable; the HTML
extractor of the documents issue (links, meta, XBRL facts) replaces it under a new version.
"""

from __future__ import annotations

import html
import re

_INVISIBLE = re.compile(rb"<(script|style|head)\b.*?</\1\s*>", re.I | re.S)
_COMMENT = re.compile(rb"<!--.*?-->", re.S)
_BLOCK = re.compile(rb"<(?:br|/?p|/?div|/?tr|/?li|/?h[1-6]|/?table)\b[^>]*>", re.I)
_TAG = re.compile(rb"<[^>]*>")
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_LINES = re.compile(r"\n\s*\n+")
_TITLE = re.compile(rb"<title\b[^>]*>(.*?)</title\s*>", re.I | re.S)


def looks_like_html(data: bytes) -> bool:
    head = data[:4096].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<html" in head


def html_title(data: bytes) -> str | None:
    found = _TITLE.search(data[:65536])
    if not found:
        return None
    title = _SPACES.sub(" ", html.unescape(found.group(1).decode("utf-8", "replace"))).strip()
    return title or None


def html_to_text(data: bytes) -> str:
    """The visible text, one block per line, whitespace collapsed."""
    body = _COMMENT.sub(b" ", data)
    body = _INVISIBLE.sub(b" ", body)
    body = _BLOCK.sub(b"\n", body)
    body = _TAG.sub(b" ", body)
    text = html.unescape(body.decode("utf-8", "replace"))
    text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _LINES.sub("\n\n", text).strip()
