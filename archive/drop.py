"""The scan drop folder: paper filings received by mail, scanned, archived, tied to their filing.

One scan is three steps, each safe to repeat after a crash:

1. `find_drops` lists the files ready to take: regular files, not hidden or partial (`.*`, `~*`,
   `*.part`, `*.tmp`…), unchanged for `settle_seconds`; a `NAME.json` sidecar (for
   `scan.pdf`: `scan.pdf.json`, else `scan.json`) is read with its file, never taken alone.
2. `archive_drops` copies each file once into a spool (hashing it on the way), then writes it as a
   WARC `resource` record under `urn:salvage:drop:<sha256>`, its sidecar as a second `resource`
   record, and a `metadata` record (`application/warc-fields`) with the file's name, size, mtime,
   folder, sidecar and tie, concurrent to both. Bytes already archived from the drop (the index
   holds a resource record at their URN) are not written again. The WARC is closed (fsync'd,
   indexed, catalogued, audited) before step 3.
3. `settle_drops` appends the `drops` rows, then renames each file (sidecar first) into the
   processed folder (`<processed>/<YYYY-MM-DD>/`): same filesystem, never over an existing
   name, never deleted.

A crash after 1 or 2 leaves the file in the drop folder: the next scan recognises its SHA-256,
writes no second record and only records and moves it. `tie_drop` ties a file by hand later (a new
row: the current view per sha256 keeps the latest). See docs/CATALOG.md (`drops`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import mimetypes
import os
import re
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from itertools import count
from pathlib import Path
from typing import IO, Any

from archive import softerrors
from archive.capture import CaptureSettings
from archive.cdxj import IndexLine
from archive.errors import SalvageError
from archive.home import Home
from archive.lookup import Index
from archive.payload import read_headers
from archive.records import new_record_id, warc_date
from archive.repair import recover
from archive.writer import WarcWriter
from storage.atomic import fsync_dir
from storage.digests import file_sha256
from storage.tables import append_rows, catalog_lock, read_table

URI_PREFIX = "urn:salvage:drop:"
"""Dropped files are archived under `urn:salvage:drop:<sha256 hex>`: one URI per distinct content,
so two scanners' `scan0001.pdf` never share a URI and a re-drop of the same bytes is recognised."""
SETTLE_SECONDS = 2.0
"""Seconds a file (and its sidecar) must have been left unchanged before it is taken."""
LOCK_NAME = ".salvage-drop.lock"
PARTIAL_SUFFIXES = (".part", ".partial", ".tmp", ".crdownload", ".download")
SIDECAR_SUFFIX = ".json"
MAX_SIDECAR = 1 << 20
SPOOL_IN_MEMORY = 8 << 20
READ_CHUNK = 1 << 20

_ACCESSION = re.compile(r"(\d{10})-(\d{2})-(\d{6})|(\d{18})")
_ACCESSION_IN_NAME = re.compile(r"(?<!\d)(?:\d{10}-\d{2}-\d{6}|\d{18})(?!\d)")
_SHA256 = re.compile(r"(?:sha256:)?([0-9a-fA-F]{64})")
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"),
          (b"II*\x00", "image/tiff"), (b"MM\x00*", "image/tiff"))


class DropError(SalvageError):
    """The drop folder, or a tie asked for, cannot be used as given."""


class UnknownDrop(DropError):
    """No file archived from the drop folder matches what was given."""


class BadAccession(DropError):
    """An accession number (or CIK) is not in EDGAR's format."""


# -- ties ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tie:
    """What ties a scan to a filing, and how it was learnt (`sidecar`, `filename`, `manual`)."""

    accession: str | None = None
    cik: str | None = None
    form_type: str | None = None
    received: date | None = None
    tied_by: str | None = None


def accession_of(text: str) -> str | None:
    """`0001234567-24-000123` (or its 18 digits) in EDGAR's dashed form; None if it is not one."""
    m = _ACCESSION.fullmatch(text.strip())
    if m is None:
        return None
    digits = m.group(4) or "".join(m.group(1, 2, 3))
    return f"{digits[:10]}-{digits[10:12]}-{digits[12:]}"


def cik_of(value: Any) -> str | None:
    """A CIK as the catalog writes it (10 digits, zero-padded); None if `value` is not one."""
    if isinstance(value, bool):
        return None
    text = str(value).strip() if isinstance(value, int | str) else ""
    return text.zfill(10) if text.isdigit() and len(text) <= 10 else None


def read_sidecar(data: bytes) -> tuple[Any, Tie, str | None]:
    """A sidecar's parsed JSON, the tie it gives, and what is wrong with it (None when fine).

    Keys: `accession`, `cik`, `form`, `received` (ISO date or date-time), all optional; others are
    kept as evidence and ignored. A bad sidecar gives no tie: a person decides (`salvage drop tie`).
    """
    try:
        parsed = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, Tie(), f"sidecar is not valid JSON: {exc}"
    if not isinstance(parsed, dict):
        return parsed, Tie(), f"sidecar holds a JSON {type(parsed).__name__}, not an object"
    wrong = []
    accession = cik = form = received = None
    if (value := parsed.get("accession")) is not None:
        accession = accession_of(value) if isinstance(value, str) else None
        if accession is None:
            wrong.append(f"accession {value!r} is not like 0001234567-24-000123")
    if (value := parsed.get("cik")) is not None and (cik := cik_of(value)) is None:
        wrong.append(f"cik {value!r} is not a number of up to 10 digits")
    if (value := parsed.get("form")) is not None:
        if isinstance(value, str) and value.strip():
            form = value.strip()
        else:
            wrong.append(f"form {value!r} is not a form type such as \"10-K\"")
    if (value := parsed.get("received")) is not None:
        received = _date_of(value)
        if received is None:
            wrong.append(f"received {value!r} is not a date like 2024-03-15")
    if wrong:
        return parsed, Tie(), "bad sidecar: " + "; ".join(wrong)
    return parsed, Tie(accession, cik, form, received, "sidecar" if accession else None), None


def _date_of(value: Any) -> date | None:
    """An ISO date, or the date (as written, in its own offset) of an ISO date-time."""
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value.strip()).date()
    except ValueError:
        return None


def tie_from_name(name: str) -> tuple[Tie, str | None]:
    """The tie an accession number in a file name gives (none if it holds none, or several)."""
    found = {accession_of(m) for m in _ACCESSION_IN_NAME.findall(name)}
    if len(found) > 1:
        return Tie(), f"the file name holds several accession numbers: {', '.join(sorted(found))}"
    return (Tie(found.pop(), tied_by="filename"), None) if found else (Tie(), None)


# -- step 1: find --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    """A file ready to take, with its sidecar if it has one."""

    path: Path
    sidecar: Path | None = None


def partial_name(name: str) -> bool:
    """Hidden, temporary or still-being-copied names (`.x`, `~x`, `x.part`, `x.tmp`...)."""
    return name.startswith((".", "~")) or name.lower().endswith(PARTIAL_SUFFIXES)


def _unpartial(name: str) -> str:
    for suffix in PARTIAL_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def find_drops(folder: Path, settle_seconds: float = SETTLE_SECONDS
               ) -> tuple[list[Found], list[dict]]:
    """The files of `folder` ready to archive (not recursing), and those left alone, with why."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DropError(f"there is no drop folder at {folder}: create it (mkdir -p {folder}) "
                        "and put the scans there, or give the folder to scan")
    now = time.time()
    files: dict[str, os.stat_result] = {}
    skipped: list[dict] = []
    partial: set[str] = set()
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        st = entry.stat(follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            continue
        if partial_name(entry.name):
            partial.add(_unpartial(entry.name))
            if entry.name != LOCK_NAME:
                skipped.append({"name": entry.name, "reason": "hidden or partial file"})
        elif not stat.S_ISREG(st.st_mode):
            skipped.append({"name": entry.name, "reason": "not a regular file (a link?)"})
        else:
            files[entry.name] = st
    sidecars = {n for n in files if n.lower().endswith(SIDECAR_SUFFIX)}
    scans = [n for n in files if n not in sidecars]
    stems: dict[str, int] = {}
    for name in scans:
        stems[Path(name).stem] = stems.get(Path(name).stem, 0) + 1
    found, claimed = [], set()
    for name in scans:
        own, by_stem = name + SIDECAR_SUFFIX, Path(name).stem + SIDECAR_SUFFIX
        side = own if own in sidecars else (
            by_stem if by_stem in sidecars and stems[Path(name).stem] == 1 else None)
        if side:
            claimed.add(side)
        young = [n for n in (name, side) if n and now - files[n].st_mtime < settle_seconds]
        if young:
            skipped.append({"name": name, "reason": f"{young[-1]} was modified less than "
                            f"{settle_seconds:g} s ago (maybe still being copied): taken next "
                            "scan"})
        elif own in partial or by_stem in partial:
            skipped.append({"name": name, "reason": "its sidecar is still being copied"})
        else:
            found.append(Found(folder / name, folder / side if side else None))
    for name in sorted(sidecars - claimed):
        skipped.append({"name": name, "reason": "a sidecar without its file (NAME.json beside "
                        "NAME.pdf, or NAME.pdf.json): left until its file arrives"})
    return found, skipped


# -- step 2: archive -----------------------------------------------------------------------------


@dataclass
class _Snapshot:
    """A file's bytes as read once (spooled), their SHA-256, and the file's stat before reading."""

    spool: IO[bytes]
    sha256: str
    size: int
    prefix: bytes
    mtime: datetime


@dataclass
class ArchivedDrop:
    """One dropped file after step 2: where its bytes are in the archive, and what it says."""

    path: Path
    sha256: str
    size: int
    mtime: datetime
    mime: str
    uri: str
    filename: str | None
    offset: int | None
    record_id: str | None
    already: bool
    sidecar: Path | None = None
    sidecar_sha256: str | None = None
    tie: Tie = field(default_factory=Tie)
    problem: str | None = None

    def row(self, processed_path: Path | None) -> dict:
        """The `drops` row of this file (without `recorded_at`)."""
        t = self.tie
        return {
            "sha256": self.sha256, "original_name": self.path.name, "size": self.size,
            "mtime": self.mtime, "mime": self.mime, "uri": self.uri, "filename": self.filename,
            "offset": self.offset, "record_id": self.record_id,
            "drop_folder": str(self.path.parent.resolve()),
            "processed_path": str(processed_path) if processed_path else None,
            "sidecar_name": self.sidecar.name if self.sidecar else None,
            "sidecar_sha256": self.sidecar_sha256, "accession": t.accession, "cik": t.cik,
            "form_type": t.form_type, "received": t.received, "tied_by": t.tied_by,
            "problem": self.problem,
        }


@dataclass
class DropReport:
    """What one scan of the drop folder did (`--json` prints it)."""

    folder: str
    processed: str
    archived: list[dict] = field(default_factory=list)
    """The `drops` rows of files archived by this scan."""
    already: list[dict] = field(default_factory=list)
    """Files whose bytes were archived before (an interrupted scan, a re-drop): moved, not
    archived again."""
    skipped: list[dict] = field(default_factory=list)
    """`{name, reason}`: left in the folder (hidden, partial, too recent, a lone sidecar)."""
    problems: list[dict] = field(default_factory=list)
    """`{name, problem}`: archived all the same (a bad sidecar, a conflicting tie)."""
    failed: list[dict] = field(default_factory=list)
    """`{name, error}`: not archived or not moved; left in the folder for the next scan."""
    repaired: list[str] = field(default_factory=list)
    """WARC files an interrupted run had left open, closed before scanning."""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed


def mime_of(head: bytes, name: str) -> str:
    """The type of a file from its first bytes (PDF, PNG, JPEG, TIFF), else from its name."""
    if head[:1024].lstrip().startswith(b"%PDF"):
        return "application/pdf"
    for magic, mime in _MAGIC:
        if head.startswith(magic):
            return mime
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def drop_uri(sha256: str) -> str:
    return URI_PREFIX + sha256


def _snapshot(path: Path, tmp: Path) -> _Snapshot:
    """Read `path` once into a spool file; refuse it if it changed while it was read."""
    before = os.stat(path, follow_symlinks=False)
    spool = tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY, dir=tmp)
    sha, size, prefix = hashlib.sha256(), 0, b""
    try:
        with open(path, "rb") as fh:
            while data := fh.read(READ_CHUNK):
                sha.update(data)
                spool.write(data)
                size += len(data)
                if len(prefix) < softerrors.PREFIX_BYTES:
                    prefix += data[: softerrors.PREFIX_BYTES - len(prefix)]
        after = os.stat(path, follow_symlinks=False)
        if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns) \
                or size != after.st_size:
            raise OSError(f"{path.name} changed while it was read (still being copied?): "
                          "left for the next scan")
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return _Snapshot(spool, sha.hexdigest(), size, prefix,
                     datetime.fromtimestamp(before.st_mtime, UTC))


def _field(value: Any) -> str:
    """A warc-fields value on one line: line breaks and control characters JSON-escaped."""
    if isinstance(value, datetime):
        text = warc_date(value)
    else:
        text = value.isoformat() if isinstance(value, date) else str(value)
    if any(ord(c) < 32 and c != "\t" for c in text):
        text = json.dumps(text, ensure_ascii=False)[1:-1]
    return text


def _in_archive(index: Index, uri: str, sha256: str) -> tuple[str, int] | None:
    """(filename, offset) of a resource record of `uri` holding exactly these bytes, if any."""
    for line in index.captures(uri):
        if line.data.get("digest") == "sha256:" + sha256 and not line.is_revisit:
            return line.filename, line.offset
    return None


class _Archiver:
    """Writes the records of dropped files into one WarcWriter; remembers what this run wrote."""

    def __init__(self, home: Home, writer: WarcWriter, index: Index):
        self.home, self.writer, self.index = home, writer, index
        self.written: dict[str, tuple[str | None, int | None, str | None]] = {}

    def where(self, sha256: str) -> tuple[str | None, int | None, str | None] | None:
        """(filename, offset, record id) of the bytes if archived from the drop already."""
        if sha256 in self.written:
            return self.written[sha256]
        at = _in_archive(self.index, drop_uri(sha256), sha256)
        if at is None:
            return None
        line = IndexLine("", "", {"url": drop_uri(sha256), "filename": at[0],
                                  "offset": str(at[1])})
        record_id = read_headers(self.home, line).warc.get("WARC-Record-ID")
        self.written[sha256] = (at[0], at[1], record_id)
        return self.written[sha256]

    def resource(self, snap: _Snapshot, name: str, mime: str,
                 concurrent_to: str | None = None) -> tuple[str | None, int | None, str]:
        record_id = new_record_id()
        digest = "sha256:" + snap.sha256
        fields = [("WARC-Record-ID", record_id), ("WARC-Date", warc_date(datetime.now(UTC))),
                  ("WARC-Target-URI", drop_uri(snap.sha256)), ("Content-Type", mime),
                  ("WARC-Payload-Digest", digest), ("WARC-Block-Digest", digest),
                  ("WARC-Source-File-Name", _field(name)),
                  ("WARC-Source-File-Modified", warc_date(snap.mtime))]
        if concurrent_to:
            fields.append(("WARC-Concurrent-To", concurrent_to))
        entry = self.writer.write("resource", fields, snap.spool, snap.size,
                                  payload_prefix=snap.prefix)
        where = (entry.filename if entry else None, entry.offset if entry else None, record_id)
        self.written[snap.sha256] = where
        return where

    def metadata(self, drop: ArchivedDrop, refers_to: str, concurrent: list[str],
                 sidecar_json: Any) -> None:
        t = drop.tie
        facts: list[tuple[str, Any]] = [
            ("original-name", drop.path.name), ("size", drop.size), ("modified", drop.mtime),
            ("sha256", drop.sha256), ("mime", drop.mime),
            ("drop-folder", drop.path.parent.resolve()),
        ]
        if drop.sidecar is not None:
            facts += [("sidecar-name", drop.sidecar.name),
                      ("sidecar-sha256", drop.sidecar_sha256),
                      ("sidecar-uri", drop_uri(drop.sidecar_sha256 or ""))]
            if sidecar_json is not None:
                facts.append(("sidecar", json.dumps(sidecar_json, ensure_ascii=False,
                                                    separators=(",", ":"))))
        facts += [("tied-by", t.tied_by), ("accession", t.accession), ("cik", t.cik),
                  ("form-type", t.form_type), ("received", t.received),
                  ("problem", drop.problem)]
        block = "".join(f"{k}: {_field(v)}\r\n" for k, v in facts if v is not None)
        data = block.encode("utf-8")
        fields = [("WARC-Record-ID", new_record_id()),
                  ("WARC-Date", warc_date(datetime.now(UTC))),
                  ("WARC-Target-URI", drop.uri), ("WARC-Refers-To", refers_to)]
        fields += [("WARC-Concurrent-To", rid) for rid in concurrent]
        fields += [("Content-Type", "application/warc-fields"),
                   ("WARC-Block-Digest", "sha256:" + hashlib.sha256(data).hexdigest())]
        self.writer.write("metadata", fields, data)

    def take(self, found: Found) -> tuple[ArchivedDrop, str | None]:
        """Archive one file (and its sidecar) unless its bytes are archived already."""
        snap = _snapshot(found.path, self.home.tmp)
        side_snap = None
        try:
            side_snap = _snapshot(found.sidecar, self.home.tmp) if found.sidecar else None
            mime = mime_of(snap.prefix, found.path.name)
            sidecar_json, tie, problem = None, Tie(), None
            if side_snap is not None and side_snap.size > MAX_SIDECAR:
                problem = f"sidecar of {side_snap.size} bytes is over {MAX_SIDECAR}: not read"
            elif side_snap is not None:
                sidecar_json, tie, problem = read_sidecar(side_snap.spool.read())
                side_snap.spool.seek(0)
            if problem is None and tie.accession is None:
                by_name, problem = tie_from_name(found.path.name)
                if by_name.accession:
                    tie = replace(tie, accession=by_name.accession, tied_by="filename")
            known = self.where(snap.sha256)
            concurrent: list[str] = []
            if known is None:
                known = self.resource(snap, found.path.name, mime)
                concurrent.append(known[2])
            drop = ArchivedDrop(
                path=found.path, sha256=snap.sha256, size=snap.size, mtime=snap.mtime, mime=mime,
                uri=drop_uri(snap.sha256), filename=known[0], offset=known[1],
                record_id=known[2], already=not concurrent, sidecar=found.sidecar,
                sidecar_sha256=side_snap.sha256 if side_snap else None, tie=tie, problem=problem)
            if found.sidecar and side_snap and self.where(side_snap.sha256) is None:
                side = self.resource(side_snap, found.sidecar.name, "application/json",
                                     concurrent_to=concurrent[0] if concurrent else None)
                concurrent.append(side[2])
            if concurrent and known[2]:
                self.metadata(drop, known[2], concurrent, sidecar_json)
            return drop, problem
        finally:
            snap.spool.close()
            if side_snap is not None:
                side_snap.spool.close()


def archive_drops(home: Home, found: list[Found], settings: CaptureSettings | None = None,
                  report: DropReport | None = None) -> list[ArchivedDrop]:
    """Step 2: write every found file into the home's WARCs (once per distinct content) and close
    them, so the records are durable, indexed and catalogued before anything is moved."""
    settings = settings or CaptureSettings()
    done: list[ArchivedDrop] = []
    with Index(home.ensure()) as index, \
            WarcWriter(home, max_size=settings.max_warc_size) as writer:
        archiver = _Archiver(home, writer, index)
        for item in found:
            try:
                drop, problem = archiver.take(item)
            except OSError as exc:  # unreadable or still changing: the others go on
                if report is not None:
                    report.failed.append({"name": item.path.name, "error": str(exc)})
                continue
            done.append(drop)
            if report is not None and problem:
                report.problems.append({"name": item.path.name, "problem": problem})
    return done


# -- step 3: record and move ---------------------------------------------------------------------


_COMPARED = ("original_name", "size", "mtime", "mime", "uri", "filename", "offset", "record_id",
             "drop_folder", "processed_path", "sidecar_name", "sidecar_sha256", "accession",
             "cik", "form_type", "received", "tied_by", "problem")


def _merge(prior: dict | None, row: dict) -> dict:
    """This drop's row, keeping an earlier tie of the same bytes (a person's tie is never undone
    by a file name or a sidecar; `salvage drop tie` changes it)."""
    if prior is None or prior.get("tied_by") is None:
        return row
    kept = {k: prior[k] for k in ("accession", "cik", "form_type", "received", "tied_by")}
    if row["accession"] and row["accession"] != prior["accession"]:
        row["problem"] = (f"this drop's {row['tied_by']} says {row['accession']}; kept the earlier "
                          f"tie to {prior['accession']} (change it with `salvage drop tie`)")
    return {**row, **kept}


def suffixed(name: str, n: int) -> str:
    """`name` with `-n` before its extension (n = 0: unchanged): a free name for a copy."""
    if n == 0:
        return name
    stem, dot, ext = name.rpartition(".")
    return f"{stem}-{n}.{ext}" if dot and stem else f"{name}-{n}"


def _destinations(target: Path, drop: ArchivedDrop, taken: set[str]) -> tuple[Path, Path | None]:
    """Free names in `target` for a file and its sidecar (`scan-1.pdf`, `scan-1.pdf.json`)."""
    name = drop.path.name
    side = drop.sidecar.name if drop.sidecar else None
    for n in count():
        dest = suffixed(name, n)
        dest_side = None
        if side is not None:
            dest_side = dest + SIDECAR_SUFFIX if side == name + SIDECAR_SUFFIX \
                else Path(dest).stem + SIDECAR_SUFFIX
        names = [x for x in (dest, dest_side) if x]
        if not any(x in taken or (target / x).exists() for x in names):
            taken.update(names)
            return target / dest, (target / dest_side) if dest_side else None
    raise AssertionError("unreachable")


def move_no_clobber(src: Path, dest: Path) -> None:
    """Rename within one filesystem, never over an existing file."""
    if dest.exists():
        raise FileExistsError(f"{dest} exists: nothing is ever overwritten")
    os.rename(src, dest)


def current_drops(home: Home) -> list[dict]:
    """The current `drops` row of every archived drop file (the latest per sha256), oldest first."""
    with catalog_lock(home.catalog):
        rows = read_table(home.catalog, "drops").to_pylist()
    latest: dict[str, dict] = {}
    for row in rows:
        prior = latest.get(row["sha256"])
        if prior is None or row["recorded_at"] >= prior["recorded_at"]:
            latest[row["sha256"]] = row
    return sorted(latest.values(), key=lambda r: (r["recorded_at"], r["original_name"]))


def untied_drops(home: Home) -> list[dict]:
    """The current rows of drop files no filing is tied to yet."""
    return [r for r in current_drops(home) if r["tied_by"] is None]


def settle_drops(home: Home, drops: list[ArchivedDrop], processed: Path,
                 report: DropReport) -> None:
    """Step 3: append the `drops` rows, then move each file (its sidecar first) to `processed`."""
    current = {r["sha256"]: r for r in current_drops(home)}
    taken: set[str] = set()
    rows: dict[str, dict] = {}
    plans = []
    for drop in drops:
        dest, dest_side = _destinations(processed, drop, taken)
        prior = current.get(drop.sha256)
        row = _merge(prior, drop.row(dest))
        if row["problem"] and row["problem"] != drop.problem:
            report.problems.append({"name": drop.path.name, "problem": row["problem"]})
        if drop.sha256 not in rows and (
                prior is None or any(prior.get(k) != row[k] for k in _COMPARED)):
            rows[drop.sha256] = row
        plans.append((drop, row, dest, dest_side))
    append_rows(home.catalog, "drops", list(rows.values()))
    if plans:
        processed.mkdir(parents=True, exist_ok=True)
    unmoved = []
    for drop, row, dest, dest_side in plans:
        try:
            if drop.sidecar is not None and dest_side is not None:
                move_no_clobber(drop.sidecar, dest_side)
            move_no_clobber(drop.path, dest)
        except OSError as exc:
            report.failed.append({"name": drop.path.name, "error": f"archived, but not moved to "
                                  f"{dest}: {exc}; the next scan moves it"})
            unmoved.append({**row, "processed_path": None, "problem": f"not moved: {exc}"})
            continue
        (report.already if drop.already else report.archived).append(row)
    for folder in {processed, *(d.path.parent for d in drops)} if plans else ():
        fsync_dir(folder)
    append_rows(home.catalog, "drops", unmoved)


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """One scan of a folder at a time (a flow run overlapping the next waits for it)."""
    with open(folder / LOCK_NAME, "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def scan_drop(home: Home, folder: Path, processed: Path | None = None,
              capturer_settings: CaptureSettings | None = None,
              settle_seconds: float = SETTLE_SECONDS) -> DropReport:
    """Archive every file ready in `folder`, record it in `drops`, move it to
    `<processed>/<YYYY-MM-DD>/` (UTC; `processed` defaults to `<folder>/processed`).
    Run `extract.run.extract_home` next to OCR and catalogue them."""
    started = time.perf_counter()
    folder = Path(folder).absolute()
    if not folder.is_dir():
        raise DropError(f"there is no drop folder at {folder}: create it (mkdir -p {folder}) "
                        "and put the scans there, or give the folder to scan")
    root = Path(processed).absolute() if processed else folder / "processed"
    target = root / datetime.now(UTC).date().isoformat()
    if target == folder:
        raise DropError(f"the processed folder cannot be the drop folder itself ({folder}): "
                        f"give another folder on the same filesystem, e.g. {folder}/processed")
    existing = next(p for p in (target, *target.parents) if p.exists())
    if os.stat(existing).st_dev != os.stat(folder).st_dev:
        raise DropError(f"{target} is on another filesystem than {folder}: files are moved by "
                        "an atomic rename, so give a processed folder on the same filesystem")
    report = DropReport(str(folder), str(target))
    report.repaired = recover(home.ensure())
    with _folder_lock(folder):
        found, report.skipped = find_drops(folder, settle_seconds)
        drops = archive_drops(home, found, capturer_settings, report)
        settle_drops(home, drops, target, report)
    report.seconds = time.perf_counter() - started
    return report


# -- ties by hand --------------------------------------------------------------------------------


def _find_drop(home: Home, given: str) -> dict:
    rows = current_drops(home)
    wanted: str | None = None
    if m := _SHA256.fullmatch(given.strip()):
        wanted = m.group(1).lower()
    elif Path(given).is_file():
        wanted = file_sha256(Path(given))
    else:
        matches = {r["sha256"] for r in rows if given in (
            r["original_name"], r["processed_path"],
            Path(r["processed_path"]).name if r["processed_path"] else None)}
        if len(matches) > 1:
            raise UnknownDrop(f"{given!r} names {len(matches)} different drop files "
                              f"({', '.join(sorted(matches))}): give the sha256 of the one meant "
                              "(`salvage drop list` shows them)")
        wanted = matches.pop() if matches else None
    found = next((r for r in rows if r["sha256"] == wanted), None)
    if found is None:
        raise UnknownDrop(f"{given!r} is not a file archived from the drop folder: give its "
                          "sha256, its original name or its path in processed/; "
                          "`salvage drop list` lists the drop files")
    return found


def tie_drop(home: Home, file_or_sha256: str, accession: str, cik: str | int | None = None,
             form: str | None = None) -> dict:
    """Tie a dropped file to a filing by hand: a new `drops` row (`tied_by` = "manual").

    `file_or_sha256` is the file's sha256, its original name, its path in processed/ or any copy
    of it. CIK and form not given are kept when the accession is the one already tied, else
    cleared (they belonged to the other filing).
    """
    number = accession_of(accession)
    if number is None:
        raise BadAccession(f"{accession!r} is not an accession number: write it like "
                           "0001234567-24-000123 (or its 18 digits)")
    padded = None
    if cik is not None and (padded := cik_of(cik)) is None:
        raise BadAccession(f"CIK {cik!r} is not a number of up to 10 digits")
    row = _find_drop(home, file_or_sha256)
    same = row["accession"] == number
    new = {**row, "accession": number, "tied_by": "manual",
           "cik": padded or (row["cik"] if same else None),
           "form_type": form.strip() if form and form.strip() else (
               row["form_type"] if same else None)}
    new.pop("recorded_at", None)
    append_rows(home.catalog, "drops", [new])
    return new
