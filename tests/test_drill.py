"""Forensic drills (storage/drill.py, `salvage drill`): filings captured from the local EDGAR
mirror and a replica of the home; the drill loses them in a scratch copy, recovers them with the
production code and verifies them — and the real home is byte-identical afterwards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import salvage
from test_recover import BANCORP_8K, FORM_4, SC_TO, SITE, capture_folder

from archive.home import Home
from archive.replicate import replicate
from flows.mirror import Mirror
from storage.drill import (
    DrillError,
    filing_candidates,
    parse_sample,
    run_drill,
    stratified,
    tree_digest,
)

ACCESSIONS = (SC_TO, BANCORP_8K, FORM_4)


@pytest.fixture(scope="module")
def archived(tmp_path_factory) -> tuple[Home, str]:
    """A home holding three filings (each folder captured once) and a replica of it."""
    root = tmp_path_factory.mktemp("drill")
    home = Home(root / "home").ensure()
    with Mirror(SITE) as mirror:
        for accession in ACCESSIONS:
            capture_folder(home, mirror.url, accession)
    replica = str(root / "replica")
    assert replicate(home, replica).ok
    return home, replica


def test_a_drill_recovers_every_item_and_leaves_the_home_as_it_was(archived):
    home, replica = archived
    before = tree_digest(home.root)
    result = run_drill(home, sample="3", seed=7, replica=replica)
    assert tree_digest(home.root) == before
    assert result["verdict"] == "pass", result["checks"]
    filings = [i for i in result["items"] if i["scenario"] == "filings"]
    assert sorted(i["item"] for i in filings) == sorted(ACCESSIONS)
    for item in filings:
        assert item["detected"] and item["success"] and item["byte_exact"]
        assert item["expected_sha256"] == item["actual_sha256"]
        assert item["source_warc"].startswith("warcs/") and item["rpo_s"] >= 0
        assert "the source answered 404" in item["loss"]
    store = [i for i in result["items"] if i["scenario"] == "store"]
    assert len(store) == 2 and all(i["byte_exact"] for i in store)
    assert {i["loss"] for i in store} == {"one byte flipped in the scratch copy",
                                          "deleted from the scratch copy"}
    assert {c["name"] for c in result["checks"]} == {
        "filings byte-exact", "store byte-exact", "RTO for the sample"}


def test_without_a_replica_the_lost_warcs_are_the_expected_failures(archived):
    home, _ = archived
    result = run_drill(home, sample="3", seed=7)
    assert result["verdict"] == "fail"
    by = {c["name"]: c["passed"] for c in result["checks"]}
    assert by == {"filings byte-exact": True, "store byte-exact": False,
                  "RTO for the sample": True}
    failed = [i for i in result["items"] if not i["byte_exact"]]
    assert {i["scenario"] for i in failed} == {"store"}
    assert all("no replica is configured" in i["note"] for i in failed)


def test_the_same_seed_gives_the_same_sample(archived):
    home, _ = archived
    items = filing_candidates(home)
    assert len(items) == 3 and {i["item"] for i in items} == set(ACCESSIONS)
    pick = [i["item"] for i in stratified(items, lambda i: i["form_type"], (2, None), 11)]
    assert pick == [i["item"] for i in stratified(items, lambda i: i["form_type"], (2, None), 11)]
    seen = {tuple(i["item"] for i in stratified(items, lambda i: i["item"], (1, None), s))
            for s in range(12)}
    assert len(seen) > 1  # another seed, another sample


def test_stratified_samples_take_every_stratum_then_shares():
    items = [{"item": f"{k:03}", "form": "10-K" if k < 60 else ("8-K" if k < 90 else "4")}
             for k in range(100)]
    pick = stratified(items, lambda i: i["form"], (10, None), 1)
    counts = {f: sum(1 for i in pick if i["form"] == f) for f in ("10-K", "8-K", "4")}
    assert sum(counts.values()) == 10 and min(counts.values()) >= 1 and counts["10-K"] >= 5
    assert len(stratified(items, lambda i: i["form"], (None, 10.0), 1)) == 10
    with pytest.raises(DrillError):
        parse_sample("0")
    with pytest.raises(DrillError):
        parse_sample("150%")


def test_salvage_drill_on_the_command_line(archived, tmp_path: Path):
    home, replica = archived
    config = tmp_path / "salvage.toml"
    config.write_text(f'[replica]\nuri = "{replica}"\n\n[[incidents.sinks]]\nkind = "file"\n'
                      'path = "drill-events.jsonl"\n')
    done = salvage("--home", str(home.root), "--config", str(config), "drill", "--sample", "2",
                   "--seed", "3", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert {"id", "verdict", "rto_s", "rpo_s", "checks", "items"} <= set(result)
    assert result["verdict"] == "pass"
    folder = home.root / "drills" / result["id"]
    assert (folder / "report.html").is_file() and (folder / "report.pdf").is_file()
    assert json.loads((folder / "result.json").read_text())["id"] == result["id"]
    logged = [e for e in home.audit.entries() if e.get("event") == "drill.report"]
    assert logged[-1]["sha256"] == result["report"]["sha256"]
    sent = [json.loads(line) for line in (home.root / "drill-events.jsonl").read_text()
            .splitlines()]
    assert sent[-1]["type"] == "salvage.drill.completed"
    assert sent[-1]["incident"]["id"] == result["id"] and sent[-1]["incident"]["verdict"] == "pass"
    history = salvage("--home", str(home.root), "drill", "history", "--json")
    assert [r["id"] for r in json.loads(history.stdout)][-1] == result["id"]
    failing = salvage("--home", str(home.root), "drill", "--scenario", "store", "--json")
    assert failing.returncode == 1 and json.loads(failing.stdout)["verdict"] == "fail"


def test_the_monthly_flow_runs_on_the_first_business_day_only():
    from datetime import date

    from flows.drill import first_business_day

    assert first_business_day(date(2026, 11, 17)) == date(2026, 11, 2)   # the 1st: a Sunday
    assert first_business_day(date(2027, 1, 20)) == date(2027, 1, 4)     # New Year's Day: Friday
    assert first_business_day(date(2026, 6, 30)) == date(2026, 6, 1)


@pytest.mark.usefixtures("prefect_api")
def test_the_forensic_drill_flow_records_and_announces(archived, monkeypatch):
    from flows.drill import forensic_drill

    home, replica = archived
    monkeypatch.setenv("SALVAGE_REPLICA__URI", replica)
    summary = forensic_drill(home=str(home.root), scenarios=["filings"], sample="2", seed=5)
    assert summary["verdict"] == "pass" and summary["items"] == 2
    assert (home.root / summary["report"]).is_file()
    sent = [json.loads(line) for line in (home.root / "incidents.jsonl").read_text()
            .splitlines()]
    assert sent[-1]["type"] == "salvage.drill.completed"
    from datetime import datetime

    from flows.drill import NEW_YORK, first_business_day

    today = datetime.now(NEW_YORK).date()
    if today != first_business_day(today):  # the schedule's spare days do nothing
        scheduled = forensic_drill(home=str(home.root), any_day=False)
        assert scheduled == {"skipped": f"{today} is not the first business day of the month"}
