"""Salvage gap benchmarks, side by side with their baselines, in one run.

    .venv/bin/python benchmarks/bench_gaps.py            # full run
    .venv/bin/python benchmarks/bench_gaps.py --quick    # smoke run (100,000 filings)

1. detect  - storage.gaps.detect_gaps over a synthetic catalog of 1,000,000 expected filings,
             990,000 archived (their index pages and complete submissions captured): the
             missing-filings part and the whole call, against a Python baseline that reads both
             tables into sets and subtracts. Goal: the whole call under 2 s, faster than the
             baseline.
2. recover - filings rebuilt from the WARCs, per second (benchmarks/gaps_recover.py).

`--only detect,recover` runs a subset; `--json PATH` writes every figure as JSON.
"""

from __future__ import annotations

import sys

from sections import main

if __name__ == "__main__":
    sys.exit(main("Salvage gap benchmarks", __doc__,
                  {"detect": "gaps_detect", "recover": "gaps_recover"}))
