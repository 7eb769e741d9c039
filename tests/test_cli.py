"""The `salvage` command line, run as a real subprocess."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from conftest import salvage
from scenario_server import PAGE, ScenarioServer

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def server():
    with ScenarioServer() as srv:
        yield srv


def test_capture_lookup_get_verify_round_trip(tmp_path, server):
    home = str(tmp_path / "home")
    url = server.url + "/etag.html"
    cap = salvage("--home", home, "capture", url, "--json")
    assert cap.returncode == 0, cap.stderr
    [result] = json.loads(cap.stdout)
    assert result["record_type"] == "response" and result["status"] == 200

    assert salvage("--home", home, "capture", url).returncode == 0  # a revisit
    timemap = json.loads(salvage("--home", home, "lookup", url, "--all", "--json").stdout)
    assert [c["mime"] for c in timemap] == ["text/html", "warc/revisit"]
    closest = json.loads(salvage("--home", home, "lookup", url, "--json",
                                 "--at", timemap[0]["timestamp"]).stdout)
    assert closest["timestamp"] == timemap[0]["timestamp"]

    out = tmp_path / "page.html"
    assert salvage("--home", home, "get", url, "-o", str(out)).returncode == 0
    assert out.read_bytes() == PAGE

    report = salvage("--home", home, "verify", "--json")
    assert report.returncode == 0, report.stdout + report.stderr
    assert json.loads(report.stdout)["ok"] is True


def test_lookup_of_an_unknown_url_exits_1(tmp_path):
    r = salvage("--home", str(tmp_path / "h"), "lookup", "https://example.com/never")
    assert r.returncode == 1 and "no good capture" in r.stderr


def test_usage_errors_exit_1_with_a_message(tmp_path):
    r = salvage("--home", str(tmp_path / "h"), "capture", "--file", "x.pdf")
    assert r.returncode == 1 and "--url" in (r.stderr + r.stdout)
    assert salvage("no-such-command").returncode == 1


def test_bad_time_is_refused_with_the_accepted_forms(tmp_path):
    r = salvage("--home", str(tmp_path / "h"), "lookup", "https://example.com/", "--at", "noon")
    assert r.returncode == 1 and "ISO 8601" in r.stderr


def test_home_comes_from_flag_then_environment_then_config_then_default(tmp_path, server):
    url = server.url + "/plain.html"
    (tmp_path / "salvage.toml").write_text('home = "from-config"\n')
    assert salvage("capture", url, cwd=tmp_path).returncode == 0
    assert (tmp_path / "from-config" / "warcs").is_dir()
    salvage("capture", url, cwd=tmp_path, env={"SALVAGE_HOME": str(tmp_path / "from-env")})
    assert (tmp_path / "from-env" / "warcs").is_dir()
    salvage("--home", str(tmp_path / "from-flag"), "capture", url, cwd=tmp_path,
            env={"SALVAGE_HOME": str(tmp_path / "from-env")})
    assert (tmp_path / "from-flag" / "warcs").is_dir()
    (tmp_path / "salvage.toml").unlink()
    salvage("capture", url, cwd=tmp_path)
    assert (tmp_path / "salvage-data" / "warcs").is_dir()


def test_a_bad_configuration_key_is_named(tmp_path):
    (tmp_path / "salvage.toml").write_text("[capture]\nretrys = 3\n")
    r = salvage("lookup", "https://example.com/", cwd=tmp_path)
    assert r.returncode == 1 and "retrys" in r.stderr


def test_capture_of_a_local_file_and_get_back_the_same_bytes(tmp_path):
    home = str(tmp_path / "home")
    scan = tmp_path / "scan.png"
    scan.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 10)
    r = salvage("--home", home, "capture", "--file", str(scan), "--url", "file:///drop/scan.png")
    assert r.returncode == 0, r.stderr
    got = salvage("--home", home, "get", "file:///drop/scan.png", "-o", str(tmp_path / "back"))
    assert got.returncode == 0
    assert hashlib.sha256((tmp_path / "back").read_bytes()).digest() == \
        hashlib.sha256(scan.read_bytes()).digest()


def test_demo_runs_and_refuses_a_home_that_holds_data(tmp_path):
    home = str(tmp_path / "demo-home")
    r = salvage("--home", home, "demo")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "verify: ok" in r.stdout
    assert "/scans/linn-sequencer" in r.stdout and "polyphonic" in r.stdout  # the scan, OCR'd
    for gap in ("filing.removed", "filing.incomp", "page.altered", "archive.fixity"):
        assert gap in r.stdout  # the second act: each gap detected and its path shown
    # every filing, page and WARC is rebuilt; only the two feed gaps no line held are not
    assert "with a valid HMAC" in r.stdout and " 2 unrecoverable" in r.stdout
    assert "no line had them" in r.stdout and "sequence_num 4..5 missing" in r.stdout
    assert "identical to LOBSTER's own orderbook file: True" in r.stdout  # the book replay
    assert "orderbook.time_gap" in r.stdout  # the hole cut out of the feed, found
    assert "salvage drill --sample 5 --seed 2026: PASS" in r.stdout  # the closing drill
    assert (Path(home) / "exports" / "demo.wacz").exists()
    again = salvage("--home", home, "demo")
    assert again.returncode == 1 and "already holds data" in again.stderr
    assert salvage("--home", home, "demo", "--fresh").returncode == 0
    other = tmp_path / "not-a-demo"
    (other / "warcs").mkdir(parents=True)
    refused = salvage("--home", str(other), "demo", "--fresh")
    assert refused.returncode == 1 and "not created by the demo" in refused.stderr
