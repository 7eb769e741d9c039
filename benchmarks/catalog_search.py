"""Benchmark: `salvage search` (storage.search, tantivy BM25) over 100,000 extracted documents.

Synthetic filing-like documents (300-1,500 words of a Zipfian vocabulary from a fixed seed, with
filing collocations such as "quarterly dividend increase"; forms, CIKs and dates spread) are
indexed by SearchIndex.add in one commit (docs/s, index size on disk). Then 240 queries run: one-,
two- and three-word, quoted phrases, and a third of them filtered by form, CIK or date range; the
latency of each includes the snippets of its top 10. Baseline, same documents, same queries:
SQLite FTS5 (stdlib sqlite3), `bm25()` via ORDER BY rank LIMIT 10 with `snippet()`, filters on
UNINDEXED columns. Goal: p50 under 20 ms.

    .venv/bin/python benchmarks/catalog_search.py            # 100,000 documents
    .venv/bin/python benchmarks/catalog_search.py --quick    # 10,000 documents
"""

from __future__ import annotations

import itertools
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from storage.search import SearchDoc, SearchIndex  # noqa: E402

SEED = 20250501
MB = 1 << 20
FORMS = ["8-K", "10-Q", "10-K", "4", "SC 13G/A", "S-1", "424B2", "DEF 14A", "6-K", "SC TO-T/A"]
FORM_WEIGHTS = [30, 15, 5, 25, 8, 2, 6, 3, 5, 1]
_COMMON = ("the of and to in a for or on by as is with that be are company our we such any which "
          "from at may not will shares its this other has have been under all an these stock "
          "financial agreement date including securities period net million year common each "
          "statements amount plan per if interest board directors subject cash value was made "
          "section tax fiscal total certain information rate operations results first quarter "
          "sales revenue income filed report pursuant exchange commission registrant dividend "
          "quarterly increase offer tender purchase market risk loss fair assets")
COMMON = _COMMON.split()
PHRASES = [p.split() for p in (
    "net sales", "quarterly dividend", "quarterly dividend increase", "board of directors",
    "forward looking statements", "material adverse effect", "cash and cash equivalents",
    "common stock", "tender offer", "share repurchase program", "goodwill impairment",
    "interest rate swap", "results of operations", "fiscal year", "net income per share",
    "definitive agreement", "risk factors", "annual meeting of stockholders", "credit facility",
    "accounts receivable", "operating lease liabilities", "effective tax rate")]


def vocabulary(rng: random.Random, size: int = 40_000) -> list[str]:
    """Filing words at the top ranks, then pronounceable pseudo-words."""
    syllables = [o + v + c for o in "bcdfghlmnprstvw" for v in "aeiou" for c in ("", *"nrstlx")]
    words, seen = list(COMMON), set(COMMON)
    while len(words) < size:
        w = "".join(rng.choice(syllables) for _ in range(rng.choice((2, 2, 3, 3, 4))))
        if w not in seen:
            seen.add(w)
            words.append(w)
    return words


@dataclass
class Corpus:
    docs: list[SearchDoc]
    vocab: list[str]
    ciks: list[str]


def corpus(n: int, seed: int = SEED) -> Corpus:
    rng = random.Random(seed)
    vocab = vocabulary(rng)
    cum = list(itertools.accumulate(1 / r ** 1.07 for r in range(1, len(vocab) + 1)))
    ciks = [f"{rng.randrange(1, 2_000_000):010d}" for _ in range(5_000)]
    cik_cum = list(itertools.accumulate(1 / r for r in range(1, len(ciks) + 1)))
    start = date(2015, 1, 1)
    docs = []
    for i in range(n):
        words = rng.choices(vocab, cum_weights=cum, k=rng.randint(300, 1_500))
        sentences, at = [], 0
        while at < len(words):
            end = at + rng.randint(8, 24)
            sentence = words[at:end]
            if rng.random() < 0.25:
                p = rng.randrange(len(sentence) + 1)
                sentence[p:p] = rng.choice(PHRASES)
            sentences.append(" ".join(sentence).capitalize() + ".")
            at = end
        form = rng.choices(FORMS, weights=FORM_WEIGHTS)[0]
        filers = rng.choices(ciks, cum_weights=cik_cum, k=1 if rng.random() < 0.8 else 2)
        accession = f"{filers[0]}-{15 + i % 10}-{i:06d}"
        docs.append(SearchDoc(
            key=f"{accession}#1", text=" ".join(sentences), accession=accession, form=form,
            document=f"d{i}.htm", ciks=filers, date=start + timedelta(days=rng.randrange(3_650))))
    return Corpus(docs, vocab, ciks)


@dataclass
class Search:
    words: list[str]
    phrase: bool = False
    form: str | None = None
    cik: str | None = None
    date_from: date | None = None
    date_to: date | None = None

    @property
    def text(self) -> str:
        joined = " ".join(self.words)
        return f'"{joined}"' if self.phrase else joined

    @property
    def kind(self) -> str:
        kind = "phrase" if self.phrase else f"{len(self.words)}-word"
        return kind + (" filtered" if self.form or self.cik or self.date_from else "")


def searches(c: Corpus, n: int = 240, seed: int = SEED + 1) -> list[Search]:
    rng = random.Random(seed)

    def words(k: int) -> list[str]:
        if k > 1 and rng.random() < 0.5:
            fits = [p for p in PHRASES if len(p) == k]
            return list(rng.choice(fits))
        return [c.vocab[min(int(rng.paretovariate(0.5)) + 5, 20_000)] for _ in range(k)]

    out = []
    for i in range(n):
        kind = i % 6
        if kind < 3:
            s = Search(words(kind + 1))
        elif kind == 3:
            s = Search(list(rng.choice(PHRASES)), phrase=True)
        else:
            s = Search(words(rng.choice((1, 2, 2, 3))), phrase=rng.random() < 0.2)
            f = rng.randrange(3)
            if f == 0:
                s.form = rng.choices(FORMS, weights=FORM_WEIGHTS)[0]
            elif f == 1:
                s.cik = c.ciks[rng.randrange(50)].lstrip("0")
            else:
                s.date_from = date(2015, 1, 1) + timedelta(days=rng.randrange(3_000))
                s.date_to = s.date_from + timedelta(days=rng.choice((30, 90, 365)))
        out.append(s)
    return out


def fts5_build(path: Path, docs: list[SearchDoc]) -> sqlite3.Connection:
    db = sqlite3.connect(path)
    db.execute("CREATE VIRTUAL TABLE docs USING fts5(text, key UNINDEXED, form UNINDEXED, "
               "ciks UNINDEXED, day UNINDEXED)")
    with db:
        db.executemany("INSERT INTO docs VALUES (?, ?, ?, ?, ?)",
                       ((d.text, d.key, d.form, " ".join(d.ciks), d.date.isoformat())
                        for d in docs))
    return db


def fts5_search(db: sqlite3.Connection, s: Search) -> list[tuple]:
    match = ('"' + " ".join(s.words) + '"') if s.phrase else " ".join(f'"{w}"' for w in s.words)
    sql = ["SELECT key, bm25(docs), snippet(docs, 0, '[', ']', '...', 24) FROM docs "
           "WHERE docs MATCH ?"]
    args: list = [match]
    if s.form:
        sql.append("AND form = ? COLLATE NOCASE")
        args.append(s.form)
    if s.cik:
        sql.append("AND ' ' || ciks || ' ' LIKE ?")
        args.append(f"% {s.cik.zfill(10)} %")
    if s.date_from:
        sql.append("AND day BETWEEN ? AND ?")
        args += [s.date_from.isoformat(), s.date_to.isoformat()]
    return db.execute(" ".join(sql) + " ORDER BY rank LIMIT 10", args).fetchall()


def _latencies(run_one, queries: list[Search]) -> tuple[list[float], int]:
    for s in queries[:10]:  # warm up
        run_one(s)
    times, answered = [], 0
    for s in queries:
        t0 = time.perf_counter()
        found = run_one(s)
        times.append((time.perf_counter() - t0) * 1000)
        answered += bool(found)
    return times, answered


def _pcts(ms: list[float]) -> dict:
    q = statistics.quantiles(ms, n=100)
    return {"p50_ms": round(q[49], 2), "p95_ms": round(q[94], 2), "p99_ms": round(q[98], 2)}


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def run(quick: bool = False) -> dict:
    n = 10_000 if quick else 100_000
    t0 = time.perf_counter()
    c = corpus(n)
    queries = searches(c)
    text_mb = sum(len(d.text) for d in c.docs) / MB
    print(f"2. full-text search over {n:,} documents ({text_mb:,.0f} MiB of text, generated in "
          f"{time.perf_counter() - t0:.0f} s), {len(queries)} queries:")
    with tempfile.TemporaryDirectory(prefix="salvage-search-") as tmp:
        folder = Path(tmp) / "search"
        index = SearchIndex(folder)
        t0 = time.perf_counter()
        index.add(c.docs)
        ours_build = time.perf_counter() - t0
        ours_size = _size(folder)
        ours_ms, ours_answered = _latencies(
            lambda s: index.search(s.text, form=s.form, cik=s.cik, date_from=s.date_from,
                                   date_to=s.date_to), queries)
        t0 = time.perf_counter()
        db = fts5_build(Path(tmp) / "fts5.db", c.docs)
        fts_build = time.perf_counter() - t0
        fts_size = _size(Path(tmp)) - ours_size
        fts_ms, fts_answered = _latencies(lambda s: fts5_search(db, s), queries)
        db.close()
    ours, fts = _pcts(ours_ms), _pcts(fts_ms)
    by_kind = {}
    for s, ms in zip(queries, ours_ms, strict=True):
        by_kind.setdefault(s.kind, []).append(ms)
    result = {
        "docs": n, "text_mib": round(text_mb, 1), "queries": len(queries),
        "ours": {"docs_per_s": round(n / ours_build), "build_s": round(ours_build, 1),
                 "size_mib": round(ours_size / MB, 1), "answered": ours_answered, **ours},
        "fts5": {"docs_per_s": round(n / fts_build), "build_s": round(fts_build, 1),
                 "size_mib": round(fts_size / MB, 1), "answered": fts_answered, **fts},
        "p50_ratio": round(fts["p50_ms"] / ours["p50_ms"], 2),
        "ours_p50_by_kind": {k: round(statistics.median(v), 2) for k, v in by_kind.items()},
    }
    print("   engine              docs/s   size MiB   p50 ms   p95 ms   p99 ms   with hits")
    for name, r in (("salvage (tantivy)", result["ours"]), ("SQLite FTS5", result["fts5"])):
        print(f"   {name:<17} {r['docs_per_s']:>8,} {r['size_mib']:>10,.1f} {r['p50_ms']:>8.2f} "
              f"{r['p95_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['answered']:>7}/{len(queries)}")
    print(f"   p50 ratio FTS5/salvage {result['p50_ratio']:.2f}x   goal salvage p50 < 20 ms: "
          f"{'PASS' if ours['p50_ms'] < 20 else 'FAIL'}   (index size / text: salvage "
          f"{ours_size / MB / text_mb:.2f}, FTS5 {fts_size / MB / text_mb:.2f})")
    print("   salvage p50 by query kind: " + ", ".join(
        f"{k} {v:.1f} ms" for k, v in sorted(result["ours_p50_by_kind"].items())))
    return result


if __name__ == "__main__":
    run("--quick" in sys.argv)
