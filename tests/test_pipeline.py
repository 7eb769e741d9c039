"""Pipeline health as findings: a failed flow run, a run stalled past its window, and EDGAR
ingestion lag — read from a real Prefect API and a real catalog."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.states import Scheduled

from archive.capture import Capturer, CaptureSettings
from archive.home import Home
from flows.mirror import Mirror
from flows.pipeline import business_days_between, pipeline_findings

pytestmark = pytest.mark.usefixtures("prefect_api")
SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "site"


@flow(name="extract-pending")
def failing_extract() -> None:
    raise RuntimeError("the catalog disk is full")


def test_a_failed_run_is_one_finding_and_checking_again_adds_none(tmp_path):
    home = Home(tmp_path / "home").ensure()
    with pytest.raises(RuntimeError):
        failing_extract()
    found = [f for f in pipeline_findings(home, edgar_scheduled=False)
             if f.type == "pipeline.failed"]
    assert len(found) >= 1 and found[0].entity == "extract-pending"
    assert "disk is full" in found[-1].evidence["message"] or any(
        "disk is full" in f.evidence["message"] for f in found)
    again = [f.key for f in pipeline_findings(home, edgar_scheduled=False)
             if f.type == "pipeline.failed"]
    assert sorted(again) == sorted(f.key for f in found)


def test_a_run_waiting_past_its_window_has_stalled(tmp_path):
    home = Home(tmp_path / "home").ensure()
    expected = datetime.now(UTC) - timedelta(hours=3)
    with get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name("ingest-pages")
        deployment = client.create_deployment(flow_id=flow_id, name="stall-test")
        client.create_flow_run_from_deployment(
            deployment, state=Scheduled(scheduled_time=expected))
    stalled = [f for f in pipeline_findings(home, edgar_scheduled=False)
               if f.type == "pipeline.stalled"]
    assert [f.entity for f in stalled] == ["ingest-pages"]
    assert stalled[0].window_start <= expected + timedelta(seconds=1)


def test_edgar_ingestion_lag_counts_business_days(tmp_path):
    home = Home(tmp_path / "home").ensure()
    with Mirror(SAMPLES) as mirror, Capturer(home, CaptureSettings(default_rate=None)) as c:
        c.capture_url(f"{mirror.url}/Archives/edgar/daily-index/2025/QTR1/master.20250110.idx")
    friday_after = datetime(2025, 1, 14, 12, tzinfo=UTC)  # two business days: no lag
    assert not [f for f in pipeline_findings(home, friday_after) if "lag" in f.entity]
    later = datetime(2025, 1, 20, 12, tzinfo=UTC)
    [lag] = [f for f in pipeline_findings(home, later) if "lag" in f.entity]
    assert lag.type == "pipeline.stalled" and lag.evidence["business_days"] == 6
    assert business_days_between(date(2025, 1, 10), date(2025, 1, 13)) == 1  # a weekend
