"""Benchmark 3 of bench_catalog: an `--as-of` query over 1,000,000 filing rows.

50 batches of 20,000 filing rows, recorded an hour apart; one row in ten corrects an earlier
accession. The query counts current filings by form type as of the middle of that history, through
`storage.query.Catalog` exactly as `salvage query --as-of` runs it (a new DuckDB connection per
query). Baseline, same data, same answer: pyarrow (dataset filter, latest row per accession by
group-by and join, then a group-by count). Goal: under 1 s.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_archive import median_time  # noqa: E402

from storage.query import Catalog  # noqa: E402
from storage.schemas import FILINGS  # noqa: E402
from storage.tables import new_batch_id, table_files, write_batch  # noqa: E402

FORMS = ["8-K", "10-Q", "10-K", "4", "3", "SC 13G/A", "S-1", "424B2", "13F-HR", "D"]
SQL = "SELECT form_type, count(*) AS n FROM filings GROUP BY form_type ORDER BY form_type"
START = datetime(2025, 1, 1, tzinfo=UTC)


def build(catalog: Path, rows: int, batches: int, seed: int = 7) -> datetime:
    """Write the batches; return the as-of moment in the middle of their history."""
    rng = random.Random(seed)
    per = rows // batches
    serial = 0
    for b in range(batches):
        recorded = START + timedelta(hours=b)
        accessions: list[str] = []
        corrected: set[int] = set()
        earlier = serial  # corrections touch accessions of earlier batches, once per batch
        for _ in range(per):
            if earlier and rng.random() < 0.1 and (old := rng.randrange(earlier)) not in corrected:
                corrected.add(old)
                accessions.append(f"0000000000-25-{old:06d}")
            else:
                accessions.append(f"0000000000-25-{serial:06d}")
                serial += 1
        n = len(accessions)
        table = pa.table({
            "accession": accessions,
            "form_type": [FORMS[rng.randrange(len(FORMS))] for _ in range(n)],
            "filed_as_of": [date(2025, 1, 1) + timedelta(days=rng.randrange(365))
                            for _ in range(n)],
            "documents_found": [rng.randrange(1, 20) for _ in range(n)],
            "recorded_at": pa.array([recorded] * n, pa.timestamp("us", tz="UTC")),
        })
        full = pa.table({f.name: table[f.name] if f.name in table.column_names
                         else pa.nulls(n, f.type) for f in FILINGS}, schema=FILINGS)
        write_batch(catalog, "filings", full, f"{b:03d}-" + new_batch_id(recorded))
    return START + timedelta(hours=batches // 2, minutes=30)


def baseline(catalog: Path, as_of: datetime) -> dict[str, int]:
    files = [str(p) for p in table_files(catalog, "filings")]
    data = ds.dataset(files, format="parquet").to_table(
        columns=["accession", "form_type", "recorded_at"],
        filter=ds.field("recorded_at") <= pa.scalar(as_of, pa.timestamp("us", tz="UTC")))
    latest = data.group_by("accession").aggregate([("recorded_at", "max")]).rename_columns(
        ["accession", "recorded_at"])
    current = data.join(latest, ["accession", "recorded_at"], join_type="inner")
    counts = current.group_by("form_type").aggregate([("accession", "count")])
    return dict(zip(counts["form_type"].to_pylist(), counts["accession_count"].to_pylist(),
                    strict=True))


def run(quick: bool = False) -> dict:
    rows, batches, runs = (100_000, 10, 3) if quick else (1_000_000, 50, 5)
    with tempfile.TemporaryDirectory(prefix="salvage-asof-") as tmp:
        catalog = Path(tmp)
        t0 = time.perf_counter()
        as_of = build(catalog, rows, batches)
        built = time.perf_counter() - t0
        ours_s, ours = median_time(lambda: Catalog(catalog, as_of).query(SQL), runs)
        base_s, base = median_time(lambda: baseline(catalog, as_of), runs)
        ours_counts = dict(zip(ours["form_type"].to_pylist(), ours["n"].to_pylist(), strict=True))
        same = ours_counts == base
        total = Catalog(catalog).query("SELECT count(*) FROM filings_history").column(0)[0]
        visible = sum(ours_counts.values())
    result = {"rows": total.as_py(), "batches": batches, "build_s": round(built, 2),
              "current_rows_as_of": visible, "ours_s": round(ours_s, 3),
              "baseline_s": round(base_s, 3), "speedup": round(base_s / ours_s, 2),
              "same_answer": same}
    print(f"3. as-of query over {result['rows']:,} filing rows in {batches} batches "
          f"({visible:,} current as of the middle):")
    print(f"   salvage query --as-of (DuckDB) {ours_s * 1000:8.1f} ms   median of {runs}")
    print(f"   pyarrow filter+join+group-by   {base_s * 1000:8.1f} ms   ratio "
          f"{base_s / ours_s:.2f}x   same answer: {same}   goal < 1000 ms")
    if not same:
        print("   !! the answers differ", file=sys.stderr)
    return result


if __name__ == "__main__":
    run("--quick" in sys.argv)
