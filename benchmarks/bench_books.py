"""Salvage order-book benchmarks, side by side with their baselines, in one run.

    .venv/bin/python benchmarks/bench_books.py            # full run
    .venv/bin/python benchmarks/bench_books.py --quick    # smoke run (seconds)

1. replay - LOBSTER's AAPL_2012-06-21_34200000_37800000_message_50.csv (92k events of the first
            hour, ../shared/corpus/orderbook): parse + replay + the top-10 rows built in memory
            as Arrow, against a straightforward csv.reader + dict book doing the same (same rows
            checked); Parquet writing timed apart; numba's compile time, cached load and warm
            call in fresh processes. Goal: >= 3M events/s and >= 5x the baseline.
2. at     - `book at` over a stored synthetic day (books_at.py, written with orderbook/store.py).

`--only replay,at` runs a subset; `--json PATH` writes every figure as JSON.
"""

from __future__ import annotations

import sys

from sections import main

if __name__ == "__main__":
    sys.exit(main("Salvage order-book benchmarks", __doc__,
                  {"replay": "books_replay", "at": "books_at"}))
