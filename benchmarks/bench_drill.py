"""Salvage drill benchmark: a forensic drill over a synthetic home, side by side with its
baseline, in one run.

    .venv/bin/python benchmarks/bench_drill.py            # 1,000 of 5,000 filings
    .venv/bin/python benchmarks/bench_drill.py --quick    # 100 of 500 filings

1. drill - `run_drill` + `record_drill` over 1,000 sampled filings, 10 order-book windows and
           2 WARCs of a synthetic home of 5,000 captured filings and two LOBSTER streams:
           scratch copy, per-scenario detect and recover, the report, total
           wall time, items/s, peak RSS; the drill's batched recovery against `recover_filing`
           one accession at a time on the same loss (benchmarks/drill_run.py). Goal: under
           2 minutes on 2 cores.

The home is built once (a few minutes) and cached under `$TMPDIR/salvage-bench-drill/`.
`--json PATH` writes every figure as JSON.
"""

from __future__ import annotations

import sys

from sections import main

if __name__ == "__main__":
    sys.exit(main("Salvage drill benchmark", __doc__, {"drill": "drill_run"}))
