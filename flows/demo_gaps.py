"""The demo's second act: the source and our own store go wrong, and Salvage notices, rebuilds
and tells the trading side.

The mirror removes two filings it served yesterday and serves a new filing whose complete
submission lacks an exhibit its index page lists; a watched page changes; one WARC in the home is
damaged. The next ingest (which rechecks recent filings) and watch run detect each gap, recovery
rebuilds what the archives hold (filings from our captures, the WARC from the replica), and every
incident event reaches a local webhook receiver as a signed CloudEvent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from archive.home import Home
from flows.mirror import Mirror
from flows.receiver import Receiver
from storage.incidents import IncidentStore

REMOVED = ("0001104659-25-002604", "0000943374-24-000509")
CUT = ("0001213900-25-032135", "EX-99.1")
"""The new filing whose complete submission arrives without this exhibit."""


def break_things(site: Path, mirror: Mirror, home: Home, changed_page: str) -> list[str]:
    """Make every kind of trouble the second act shows; returns what was done, for the reader."""
    done = []
    for accession in REMOVED:
        name = f"{accession}.txt"
        for path in site.glob(f"Archives/edgar/data/*/{accession.replace('-', '')}/{name}"):
            mirror.state.removed.add("/" + path.relative_to(site).as_posix())
        done.append(f"EDGAR removes {accession} (its complete submission answers 404)")
    accession, exhibit = CUT
    [txt] = site.glob(f"Archives/edgar/data/*/{accession.replace('-', '')}/{accession}.txt")
    data = txt.read_bytes()
    at = data.index(f"<TYPE>{exhibit}".encode())
    start = data.rindex(b"<DOCUMENT>", 0, at)
    end = data.index(b"</DOCUMENT>", at) + len(b"</DOCUMENT>\n")
    txt.write_bytes(data[:start] + data[end:])
    done.append(f"EDGAR publishes {accession} without its {exhibit} in the complete submission")
    page = site / changed_page
    page.write_bytes(page.read_bytes().replace(b"</body>", b"<p>Correction: the dividend "
                                               b"record date is moved.</p></body>", 1))
    done.append(f"the watched page {changed_page} changes")
    warc = max(home.warcs.glob("*.warc.gz"), key=lambda p: p.stat().st_size)
    damaged = bytearray(warc.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    warc.write_bytes(bytes(damaged))
    done.append(f"one byte of our own {warc.name} flips (a disk error)")
    return done


def incident_paths(home: Home) -> Table:
    """Each incident's path from open to recovered or unrecoverable, as the catalog holds it."""
    view = Table("incident", "type", "about", "path", title="incidents (salvage incidents)")
    for incident in sorted(IncidentStore(home).incidents(), key=lambda i: i.detected_at):
        path: list[str] = []
        for event in incident.timeline:
            if event.status not in path[-1:]:
                path.append(event.status)
        about = incident.entity.rsplit("/", 1)[-1]
        view.add_row(incident.id, incident.type, about, "→".join(path))
    return view


def received(receiver: Receiver, key: str) -> str:
    """What the webhook receiver got: CloudEvents, each signature checked."""
    good = 0
    types: dict[str, int] = {}
    for request in receiver.accepted():
        body = request["body"]
        mac = hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
        if request["headers"].get("X-Salvage-Signature") == f"sha256={mac}":
            good += 1
        kind = json.loads(body).get("type", "?").rsplit(".", 1)[-1]
        types[kind] = types.get(kind, 0) + 1
    return (f"{len(receiver.accepted())} CloudEvents received, {good} with a valid HMAC "
            "signature: " + ", ".join(f"{n} {k}" for k, n in sorted(types.items())))


def gaps_act(console: Console, site: Path, mirror: Mirror, receiver: Receiver, home: Home,
             watched: list[str], later_day: str, key: str) -> None:
    from flows.ingest import ingest_edgar, ingest_pages

    console.print("\n[bold]Second act: things go wrong[/]")
    for line in break_things(site, mirror, home, watched[0]):
        console.print(f"   ✗ {line}")
    edgar = ingest_edgar(day=later_day, recheck_since="2024-12-01", home=str(home.root))
    pages = ingest_pages(urls=[f"{mirror.url}/{p}" for p in watched], sitemaps=[],
                         home=str(home.root))
    gaps = [edgar["gaps"], pages["gaps"]]
    console.print(f"\n8. ingest-edgar {later_day} rechecks recent filings, ingest-pages watches; "
                  f"detect-gaps runs after each: {sum(g['findings'] for g in gaps if g)} "
                  f"findings, {sum(g['opened'] for g in gaps if g)} incidents opened, "
                  f"{sum(g['recovery_attempts'] for g in gaps if g)} recoveries")
    console.print(incident_paths(home))
    console.print(f"   webhook {receiver.url}: {received(receiver, key)}")
    console.print(f"   rebuilt filings: {home.root / 'recovered'}; "
                  f"every event also in {home.root / 'incidents.jsonl'}")
