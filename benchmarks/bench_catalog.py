"""Salvage catalog benchmarks, side by side with their baselines, in one run.

    .venv/bin/python benchmarks/bench_catalog.py            # full run
    .venv/bin/python benchmarks/bench_catalog.py --quick    # smoke run (seconds)

1. sgml    - parsing the corpus's complete submissions (../shared/corpus/edgar/submissions, or the
             test fixtures): MB/s of extract.sgml.parse_submission against a straightforward regex
             split of the same files, same documents found. Goal: >= 3x.
2. search  - BM25 search over 100,000 synthetic filing documents (tantivy), p50/p95/p99 with
             snippets, against SQLite FTS5 on the same documents and queries. Goal: p50 < 20 ms.
3. as-of   - `salvage query --as-of` over 1,000,000 filing rows against a pyarrow baseline.
             Goal: < 1 s.

`--only sgml,search,asof` runs a subset; `--json PATH` writes every figure as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_archive import machine  # noqa: E402

SECTIONS = ("sgml", "search", "asof")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: everything shrunk")
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated subset")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    args = parser.parse_args()
    info = machine()
    print(f"Salvage catalog benchmarks{' (--quick)' if args.quick else ''}: "
          f"{info.get('cpu', '?')}, {info['nproc']} CPUs, {info.get('ram_gb', '?')} GB RAM, "
          f"Python {info['python']}, {info['date']}")
    results: dict = {"machine": info, "quick": args.quick}
    started = time.perf_counter()
    for name in args.only.split(","):
        if name == "sgml":
            import catalog_sgml as section
        elif name == "search":
            import catalog_search as section
        elif name == "asof":
            import catalog_asof as section
        else:
            parser.error(f"unknown section {name!r}: choose from {', '.join(SECTIONS)}")
        print()
        results[name] = section.run(args.quick)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
