"""Feed integrity as incidents: what the ITCH and L2 readers found (`feed_findings`) turned into
findings, and the repairs that close them.

    orderbook.sequence_gap   messages no line had (ITCH over MoldUDP64, Binance U/u/pu, Coinbase
                             sequence_num)
    orderbook.checksum       the venue's checksum disagreed with the book (Kraken CRC32)
    orderbook.state_unknown  a window of unknown book state with no gap or checksum behind it
                             (a stale snapshot, diffs before any snapshot)

One incident per cause. Its evidence carries the window of unknown book state the cause opened,
the snapshot the book was resynchronised from (exact again from there), whether a later snapshot
verified the repair, and the ranges another line filled. `repair_of` tells the recovery step
whether an open gap has since been filled: a stream merged from A/B captures that holds every
sequence number of the gap.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from archive.home import Home
from orderbook.at import iso_ns as _iso
from storage.findings import Finding
from storage.incidents import Incident, IncidentStore
from storage.tables import read_table

MAX_PER_FILE = 100


def _dt(ns: int | None) -> datetime | None:
    return None if ns is None else datetime.fromtimestamp(ns / 1e9, UTC)


def feed_findings(home: Home, shas: Iterable[str] | None = None) -> list[dict]:
    """The `feed_findings` rows (of the streams `shas`, when given), without the repeats a
    re-import after a crash may have left, in (sha256, line) order."""
    table = read_table(home.catalog, "feed_findings")
    wanted = set(shas) if shas is not None else None
    seen: set[tuple] = set()
    rows = []
    for row in table.to_pylist():
        if wanted is not None and row["sha256"] not in wanted:
            continue
        key = (row["sha256"], row["symbol"], row["kind"], row["line"], row["first_seq"],
               row["source"])
        if key not in seen:
            seen.add(key)
            rows.append(row)
    rows.sort(key=lambda r: (r["sha256"], r["symbol"] or "", r["line"], r["kind"]))
    return rows


def _window(row: dict) -> dict:
    return {"from": _iso(row["from_ts"]), "to": _iso(row["to_ts"]), "first_line": row["line"],
            "last_line": row["last_line"], "detail": row["detail"]}


def _after(rows: list[dict], kind: str, line: int) -> dict | None:
    return next((r for r in rows if r["kind"] == kind and r["line"] >= line), None)


def integrity_findings(home: Home, files: list[dict]) -> list[Finding]:
    """Incident findings from the integrity findings of the current stored streams (`files`:
    book_files rows)."""
    by_sha = {}
    for row in files:
        by_sha.setdefault(row["sha256"], row)
    groups: dict[tuple[str, str | None], list[dict]] = {}
    for row in feed_findings(home, by_sha):
        groups.setdefault((row["sha256"], row["symbol"]), []).append(row)
    out: list[Finding] = []
    for (sha, symbol), rows in groups.items():
        out += _stream_findings(by_sha[sha], symbol, rows)
    return out


def _stream_findings(file: dict, symbol: str | None, rows: list[dict]) -> list[Finding]:
    venue = file["venue"]
    entity = f"{venue}/{symbol or 'feed'}"
    base = {"file": file["original_name"], "sha256": file["sha256"], "format": file["format"],
            "lines": file.get("lines"), "filled": [
                {"first": r["first_seq"], "last": r["last_seq"], "lacking_line": r["source"],
                 "detail": r["detail"]} for r in rows if r["kind"] == "filled"][:MAX_PER_FILE]}
    windows = [r for r in rows if r["kind"] == "unknown_state"]
    explained: set[int] = set()
    out: list[Finding] = []
    causes = [r for r in rows if r["kind"] in ("sequence_gap", "checksum_mismatch")]
    for cause in causes:
        window = next((w for w in windows if w["line"] in (cause["line"], cause["line"] + 1)
                       or (w["line"] <= cause["line"] <= (w["last_line"] or 1 << 62))), None)
        if window is not None and id(window) in explained and cause["kind"] == "checksum_mismatch":
            continue  # later mismatches inside the window one mismatch opened: the same incident
        if window is not None:
            explained.add(id(window))
        out.append(_finding(cause, window, rows, entity, file, symbol, base))
        if len(out) >= MAX_PER_FILE:
            break
    for window in windows:
        if id(window) not in explained and len(out) < MAX_PER_FILE:
            out.append(_finding(window, window, rows, entity, file, symbol, base))
    return out


def _finding(cause: dict, window: dict | None, rows: list[dict], entity: str, file: dict,
             symbol: str | None, base: dict) -> Finding:
    kind = {"sequence_gap": "orderbook.sequence_gap", "checksum_mismatch": "orderbook.checksum",
            "unknown_state": "orderbook.state_unknown"}[cause["kind"]]
    evidence = {**base, "line": cause["line"], "detail": cause["detail"]}
    if cause["first_seq"] is not None:
        evidence["first_missing"], evidence["last_missing"] = cause["first_seq"], cause["last_seq"]
        if cause["last_seq"] is not None:
            evidence["missing_messages"] = cause["last_seq"] - cause["first_seq"] + 1
    if window is None and file["format"] == "itch" and cause["kind"] == "sequence_gap":
        evidence["state_unknown"] = {
            "from": _iso(cause["from_ts"]), "to": None, "first_line": cause["line"],
            "last_line": None, "detail": "ITCH carries no snapshots: the orders the lost "
            "messages touched stay unknown to the end of the day (a GLIMPSE snapshot would "
            "resynchronise them)"}
    if window is not None:
        evidence["state_unknown"] = _window(window)
        resync = _after(rows, "resynced", window["line"])
        if resync is not None:
            evidence["resynced"] = {"line": resync["line"], "at": _iso(resync["from_ts"]),
                                    "detail": resync["detail"]}
            check = next((r for r in rows if r["line"] > resync["line"] and r["kind"] in (
                "snapshot_verified", "snapshot_mismatch")), None)
            if check is not None:
                evidence["verified"] = {"ok": check["kind"] == "snapshot_verified",
                                        "line": check["line"], "detail": check["detail"]}
    stale = [r for r in rows if r["kind"] == "stale_snapshot"
             and window is not None and r["line"] >= window["line"]
             and r["line"] <= (window["last_line"] or 1 << 62)]
    if stale:
        evidence["stale_snapshots"] = [{"line": r["line"], "detail": r["detail"]}
                                       for r in stale[:10]]
    where = f"{symbol or 'the feed'} on {file['venue']} ({file['date']})"
    if kind == "orderbook.sequence_gap":
        period = f"{file['date']}:{cause['first_seq']}"
        subject = f"{where}: {cause['detail']}"
    elif kind == "orderbook.checksum":
        period = f"{file['date']}:{cause['from_ts'] or cause['line']}"
        subject = f"{where}: checksum mismatch at line {cause['line']}: {cause['detail']}"
    else:
        period = f"{file['date']}:{cause['from_ts'] or cause['line']}"
        subject = f"{where}: book state unknown from line {cause['line']}: {cause['detail']}"
    end = window["to_ts"] if window is not None else cause["to_ts"]
    return Finding(kind, entity=entity, period=period, subject=subject,
                   window_start=_dt(cause["from_ts"]), window_end=_dt(end), evidence=evidence)


def repair_of(home: Home, evidence: dict, entity: str) -> dict | None:
    """Whether a gap (`first_missing`..`last_missing` of `entity` = venue/symbol) is now held by
    a stored stream merged from several lines: that stream's `filled` findings cover the range
    and none of its sequence gaps touches it. The repair's evidence, or None."""
    first, last = evidence.get("first_missing"), evidence.get("last_missing")
    if first is None or last is None:
        return None
    venue, _, symbol = entity.partition("/")
    merged = {r["sha256"]: r for r in read_table(home.catalog, "book_files").to_pylist()
              if r.get("lines") and r["venue"] == venue and r["events_path"]
              and (symbol == "feed" or r["symbol"] == symbol)
              and r["sha256"] != evidence.get("sha256")}
    if not merged:
        return None
    rows = feed_findings(home, merged)
    for sha, file in merged.items():
        mine = [r for r in rows if r["sha256"] == sha]
        if any(r["kind"] == "sequence_gap" and r["first_seq"] is not None
               and r["first_seq"] <= last and (r["last_seq"] or r["first_seq"]) >= first
               for r in mine):
            continue
        fills = [r for r in mine if r["kind"] == "filled" and r["first_seq"] is not None
                 and r["first_seq"] <= first and (r["last_seq"] or r["first_seq"]) >= last]
        if fills:
            return {"verified": True, "stream_sha256": sha, "lines": file["lines"],
                    "filled_from": sorted({x for x in file["lines"]
                                           if x not in {r["source"] for r in fills}}),
                    "how": f"the stream merged from {', '.join(file['lines'])} holds every "
                           f"sequence number {first}..{last}: the line that lacked them was "
                           "filled from the other"}
    return None


def settle_incident(home: Home, store: IncidentStore, incident: Incident) -> str:
    """A feed gap is recovered when a stream merged from redundant lines holds every message it
    lacked (verified: no sequence number of the range missing); otherwise its evidence says
    what the reader did: the book resynchronised from a snapshot (exact again from there, the
    window before it state unknown) and whether a later snapshot agreed."""
    repair = repair_of(home, incident.evidence, incident.entity)
    if repair is not None:
        store.transition(incident.id, "recovering")
        store.transition(incident.id, "recovered", evidence=repair)
        return "recovered (filled from another line)"
    if incident.status == "unrecoverable":
        return "unrecoverable (unchanged)"
    evidence = {k: incident.evidence[k] for k in ("state_unknown", "resynced", "verified")
                if k in incident.evidence}
    resynced = "resynced" in evidence
    cause = {"orderbook.sequence_gap": "no line held the missing messages",
             "orderbook.checksum": "the book disagreed with the venue's checksum",
             "orderbook.state_unknown": "the book could not be started from a snapshot"
             }[incident.type]
    evidence["reason"] = (
        f"{cause}; the book is exact again from the snapshot at {evidence['resynced']['at']}"
        if resynced else f"{cause}, and no later snapshot resynchronised the book")
    store.transition(incident.id, "unrecoverable", evidence=evidence)
    return "unrecoverable" + (" (book resynchronised)" if resynced else "")


def rebuild_incident(home: Home, store: IncidentStore, incident: Incident) -> str:
    """A damaged stored stream is rebuilt from the feed bytes archived in the WARCs (the
    source of truth); verified when the check that found it no longer does."""
    from orderbook.gaps import store_findings
    from orderbook.store import BookStoreError, rebuild_stream

    store.transition(incident.id, "recovering")
    try:
        rebuild_stream(home, incident.evidence["sha256"])
    except BookStoreError as exc:
        store.transition(incident.id, "unrecoverable", evidence={"reason": str(exc)})
        return "unrecoverable"
    still = {f.key for f in store_findings(home)[0]}
    ok = incident.key not in still
    store.transition(incident.id, "recovered" if ok else "unrecoverable", evidence={
        "verified": ok, "how": "rebuilt from the feed bytes archived in the WARCs"
        if ok else "rebuilt, but the stored files still disagree with book_files"})
    return "recovered (rebuilt from the WARC)" if ok else "unrecoverable"
