"""Fixity incidents and their recovery: what `verify` found wrong in our own store, as
`archive.fixity` findings, and each damaged or missing file brought back from the replica.

A file comes back only byte-exact: the replica's copy is fetched to `tmp/`, hashed, and compared
with OUR record of it — the SHA-256 the audit chain holds (`warc.closed`, `import`,
`catalog.compacted`, `replica.synced`), else, for index files and `captures` batches (which
`salvage reindex` rewrites, so no digest is kept), the replica manifest's. The damaged local file
is first kept in `quarantine/` (as evidence, never deleted); the good copy then replaces it by
rename, and `replica.restored` is logged. Without a replica, or when the replica's copy is not the
one we recorded, a file is unrecoverable, and the reason says which.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from archive.fixity import Expected, Problem, expected_catalog, expected_files, verify
from archive.home import Home
from archive.replicate import AUDIT_LOG, Replica, ReplicaError, open_replica, redact
from storage.atomic import fsync_dir
from storage.findings import Finding

__all__ = ["RestoreReport", "fixity_findings", "restore_from_replica"]

NO_REPLICA = ("unrecoverable: no replica is configured ([replica] uri in salvage.toml is empty), "
              "so there is no second copy to restore it from; restore it from a backup if one "
              "exists, and configure a replica so the next incident can be recovered")

_INDEX_KINDS = {"record-digest", "not-a-record", "wrong-record", "record-out-of-range"}
"""Problems of an index line: the WARC's fault if the WARC itself changed, else the index's."""
_FILE_KINDS = {"file-sha256", "file-missing", "unreadable"}
_NOT_DAMAGE = {"open-file"}  # a capture killed mid-file: repaired by the next salvage command
_SUBJECTS = {
    "file-missing": "is gone",
    "file-sha256": "no longer has the SHA-256 recorded when it was closed",
    "unreadable": "cannot be read",
    "file-unlogged": "is not in the audit chain",
    "index-missing": "is gone",
    "index-unreadable": "has lines that cannot be read",
    "index-dangling": "points into a file that is not there",
    "catalog-missing": "is gone",
    "catalog-sha256": "no longer has its recorded SHA-256",
    "catalog-unreadable": "is not a readable Parquet file",
    "audit-chain": "was altered after it was written",
}


# -- findings -------------------------------------------------------------------------------------


def _index_name(archive: str) -> str:
    return f"indexes/{archive.replace('/', '__')}.cdxj"


def _entity(p: Problem, damaged: set[str]) -> str | None:
    """The stored file a problem is about (the file to restore)."""
    if p.kind in _NOT_DAMAGE or p.file is None:
        return None
    if p.kind in ("index-missing", "index-dangling"):
        return _index_name(p.file)
    if p.kind in _INDEX_KINDS and p.file not in damaged:
        return _index_name(p.file)  # the WARC has its recorded digest: the index is wrong
    return p.file


def _dates(home: Home, entries: list[dict]) -> dict[str, str]:
    """The day each file was recorded (a WARC's close date, its index's and captures batch's
    too; a catalog file's compaction or replication date)."""
    days: dict[str, str] = {}
    for e in entries:
        name, day = e.get("file"), str(e.get("time", ""))[:10]
        if e.get("event") in ("warc.closed", "import") and isinstance(name, str) and day:
            days.setdefault(name, day)
            days.setdefault(_index_name(name), day)
            days.setdefault(f"catalog/captures/{home.batch_id(name)}.parquet", day)
        elif e.get("event") == "catalog.compacted" and isinstance(name, str) and day:
            days.setdefault(f"catalog/{e.get('table')}/{name}", day)
        elif e.get("event") == "replica.synced" and day:
            for item in e.get("catalog") or []:
                if isinstance(item, dict) and isinstance(item.get("file"), str):
                    days.setdefault(item["file"], day)
    return days


def _records(entries: list[dict]) -> dict[str, Expected]:
    archives, _ = expected_files(entries)
    catalog, _ = expected_catalog(entries)
    return {**catalog, **archives}


def fixity_findings(home: Home, replica: str | None = None, *, deep: bool = False,
                    access_key: str | None = None,
                    secret_key: str | None = None) -> list[Finding]:
    """Run `verify` and turn what it found into one `archive.fixity` finding per damaged or
    missing file: a WARC whose SHA-256 no longer matches its `warc.closed` record, a missing WARC,
    an index whose lines point at bytes that do not match, a catalog file that is gone (files
    `salvage compact` replaced are not) or unreadable, the audit chain. With `replica`, each
    finding's evidence says whether the replica holds the recorded copy; without, that it is
    unrecoverable."""
    report = verify(home, deep=deep)
    entries = home.audit.entries()
    records, days = _records(entries), _dates(home, entries)
    today = datetime.now(UTC).date().isoformat()
    damaged = {p.file for p in report.problems if p.kind in _FILE_KINDS and p.file}
    grouped: dict[str, list[Problem]] = {}
    for p in report.problems:
        entity = _entity(p, damaged)
        if entity is not None:
            grouped.setdefault(entity, []).append(p)
    manifest, unreachable = {}, None
    if replica:
        try:
            manifest = open_replica(replica, access_key, secret_key).read_manifest()["files"]
        except ReplicaError as exc:
            unreachable = str(exc)
    findings = []
    for entity, problems in sorted(grouped.items()):
        rec = records.get(entity)
        evidence: dict = {
            "file": entity,
            "problems": [{k: v for k, v in asdict(p).items() if v is not None}
                         for p in problems[:20]],
            "problem_count": len(problems),
            "recorded_sha256": rec.sha256 if rec else None,
            "recorded_by": {"event": rec.event, "seq": rec.seq} if rec else None,
        }
        if not replica:
            evidence["recovery"] = NO_REPLICA
        elif unreachable:
            evidence["recovery"] = f"the replica cannot be read: {unreachable}"
        else:
            held = manifest.get(entity)
            evidence["replica"] = {"uri": redact(replica),
                                   "sha256": held["sha256"] if held else None}
            evidence["recovery"] = _recovery(entity, rec, held, replica)
        what = "the audit chain" if entity == AUDIT_LOG else entity
        subject = f"{what} {_SUBJECTS.get(problems[0].kind, 'fails verification')}"
        if problems[0].kind in _INDEX_KINDS:
            subject = f"{what} has index lines pointing at bytes that do not match"
        findings.append(Finding(type="archive.fixity", entity=entity,
                                period=days.get(entity, today), subject=subject,
                                evidence=evidence))
    return findings


def _recovery(entity: str, rec: Expected | None, held: dict | None, uri: str) -> str:
    if entity == AUDIT_LOG:
        return ("not restored automatically: the audit chain is evidence; compare it with the "
                f"replica's copy ({redact(uri)}/{AUDIT_LOG})")
    if held is None:
        return ("unrecoverable from the replica: it holds no copy of this file (written after "
                "the last `salvage replicate`?); restore it from a backup if one exists")
    if rec is not None and rec.sha256 and held["sha256"] != rec.sha256:
        return (f"unrecoverable from the replica: its copy (SHA-256 {held['sha256']}) is not "
                f"the one recorded ({rec.sha256})")
    return f"recoverable from the replica {redact(uri)}: `salvage replicate --restore`"


# -- restore ----------------------------------------------------------------------------------


@dataclass
class Restored:
    file: str
    sha256: str
    bytes: int
    quarantined: str | None  # where the damaged local file was kept (None: it was gone)


@dataclass
class Unrecoverable:
    file: str
    reason: str


@dataclass
class RestoreReport:
    replica: str | None
    restored: list[Restored] = field(default_factory=list)
    intact: list[str] = field(default_factory=list)  # already had the recorded digest
    unrecoverable: list[Unrecoverable] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.unrecoverable

    def as_dict(self) -> dict:
        return {"ok": self.ok, **asdict(self)}


def _names(files: Iterable[str | Finding]) -> list[str]:
    out: list[str] = []
    for item in files:
        name = item.entity if isinstance(item, Finding) else str(item)
        if name not in out:
            out.append(name)
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while data := fh.read(1 << 20):
            h.update(data)
    return h.hexdigest()


def _quarantine(home: Home, path: Path, name: str) -> str:
    """Keep the damaged file in `quarantine/` (a hard link, so no byte is copied or lost)."""
    folder = home.root / "quarantine"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    dest = folder / f"{name.replace('/', '__')}.damaged-{stamp}"
    try:
        os.link(path, dest)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
        shutil.copy2(path, dest)
        with open(dest, "rb") as fh:
            os.fsync(fh.fileno())
    fsync_dir(folder)
    return home.relative(dest)


def restore_from_replica(home: Home, uri: str | None, files: Iterable[str | Finding], *,
                         access_key: str | None = None,
                         secret_key: str | None = None) -> RestoreReport:
    """Bring each damaged or missing file (names relative to the home, or findings) back from
    the replica at `uri`, byte-exact and checked against our record; see the module docstring."""
    names = _names(files)
    report = RestoreReport(redact(uri) if uri else None)
    if not uri:
        report.unrecoverable = [Unrecoverable(n, NO_REPLICA) for n in names]
        return report
    try:
        replica = open_replica(uri, access_key, secret_key)
        manifest = replica.read_manifest()["files"]
    except ReplicaError as exc:
        report.unrecoverable = [Unrecoverable(n, f"unrecoverable now: {exc}") for n in names]
        return report
    records = _records(home.audit.entries())
    for name in names:
        why = _restore_one(home, replica, manifest, records.get(name), name, report)
        if why is not None:
            report.unrecoverable.append(Unrecoverable(name, why))
    return report


def _restore_one(home: Home, replica: Replica, manifest: dict, rec: Expected | None, name: str,
                 report: RestoreReport) -> str | None:
    """Restore one file; the reason it cannot be, or None."""
    if name == AUDIT_LOG:
        return ("the audit chain is evidence and is never replaced: compare audit/log.jsonl "
                f"with the replica's copy ({replica.uri}/{AUDIT_LOG}) and find out who changed "
                "it")
    held = manifest.get(name)
    recorded = rec.sha256 if rec is not None else None
    if rec is None and name.startswith(("warcs/", "imported/")):
        return ("not a file Salvage recorded, so there is nothing to restore it to: if it is "
                "not ours, move it out of the home")
    if held is None:
        return (f"unrecoverable: the replica {replica.uri} holds no copy of it (written after "
                "the last `salvage replicate`, or never replicated); restore it from a backup if "
                "one exists")
    if recorded is not None and held["sha256"] != recorded:
        return (f"unrecoverable from the replica: its copy (SHA-256 {held['sha256']}) is not the "
                f"one Salvage recorded ({recorded}, `{rec.event}` audit seq {rec.seq})")
    expected = recorded or held["sha256"]
    final = home.root / name
    if final.exists() and _sha256(final) == expected:
        report.intact.append(name)
        return None
    home.tmp.mkdir(parents=True, exist_ok=True)
    temp = home.tmp / f".restore-{os.getpid()}-{name.replace('/', '__')}"
    try:
        h, size = hashlib.sha256(), 0
        with open(temp, "wb") as out:
            try:
                for data in replica.read(name):
                    h.update(data)
                    size += len(data)
                    out.write(data)
            except FileNotFoundError:
                return (f"unrecoverable: the replica's manifest lists it but {replica.uri}/{name} "
                        "is gone")
            except OSError as exc:
                return (f"not restored now: reading {replica.uri}/{name} failed ({exc}); run "
                        "`salvage replicate --restore` again")
            out.flush()
            os.fsync(out.fileno())
        if h.hexdigest() != expected:
            return (f"unrecoverable: the replica's copy is damaged too — it hashes to "
                    f"{h.hexdigest()} ({size} bytes), not the recorded {expected}; nothing was "
                    "changed here")
        kept = None
        if final.exists():
            mode = final.stat().st_mode & 0o777
            kept = _quarantine(home, final, name)
        else:
            mode = 0o444 if name.startswith("imported/") else 0o644
            final.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(temp, mode)
        os.replace(temp, final)
        fsync_dir(final.parent)
        if kept is not None:
            os.chmod(home.root / kept, 0o444)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
    report.restored.append(Restored(name, expected, size, kept))
    home.audit.append("replica.restored", file=name, sha256=expected, bytes=size,
                      replica=replica.uri, quarantined=kept)
    return None

