"""`salvage serve` for real: a Prefect server with its database in the home, a deployment on a
10-second interval that completes a scheduled run, and a clean stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
BANNER = "Prefect UI and API: "


def _first_line_with(stream, prefix: str, found: list[str], seen: list[str]) -> None:
    for line in stream:
        seen.append(line)
        if line.startswith(prefix) and not found:
            found.append(line[len(prefix):].strip())


def _completed_runs(url: str) -> list[dict]:
    body = {"flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}}}
    answer = requests.post(f"{url}/api/flow_runs/filter", json=body, timeout=10)
    answer.raise_for_status()
    return answer.json()


def test_serve_completes_a_scheduled_run_and_stops_cleanly_on_sigterm(tmp_path):
    config = tmp_path / "salvage.toml"
    config.write_text("[schedules]\nedgar = false\nwatch = false\ndrop = false\ngaps = false\n"
                      "extract = 10\n")
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PREFECT_", "SALVAGE_"))} | {
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    with open(tmp_path / "serve.err", "w") as errors:
        serve = subprocess.Popen(
            [sys.executable, "-m", "flows", "--home", str(home), "--config", str(config),
             "serve", "--port", "0"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
            stderr=errors, text=True)
    found: list[str] = []
    seen: list[str] = []
    reader = threading.Thread(target=_first_line_with, args=(serve.stdout, BANNER, found, seen),
                              daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 180
        while not found and time.monotonic() < deadline and serve.poll() is None:
            time.sleep(0.2)
        assert found, (seen, (tmp_path / "serve.err").read_text())
        url = found[0]
        assert url.startswith("http://127.0.0.1:")
        runs: list[dict] = []
        deadline = time.monotonic() + 180
        while not runs and time.monotonic() < deadline and serve.poll() is None:
            time.sleep(1)
            runs = _completed_runs(url)
        assert runs, (tmp_path / "serve.err").read_text()[-3000:]
        assert runs[0]["name"] and (home / "prefect" / "prefect.db").exists()
    finally:
        serve.send_signal(signal.SIGTERM)
        code = serve.wait(90)
    assert code == 0, (tmp_path / "serve.err").read_text()[-3000:]
    try:
        requests.get(f"{url}/api/health", timeout=2)
        still_up = True
    except requests.RequestException:
        still_up = False
    assert not still_up  # the server it started is gone too
