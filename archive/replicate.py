"""`salvage replicate`: a second copy of the home in another folder or an S3-compatible store.

The replica mirrors the home's layout — `warcs/`, `imported/`, `indexes/`, `catalog/<table>/`,
`audit/log.jsonl` — plus `salvage-replica.json`, its manifest: each file's SHA-256, size and kind
as verified on arrival. A run copies what the manifest lacks, skips what it holds with the same
digest, and treats each kind as what it is:

- archive files (closed WARCs, imported files) are immutable: one is sent only if our copy still has
  the SHA-256 the audit chain recorded (damage is never propagated), and a replica copy under the
  same name with another digest is a problem, never overwritten;
- catalog files of derived tables are immutable too, and are sent once; their digests are recorded
  in the `replica.synced` audit event, so `verify` checks them from then on;
- index files and `captures` batches derive from the WARCs (`salvage reindex` rewrites them): a new
  version that a `reindex` event explains replaces the replica's, whose old bytes are kept under
  `superseded/`; an unexplained change is a problem (damage is not propagated);
- the audit log is append-only: the replica's copy must be a prefix of ours, then it is replaced by
  the longer one.

Nothing is deleted from a replica: catalog files compaction replaced stay there (a replica is a
second copy, and history is evidence). Every file is written under a temporary name, read back and
hashed, and only then moved to its name: a rename on a local replica (after fsync), a server-side
copy on S3, where each object appears whole or not at all. `restore_from_replica` brings files back
(see `archive.restore`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from archive.errors import SalvageError
from archive.fixity import Expected, expected_catalog, expected_files, parquet_problem
from archive.home import Home
from storage.atomic import fsync_dir

MANIFEST = "salvage-replica.json"
FORMAT = "salvage-replica/1"
AUDIT_LOG = "audit/log.jsonl"
SUPERSEDED = "superseded"
CHUNK = 1 << 20

__all__ = ["Replica", "ReplicaError", "ReplicaReport", "open_replica", "redact", "replicate"]


class ReplicaError(SalvageError):
    """The replica cannot be reached, or its manifest cannot be read."""


def redact(uri: str) -> str:
    """The URI without credentials, for reports and the audit chain."""
    parts = urlsplit(uri)
    if parts.password is None and parts.username is None:
        return uri
    return urlunsplit(parts._replace(netloc=parts.hostname or ""))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# -- the replica's file system ------------------------------------------------------------------


class Replica:
    """One replica: a pyarrow file system, the folder (or bucket/prefix) in it, and its manifest.
    Names are relative to the home, as the audit chain writes them."""

    def __init__(self, filesystem, root: str, uri: str):
        self.fs = filesystem
        self.root = root.rstrip("/")
        self.uri = redact(uri)
        self.local = filesystem.type_name == "local"

    def path(self, name: str) -> str:
        return f"{self.root}/{name}"

    def listing(self) -> tuple[dict[str, int], list[str]]:
        """Every file on the replica (name -> size), and leftover temporary files of a cut-short
        run (hidden names ending in `.tmp`)."""
        from pyarrow import fs as pafs

        files: dict[str, int] = {}
        leftovers: list[str] = []
        try:
            infos = self.fs.get_file_info(pafs.FileSelector(self.root, recursive=True,
                                                            allow_not_found=True))
        except OSError as exc:
            raise ReplicaError(f"cannot list the replica {self.uri}: {exc}; check the URI, "
                               "the bucket and the credentials") from exc
        for info in infos:
            if info.type != pafs.FileType.File:
                continue
            name = info.path[len(self.root) + 1:]
            base = name.rsplit("/", 1)[-1]
            if base.startswith("."):
                if base.endswith(".tmp"):
                    leftovers.append(name)
                continue
            files[name] = info.size
        return files, leftovers

    def read_manifest(self) -> dict:
        """The manifest (an empty one when the replica is new)."""
        try:
            with self.fs.open_input_stream(self.path(MANIFEST), compression=None) as fh:
                data = json.loads(fh.read())
        except FileNotFoundError:
            return {"format": FORMAT, "files": {}}
        except (OSError, ValueError) as exc:
            raise ReplicaError(
                f"the replica's manifest {self.uri}/{MANIFEST} cannot be read ({exc}): nothing "
                "was copied; compare the replica with the home before replicating to it") from exc
        if data.get("format") != FORMAT or not isinstance(data.get("files"), dict):
            raise ReplicaError(f"{self.uri}/{MANIFEST} is not a Salvage replica manifest "
                               f"({FORMAT}): choose another place for the replica")
        return data

    def write_manifest(self, manifest: dict) -> None:
        manifest["updated"] = _now()
        data = json.dumps(manifest, indent=1, sort_keys=True).encode() + b"\n"
        temp, sha, _ = self.send(MANIFEST, iter([data]))
        if sha != hashlib.sha256(data).hexdigest():
            self.discard(temp)
            raise ReplicaError(f"the manifest written to {self.uri} did not read back as written: "
                               "check the replica's storage, then run again")
        self.commit(temp, MANIFEST)

    # -- moving bytes ---------------------------------------------------------------------------

    def send(self, name: str, chunks: Iterator[bytes]) -> tuple[str, str, int]:
        """Write `chunks` to a temporary name beside `name`, then read it back: (the temporary
        name, the SHA-256 and size of what the replica holds)."""
        folder, _, base = name.rpartition("/")
        temp = f"{folder + '/' if folder else ''}.{base}.{os.getpid()}.tmp"
        if self.local:
            path = Path(self.path(temp))
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as fh:
                for data in chunks:
                    fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
                if hasattr(os, "posix_fadvise"):  # so the read-back comes from the disk
                    os.posix_fadvise(fh.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        else:
            with self.fs.open_output_stream(self.path(temp), compression=None) as out:
                for data in chunks:
                    out.write(data)
        sha, size = self.digest(temp)
        return temp, sha, size

    def digest(self, name: str) -> tuple[str, int]:
        """The SHA-256 and size of a file on the replica, read through."""
        h, size = hashlib.sha256(), 0
        for data in self.read(name):
            h.update(data)
            size += len(data)
        return h.hexdigest(), size

    def read(self, name: str) -> Iterator[bytes]:
        with self.fs.open_input_stream(self.path(name), compression=None) as fh:
            while data := fh.read(CHUNK):
                yield data

    def commit(self, temp: str, name: str) -> None:
        """Move a verified temporary file to its name (replacing what is there)."""
        if self.local:
            final = Path(self.path(name))
            os.replace(self.path(temp), final)
            fsync_dir(final.parent)
        else:
            self.fs.move(self.path(temp), self.path(name))

    def set_aside(self, name: str, sha256: str) -> str:
        """Move a replica file to `superseded/<name>.<sha256[:16]>`, where it stays."""
        kept = f"{SUPERSEDED}/{name}.{sha256[:16]}"
        if self.local:
            Path(self.path(kept)).parent.mkdir(parents=True, exist_ok=True)
        self.commit(name, kept)
        return kept

    def discard(self, temp: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.delete_file(self.path(temp))


def open_replica(uri: str, access_key: str | None = None,
                 secret_key: str | None = None) -> Replica:
    """The replica at `uri`: an absolute path, `file:///path` or `s3://bucket/prefix?region=…&
    endpoint_override=host:port&scheme=http` (any URI `pyarrow.fs.FileSystem.from_uri` reads). S3
    keys: `access_key`/`secret_key` when given, else pyarrow's usual sources (AWS_ACCESS_KEY_ID and
    AWS_SECRET_ACCESS_KEY, ~/.aws, an instance role)."""
    from pyarrow import fs as pafs

    if not uri or not uri.strip():
        raise ReplicaError("no replica: set [replica] uri in salvage.toml (or give --to URI)")
    uri = uri.strip()
    target = uri
    if access_key and secret_key:
        parts = urlsplit(uri)
        if parts.scheme != "s3":
            raise ReplicaError(f"S3 keys were given but {redact(uri)} is not an s3:// URI")
        auth = f"{quote(access_key, safe='')}:{quote(secret_key, safe='')}"
        target = urlunsplit(parts._replace(netloc=f"{auth}@{parts.netloc}"))
    try:
        filesystem, root = pafs.FileSystem.from_uri(target)
    except (ValueError, OSError, TypeError) as exc:
        raise ReplicaError(f"cannot open the replica {redact(uri)}: {exc}; expected an absolute "
                           "path, file:///path or s3://bucket/prefix") from None
    return Replica(filesystem, root, uri)


# -- replicate ------------------------------------------------------------------------------------


@dataclass
class ReplicaProblem:
    file: str
    kind: str
    message: str


@dataclass
class ReplicaReport:
    """What a `replicate` run did. `copied`: files sent and verified; `adopted`: files found on
    the replica with the right digest but not yet in its manifest (a run cut short); `superseded`:
    derived files whose previous replica version was set aside."""

    uri: str
    copied: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)
    superseded: list[str] = field(default_factory=list)
    skipped: int = 0
    bytes: int = 0
    problems: list[ReplicaProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict:
        return {"ok": self.ok, **asdict(self)}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    for data in _chunks(path):
        h.update(data)
    return h.hexdigest()


def _chunks(path: Path, limit: int | None = None) -> Iterator[bytes]:
    left = limit
    with open(path, "rb") as fh:
        while data := fh.read(CHUNK if left is None else min(CHUNK, left)):
            if left is not None:
                left -= len(data)
            yield data


class _Hashing:
    """Chunks passing to the replica, hashed on the way (what we sent)."""

    def __init__(self, chunks: Iterator[bytes]):
        self.chunks, self.sha, self.size = chunks, hashlib.sha256(), 0

    def __iter__(self) -> Iterator[bytes]:
        for data in self.chunks:
            self.sha.update(data)
            self.size += len(data)
            yield data


@contextlib.contextmanager
def _replicating(home: Home) -> Iterator[None]:
    """One replicate run per home at a time (the manifest is read, then rewritten)."""
    home.tmp.mkdir(parents=True, exist_ok=True)
    with open(home.tmp / ".replicate.lock", "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


class _Run:
    """One replicate run: the replica's manifest and listing, what happened so far."""

    def __init__(self, home: Home, replica: Replica, entries: list[dict]):
        self.home, self.replica = home, replica
        self.seq = entries[-1].get("seq", -1) if entries else -1
        self.reindexed = self.reindex_events(entries)
        self.manifest = replica.read_manifest()
        self.files: dict[str, dict] = self.manifest["files"]
        self.there, leftovers = replica.listing()
        for temp in leftovers:  # a cut-short run's partial uploads: never any file's only copy
            replica.discard(temp)
        self.report = ReplicaReport(replica.uri)
        self.recorded: list[dict] = []  # catalog digests for the audit chain

    def reindex_events(self, entries: list[dict]) -> list[tuple[int, set[str]]]:
        """Each `reindex` event's seq and the index files and captures batches it rewrote."""
        out = []
        for e in entries:
            if e.get("event") != "reindex":
                continue
            names = set()
            for warc in [*(e.get("rebuilt") or []), *(e.get("mismatched") or [])]:
                if isinstance(warc, str):
                    names.add(f"indexes/{warc.replace('/', '__')}.cdxj")
                    names.add(f"catalog/captures/{self.home.batch_id(warc)}.parquet")
            out.append((e.get("seq", -1), names))
        return out

    def problem(self, name: str, kind: str, message: str) -> None:
        self.report.problems.append(ReplicaProblem(name, kind, f"{name}: {message}"))

    def _record(self, name: str, kind: str, sha: str, size: int, path: Path | None) -> None:
        entry = {"sha256": sha, "bytes": size, "kind": kind, "synced": _now(),
                 "audit_seq": self.seq}
        if path is not None:
            entry["mtime_ns"] = path.stat().st_mtime_ns  # the quick check of the next run
        self.files[name] = entry
        self.there[name] = size

    def _send(self, name: str, path: Path, kind: str, expected: str | None,
              limit: int | None = None) -> str | None:
        """Send one file (its first `limit` bytes), check it on arrival, move it to its name.
        Returns its SHA-256, or None (a problem was reported, nothing was committed)."""
        sent = _Hashing(_chunks(path, limit))
        temp, sha, size = self.replica.send(name, iter(sent))
        ours = sent.sha.hexdigest()
        if expected is not None and ours != expected:
            self.replica.discard(temp)
            self.problem(name, "local-damaged", (
                f"our copy hashes to {ours}, not the {expected} Salvage recorded: it was not "
                "replicated. Run `salvage verify`, then `salvage replicate --restore`"))
            return None
        if sha != ours or size != sent.size:
            self.replica.discard(temp)
            self.problem(name, "arrival-mismatch", (
                f"the replica's copy read back as {sha} ({size} bytes), not the {ours} "
                f"({sent.size} bytes) sent: nothing was kept; check the replica's storage and "
                "run again"))
            return None
        self.replica.commit(temp, name)
        self._record(name, kind, sha, size, path if limit is None else None)
        self.report.copied.append(name)
        self.report.bytes += size
        return sha

    def _adopt(self, name: str, kind: str, expected: str | None, path: Path) -> bool | str:
        """A file on the replica the manifest does not list (a run cut short after the move):
        True if it is ours (recorded now), else its SHA-256."""
        sha, size = self.replica.digest(name)
        if sha == (expected or _sha256(path)):
            self._record(name, kind, sha, size, path)
            self.report.adopted.append(name)
            return True
        return sha

    # -- each kind of file ----------------------------------------------------------------------

    def archive(self, path: Path, exp: Expected | None) -> None:
        """A closed WARC or an imported file: immutable, sent only if it has its recorded digest."""
        name = self.home.relative(path)
        if exp is None or exp.sha256 is None:
            self.problem(name, "not-recorded", (
                "not in the audit chain, so not replicated: start any salvage command (it logs "
                "closed WARCs it finds) or bring the file in with `salvage import`"))
            return
        entry, there = self.files.get(name), self.there.get(name)
        if entry is not None and entry["sha256"] != exp.sha256:
            self.problem(name, "replica-conflict", (
                f"the replica holds another file under this name (SHA-256 {entry['sha256']}) "
                f"than the one Salvage recorded ({exp.sha256}); archive files are never "
                "overwritten: find out which copy is right (`salvage verify` checks ours)"))
        elif entry is not None and there == entry["bytes"]:
            self.report.skipped += 1
        elif entry is not None and there is not None:
            self.problem(name, "replica-damaged", (
                f"the replica's copy has {there} bytes where its manifest says "
                f"{entry['bytes']}: it was not overwritten; move it aside on the replica, then "
                "run again to send ours"))
        elif there is not None and entry is None:
            found = self._adopt(name, "archive", exp.sha256, path)
            if found is not True:
                self.problem(name, "replica-conflict", (
                    f"the replica holds another file under this name (SHA-256 {found}) than "
                    f"the one Salvage recorded ({exp.sha256}); it was not overwritten"))
        else:
            self._send(name, path, "archive", exp.sha256)

    def _state(self, path: Path) -> tuple[dict | None, int | None, os.stat_result]:
        """The manifest entry, the replica's size, and our file's stat."""
        name = self.home.relative(path)
        return self.files.get(name), self.there.get(name), path.stat()

    @staticmethod
    def _untouched(entry: dict | None, there: int | None, stat: os.stat_result) -> bool:
        """Sent before and not touched since: same size there and here, same mtime."""
        return (entry is not None and there == entry["bytes"] == stat.st_size
                and entry.get("mtime_ns") == stat.st_mtime_ns)

    def catalog(self, path: Path, exp: Expected | None) -> None:
        """A derived table's batch file: immutable, sent once; its digest goes to the chain."""
        name, (entry, there, stat) = self.home.relative(path), self._state(path)
        if self._untouched(entry, there, stat):
            self.report.skipped += 1
            return
        recorded = exp.sha256 if exp is not None else None
        ours = _sha256(path)
        if recorded is not None and ours != recorded:
            self.problem(name, "local-damaged", (
                f"our copy hashes to {ours}, not the {recorded} its `{exp.event}` event "
                "recorded: it was not replicated. Run `salvage replicate --restore`"))
            return
        if entry is not None and entry["sha256"] != ours:
            self.problem(name, "replica-conflict", (
                f"the replica holds another version (SHA-256 {entry['sha256']}) of this catalog "
                f"file than ours ({ours}); catalog files are written once, so it was not "
                "overwritten: find out which copy is right"))
            return
        if entry is not None and there == entry["bytes"]:
            self._record(name, "catalog", ours, stat.st_size, path)  # touched, not changed
            self.report.skipped += 1
        elif there is not None:
            found = self._adopt(name, "catalog", ours, path)
            if found is not True:
                self.problem(name, "replica-conflict", (
                    f"the replica holds another version (SHA-256 {found}) of this catalog file "
                    f"than ours ({ours}); it was not overwritten"))
                return
        elif (shape := parquet_problem(path)) is not None:
            self.problem(name, "local-damaged", f"not a readable Parquet file ({shape}): it was "
                         "not replicated")
            return
        elif self._send(name, path, "catalog", ours) is None:
            return
        if recorded is None:
            self.recorded.append({"file": name, "sha256": ours, "bytes": stat.st_size})

    def derived(self, path: Path, kind: str) -> None:
        """An index file or a captures batch: rebuilt from the WARCs by `salvage reindex`, so a
        new version — one a `reindex` event since the last copy explains — replaces the
        replica's, whose bytes are set aside under `superseded/`; an unexplained change is a
        problem, and the replica's copy is kept."""
        name, (entry, there, stat) = self.home.relative(path), self._state(path)
        if self._untouched(entry, there, stat):
            self.report.skipped += 1
            return
        ours = _sha256(path)
        if entry is not None and entry["sha256"] == ours and there == entry["bytes"]:
            self._record(name, kind, ours, stat.st_size, path)
            self.report.skipped += 1
            return
        if entry is not None and entry["sha256"] != ours and not any(
                seq > entry.get("audit_seq", -1) and name in names
                for seq, names in self.reindexed):
            self.problem(name, "local-changed", (
                f"our copy (SHA-256 {ours}) is not the one replicated ({entry['sha256']}) and "
                "no `salvage reindex` since explains the change: it was not replicated. Run "
                "`salvage verify`; `salvage reindex` rebuilds it from the WARCs"))
            return
        if there is not None:
            found = self._adopt(name, kind, ours, path) if entry is None else entry["sha256"]
            if found is True:
                return
            self.report.superseded.append(self.replica.set_aside(name, str(found)))
        self._send(name, path, kind, ours)

    def audit_log(self) -> None:
        """The audit chain: the replica's copy must be a prefix of ours; then ours replaces it."""
        log = self.home.audit.path
        if not log.exists():
            return
        with open(log, "rb") as fh:  # appends hold an exclusive lock: whole lines only
            fcntl.flock(fh, fcntl.LOCK_SH)
            size = os.fstat(fh.fileno()).st_size
        entry, there = self.files.get(AUDIT_LOG), self.there.get(AUDIT_LOG)
        if entry is not None and there is not None:
            if there != entry["bytes"] or entry["bytes"] > size or hashlib.sha256(
                    b"".join(_chunks(log, entry["bytes"]))).hexdigest() != entry["sha256"]:
                self.problem(AUDIT_LOG, "audit-diverged", (
                    "the replica's audit log is not the beginning of ours: one of the two chains "
                    "was altered (or the replica belongs to another home). It was not "
                    "overwritten: compare the two with `salvage verify` on each"))
                return
            if entry["bytes"] == size:
                self.report.skipped += 1
                return
        self._send(AUDIT_LOG, log, "audit", None, limit=size)


def replicate(home: Home, uri: str, *, access_key: str | None = None,
              secret_key: str | None = None) -> ReplicaReport:
    """Copy what the replica at `uri` lacks: closed WARCs, imported files, indexes, catalog files
    and the audit log, each verified on arrival; record the run as `replica.synced`."""
    from storage.tables import catalog_lock

    replica = open_replica(uri, access_key, secret_key)
    with _replicating(home):
        entries = home.audit.entries()
        archives, _ = expected_files(entries)
        run = _Run(home, replica, entries)
        try:
            for path in home.archive_files():
                name = home.relative(path)
                if name not in archives:  # closed while we looked: its event is there now
                    archives, _ = expected_files(home.audit.entries())
                copied = len(run.report.copied)
                run.archive(path, archives.get(name))
                if len(run.report.copied) > copied:
                    replica.write_manifest(run.manifest)  # a big file is never sent twice
            run.reindexed = run.reindex_events(home.audit.entries())  # one may have run since
            for path in sorted(home.indexes.glob("*.cdxj")) if home.indexes.exists() else []:
                run.derived(path, "index")
            with catalog_lock(home.catalog):  # no compaction swaps files while we read them
                recorded, _ = expected_catalog(home.audit.entries())
                for path in sorted(home.catalog.rglob("*.parquet")):
                    if path.name.startswith(".") or not path.is_file():
                        continue
                    if path.parent.name == "captures":
                        run.derived(path, "captures")
                    else:
                        run.catalog(path, recorded.get(home.relative(path)))
            run.audit_log()
        except OSError as exc:
            with contextlib.suppress(OSError):
                replica.write_manifest(run.manifest)
            raise ReplicaError(
                f"replicating to {replica.uri} failed: {exc}. What was copied and checked is in "
                "its manifest; run `salvage replicate` again to copy the rest") from exc
        replica.write_manifest(run.manifest)
    report = run.report
    home.audit.append("replica.synced", replica=replica.uri, copied=len(report.copied),
                      adopted=len(report.adopted), superseded=len(report.superseded),
                      skipped=report.skipped, bytes=report.bytes, problems=len(report.problems),
                      catalog=run.recorded)
    return report
