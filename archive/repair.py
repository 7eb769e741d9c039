"""Repair on start: finish what a killed process left behind, so the home always verifies.

- `x.warc.gz.open` with no live writer: cut to its last whole record (the cut bytes are kept in
  `quarantine/` and the cut is logged in the audit chain), then closed like any file.
- a closed WARC the audit chain does not know (killed between rename and audit): indexed and logged.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path

from archive.home import Home
from storage.atomic import fsync_dir
from storage.digests import file_sha256


def _quarantine_tail(home: Home, path: Path, start: int) -> Path:
    dest = home.root / "quarantine" / f"{path.name}.cut-at-{start}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "rb") as src, open(dest, "wb") as out:
        src.seek(start)
        shutil.copyfileobj(src, out)
        out.flush()
        os.fsync(out.fileno())
    return dest


def repair_open_file(home: Home, path: Path) -> str | None:
    """Repair and close one abandoned `.open` file; None if a live writer still holds it."""
    from archive.indexing import index_file
    from archive.reader import whole_members
    from archive.writer import finish_closed_file

    with open(path, "r+b") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        size = os.fstat(fh.fileno()).st_size
        good_end = 0
        for offset, length in whole_members(fh):
            good_end = offset + length
        final = path.with_suffix("")
        name = home.relative(final)
        if good_end < size:
            kept = _quarantine_tail(home, path, good_end)
            os.ftruncate(fh.fileno(), good_end)
            os.fsync(fh.fileno())
            home.audit.append("warc.repaired", file=name, cut_from=good_end,
                              cut_bytes=size - good_end, kept_in=home.relative(kept))
        if good_end == 0:
            path.unlink()
            fsync_dir(path.parent)
            return name
        index = index_file(path, name)
        finish_closed_file(home, final, name, index.entries, file_sha256(path), good_end,
                           index.records, open_path=path)
    return name


def recover(home: Home) -> list[str]:
    """Repair every abandoned `.open` file and log unlogged closed files; names what it did."""
    if not home.warcs.exists():
        return []
    done = []
    for path in sorted(home.warcs.glob("*.warc.gz.open")):
        name = repair_open_file(home, path)
        if name:
            done.append(name)
    from archive.indexing import index_file
    from archive.writer import finish_closed_file

    logged = {e.get("file") for e in home.audit.entries() if e.get("event") == "warc.closed"}
    for path in sorted(home.warcs.glob("*.warc.gz")):
        name = home.relative(path)
        if name not in logged:
            index = index_file(path, name)
            finish_closed_file(home, path, name, index.entries, file_sha256(path),
                               path.stat().st_size, index.records)
            done.append(name)
    return done
