"""Salvage feed benchmarks, side by side with their baselines, in one run.

    .venv/bin/python benchmarks/bench_feeds.py            # full run (~10M messages)
    .venv/bin/python benchmarks/bench_feeds.py --quick    # smoke run (200,000 messages)

1. itch - a synthetic NASDAQ TotalView-ITCH 5.0 file of 10,000,000 messages (8 locates, a
          realistic A/F/D/X/E/C/U/P mix, written by numpy and cached in the temp folder):
          `read_itch` + a split by locate + one `Book(depth=10)` per locate, against a
          `struct.unpack_from` + dict replay of the same file (the same final books checked);
          messages/s, the ratio, decode/split/book breakdown, peak memory in a fresh process.
          Goal: >= 3M messages/s and >= 5x the baseline.

`--only itch` runs a subset; `--json PATH` writes every figure as JSON.
"""

from __future__ import annotations

import sys

from sections import main

if __name__ == "__main__":
    sys.exit(main("Salvage feed benchmarks", __doc__, {"itch": "feeds_itch"}))
