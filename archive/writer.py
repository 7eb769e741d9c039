"""Rolling WARC writer: one gzip member per record, `.open` while written, closed by rename.

Closing a file writes its CDXJ index and its `captures` catalog batch (both crash-safe), renames
`x.warc.gz.open` to `x.warc.gz`, and appends `warc.closed` (with the file's SHA-256) to the audit
chain. `recover_open_files` repairs what a killed process left behind.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import fcntl
import hashlib
import os
import socket
import weakref
from datetime import UTC, datetime
from itertools import count
from pathlib import Path
from typing import BinaryIO

from archive.cdxj import Entries, IndexEntry, entries_table, write_index
from archive.describe import HttpHead, describe
from archive.errors import DiskFullError
from archive.home import Home
from archive.records import (
    CRLF,
    MemberCompressor,
    header_block,
    new_record_id,
    warc_date,
)
from storage.atomic import fsync_dir
from storage.tables import write_batch

DEFAULT_MAX_SIZE = 1_000_000_000
SOFTWARE = "Salvage 0.1.0"
_DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_serial = count(1)
_live: weakref.WeakSet[WarcWriter] = weakref.WeakSet()


def _close_all_at_exit() -> None:
    for writer in list(_live):
        with contextlib.suppress(Exception):
            writer.close()


atexit.register(_close_all_at_exit)


def warc_file_name(host: str | None = None) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")[:17]
    host = (host or socket.gethostname()).replace("-", "_").replace(".", "_") or "host"
    return f"salvage-{stamp}-{os.getpid() % 100000:05d}{next(_serial):04d}-{host}.warc.gz"


class WarcWriter:
    """Writes records into rolling `salvage-<timestamp>-<serial>-<host>.warc.gz` files."""

    def __init__(self, home: Home, max_size: int = DEFAULT_MAX_SIZE, host: str | None = None):
        self.home = home.ensure()
        self.max_size = max_size
        self.host = host
        self._fh: BinaryIO | None = None
        self._path: Path | None = None
        self._name: str | None = None
        self._entries = Entries()
        self._size = 0
        self._sha = hashlib.sha256()
        self._records = 0
        self.closed_files: list[Path] = []
        _live.add(self)

    # -- files -----------------------------------------------------------------------------------

    @property
    def final_name(self) -> str:
        assert self._path is not None
        if self._name is None:  # resolving paths costs more than compressing a 20 KB record
            self._name = self.home.relative(self._path.with_suffix(""))
        return self._name

    def _open(self) -> None:
        name = warc_file_name(self.host)
        path = self.home.warcs / (name + ".open")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        self._fh = os.fdopen(fd, "wb", buffering=0)
        fcntl.flock(self._fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._path, self._entries, self._size, self._records = path, Entries(), 0, 0
        self._name = None
        self._sha = hashlib.sha256()
        info = (f"software: {SOFTWARE}\r\nformat: WARC File Format 1.1\r\n"
                f"hostname: {socket.gethostname()}\r\n").encode()
        self.write("warcinfo", [("WARC-Record-ID", new_record_id()),
                                ("WARC-Date", warc_date(datetime.now(UTC))),
                                ("WARC-Filename", name),
                                ("Content-Type", "application/warc-fields")], info)

    def close(self) -> Path | None:
        """Close the current file: index, catalog batch, rename, audit. Returns its path."""
        if self._fh is None or self._path is None:
            return None
        fh, path = self._fh, self._path
        self._fh = None
        os.fsync(fh.fileno())
        final = path.with_suffix("")
        name = self.home.relative(final)
        finish_closed_file(self.home, final, name, self._entries, self._sha.hexdigest(),
                           self._size, self._records, open_path=path)
        fh.close()
        self._path = None
        self.closed_files.append(final)
        return final

    def __enter__(self) -> WarcWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- records ---------------------------------------------------------------------------------

    def write(
        self,
        rec_type: str,
        fields: list[tuple[str, str]],
        block: bytes | BinaryIO,
        block_length: int | None = None,
        http: HttpHead | None = None,
        payload_prefix: bytes = b"",
    ) -> IndexEntry | None:
        """Append one record; returns its index entry (None for records that are not indexed).

        `block` is bytes or a readable file positioned at the block's start holding `block_length`
        bytes. `http` and `payload_prefix` describe the record for the index.
        """
        if self._fh is None:
            self._open()
        assert self._fh is not None
        if isinstance(block, bytes | bytearray):
            block_length = len(block)
        assert block_length is not None
        head = header_block(rec_type, fields, block_length)
        start = self._size
        digest = hashlib.sha256()
        file_sha = self._sha.copy()
        comp = MemberCompressor()
        try:
            if isinstance(block, bytes | bytearray):
                self._emit(comp.compress(head + block + CRLF + CRLF) + comp.flush(), digest)
            else:
                self._emit(comp.compress(head), digest)
                left = block_length
                while left > 0:
                    data = block.read(min(1 << 20, left))
                    if not data:
                        raise OSError(errno.EIO, "block ended before its declared length")
                    left -= len(data)
                    self._emit(comp.compress(data), digest)
                self._emit(comp.compress(CRLF + CRLF) + comp.flush(), digest)
        except OSError as exc:
            self._rewind(start, file_sha)
            if exc.errno in _DISK_FULL:
                raise DiskFullError(
                    f"disk full while writing {self._path}: the record was not written and the "
                    f"{self._records} records before it are safe. Free space (or move the home "
                    f"with --home) and run the capture again."
                ) from exc
            raise
        self._records += 1
        entry = describe(
            rec_type, dict(fields), http, payload_prefix,
            filename=self.final_name, offset=start, length=self._size - start,
            record_digest="sha256:" + digest.hexdigest(),
        )
        if entry is not None:
            self._entries.append(entry)
        if self._size >= self.max_size:
            self.close()
        return entry

    def _emit(self, data: bytes, digest) -> None:
        if not data:
            return
        assert self._fh is not None
        view = memoryview(data)
        while view:
            n = self._fh.write(view)
            view = view[n:]
        digest.update(data)
        self._sha.update(data)
        self._size += len(data)

    def _rewind(self, start: int, file_sha) -> None:
        """Cut a half-written record off the open file (after a failed write)."""
        assert self._fh is not None
        with contextlib.suppress(OSError):
            os.ftruncate(self._fh.fileno(), start)
            os.lseek(self._fh.fileno(), start, os.SEEK_SET)
        self._size = start
        self._sha = file_sha


def finish_closed_file(home: Home, final: Path, name: str, entries: Entries | list[IndexEntry],
                       sha256: str, size: int, records: int, open_path: Path | None = None) -> None:
    """Write a closed WARC's index and catalog batch, rename it into place, record it."""
    write_index(home.index_path(name), entries)
    rows = entries_table(entries)
    write_batch(home.catalog, "captures", rows, home.batch_id(name))
    if open_path is not None:
        os.replace(open_path, final)
        fsync_dir(final.parent)
    home.audit.append("warc.closed", file=name, sha256=sha256, bytes=size, records=records,
                      indexed=len(entries))
