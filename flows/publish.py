"""What a flow run tells the world: a markdown artifact in the Prefect UI and Prefect events.

Importing this module registers the `prefect` incident sink (storage/sinks.py never imports
Prefect): `salvage.data-gap.detected` and the rest of an incident's lifecycle as Prefect events.

Events are named `salvage.<stage>.completed` (`capture`, `watch`, `drop`, `extract`) on the
resource `salvage.home.<home path>`; their payload is the stage's summary, so automations can act
on counts (a removed watched page, a quarantined filing) without reading the catalog.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from uuid import NAMESPACE_URL, uuid5

from prefect.artifacts import create_markdown_artifact
from prefect.events import emit_event

from archive.home import Home
from storage.sinks import DeliveryFailed, Notice, Sent, SinkContext, SinkSpec, sink

log = logging.getLogger("salvage.flows")


def home_resource(home: Home) -> dict[str, str]:
    root = str(home.root.resolve())
    return {"prefect.resource.id": f"salvage.home.{root}", "prefect.resource.name": root}


def emit(home: Home, stage: str, summary: dict[str, Any], event: str | None = None) -> None:
    """Emit `event` (default `salvage.<stage>.completed`) with the summary as payload; never
    fails the run."""
    name = event or f"salvage.{stage}.completed"
    try:
        emit_event(name, resource=home_resource(home), payload=_plain(summary))
    except Exception as exc:  # events are telemetry: a full queue must not fail an ingest
        log.warning("could not emit %s: %s", name, exc)


def artifact(flow: str, title: str, summary: dict[str, Any],
             rows: list[dict[str, Any]] | None = None) -> None:
    """A markdown artifact keyed by flow name: the summary, then a table of rows (problems)."""
    lines = [f"# {title}", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {_cell(v)} |" for k, v in summary.items() if not isinstance(v, list)]
    if rows:
        columns = list(rows[0])
        lines += ["", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(_cell(r.get(c)) for c in columns) + " |" for r in rows[:200]]
        if len(rows) > 200:
            lines.append(f"\n… and {len(rows) - 200} more")
    key = re.sub(r"[^a-z0-9-]+", "-", flow.lower()).strip("-")
    try:
        create_markdown_artifact("\n".join(lines), key=key, description=title)
    except Exception as exc:
        log.warning("could not publish the %s artifact: %s", flow, exc)


@sink("prefect")
def prefect_sink(notice: Notice, spec: SinkSpec, context: SinkContext) -> Sent:
    """The `prefect` incident sink: `salvage.data-gap.detected` when an incident opens, then
    `salvage.data-gap.<acknowledged|recovering|recovered|unrecoverable|resolved>`, on the resource
    `salvage.incident.<id>` (labels: key, severity, type), the home as related resource, the
    incident as payload. The event id derives from the incident event's id, so a repeat is one
    event to Prefect."""
    incident = notice.incident
    name = "detected" if notice.event == "opened" else notice.event
    kind = notice.type or f"salvage.data-gap.{name}"
    what = "incident" if notice.type is None else incident["type"]
    try:
        sent = emit_event(
            kind,
            resource={"prefect.resource.id": f"salvage.{what}.{incident['id']}",
                      "prefect.resource.name": incident["key"],
                      "salvage.severity": incident["severity"], "salvage.type": incident["type"]},
            related=[{**home_resource(Home(context.home)), "prefect.resource.role": "home"}],
            payload=_plain({"event": notice.event, "event_id": notice.event_id,
                            "incident": incident}),
            occurred=notice.at, id=uuid5(NAMESPACE_URL, f"{context.source}#{notice.event_id}"))
    except Exception as exc:
        raise DeliveryFailed(f"could not emit {kind}: {exc}") from exc
    if sent is None:
        return Sent("skipped", 0, note="Prefect events are turned off in this process")
    return Sent()


def _cell(value: Any) -> str:
    text = f"{value:,.2f}" if isinstance(value, float) else str(value if value is not None else "")
    return text.replace("|", "\\|").replace("\n", " ")[:300]


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
