"""The `pages` drill scenario: watched pages lost at their source, recovered from the archive.

The sampled pages (each the latest good capture of a watched URL; strata: host and month) are
captured again in the scratch copy with the watchlist code (`archive.watch.capture_watchlist`)
from a source that answers 404 (the caller's `make_unavailable` switches a real source, e.g. the
local mirror; otherwise the capturer's transport answers 404 itself), so the scratch catalog
records each as `removed`; detection is `storage.gaps.detect_gaps` (page.removed), recovery the
production path of page incidents (`archive.pagecopy.page_copy`: the last good capture's payload,
a revisit's through the record it refers to, checked against its recorded digest). An item
passes when its removal is detected and the copy is verified and has the sha256 of the good
capture's payload as read from the real home (located through the catalog, not the index).
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from archive.home import Home
from archive.lookup import Index
from archive.pagecopy import page_copy
from archive.watch import capture_watchlist
from storage.drill import Context, _iso, payload_sha256, unavailable_source
from storage.query import query

METHOD = "the archived copy (page incidents' recovery: the last good capture's payload{via}, " \
         "checked against its recorded digest)"
CANDIDATES_SQL = """
WITH good AS (
    SELECT url, digest, filename, "offset",
           row_number() OVER (PARTITION BY url ORDER BY observed_at DESC, recorded_at DESC) AS n
    FROM watch_events
    WHERE event IN ('new', 'changed', 'unchanged') AND filename IS NOT NULL
      AND "offset" IS NOT NULL)
SELECT g.url, g.digest, g.filename, g."offset", c.warc_date, c.record_type,
       o.filename AS original_warc, o."offset" AS original_offset
FROM good g
JOIN captures c ON c.filename = g.filename AND c."offset" = g."offset"
LEFT JOIN captures o ON c.record_type = 'revisit' AND o.record_id = c.refers_to
    AND o.record_type = 'response'
WHERE g.n = 1
ORDER BY g.url, o.warc_date DESC NULLS LAST
"""


def page_candidates(home: Home) -> list[dict]:
    """Watched pages whose latest good capture is in the home: `item` (the URL), that capture's
    warc, offset, digest and warc_date, where its payload is (`payload_warc`/`payload_offset`:
    a revisit's original, found by record id in the catalog) and the stratum (host and month)."""
    out: dict[str, dict] = {}
    for r in query(home.catalog, CANDIDATES_SQL).to_pylist():
        if r["url"] in out or not (home.root / r["filename"]).is_file():
            continue
        revisit = r["record_type"] == "revisit"
        out[r["url"]] = {
            "item": r["url"], "url": r["url"], "digest": r["digest"], "warc": r["filename"],
            "offset": r["offset"], "warc_date": r["warc_date"], "revisit": revisit,
            "payload_warc": r["original_warc"] if revisit else r["filename"],
            "payload_offset": r["original_offset"] if revisit else r["offset"],
            "stratum": f"{urlsplit(r['url']).netloc.lower()} {r['warc_date']:%Y-%m}"}
    return list(out.values())


def run_pages(home: Home, scratch: Home, chosen: list[dict], ctx: Context) -> list[dict]:
    """Lose the chosen pages at their source (in `scratch`), detect, recover and verify them."""
    from storage.gaps import detect_gaps

    now = ctx.now
    expected = {c["item"]: payload_sha256(home, c["url"], c["payload_warc"], c["payload_offset"])
                for c in chosen}
    urls = [c["url"] for c in chosen]
    started = time.perf_counter()
    with unavailable_source(scratch, ctx, urls) as capturer:
        watched = capture_watchlist(capturer, urls)
    answers = {r["url"]: r for r in watched.rows}
    report = detect_gaps(scratch, now=now, checks=["page.removed"])
    found = {f.entity: f for f in report.findings if f.type == "page.removed"}
    detected_at = time.perf_counter()
    with Index(scratch) as index:
        copies = {u: page_copy(scratch, found[u].evidence, index) for u in urls if u in found}
    recovered_at = time.perf_counter()
    n = max(1, len(chosen))
    items = []
    for c in chosen:
        url, answer, copy = c["url"], answers.get(c["url"], {}), copies.get(c["url"])
        readable = bool(copy and copy.get("digest"))
        actual = copy["digest"].removeprefix("sha256:") if readable else None
        verified = bool(copy and copy["verified"])
        items.append({
            "scenario": "pages", "item": url, "stratum": c["stratum"],
            "loss": f"the watchlist captured the page again in the scratch copy; the source "
                    f"answered {answer.get('status') or answer.get('error')} "
                    f"({answer.get('event')})",
            "method": METHOD.format(via=", through its revisit" if copy and copy.get("revisit")
                                    else "") if readable else None,
            "source_warc": copy["warc"] if readable else c["payload_warc"] or c["warc"],
            "source_offset": copy["offset"] if readable else (
                c["payload_offset"] if c["payload_warc"] else c["offset"]),
            "expected_sha256": expected[url], "actual_sha256": actual,
            "detected": url in found, "detect_s": round((detected_at - started) / n, 4),
            "recover_s": round((recovered_at - detected_at) / n, 4),
            "recovery_point": _iso(c["warc_date"]),
            "rpo_s": round((now - c["warc_date"]).total_seconds(), 3),
            "success": verified and url in found,
            "byte_exact": verified and actual is not None and actual == expected[url],
            "book_accuracy": None, "note": _note(c, url in found, copy, expected[url], actual)})
    return items


def _note(c: dict, detected: bool, copy: dict | None, expected: str | None,
          actual: str | None) -> str:
    """Why an item failed (empty when it passed)."""
    why = []
    if not detected:
        why.append("the removal was not detected (no page.removed finding)")
    if detected and copy is None:
        why.append("no good capture of the page is archived")
    if copy and copy.get("reason"):
        why.append(copy["reason"])
    elif copy and not copy["verified"]:
        why.append(f"the archived copy ({copy['warc']}@{copy['offset']}) does not match its "
                   f"recorded digest: {c['digest']} recorded, {copy['digest']} read"
                   + (" (the home's own WARC reads the same: it is damaged in the home; restore "
                      "it from the replica)" if actual == expected else ""))
    if expected is None:
        why.append("the good capture's payload cannot be read in the home"
                   + (" (the revisit's original is not in the catalog)"
                      if c["payload_warc"] is None else ""))
    elif actual is not None and actual != expected:
        why.append(f"the recovered payload differs from the home's ({expected[:12]}…)")
    return "; ".join(why)
