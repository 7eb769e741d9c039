"""`salvage serve`: a Prefect API server for the home, the flows' deployments on their schedules,
served until SIGTERM or Ctrl-C.

Unless `PREFECT_API_URL` (or `[prefect] api_url`) names a server, one is started as a child
process with its SQLite database in `<home>/prefect/` and stopped with `salvage serve`. Prefect
must read `PREFECT_API_URL` before it is imported: the command line sets it, then imports this
module's `serve_deployments`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import requests

from archive.errors import SalvageError
from archive.home import Home

HEALTH_TIMEOUT = 180.0


class ServerError(SalvageError):
    """The Prefect API server did not start or stopped answering."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prefect_env(home: Home) -> dict[str, str]:
    """Where Prefect keeps its state for this home: `<home>/prefect/` (database, logs)."""
    folder = home.root.resolve() / "prefect"
    folder.mkdir(parents=True, exist_ok=True)
    return {"PREFECT_HOME": str(folder),
            "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{folder}/prefect.db",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}


@contextlib.contextmanager
def api_server(home: Home, port: int) -> Iterator[str]:
    """Run `prefect server start` on 127.0.0.1:`port` until the block ends; yields the API URL."""
    env = {**os.environ, **prefect_env(home)}
    env.pop("PREFECT_API_URL", None)
    log_path = home.root / "prefect" / "server.log"
    prefect = Path(sys.executable).with_name("prefect")
    command = [str(prefect) if prefect.exists() else "prefect", "server", "start",
               "--host", "127.0.0.1", "--port", str(port), "--analytics-off"]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}/api"
    try:
        wait_for_api(url, process, log_path)
        yield url
    finally:
        stop_process(process)


def wait_for_api(url: str, process: subprocess.Popen | None = None,
                 log_path: Path | None = None, timeout: float = HEALTH_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:] if log_path else ""
            raise ServerError(f"the Prefect server exited with {process.returncode}:\n{tail}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{url}/health", timeout=2).ok:
                return
        time.sleep(0.5)
    raise ServerError(f"the Prefect API at {url} did not answer within {timeout:.0f} s"
                      + (f"; see {log_path}" if log_path else ""))


def stop_process(process: subprocess.Popen, grace: float = 20.0) -> None:
    """SIGTERM the process group, then SIGKILL it after `grace` seconds."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def schedule_for(spec: object, timezone: str):
    """A Prefect schedule from a configured one: a cron string or an interval in seconds."""
    from prefect.schedules import Cron, Interval

    if isinstance(spec, str):
        return Cron(spec, timezone=timezone)
    return Interval(timedelta(seconds=float(spec)), timezone=timezone)  # type: ignore[arg-type]


def deployments(home: Home, schedules: dict[str, object], timezone: str) -> list:
    """One deployment per scheduled flow (a schedule of None or False leaves it out)."""
    from prefect.deployments.runner import EntrypointType

    from flows.registry import FLOWS

    names = {"edgar": "ingest-edgar", "watch": "ingest-pages", "drop": "ingest-drop",
             "extract": "extract-pending", "gaps": "detect-gaps", "feeds": "ingest-feeds",
             "drill": "forensic-drill"}
    made = []
    for key, flow_name in names.items():
        spec = schedules.get(key)
        if spec is None or spec is False:
            continue
        parameters: dict[str, object] = {"home": str(home.root.resolve())}
        if key == "drill":  # the cron's spare days are no-ops: only the first business day
            parameters["any_day"] = False
        made.append(FLOWS[flow_name].to_deployment(
            f"salvage-{key}", schedule=schedule_for(spec, timezone),
            parameters=parameters, concurrency_limit=1,
            entrypoint_type=EntrypointType.MODULE_PATH, tags=["salvage"]))
    return made


def serve_deployments(items: list) -> None:
    """Serve until SIGTERM or Ctrl-C (both stop it cleanly)."""
    from prefect import serve

    def _stop(signum, frame):  # Prefect's serve() stops cleanly on KeyboardInterrupt
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    serve(*items, print_starting_message=False)
