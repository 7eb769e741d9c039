"""Fixity: re-read every stored byte and check it against the digests Salvage recorded.

`verify` checks (a) the audit chain; (b) every file the chain lists (`warc.closed`, `import`) is
present with the SHA-256 recorded, and no archive file is present that the chain does not know;
(c) every index line points at the record it describes: the stored bytes `[offset, offset+length)`
have the line's `recordDigest`, and the gzip member there starts a WARC/ARC record whose payload
digest and URL are the line's. All of that is one sequential pass per file: the same chunks feed
the whole-file hash (in a helper thread), the record hashes and the record-start checks; records
are never decompressed whole. With `deep`, the same pass also decompresses every record and
recomputes its WARC-Block-Digest and WARC-Payload-Digest (see `archive.deepcheck`).

An event with a `replaces` field (a name or a list), or named `*.replaced`/`*.removed`/`*.retired`
for its `file`, retires those files: they are expected to be gone.

The catalog is checked too (`expected_catalog`): every catalog file the chain vouches for is
present — our WARCs' `captures` batches, the files `salvage compact` wrote, those `salvage
replicate` recorded — with its SHA-256 where one was recorded (files a compaction replaced are
retired, not gone), and every Parquet file present has Parquet's shape (magic bytes, footer).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from archive.deepcheck import (
    DeepChecker,
    Problem,
    decode_digest,
    digest_equal,
    new_hasher,
    parse_head,
)
from archive.home import Home
from storage.digests import file_sha256

__all__ = ["Problem", "VerifyReport", "expected_catalog", "expected_files", "parquet_problem",
           "verify"]

CHUNK = 1 << 20  # small enough that both hashes of a chunk read it from the CPU cache
HEAD_BYTES = 8 << 10  # stored bytes of a record's start decompressed to check what it is
Progress = Callable[[str, int, int], None]
_RETIRING = (".replaced", ".removed", ".retired")


@dataclass
class VerifyReport:
    ok: bool = True
    files_checked: int = 0
    records_checked: int = 0
    bytes: int = 0
    deep: bool = False
    catalog_files: int = 0
    problems: list[Problem] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    def summary(self) -> str:
        """A human-readable account: the counts, then one line per problem."""
        head = (f"{'OK' if self.ok else 'FAILED'}: {self.files_checked} files, "
                f"{self.records_checked} records, {self.bytes} bytes checked"
                f"{' (deep)' if self.deep else ''}; {len(self.problems)} problems")
        return "\n".join([head, *(f"- [{p.kind}] {p.message}" for p in self.problems)])


@dataclass(frozen=True)
class Expected:
    """What the audit chain recorded of one file."""

    sha256: str | None
    size: int | None
    event: str
    seq: int | None


@dataclass(frozen=True)
class LineRef:
    """One index line to check, and where it came from."""

    offset: int
    length: int
    record_digest: str | None
    digest: str | None
    url: str | None
    source: str


# -- what the chain and the indexes say --------------------------------------------------------


def expected_files(entries: list[dict]) -> tuple[dict[str, Expected], set[str]]:
    """The files the audit chain lists with their recorded digests, and the files it retired."""
    known: dict[str, Expected] = {}
    retired: set[str] = set()
    for e in entries:
        event, name = str(e.get("event", "")), e.get("file")
        replaces = e.get("replaces")
        for old in [replaces] if isinstance(replaces, str) else (replaces or []):
            if isinstance(old, str):
                known.pop(old, None)
                retired.add(old)
        if not isinstance(name, str):
            continue
        if event in ("warc.closed", "import"):
            sha = e.get("sha256")
            sha = sha.removeprefix("sha256:") if isinstance(sha, str) else None
            known[name] = Expected(sha, e.get("bytes"), event, e.get("seq"))
            retired.discard(name)
        elif event.endswith(_RETIRING):
            known.pop(name, None)
            retired.add(name)
    return known, retired


def read_index_lines(home: Home) -> tuple[dict[str, list[LineRef]], list[Problem]]:
    """Every line of every `indexes/*.cdxj`, grouped by the file it points into.

    Lines are read as `archive.cdxj.IndexLine` reads them, without importing it: its URL keys
    pull in `surt` (0.1 s of imports on every `salvage verify`)."""
    by_file: dict[str, list[LineRef]] = defaultdict(list)
    problems: list[Problem] = []
    for path in sorted(home.indexes.glob("*.cdxj")) if home.indexes.exists() else []:
        rel = home.relative(path)
        with open(path, "rb") as fh:
            for number, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                try:
                    data = json.loads(raw.split(b" ", 2)[2])
                    ref = LineRef(int(data["offset"]), int(data["length"]),
                                  data.get("recordDigest"), data.get("digest"), data.get("url"),
                                  f"{rel}:{number}")
                    by_file[data["filename"]].append(ref)
                except (ValueError, KeyError, TypeError, IndexError) as exc:
                    problems.append(Problem(
                        "index-unreadable", rel, None, actual=raw[:200].decode("utf-8", "replace"),
                        message=f"line {number} cannot be read ({exc}): rebuild the "
                                "index with `salvage reindex`"))
    return by_file, problems


def _stored_files(home: Home) -> tuple[set[str], list[Path]]:
    """Archive files present in warcs/ and imported/ (names), and `.open` files nobody writes."""
    present: set[str] = set()
    abandoned: list[Path] = []
    for folder in (home.warcs, home.imported):
        if not folder.exists():
            continue
        for path in folder.rglob("*"):
            if not path.is_file() or path.name.startswith("."):
                continue
            if folder == home.warcs and path.name.endswith(".open"):
                if not _held(path):
                    abandoned.append(path)
                continue
            present.add(home.relative(path))
    return present, sorted(abandoned)


def _held(path: Path) -> bool:
    """Does a live writer hold this `.open` file (the writer keeps an exclusive flock)?"""
    try:
        with open(path, "rb") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(fh, fcntl.LOCK_UN)
    except FileNotFoundError:
        return True  # closed (renamed) while we looked
    return False


# -- one file: one sequential pass -------------------------------------------------------------


class _Slice:
    """One index line's byte range, hashed as the chunks pass by."""

    def __init__(self, ref: LineRef):
        self.ref = ref
        self.start, self.end = ref.offset, ref.offset + ref.length
        self.hasher = new_hasher(ref.record_digest) if ref.record_digest else None
        self.head = bytearray()

    def update(self, view: memoryview, at: int) -> None:
        if self.hasher is not None:
            self.hasher.update(view)
        if at - self.start < HEAD_BYTES:
            self.head += view[: HEAD_BYTES - (at - self.start)]


@dataclass
class FileResult:
    name: str
    sha256: str | None = None
    size: int = 0
    records: int = 0
    problems: list[Problem] = field(default_factory=list)


def _line_problem(kind: str, name: str, ref: LineRef, message: str, *, expected=None,
                  actual=None, record_id: str | None = None) -> Problem:
    return Problem(kind, name, ref.offset, record_id, ref.url, expected, actual,
                   f"{message} (index line {ref.source})")


def _check_slice(s: _Slice, name: str) -> tuple[list[Problem], bool]:
    """Problems of one finished slice, and whether its stored bytes differ from the line's."""
    ref, out = s.ref, []
    head = parse_head(bytes(s.head))
    rid = head.fields.get("warc-record-id") if head else None
    damaged = False
    if s.hasher is not None and ref.record_digest and not digest_equal(ref.record_digest,
                                                                       s.hasher.digest()):
        damaged = True
        out.append(_line_problem(
            "record-digest", name, ref, "the stored bytes of this record differ from the "
            "recordDigest its index line holds", expected=ref.record_digest,
            actual=f"{ref.record_digest.partition(':')[0]}:{s.hasher.hexdigest()}",
            record_id=rid))
    if head is None:
        out.append(_line_problem(
            "not-a-record", name, ref, "no WARC or ARC record starts at this offset",
            actual=bytes(s.head[:40]).hex()))
        return out, damaged
    declared = head.fields.get("warc-payload-digest")
    if declared and ref.digest and not _same_digest(declared, ref.digest):
        out.append(_line_problem(
            "wrong-record", name, ref, "the record at this offset has another payload digest "
            "than its index line", expected=ref.digest, actual=declared, record_id=rid))
    if head.url and ref.url and head.url != ref.url:
        out.append(_line_problem(
            "wrong-record", name, ref, "the record at this offset is of another URL than its "
            "index line", expected=ref.url, actual=head.url, record_id=rid))
    return out, damaged


def _same_digest(a: str, b: str) -> bool:
    """Do two labelled digests name the same value? (different algorithms: not comparable)"""
    if a == b:
        return True
    algo_a, algo_b = a.partition(":")[0].lower(), b.partition(":")[0].lower()
    if algo_a.replace("-", "") != algo_b.replace("-", ""):
        return True
    raw = decode_digest(b)
    return raw is None or digest_equal(a, raw)


def scan_file(path: Path, name: str, refs: list[LineRef], expected: Expected | None,
              deep: bool, progress: Progress | None = None) -> FileResult:
    """Check one archive file in one sequential pass (see the module docstring)."""
    res = FileResult(name)
    refs = sorted(refs, key=lambda r: (r.offset, r.length))
    file_hash = hashlib.sha256()
    with open(path, "rb", buffering=0) as fh:
        size = os.fstat(fh.fileno()).st_size
        res.size = size
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fh.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
        inside = []
        for ref in refs:
            if ref.offset < 0 or ref.length < 0 or ref.offset + ref.length > size:
                res.problems.append(_line_problem(
                    "record-out-of-range", name, ref, f"the index line points past the end of "
                    f"the file ({size} bytes)", expected=f"{ref.offset}+{ref.length}",
                    actual=str(size)))
            else:
                inside.append(ref)
        deep_checker = DeepChecker(name) if deep else None
        found: list[tuple[list[Problem], bool]] = []  # (problems, damaged) of failing slices
        pending, active, nxt, pos = inside, [], 0, 0
        with ThreadPoolExecutor(1) as pool:
            while data := fh.read(CHUNK):
                hashing = pool.submit(file_hash.update, data)
                view, end = memoryview(data), pos + len(data)
                while nxt < len(pending) and pending[nxt].offset < end:
                    active.append(_Slice(pending[nxt]))
                    nxt += 1
                still = []
                for s in active:
                    a, b = max(s.start, pos), min(s.end, end)
                    if a < b:
                        s.update(view[a - pos : b - pos], a)
                    if s.end <= end:
                        problems, damaged = _check_slice(s, name)
                        if problems:
                            found.append((problems, damaged))
                    else:
                        still.append(s)
                active = still
                if deep_checker is not None:
                    deep_checker.feed(data, pos)
                hashing.result()
                pos = end
                if progress is not None:
                    progress(name, pos, size)
        for s in active + [_Slice(r) for r in pending[nxt:]]:  # only if the file shrank
            found.append(_check_slice(s, name))
    res.sha256 = file_hash.hexdigest()
    file_ok = expected is not None and expected.sha256 == res.sha256
    for problems, damaged in found:
        for p in problems:
            p.message += ". " + _record_advice(file_ok, expected, damaged)
        res.problems.extend(problems)
    res.records = len(refs)
    if deep_checker is not None:
        deep_checker.finish()
        res.problems.extend(deep_checker.problems)
        res.records = max(res.records, deep_checker.records)
    return res


def _record_advice(file_ok: bool, expected: Expected | None, damaged: bool) -> str:
    if file_ok:
        return ("the file itself matches the SHA-256 the audit chain recorded, so the index is "
                "wrong, not the file: rebuild it with `salvage reindex`")
    if expected is None:
        return ("the file is not in the audit chain: compare it with a backup, then rebuild its "
                "index with `salvage reindex` if the file is right")
    if damaged:
        return ("the file changed after Salvage recorded it: restore it from the replica "
                "(`salvage replicate --restore`; the audit chain holds its SHA-256) or a backup, "
                "and do not serve or export this record until then")
    return ("the file changed after Salvage recorded it: restore it from the replica "
            "(`salvage replicate --restore`) or a backup")


# -- the catalog ---------------------------------------------------------------------------------


def _sha(value: object) -> str | None:
    return value.removeprefix("sha256:") if isinstance(value, str) else None


def expected_catalog(entries: list[dict]) -> tuple[dict[str, Expected], set[str]]:
    """The catalog files (names relative to the home) whose SHA-256 the chain recorded — the
    files `salvage compact` wrote (`catalog.compacted`) and those `salvage replicate` sent
    (`replica.synced`, its `catalog` list) — and the files a compaction replaced (retired)."""
    known: dict[str, Expected] = {}
    retired: set[str] = set()
    for e in entries:
        event, seq = str(e.get("event", "")), e.get("seq")
        if event == "catalog.compacted":
            folder = f"catalog/{e.get('table')}/"
            for old in e.get("replaced") or []:
                if isinstance(old, dict) and isinstance(old.get("file"), str):
                    known.pop(folder + old["file"], None)
                    retired.add(folder + old["file"])
            if isinstance(e.get("file"), str):
                known[folder + e["file"]] = Expected(_sha(e.get("sha256")), None, event, seq)
        elif event == "replica.synced":
            for item in e.get("catalog") or []:
                name = item.get("file") if isinstance(item, dict) else None
                if isinstance(name, str) and name not in retired:
                    known[name] = Expected(_sha(item.get("sha256")), item.get("bytes"), event,
                                           seq)
    return known, retired


def parquet_problem(path: Path) -> str | None:
    """What is wrong with a Parquet file's frame (`PAR1` at both ends, a footer that fits), or
    None. Cheap: 12 bytes read; a full read is `salvage query`'s business."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size < 12:
            return f"{size} bytes: too short to be Parquet"
        head = fh.read(4)
        fh.seek(size - 8)
        tail = fh.read(8)
    if head != b"PAR1" or tail[4:] != b"PAR1":
        return "no PAR1 magic bytes at its start and end: cut short or overwritten"
    if int.from_bytes(tail[:4], "little") > size - 12:
        return "its footer is longer than the file: cut short"
    return None


def _catalog_problems(home: Home, archives: dict[str, Expected]) -> tuple[list[Problem], int]:
    """Problems of the catalog files (see the module docstring), and how many files were read.
    `archives` are the archive files the chain lists: each `warc.closed` one has a captures
    batch (its digest is not kept: `salvage reindex` rewrites it)."""
    folder = home.catalog
    present = {home.relative(p) for p in folder.rglob("*.parquet")
               if p.is_file() and not p.name.startswith(".")} if folder.exists() else set()
    for _ in range(2):  # the chain is read after listing; again if a file went meanwhile
        recorded, _ = expected_catalog(home.audit.entries())  # (a compaction logs, then deletes)
        for name, exp in archives.items():
            if exp.event == "warc.closed":
                batch = f"catalog/captures/{home.batch_id(name)}.parquet"
                recorded.setdefault(batch, Expected(None, None, exp.event, exp.seq))
        gone = {n for n in recorded if n not in present and not (home.root / n).exists()}
        if not gone:
            break
    problems: list[Problem] = []
    for name in sorted(gone):
        exp = recorded[name]
        fix = ("rebuild it with `salvage reindex` or restore it with `salvage replicate "
               "--restore`" if exp.sha256 is None else
               "restore it from the replica (`salvage replicate --restore`) or a backup")
        problems.append(Problem("catalog-missing", name, None, expected=exp.sha256, message=(
            f"a catalog file the audit chain vouches for (`{exp.event}`, audit seq {exp.seq}) "
            f"is gone, and no compaction replaced it: {fix}")))
    checked = 0
    for name in sorted(present):
        path, exp = home.root / name, recorded.get(name)
        try:
            shape = parquet_problem(path)
            actual = file_sha256(path) if exp is not None and exp.sha256 else None
        except FileNotFoundError:
            continue  # replaced by a compaction while we read
        except OSError as exc:
            problems.append(Problem("catalog-unreadable", name, None, actual=str(exc), message=(
                f"the catalog file cannot be read ({exc}): check the disk and its permissions")))
            continue
        checked += 1
        if exp is not None and actual is not None and actual != exp.sha256:
            problems.append(Problem("catalog-sha256", name, None, expected=exp.sha256,
                                    actual=actual, message=(
                f"the catalog file differs from the SHA-256 its `{exp.event}` event (audit seq "
                f"{exp.seq}) recorded: restore it from the replica (`salvage replicate "
                "--restore`) or a backup")))
        elif shape is not None:
            problems.append(Problem("catalog-unreadable", name, None, actual=shape, message=(
                f"not a readable Parquet file ({shape}): restore it from the replica (`salvage "
                "replicate --restore`), or rebuild it with `salvage reindex` if it is a captures "
                "batch")))
    return problems, checked


# -- the whole home ------------------------------------------------------------------------


def _chain_problems(home: Home) -> list[Problem]:
    rel = home.relative(home.audit.path) if home.audit.path.exists() else "audit/log.jsonl"
    return [Problem("audit-chain", rel, None, message=(
        f"line {p.line}: {p.problem}. The audit chain was altered after it was written: compare "
        f"{rel} with a backup copy and find out who changed it; do not repair it by hand"))
        for p in home.audit.verify()]


def _file_problems(name: str, exp: Expected, res: FileResult) -> list[Problem]:
    if exp.sha256 is None or exp.sha256 == res.sha256:
        return []
    size_note = (f" ({res.size} bytes where {exp.size} were recorded)"
                 if exp.size is not None and exp.size != res.size else "")
    located = any(p.kind in ("record-digest", "corrupt-member", "block-digest")
                  for p in res.problems)
    where = ("the record problems listed for this file show which records were damaged"
             if located else "run `salvage verify --deep` to find the damaged record")
    return [Problem(
        "file-sha256", name, None, expected=exp.sha256, actual=res.sha256,
        message=f"the file differs from the one recorded by its `{exp.event}` event (audit seq "
                f"{exp.seq}){size_note}: restore it from the replica (`salvage replicate "
                f"--restore`) or a backup; {where}")]


def verify(home: Home, deep: bool = False, progress: Progress | None = None) -> VerifyReport:
    """Check the home's audit chain, files, indexes and (with `deep`) every record's digests.

    `progress(name, bytes_done, file_size)` is called as each file is read. Appends a `verify`
    event with the outcome to the audit chain.
    """
    report = VerifyReport(deep=deep)
    report.problems += _chain_problems(home)
    present, abandoned = _stored_files(home)
    known, retired = expected_files(home.audit.entries())
    lines, index_problems = read_index_lines(home)
    report.problems += index_problems
    for path in abandoned:
        report.problems.append(Problem(
            "open-file", home.relative(path), None, message=(
                "an unfinished WARC no writer holds (a capture was killed): start any salvage "
                "command, which repairs it (cuts it to its last whole record) and logs it")))
    names = sorted(present | set(known) | set(lines))
    results: dict[str, FileResult] = {}
    for name in names:
        path = home.root / name
        refs = lines.get(name, [])
        if name not in present:
            if not (home.root / (name + ".open")).exists():
                report.problems.append(_missing(name, known.get(name), len(refs),
                                                name in retired))
            continue
        try:
            res = scan_file(path, name, refs, known.get(name), deep, progress)
        except OSError as exc:
            report.problems.append(Problem(
                "unreadable", name, None, actual=str(exc),
                message=f"the file cannot be read ({exc}): check the disk and its permissions"))
            continue
        results[name] = res
        report.files_checked += 1
        report.records_checked += res.records
        report.bytes += res.size
        report.problems += res.problems
    known, _ = expected_files(home.audit.entries())  # files closed while we read are known now
    for name, res in results.items():
        exp = known.get(name)
        if exp is None:
            report.problems.append(Problem(
                "file-unlogged", name, None, actual=res.sha256, message=(
                    "not in the audit chain: if Salvage did not write it, move it out "
                    "and bring it in with `salvage import`; a closed WARC of ours is logged by "
                    "the repair every salvage command runs on start")))
            continue
        report.problems += _file_problems(name, exp, res)
        if not home.index_path(name).exists():
            report.problems.append(Problem(
                "index-missing", name, None, expected=home.relative(home.index_path(name)),
                message="no index file: rebuild it with `salvage reindex`"))
    catalog, report.catalog_files = _catalog_problems(home, known)
    report.problems += catalog
    report.ok = not report.problems
    for p in report.problems:
        p.message = _where(p) + p.message
    home.audit.append("verify", ok=report.ok, deep=deep, files=report.files_checked,
                      records=report.records_checked, bytes=report.bytes,
                      problems=len(report.problems))
    return report


def _where(p: Problem) -> str:
    """`file@offset url: ` so that a message read alone still names what it is about."""
    at = "" if p.offset is None else f"@{p.offset}"
    return f"{p.file or ''}{at}{' ' + p.url if p.url else ''}: "


def _missing(name: str, exp: Expected | None, refs: int, retired: bool) -> Problem:
    if exp is not None:
        return Problem("file-missing", name, None, expected=exp.sha256, message=(
            f"listed by a `{exp.event}` event (audit seq {exp.seq}) but is gone"
            f"{f'; {refs} index lines point into it' if refs else ''}: restore it from the "
            "replica (`salvage replicate --restore`) or a backup"))
    why = "was retired by the audit chain" if retired else "is not in the home"
    return Problem("index-dangling", name, None, message=(
        f"{refs} index lines point into this file, which {why}: rebuild the indexes with "
        "`salvage reindex`"))
