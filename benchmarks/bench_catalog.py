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

import sys

from sections import main

if __name__ == "__main__":
    sys.exit(main("Salvage catalog benchmarks", __doc__,
                  {"sgml": "catalog_sgml", "search": "catalog_search", "asof": "catalog_asof"}))
