"""Data-gap incidents: opened once per gap, a lifecycle of events, severity rules, and delivery to
the sinks (JSONL, signed CloudEvents webhooks, PagerDuty, Prefect) through real local receivers."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cloudevents.core.bindings.http import HTTPMessage, from_http
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from conftest import salvage

from flows.config import ConfigError, load_config
from flows.receiver import Receiver
from storage.findings import Finding
from storage.incidents import (
    IncidentSettings,
    IncidentStore,
    TransitionRefused,
    UnknownIncident,
    UnknownSink,
    incident_id,
)
from storage.query import query
from storage.sinks import SINKS, Sent, SinkSpec

T0 = datetime(2025, 1, 6, 21, 0, tzinfo=UTC)  # when the gaps below began to matter
WEBHOOK_KEY = "whsec-7f3a9c1e5b2d8f4a6c0e"
ROUTING_KEY = "R0UT1NG-KEY-abcdef123456"


def missing(accession: str = "0001104659-25-002604", cik: str = "320193", form: str = "8-K",
            age: timedelta = timedelta(0), period: str = "2025-01-06") -> Finding:
    return Finding(
        "filing.missing", accession, period,
        f"{form} {accession} of CIK {cik} is in the daily index but was never captured",
        window_start=T0 - age - timedelta(hours=1), window_end=T0 - age,
        evidence={"index": "https://www.sec.gov/Archives/edgar/daily-index/2025/QTR1/"
                           "form.20250106.idx", "accession": accession},
        form_type=form, cik=cik)


def fixity(name: str = "warcs/salvage-20250106.warc.gz") -> Finding:
    return Finding("archive.fixity", name, "2025-01-07", f"{name} no longer has its SHA-256",
                   window_end=T0, evidence={"file": name, "expected": "sha256:ab12"})


def event_files(home) -> list[Path]:
    return sorted((home.catalog / "incident_events").glob("*.parquet"))


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def webhook_settings(url: str, retries: int = 2) -> IncidentSettings:
    return IncidentSettings(
        sinks=(SinkSpec("webhook", url=url, secret="webhook_key", retries=retries, backoff=0.01),),
        secret={"webhook_key": WEBHOOK_KEY}.get, source="salvage://test/home")


# -- opening --------------------------------------------------------------------------------------


def test_findings_open_one_incident_per_gap_and_a_rerun_opens_nothing(home):
    store = IncidentStore(home)
    gap, damaged = missing(), fixity()
    opened = store.raise_findings([gap, damaged, gap], now=T0 + timedelta(hours=1))
    assert [i.key for i in opened] == [gap.key, damaged.key]
    assert gap.key == "gap:filing.missing:0001104659-25-002604:2025-01-06"
    first = opened[0]
    assert first.id == incident_id(gap.key, 1) and len(first.id) == len("INC-") + 10
    assert (first.status, first.type, first.cik, first.form_type) == \
        ("open", "filing.missing", "0000320193", "8-K")
    assert first.evidence == gap.evidence and first.window_end == T0
    written = event_files(home)

    assert store.raise_findings([gap, damaged], now=T0 + timedelta(hours=2)) == []
    assert event_files(home) == written  # a re-run writes nothing at all
    assert [i.id for i in store.incidents()] == sorted([first.id, opened[1].id], reverse=True)

    removed = Finding("filing.removed", gap.entity, gap.period, "taken down from EDGAR")
    [other] = store.raise_findings([removed])
    assert other.key == "gap:filing.removed:0001104659-25-002604:2025-01-06" != first.key
    assert store.get(first.id.lower()) == store.get(gap.key) == first


# -- the lifecycle --------------------------------------------------------------------------------


def test_the_lifecycle_moves_forward_and_refuses_impossible_steps(home):
    store = IncidentStore(home)
    [incident] = store.raise_findings([missing()], now=T0)
    iid = incident.id
    acked = store.acknowledge(iid, note="ops on it", now=T0 + timedelta(minutes=5))
    assert acked.status == "open" and acked.acknowledged_at == T0 + timedelta(minutes=5)
    assert store.acknowledge(iid) == acked  # a second acknowledgment changes nothing

    store.transition(iid, "recovering", now=T0 + timedelta(minutes=10))
    store.transition(incident.key, "unrecoverable", note="EDGAR answers 404",
                     evidence={"status": 404}, now=T0 + timedelta(minutes=11))
    store.transition(iid, "recovering", note="trying the mirror", now=T0 + timedelta(hours=1))
    assert store.transition(iid, "recovering") == store.get(iid)  # same status: nothing new
    recovered = store.transition(iid, "recovered", evidence={"verified": False})
    assert recovered.status == "recovered" and recovered.resolved_at is None

    with pytest.raises(TransitionRefused, match="is recovered; it can go to resolved, not to "
                                                "unrecoverable"):
        store.transition(iid, "unrecoverable")
    with pytest.raises(TransitionRefused, match="needs a note"):
        store.resolve(iid, note="  ")
    with pytest.raises(TransitionRefused, match="'closed' is not a step"):
        store.transition(iid, "closed")

    done = store.resolve(iid, note="checked by hand: same bytes as the SEC's copy",
                         now=T0 + timedelta(hours=2))
    assert done.status == "resolved" and done.resolution == "by-hand"
    assert [e.event for e in done.timeline] == ["opened", "acknowledged", "recovering",
                                                "unrecoverable", "recovering", "recovered",
                                                "resolved"]
    assert [e.status for e in done.timeline][:3] == ["open", "open", "recovering"]
    assert done.timeline[3].evidence == {"status": 404}
    with pytest.raises(TransitionRefused, match="resolved is final"):
        store.transition(iid, "recovering")
    with pytest.raises(TransitionRefused, match="nothing to acknowledge"):
        store.acknowledge(iid)
    with pytest.raises(UnknownIncident, match="salvage incidents"):
        store.get("INC-0000000000")


def test_a_byte_exact_recovery_resolves_and_the_same_gap_found_again_opens_nothing(home):
    store = IncidentStore(home)
    gap, accepted = missing(), missing("0000950170-25-000001")
    first, other = store.raise_findings([gap, accepted], now=T0)
    store.transition(first.id, "recovering", now=T0 + timedelta(minutes=1))
    proof = {"verified": True, "sha256": "9f2c…", "warc": "warcs/x.warc.gz", "offset": 1234}
    done = store.transition(first.id, "recovered", evidence=proof, now=T0 + timedelta(minutes=2))
    assert done.status == "resolved" and done.resolution == "verified-recovery"
    assert [e.event for e in done.timeline] == ["opened", "recovering", "recovered", "resolved"]
    assert done.timeline[2].evidence == proof
    assert done.recovered_at == done.resolved_at == T0 + timedelta(minutes=2)

    store.resolve(other.id, note="accepted: the filer withdrew it")
    # the same gaps, found again in history the next day: the same events, nothing new
    assert store.raise_findings([gap, accepted], now=T0 + timedelta(days=1)) == []
    assert store.get(gap.key).status == store.get(accepted.key).status == "resolved"
    # the trouble coming back is a new event: a new period, a new key, a new incident
    back = missing(period="2025-01-13")
    [again] = store.raise_findings([back], now=T0 + timedelta(days=3))
    assert again.key != gap.key and again.status == "open"
    later = store.transition(again.id, "recovered", evidence={"verified": False})
    assert later.status == "recovered"
    verified = store.transition(again.id, "recovered", evidence={"verified": True})
    assert verified.status == "resolved" and verified.resolution == "verified-recovery"


# -- severity -------------------------------------------------------------------------------------


RULES = """
[edgar]
ciks = [320193]

[[incidents.rules]]
type = "filing.*"
forms = ["8-K", "10-K"]
watched = true
severity = "critical"

[[incidents.rules]]
type = "filing.missing"
older_than_hours = 24
severity = "high"

[[incidents.rules]]
type = "page.*"
severity = "info"
"""


def test_severity_comes_from_the_first_matching_rule_else_the_type_default(tmp_path, home):
    config = load_config(_write(tmp_path, RULES), home=home.root, environ={})
    store = IncidentStore(home, config.incident_settings())
    findings = {
        "watched 8-K": missing("0000320193-25-000001", cik="0000320193", form="8-K"),
        "other 8-K, fresh": missing("0000789019-25-000002", cik="789019", form="8-K"),
        "other 10-Q, 2 days": missing("0000789019-25-000003", cik="789019", form="10-Q",
                                      age=timedelta(days=2)),
        "watched Form 4": missing("0000320193-25-000004", form="4"),
        "page removed": Finding("page.removed", "https://example.com/ir/", "2025-01-06", "gone"),
        "fixity": fixity(),
        "pipeline": Finding("pipeline.failed", "ingest-edgar", "2025-01-06", "the run failed"),
    }
    opened = store.raise_findings(list(findings.values()), now=T0 + timedelta(hours=1))
    assert dict(zip(findings, (i.severity for i in opened), strict=True)) == {
        "watched 8-K": "critical", "other 8-K, fresh": "warning", "other 10-Q, 2 days": "high",
        "watched Form 4": "high", "page removed": "info", "fixity": "critical",
        "pipeline": "high"}


@pytest.mark.parametrize(("text", "named"), [
    ('[[incidents.rules]]\ntype = "filing.*"\n', ["incidents.rules[0].severity is missing"]),
    ('[[incidents.rules]]\nseverity = "urgent"\n',
     ['incidents.rules[0].severity = "urgent"', '"critical", "high", "warning", "info"']),
    ('[[incidents.rules]]\ntype = "filings.*"\nseverity = "high"\n',
     ['incidents.rules[0].type = "filings.*"', "filing.missing"]),
    ('[[incidents.rules]]\nseverity = "high"\nform = ["8-K"]\n',
     ["incidents.rules[0].form", "a rule takes severity, type, forms"]),
    ('[[incidents.rules]]\nseverity = "high"\nolder_than_hours = "1d"\n',
     ['incidents.rules[0].older_than_hours = "1d"']),
    ('[[incidents.sinks]]\nkind = "pagerduty"\n', ["incidents.sinks[0].routing_key is missing"]),
    ('[[incidents.sinks]]\nkind = "prefect"\nurl = "http://x"\n',
     ['incidents.sinks[0].url = "http://x"', "a prefect sink takes nothing but kind"]),
    ('[[incidents.sinks]]\nkind = "webhook"\nurl = "http://127.0.0.1:9/"\nretries = -1\n',
     ["incidents.sinks[0].retries = -1", "whole number"]),
    ('[[incidents.sinks]]\nkind = "pagerduty"\nrouting_key = "pd_key"\n',
     ['incidents.sinks[0].routing_key = "pd_key"', "SALVAGE_SECRET_PD_KEY"]),
])
def test_bad_rules_and_sinks_are_refused_naming_the_key(tmp_path, text, named):
    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, text), environ={})
    for part in named:
        assert part in str(caught.value)


def test_sink_defaults_and_rules_cannot_come_from_the_environment(tmp_path):
    text = '[[incidents.sinks]]\nkind = "pagerduty"\nrouting_key = "pd_key"\n' \
           '[[incidents.sinks]]\nkind = "file"\n[[incidents.sinks]]\nkind = "prefect"\n'
    config = load_config(_write(tmp_path, text), environ={"SALVAGE_SECRET_PD_KEY": ROUTING_KEY})
    pagerduty, file, prefect = config.incident_settings().sinks
    assert pagerduty.url == "https://events.pagerduty.com/v2/enqueue"
    assert file.path == Path("incidents.jsonl") and prefect.kind == "prefect"
    with pytest.raises(ConfigError, match=r"\[\[incidents.rules\]\] in salvage.toml"):
        load_config(_write(tmp_path, ""), environ={"SALVAGE_INCIDENTS__RULES": "x"})


# -- sinks ----------------------------------------------------------------------------------------


def test_by_default_every_event_is_one_line_of_incidents_jsonl(tmp_path, home, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no salvage.toml: the defaults
    store = IncidentStore(home, load_config(environ={}).incident_settings())
    [incident] = store.raise_findings([missing()], now=T0)
    store.acknowledge(incident.id, now=T0 + timedelta(minutes=3))
    store.resolve(incident.id, note="accepted", now=T0 + timedelta(minutes=9))
    report = store.deliver_pending()
    assert report.ok and Counter(d["sink"] for d in report.delivered) == \
        {"file:incidents.jsonl": 3, "log": 3}

    lines = [json.loads(line) for line in (home.root / "incidents.jsonl").read_text().splitlines()]
    assert [(n["event_id"], n["event"], n["incident"]["status"]) for n in lines] == [
        (f"{incident.id}.1", "opened", "open"), (f"{incident.id}.2", "acknowledged", "open"),
        (f"{incident.id}.3", "resolved", "resolved")]
    assert lines[0]["at"] == "2025-01-06T21:00:00Z" and lines[2]["incident"]["timeline"][2][
        "note"] == "accepted"
    assert len(lines[0]["incident"]["timeline"]) == 1  # the incident as it stood at that event

    before = (home.root / "incidents.jsonl").read_bytes()
    assert store.deliver_pending().delivered == []
    assert (home.root / "incidents.jsonl").read_bytes() == before
    ledger = query(home.catalog, "SELECT sink, status, count(*) AS n FROM deliveries "
                                 "GROUP BY ALL ORDER BY sink").to_pylist()
    assert ledger == [{"sink": "file:incidents.jsonl", "status": "delivered", "n": 3},
                      {"sink": "log", "status": "delivered", "n": 3}]


def test_a_sink_is_one_function_and_its_failure_does_not_stop_the_others(home, monkeypatch):
    seen: list[str] = []

    def chat(notice, spec, context):
        seen.append(f"{notice.incident['id']} {notice.event}")
        return Sent()

    def broken(notice, spec, context):
        raise RuntimeError("chat server exploded")

    monkeypatch.setitem(SINKS, "chat", chat)
    monkeypatch.setitem(SINKS, "broken", broken)
    store = IncidentStore(home, IncidentSettings(sinks=(SinkSpec("broken"), SinkSpec("chat"))))
    [incident] = store.raise_findings([missing()])
    report = store.deliver_pending()
    assert seen == [f"{incident.id} opened"]
    assert [(d["sink"], d["error"]) for d in report.dead_lettered] == \
        [("broken", "RuntimeError: chat server exploded")]
    assert [d["sink"] for d in store.dead_letters()] == ["broken"]


def test_webhook_posts_signed_cloudevents_that_the_sdk_accepts(home):
    with Receiver() as receiver:
        store = IncidentStore(home, webhook_settings(receiver.url + "/hooks/salvage"))
        [incident] = store.raise_findings([missing()], now=T0 + timedelta(hours=1))
        store.resolve(incident.id, note="refetched by hand", now=T0 + timedelta(hours=2))
        assert store.deliver_pending().ok
    assert len(receiver.requests) == 2
    for request, kind, status in zip(receiver.requests, ("opened", "resolved"),
                                     ("open", "resolved"), strict=True):
        body, headers = request["body"], request["headers"]
        expected = hmac.new(WEBHOOK_KEY.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["X-Salvage-Signature"], f"sha256={expected}")
        assert headers["Content-Type"].startswith("application/cloudevents+json")
        event = from_http(HTTPMessage(headers, body), JSONFormat(), CloudEvent)
        assert event.get_specversion() == "1.0"
        assert event.get_type() == f"com.salvage.data-gap.{kind}"
        assert event.get_source() == "salvage://test/home"
        assert event.get_subject() == incident.id
        assert event.get_datacontenttype() == "application/json"
        data = event.get_data()
        assert (data["id"], data["key"], data["status"]) == (incident.id, incident.key, status)
        assert data["evidence"]["accession"] == "0001104659-25-002604"
    first, second = (from_http(HTTPMessage(r["headers"], r["body"]), JSONFormat(), CloudEvent)
                     for r in receiver.requests)
    assert (first.get_id(), second.get_id()) == (f"{incident.id}.1", f"{incident.id}.2")
    assert first.get_time() == T0 + timedelta(hours=1)


def test_a_receiver_that_is_down_loses_nothing_and_redelivery_sends_each_event_once(home):
    port = unused_port()  # nothing listens: connection refused
    store = IncidentStore(home, webhook_settings(f"http://127.0.0.1:{port}/hook", retries=2))
    a, b = store.raise_findings([missing(), fixity()], now=T0)
    report = store.deliver_pending()
    assert [(d["event_id"], d["attempts"]) for d in report.dead_lettered] == \
        [(f"{a.id}.1", 3), (f"{b.id}.1", 0)]  # after the first failure, the rest wait in order
    assert "ConnectionError" in report.dead_lettered[0]["error"]
    letters = store.dead_letters()
    assert [d["notice"]["incident"]["key"] for d in letters] == [a.key, b.key]

    with Receiver(port=port, status=503) as receiver:
        store.resolve(a.id, note="accepted", now=T0 + timedelta(hours=1))
        report = store.deliver_pending()
        assert len(report.dead_lettered) == 3 and report.dead_lettered[0]["http_status"] == 503
        assert len(receiver.requests) == 3  # the oldest event, tried 3 times; nothing overtook it
        assert {_ce_id(r) for r in receiver.requests} == {f"{a.id}.1"}

        receiver.status = 202
        report = store.redeliver()
        assert report.ok and [d["event_id"] for d in report.delivered] == \
            [f"{a.id}.1", f"{b.id}.1", f"{a.id}.2"]
        assert store.dead_letters() == []
        assert store.redeliver().delivered == [] and store.deliver_pending().delivered == []
    assert Counter(_ce_id(r) for r in receiver.accepted()) == \
        {f"{a.id}.1": 1, f"{b.id}.1": 1, f"{a.id}.2": 1}
    current = query(home.catalog, "SELECT event_id, status FROM deliveries ORDER BY event_id")
    assert {r["status"] for r in current.to_pylist()} == {"delivered"}
    history = query(home.catalog, "SELECT status, count(*) AS n FROM deliveries_history "
                                  "GROUP BY ALL ORDER BY status").to_pylist()
    assert history == [{"status": "dead-lettered", "n": 5}, {"status": "delivered", "n": 3}]


def test_pagerduty_gets_trigger_then_resolve_with_the_same_dedup_key(home):
    with Receiver() as pagerduty:
        settings = IncidentSettings(
            sinks=(SinkSpec("pagerduty", url=pagerduty.url + "/v2/enqueue",
                            routing_key="pd_key", backoff=0.01),),
            secret={"pd_key": ROUTING_KEY}.get)
        store = IncidentStore(home, settings)
        [incident] = store.raise_findings([fixity()], now=T0)
        store.transition(incident.id, "recovering")
        store.transition(incident.id, "recovered", evidence={"verified": True})
        report = store.deliver_pending()
    sent = [json.loads(r["body"]) for r in pagerduty.requests]
    assert [(e["event_action"], e["dedup_key"], e["routing_key"]) for e in sent] == [
        ("trigger", incident.key, ROUTING_KEY), ("resolve", incident.key, ROUTING_KEY)]
    payload = sent[0]["payload"]
    assert payload["severity"] == "critical" and payload["class"] == "archive.fixity"
    assert payload["group"] == "archive" and payload["timestamp"] == "2025-01-06T21:00:00Z"
    assert incident.id in payload["summary"] and payload["custom_details"]["key"] == incident.key
    assert [d["event_id"].rsplit(".")[-1] for d in report.skipped] == ["2", "3"]


def test_the_prefect_sink_emits_data_gap_events(home, monkeypatch):
    from prefect.events.clients import AssertingEventsClient
    from prefect.events.worker import EventsWorker
    from prefect.settings import PREFECT_API_URL, temporary_settings

    import flows.publish  # noqa: F401 -- registers the prefect sink

    # Prefect's own recording events client (what its test fixtures use); the API URL is never
    # dialled, and keeps Prefect from starting an ephemeral server with a database
    with temporary_settings({PREFECT_API_URL: f"http://127.0.0.1:{unused_port()}/api"}):
        worker = EventsWorker.instance(AssertingEventsClient)
        monkeypatch.setattr(EventsWorker, "instance", lambda *_: worker)
        store = IncidentStore(home, IncidentSettings(sinks=(SinkSpec("prefect"),)))
        [incident] = store.raise_findings([missing()], now=T0)
        store.resolve(incident.id, note="accepted")
        assert store.deliver_pending().ok
        worker.drain()
    events = worker._client.events
    assert [e.event for e in events] == ["salvage.data-gap.detected", "salvage.data-gap.resolved"]
    assert events[0].resource.id == f"salvage.incident.{incident.id}"
    assert events[0].resource["salvage.severity"] == "warning"
    assert events[0].payload["incident"]["key"] == incident.key
    assert events[0].occurred == T0


def test_an_unregistered_sink_kind_is_named(home):
    store = IncidentStore(home, IncidentSettings(sinks=(SinkSpec("carrier-pigeon"),)))
    with pytest.raises(UnknownSink, match="'carrier-pigeon': no sink of that kind"):
        store.deliver_pending()


# -- the catalog ----------------------------------------------------------------------------------


def test_mttd_and_mttr_come_from_the_catalog(home):
    store = IncidentStore(home)
    fast, slow, damaged = missing(), missing("0000950170-25-000001"), fixity()
    [a] = store.raise_findings([fast], now=T0 + timedelta(hours=1))
    [b] = store.raise_findings([slow], now=T0 + timedelta(hours=3))
    store.raise_findings([damaged], now=T0 + timedelta(minutes=30))
    store.acknowledge(a.id, now=T0 + timedelta(hours=1, minutes=5))
    store.resolve(a.id, note="accepted", now=T0 + timedelta(hours=5))
    store.transition(b.id, "recovered", evidence={"verified": True},
                     now=T0 + timedelta(hours=4))

    metrics = query(home.catalog, "SELECT * FROM incident_metrics ORDER BY type").to_pylist()
    assert metrics == [
        {"type": "archive.fixity", "incidents": 1, "open": 1, "resolved": 0,
         "mttd_seconds": 1800.0, "mttr_seconds": None},
        {"type": "filing.missing", "incidents": 2, "open": 0, "resolved": 2,
         "mttd_seconds": (3600 + 3 * 3600) / 2, "mttr_seconds": (4 * 3600 + 3600) / 2}]
    [row] = query(home.catalog, f"SELECT * FROM incidents WHERE incident_id = '{a.id}'")\
        .to_pylist()
    assert (row["status"], row["detected_at"], row["acknowledged_at"], row["resolved_at"],
            row["events"]) == ("resolved", T0 + timedelta(hours=1),
                               T0 + timedelta(hours=1, minutes=5), T0 + timedelta(hours=5), 3)


# -- the command line -----------------------------------------------------------------------------


def test_the_command_line_lists_acknowledges_and_resolves_and_tells_pagerduty(tmp_path, home):
    env = {"SALVAGE_SECRET_PD_KEY": ROUTING_KEY}
    with Receiver() as pagerduty:
        config = _write(tmp_path, f"""
[[incidents.sinks]]
kind = "pagerduty"
url = "{pagerduty.url}/v2/enqueue"
routing_key = "pd_key"
backoff = 0.01

[[incidents.sinks]]
kind = "file"
""")
        settings = load_config(config, home=home.root, environ=env).incident_settings()
        store = IncidentStore(home, settings)
        a, b = store.raise_findings([missing(), fixity()], now=T0)
        assert store.deliver_pending().ok

        def cli(*args: str):
            return salvage("--home", str(home.root), "--config", str(config), "incidents",
                           *args, env=env)

        listed = cli("--json")
        assert listed.returncode == 0, listed.stderr
        incidents = json.loads(listed.stdout)
        assert {i["id"] for i in incidents} == {a.id, b.id}
        for item in incidents:
            assert {"id", "key", "type", "severity", "subject", "window", "status", "timeline",
                    "evidence"} <= set(item)
        assert cli("ack", a.id, "--note", "on it").returncode == 0

        missing_note = cli("resolve", a.id)
        assert missing_note.returncode == 1 and "--note" in missing_note.stderr
        resolved = cli("resolve", a.key, "--note", "EDGAR withdrew the filing", "--json")
        assert resolved.returncode == 0, resolved.stderr
        result = json.loads(resolved.stdout)
        assert result["incident"]["status"] == "resolved" and result["delivery"]["ok"]
        assert result["incident"]["timeline"][-1]["note"] == "EDGAR withdrew the filing"

        still_open = json.loads(cli("--open", "--json").stdout)
        assert [i["id"] for i in still_open] == [b.id]
        unknown = cli("ack", "INC-0000000000")
        assert unknown.returncode == 1 and "no incident" in unknown.stderr
    sent = [json.loads(r["body"]) for r in pagerduty.requests]
    assert [(e["event_action"], e["dedup_key"]) for e in sent] == [
        ("trigger", a.key), ("trigger", b.key), ("acknowledge", a.key), ("resolve", a.key)]
    lines = (home.root / "incidents.jsonl").read_text().splitlines()
    assert [json.loads(line)["event"] for line in lines] == [
        "opened", "opened", "acknowledged", "resolved"]


def _ce_id(request: dict) -> str:
    return json.loads(request["body"])["id"]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "salvage.toml"
    path.write_text(text)
    return path
