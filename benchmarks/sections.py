"""The command line every sectioned benchmark shares: `--quick`, `--only`, `--json`.

A section is a module in this folder with `run(quick: bool) -> dict`, printing its figures and
returning them.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_archive import machine  # noqa: E402


def main(title: str, doc: str, sections: dict[str, str]) -> int:
    """Run the named sections (name -> module) in one process and print a header with the
    machine; `doc` is the calling script's docstring (its first paragraph is the help)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: everything shrunk")
    parser.add_argument("--only", default=",".join(sections), help="comma-separated subset")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    args = parser.parse_args()
    unknown = [n for n in args.only.split(",") if n not in sections]
    if unknown:
        parser.error(f"unknown section {unknown[0]!r}: choose from {', '.join(sections)}")
    info = machine()
    print(f"{title}{' (--quick)' if args.quick else ''}: "
          f"{info.get('cpu', '?')}, {info['nproc']} CPUs, {info.get('ram_gb', '?')} GB RAM, "
          f"Python {info['python']}, {info['date']}")
    results: dict = {"machine": info, "quick": args.quick}
    started = time.perf_counter()
    for name in args.only.split(","):
        print()
        results[name] = importlib.import_module(sections[name]).run(args.quick)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0
