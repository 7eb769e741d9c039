"""Benchmark 1 of bench_catalog: parsing EDGAR complete submissions.

Every file of ../shared/corpus/edgar/submissions (or tests/fixtures/edgar/submissions when the
corpus is absent), the whole set repeated until one pass of the baseline takes about a second.
Timed in this process, best of 3:

(a) baseline: a straightforward regex split, `re.findall(<DOCUMENT>(.*?)</DOCUMENT>, re.S)` and,
    per document, `re.search` for TYPE, SEQUENCE, FILENAME, DESCRIPTION and the <TEXT> body;
(b) `extract.sgml.parse_submission`: header, filers and the document split, nothing decoded;
(c) (b) plus `payload()` of every document (uudecoding the binaries).

Both must find the same documents in every file. Goal: (b) >= 3x the MB/s of (a).
"""

from __future__ import annotations

import math
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from extract.sgml import parse_submission  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "edgar" / "submissions"
FIXTURES = ROOT / "tests" / "fixtures" / "edgar" / "submissions"
GOAL = 3.0
MB = 1 << 20

_DOCUMENT = re.compile(rb"<DOCUMENT>(.*?)</DOCUMENT>", re.S)
_TEXT = re.compile(rb"<TEXT>(.*?)</TEXT>", re.S)
_TAGS = [re.compile(rb"<%s>([^\r\n]*)" % tag)
         for tag in (b"TYPE", b"SEQUENCE", b"FILENAME", b"DESCRIPTION")]


def baseline(data: bytes) -> list[tuple]:
    """The regex split: (type, sequence, filename, description, body) per document."""
    docs = []
    for doc in _DOCUMENT.findall(data):
        tags = [m.group(1).strip() if (m := tag.search(doc)) else None for tag in _TAGS]
        body = _TEXT.search(doc)
        docs.append((*tags, body.group(1) if body else None))
    return docs


def split(data: bytes) -> int:
    return len(parse_submission(data).documents)


def decode(data: bytes) -> int:
    return sum(len(doc.payload()) for doc in parse_submission(data).documents)


def _files() -> tuple[Path, list[tuple[str, bytes]]]:
    folder = CORPUS if CORPUS.is_dir() else FIXTURES
    return folder, [(p.name, p.read_bytes()) for p in sorted(folder.iterdir()) if p.is_file()]


def _best(fn, blobs: list[bytes], reps: int, runs: int) -> float:
    best = math.inf
    for _ in range(runs):
        t0 = time.perf_counter()
        for _ in range(reps):
            for data in blobs:
                fn(data)
        best = min(best, time.perf_counter() - t0)
    return best


def _same_documents(files: list[tuple[str, bytes]]) -> bool:
    same = True
    for name, data in files:
        theirs, ours = len(baseline(data)), split(data)
        if theirs != ours:
            same = False
            print(f"   !! {name}: the regex split finds {theirs} documents, parse_submission "
                  f"{ours}", file=sys.stderr)
    return same


def run(quick: bool = False) -> dict:
    folder, files = _files()
    blobs = [data for _, data in files]
    size = sum(map(len, blobs))
    same = _same_documents(files)
    one = _best(baseline, blobs, 1, 1)
    target, runs = (0.2, 1) if quick else (1.0, 3)
    reps = max(1, math.ceil(target / one))
    volume = size * reps / MB
    seconds = {name: _best(fn, blobs, reps, runs)
               for name, fn in (("baseline", baseline), ("split", split), ("decode", decode))}
    rate = {name: volume / s for name, s in seconds.items()}
    result = {
        "files": len(files), "bytes": size, "source": str(folder), "reps": reps,
        "baseline_mb_s": round(rate["baseline"], 1), "split_mb_s": round(rate["split"], 1),
        "decode_mb_s": round(rate["decode"], 1),
        "split_ratio": round(rate["split"] / rate["baseline"], 2),
        "decode_ratio": round(rate["decode"] / rate["baseline"], 2),
        "same_documents": same, "goal": GOAL,
        "passed": same and rate["split"] / rate["baseline"] >= GOAL,
    }
    print(f"1. sgml: {len(files)} complete submissions, {size / MB:.2f} MiB, x{reps} "
          f"({volume:.0f} MiB a pass), best of {runs}, from {folder}:")
    print(f"   (a) regex split (baseline)            {rate['baseline']:8.1f} MB/s")
    print(f"   (b) parse_submission                  {rate['split']:8.1f} MB/s   ratio "
          f"{result['split_ratio']:.2f}x   goal >= {GOAL:.0f}x   "
          f"{'PASS' if result['passed'] else 'FAIL'}")
    print(f"   (c) parse_submission + payload()      {rate['decode']:8.1f} MB/s   ratio "
          f"{result['decode_ratio']:.2f}x")
    print(f"   same documents in every file: {same}")
    return result


if __name__ == "__main__":
    run("--quick" in sys.argv)
