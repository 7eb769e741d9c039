"""What a flow run tells the world: a markdown artifact in the Prefect UI and Prefect events.

Events are named `salvage.<stage>.completed` (`capture`, `watch`, `drop`, `extract`) on the
resource `salvage.home.<home path>`; their payload is the stage's summary, so automations can act
on counts (a removed watched page, a quarantined filing) without reading the catalog.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from prefect.artifacts import create_markdown_artifact
from prefect.events import emit_event

from archive.home import Home

log = logging.getLogger("salvage.flows")


def home_resource(home: Home) -> dict[str, str]:
    root = str(home.root.resolve())
    return {"prefect.resource.id": f"salvage.home.{root}", "prefect.resource.name": root}


def emit(home: Home, stage: str, summary: dict[str, Any]) -> None:
    """Emit `salvage.<stage>.completed` with the summary as payload (never fails the run)."""
    try:
        emit_event(f"salvage.{stage}.completed", resource=home_resource(home),
                   payload=_plain(summary))
    except Exception as exc:  # events are telemetry: a full queue must not fail an ingest
        log.warning("could not emit salvage.%s.completed: %s", stage, exc)


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
