"""Is the pipeline itself healthy? Failed and stalled flow runs, and ingestion lag, as findings.

Read from the Prefect API (the runs of Salvage's flows) and from the catalog (the newest daily
index captured). A failed run is one finding per run; a stalled one per deployment and expected
start, so checking twice finds nothing new.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

from archive.home import Home
from storage.findings import Finding
from storage.query import Catalog

log = logging.getLogger("salvage.flows")

SALVAGE_FLOWS = ("ingest-edgar", "ingest-pages", "ingest-drop", "extract-pending", "detect-gaps",
                 "ingest-feeds")
STALLED_AFTER = timedelta(hours=2)
"""A scheduled run not finished this long after its expected start has stalled."""
LOOKBACK = timedelta(days=7)
MAX_RUNS = 10_000
MAX_LAG_BUSINESS_DAYS = 2
"""EDGAR ingestion lags when the newest daily index captured is older than this many business
days (a weekend is not lag)."""


def pipeline_findings(home: Home, now: datetime | None = None,
                      edgar_scheduled: bool = True) -> list[Finding]:
    """Failed and stalled runs of Salvage's flows (when a Prefect API answers) and EDGAR
    ingestion lag (when EDGAR ingestion is scheduled and has run before)."""
    now = now or datetime.now(UTC)
    found = _run_findings(now)
    if edgar_scheduled:
        found += _lag_findings(home, now)
    return found


def _run_findings(now: datetime) -> list[Finding]:
    try:
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import (
            FlowFilter,
            FlowFilterName,
            FlowRunFilter,
            FlowRunFilterExpectedStartTime,
        )

        with get_client(sync_client=True) as client:
            flows = {f.id: f.name for f in client.read_flows(
                flow_filter=FlowFilter(name=FlowFilterName(any_=list(SALVAGE_FLOWS))))}
            if not flows:
                return []
            runs: list = []
            while len(runs) < MAX_RUNS:  # the API pages by 200
                page = client.read_flow_runs(
                    flow_filter=FlowFilter(name=FlowFilterName(any_=list(SALVAGE_FLOWS))),
                    flow_run_filter=FlowRunFilter(
                        expected_start_time=FlowRunFilterExpectedStartTime(
                            after_=now - LOOKBACK)), limit=200, offset=len(runs))
                runs += page
                if len(page) < 200:
                    break
    except Exception as exc:  # no API reachable: say so, do not fail detection
        log.warning("cannot read flow runs from the Prefect API: %s", exc)
        return []
    found = []
    for run in runs:
        flow = flows.get(run.flow_id, "?")
        state = run.state
        kind = state.type.value if state else "UNKNOWN"
        started = run.start_time or run.expected_start_time
        if kind in ("FAILED", "CRASHED"):
            found.append(Finding(
                "pipeline.failed", entity=flow, period=str(run.id),
                subject=f"flow {flow} run {run.name} ended {kind.lower()}",
                window_start=started, window_end=run.end_time or now,
                evidence={"flow_run_id": str(run.id), "state": kind,
                          "message": (state.message or "")[:500] if state else "",
                          "deployment_id": str(run.deployment_id or "")}))
        elif kind in ("SCHEDULED", "PENDING", "RUNNING") and run.expected_start_time \
                and now - run.expected_start_time > STALLED_AFTER:
            found.append(Finding(
                "pipeline.stalled", entity=flow,
                period=run.expected_start_time.astimezone(UTC).isoformat(),
                subject=f"flow {flow} run {run.name} expected at "
                        f"{run.expected_start_time:%Y-%m-%d %H:%M %Z} is still {kind.lower()}",
                window_start=run.expected_start_time, window_end=now,
                evidence={"flow_run_id": str(run.id), "state": kind,
                          "state_name": state.name if state else None}))
    return found


def _lag_findings(home: Home, now: datetime) -> list[Finding]:
    sql = ("SELECT max(regexp_extract(url, '/daily-index/.*\\.(\\d{8})\\.idx$', 1)) AS day "
           "FROM captures WHERE url LIKE '%/daily-index/%' AND status = 200 "
           "AND soft_error IS NULL")
    try:
        newest = Catalog(home.catalog).query(sql).column("day").to_pylist()[0]
    except Exception as exc:
        log.warning("cannot read the captures table: %s", exc)
        return []
    if not newest:
        return []
    last = datetime.strptime(newest, "%Y%m%d").date()
    lag = business_days_between(last, now.date())
    if lag <= MAX_LAG_BUSINESS_DAYS:
        return []
    return [Finding(
        "pipeline.stalled", entity="ingestion-lag:edgar-daily-index", period=now.date().isoformat(),
        subject=f"EDGAR ingestion lags: the newest daily index archived is {last} "
                f"({lag} business days ago)",
        window_start=datetime.combine(last, datetime.min.time(), UTC), window_end=now,
        evidence={"newest_daily_index": last.isoformat(), "business_days": lag,
                  "threshold": MAX_LAG_BUSINESS_DAYS})]


def business_days_between(first: date, last: date) -> int:
    """Weekdays after `first` up to and including `last`."""
    days, day = 0, first
    while day < last:
        day += timedelta(days=1)
        days += day.weekday() < 5
    return days
