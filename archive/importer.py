"""`salvage import`: bring WARC, ARC and WACZ files written by other tools into the home.

Each file is copied (streamed, hashed on the way) into `imported/` as `<sha256[:12]>-<name>`, made
read-only and never modified; its records are indexed like ours. A broken record is skipped and
reported with its offset; a file from which nothing could be read goes to `quarantine/` with the
reason beside it. Producers' wrong digests are imported and flagged; from then on verify holds the
copy to Salvage's own SHA-256 of the file and of each record.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from archive.cdxj import entries_table, write_index
from archive.home import Home
from archive.indexing import FileIndex
from archive.reader import GZIP_MAGIC, ReadRecord, read_records
from archive.reindex import index_stored_file
from storage.atomic import fsync_dir
from storage.digests import file_sha256
from storage.tables import write_batch

CHUNK = 1 << 20
ZIP_MAGIC = b"PK\x03\x04"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_WACZ_WARC = re.compile(r"^archive/[^/]+\.(warc|warc\.gz|arc|arc\.gz)$", re.IGNORECASE)


@dataclass
class ImportReport:
    """What importing one source file did. `ok` is False only when nothing could be imported."""

    source: str
    name: str | None = None
    records: int = 0
    indexed: int = 0
    broken: list[dict] = field(default_factory=list)  # {"offset", "error"} (+ "file" for WACZ)
    digest_problems: list[dict] = field(default_factory=list)  # {"offset", "problem"}
    already_imported: bool = False
    ok: bool = False
    error: str | None = None
    sha256: str | None = None
    names: list[str] = field(default_factory=list)  # every stored file (several for a WACZ)
    quarantined: str | None = None

    @property
    def summary(self) -> str:
        """One line saying what happened to the source."""
        if not self.ok:
            return f"failed: {self.error}"
        stored = ", ".join(self.names) or str(self.name)
        if self.already_imported:
            return f"{self.source}: already imported as {stored}"
        return (f"{self.source}: imported as {stored}: {self.records} records, {self.indexed} "
                f"indexed" + (f", {len(self.warnings)} warnings" if self.warnings else ""))

    @property
    def warnings(self) -> list[str]:
        """One readable line per problem that did not stop the import."""
        out = [f"{self.source}: broken record at offset {b['offset']}"
               + (f" of {b['file']}" if b.get("file") else "") + f" skipped ({b['error']})"
               for b in self.broken]
        out += [f"{self.source}: record at offset {d['offset']}"
                + (f" of {d['file']}" if d.get("file") else "")
                + f" has a wrong producer digest ({d['problem']}); imported and flagged"
                for d in self.digest_problems]
        return out


# -- helpers --------------------------------------------------------------------------------------


def safe_name(name: str) -> str:
    """A file name that fits a catalog batch id (letters, digits, '.', '_' and '-' only) and,
    with its hash prefix and index suffix, the file system's 255-byte limit."""
    text = _UNSAFE.sub("_", name).strip("._") or "file"
    return text if len(text) <= 160 else text[:60] + "_" + text[-99:]


def _copy_hashing(src: BinaryIO, dest: Path) -> tuple[str, int]:
    """Stream `src` into a new file `dest`, fsynced; returns (sha256 hex, size)."""
    h, size = hashlib.sha256(), 0
    with open(dest, "wb") as out:
        while data := src.read(CHUNK):
            h.update(data)
            out.write(data)
            size += len(data)
        out.flush()
        os.fsync(out.fileno())
    return h.hexdigest(), size


def _same_bytes(path: Path, sha256: str, size: int) -> bool:
    if path.stat().st_size != size:
        return False
    return file_sha256(path) == sha256


def _already_stored(home: Home, sha256: str, size: int) -> Path | None:
    """An imported file holding exactly these bytes, under any original name."""
    for candidate in sorted(home.imported.glob(f"{sha256[:12]}-*")):
        if candidate.is_file() and _same_bytes(candidate, sha256, size):
            return candidate
    return None


def _producer(path: Path) -> str | None:
    """The `software` a file's first warcinfo record names, if any."""
    with contextlib.suppress(Exception):
        for rec in read_records(path):
            if isinstance(rec, ReadRecord) and rec.rec_type == "warcinfo":
                for line in rec.prefix.decode("utf-8", "replace").splitlines():
                    key, _, value = line.partition(":")
                    if key.strip().lower() == "software":
                        return value.strip()
            return None
    return None


def _short(error: str, limit: int = 120) -> str:
    """An error message fit for one line: printable ASCII, cut at `limit` characters."""
    text = "".join(c if " " <= c <= "~" else "?" for c in error)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _why_unreadable(tmp: Path, size: int, index: FileIndex) -> str:
    """The cause of a file yielding no record, and what to do, in one sentence."""
    if size == 0:
        return "the file is empty (0 bytes); copy or download it again"
    with open(tmp, "rb") as fh:
        head = fh.read(8)
    first = _short(index.broken[0].error) if index.broken else "no record found"
    if head.startswith(GZIP_MAGIC):
        return (f"gzip data that holds no readable WARC/ARC record ({first}); the file is cut "
                f"short or corrupt: fetch a fresh copy from its source")
    if head.startswith((b"WARC/", b"filedesc:")):
        return (f"no complete record could be read ({first}); the file is cut short or corrupt: "
                f"fetch a fresh copy from its source")
    return (f"not a WARC, ARC or WACZ file ({first}); import only .warc, .warc.gz, .arc, .arc.gz "
            f"or .wacz files")


def _quarantine(home: Home, tmp: Path, stored: str, source: str, sha256: str,
                reason: str) -> str:
    """Keep the raw bytes of a file nothing could be imported from, with the reason beside it."""
    folder = home.root / "quarantine"
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / stored
    os.chmod(tmp, 0o444)
    os.replace(tmp, dest)
    (folder / f"{stored}.reason.txt").write_text(f"source: {source}\nsha256: {sha256}\n"
                                                 f"reason: {reason}\n")
    fsync_dir(folder)
    kept = home.relative(dest)
    home.audit.append("import.quarantined", file=kept, source=source, sha256=sha256,
                      reason=reason)
    return kept


# -- one stored file ------------------------------------------------------------------------------


def _store(home: Home, src: BinaryIO, label: str, source: str, audit_extra: dict) -> ImportReport:
    """Copy one WARC/ARC stream into imported/, index it and log it (or quarantine it)."""
    report = ImportReport(source=source)
    tmp = home.tmp / f".import-{os.getpid()}-{safe_name(label)}"
    try:
        sha256, size = _copy_hashing(src, tmp)
        report.sha256 = sha256
        found = _already_stored(home, sha256, size)
        if found is not None:
            report.name = home.relative(found)
            report.names = [report.name]
            report.already_imported = report.ok = True
            return report
        stored = f"{sha256[:12]}-{safe_name(label)}"
        final = home.imported / stored
        name = home.relative(final)
        index = index_stored_file(tmp, name)
        report.records, report.indexed = index.records, len(index.entries)
        report.broken = [{"offset": b.offset, "error": b.error} for b in index.broken]
        report.digest_problems = [{"offset": o, "problem": p} for o, p in index.digest_problems]
        if index.records == 0:
            report.error = _why_unreadable(tmp, size, index)
            report.quarantined = _quarantine(home, tmp, stored, source, sha256, report.error)
            report.error += f" (nothing imported; the bytes are kept in {report.quarantined})"
            return report
        write_index(home.index_path(name), index.entries)
        write_batch(home.catalog, "captures", entries_table(index.entries),
                    home.batch_id(name))
        os.chmod(tmp, 0o444)
        os.replace(tmp, final)
        fsync_dir(final.parent)
        home.audit.append("import", file=name, source=source, sha256=sha256, bytes=size,
                          records=index.records, indexed=len(index.entries), broken=report.broken,
                          digest_problems=len(index.digest_problems), producer=_producer(final),
                          **audit_extra)
        report.name, report.names, report.ok = name, [name], True
        return report
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


# -- sources --------------------------------------------------------------------------------------


def _import_wacz(home: Home, path: Path, source: str) -> ImportReport:
    """Each `archive/*.warc(.gz)` member of a WACZ becomes its own imported file."""
    report = ImportReport(source=source)
    report.sha256 = wacz_sha = file_sha256(path)
    parts: list[ImportReport] = []
    problem = None
    try:
        with zipfile.ZipFile(path) as zf:
            members = [m for m in zf.infolist() if _WACZ_WARC.match(m.filename)]
            if not members:
                problem = ("the WACZ holds no archive/*.warc or archive/*.warc.gz member; "
                           "export it again from the tool that wrote it")
            for member in members:
                label = f"{path.name}-{PurePosixPath(member.filename).name}"
                with zf.open(member) as src:
                    part = _store(home, src, label, source,
                                  {"wacz_sha256": wacz_sha, "member": member.filename})
                parts.append(part)
                _merge(report, part, member.filename)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, ValueError,
            NotImplementedError) as exc:  # OSError (the disk) goes up to import_file
        problem = (f"the WACZ (zip) file is cut short or corrupt ({type(exc).__name__}: {exc}); "
                   f"fetch a fresh copy from its source")
        report.broken.append({"offset": 0, "error": problem})
    report.ok = any(p.ok for p in parts)
    report.already_imported = report.ok and all(p.already_imported for p in parts if p.ok)
    if not report.ok:
        reason = problem or "no WARC in the WACZ could be imported"
        with open(path, "rb") as src:
            kept = _quarantine_copy(home, src, path.name, source, wacz_sha, reason)
        report.quarantined = kept
        report.error = f"{reason} (nothing imported; the bytes are kept in {kept})"
    return report


def _quarantine_copy(home: Home, src: BinaryIO, label: str, source: str, sha256: str,
                     reason: str) -> str:
    tmp = home.tmp / f".import-{os.getpid()}-{safe_name(label)}"
    _copy_hashing(src, tmp)
    return _quarantine(home, tmp, f"{sha256[:12]}-{safe_name(label)}", source, sha256, reason)


def _merge(total: ImportReport, part: ImportReport, member: str) -> None:
    """Add one WACZ member's report to the WACZ's."""
    total.records += part.records
    total.indexed += part.indexed
    total.broken += [{**b, "file": member} for b in part.broken]
    total.digest_problems += [{**d, "file": member} for d in part.digest_problems]
    if part.ok:
        total.names += part.names
        total.name = total.names[0]
    elif part.error:
        total.broken.append({"offset": 0, "file": member, "error": part.error})


def import_file(home: Home, path: Path) -> ImportReport:
    """Import one WARC (plain or gzip), ARC or WACZ file; never raises on bad input."""
    path = Path(path)
    source = str(path)
    home.ensure()
    if not path.exists():
        return ImportReport(source, error=f"{source}: no such file; check the path")
    if path.is_dir():
        return ImportReport(source, error=f"{source} is a directory; pass the archive files in "
                                          f"it (e.g. {source}/*.warc.gz)")
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
            fh.seek(0)
            is_zip = head == ZIP_MAGIC
            report = _import_wacz(home, path, source) if is_zip else \
                _store(home, fh, path.name, source, {})
    except OSError as exc:
        return ImportReport(source, error=f"{source} could not be read ({exc.strerror or exc}); "
                                          f"check its permissions and the disk")
    if report.error:
        report.error = f"{source}: {report.error}"
    return report


def import_files(home: Home, paths: Iterable[Path]) -> list[ImportReport]:
    """Import each path in turn; one bad file never stops the others."""
    reports = []
    for p in paths:
        try:
            reports.append(import_file(home, Path(p)))
        except Exception as exc:  # a bug or a failing disk, not bad input: report, go on
            reports.append(ImportReport(str(p), error=(
                f"{p}: import failed ({type(exc).__name__}: {exc}); the source file is "
                f"untouched: run `salvage reindex`, then import it again")))
    return reports
