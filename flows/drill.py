"""The `forensic-drill` flow: the monthly drill (storage/drill.py) as a scheduled Prefect run.

`salvage serve` schedules it with `[schedules] drill` (default: 06:00 New York on weekdays 1-3 of
each month); the flow itself runs only on the month's first business day (US federal holidays
excepted), so the cron's spare days are no-ops. The result is recorded (report, `drills` row,
audit line), published as a Prefect artifact and a `salvage.drill.completed` event.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from prefect import flow

from archive.home import Home
from flows.config import Config
from flows.ingest import setup
from flows.publish import artifact, emit
from storage.deadlines import federal_holidays

NEW_YORK = ZoneInfo("America/New_York")


def first_business_day(day: date) -> date:
    """The month's first weekday that is not a federal holiday."""
    first = day.replace(day=1)
    while first.weekday() >= 5 or first in federal_holidays(first.year):
        first += timedelta(days=1)
    return first


def drill_as_configured(home: Home, config: Config, scenarios: list[str] | None = None,
                        sample: str | None = None, seed: int | None = None) -> dict:
    """Run a drill with the configuration's sample, targets, capture settings, replica and
    time-stamping authority, and record it (report, `drills` row, audit line)."""
    from storage.drill import SCENARIOS, Targets, record_drill, run_drill

    settings = config.drill
    result = run_drill(
        home, scenarios=scenarios or list(SCENARIOS), sample=sample or settings.sample,
        seed=seed, targets=Targets(settings.byte_exact_pct, settings.rto_seconds),
        settings=config.capture_settings(), replica=config.replica.uri or None,
        replica_keys={"access_key": config.secret("replica_access_key_id"),
                      "secret_key": config.secret("replica_secret_access_key")})
    return record_drill(home, result, tsa_url=settings.tsa_url)


@flow(name="forensic-drill", log_prints=True)
def forensic_drill(home: str | None = None, scenarios: list[str] | None = None,
                   sample: str | None = None, seed: int | None = None,
                   any_day: bool = True) -> dict:
    """Run and record a drill; with `any_day` False (the schedule), only on the month's first
    business day."""
    from storage.drill import drill_subject
    from storage.incidents import IncidentStore

    s = setup(home)
    today = datetime.now(NEW_YORK).date()
    if not any_day and today != first_business_day(today):
        return {"skipped": f"{today} is not the first business day of the month"}
    result = drill_as_configured(s.home, s.config, scenarios, sample, seed)
    summary = {"id": result["id"], "verdict": result["verdict"], "items": len(result["items"]),
               "rto_s": result["rto_s"], "rpo_s": result["rpo_s"],
               "report": result["report"]["pdf"], "report_sha256": result["report"]["sha256"]}
    artifact("forensic-drill", f"Drill {result['id']}: {result['verdict']}", summary,
             result["checks"])
    IncidentStore(s.home, s.config.incident_settings()).announce(
        "salvage.drill.completed", "completed", drill_subject(result))
    if not any(sink.kind == "prefect" for sink in s.config.incidents.sinks):
        emit(s.home, "drill", summary, event="salvage.drill.completed")
    print(f"{result['id']}: {result['verdict']} ({len(result['items'])} items, "
          f"RTO {result['rto_s']:.1f} s)")
    return summary
