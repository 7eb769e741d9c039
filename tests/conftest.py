"""Shared test fixtures: a fresh home in a temp dir, the bundled fixtures, the interop tools."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from archive.home import Home

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
INTEROP_BIN = ROOT / ".venv-interop" / "bin"
LOBSTER_MESSAGES = "AAPL_2012-06-21_34200000_57600000_message_10.csv"
LOBSTER_BOOK = "AAPL_2012-06-21_34200000_57600000_orderbook_10.csv"

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


@pytest.fixture
def pair(tmp_path: Path) -> Path:
    """The LOBSTER sample pair, copied into a folder of its own: the message file to import."""
    folder = tmp_path / "feeds"
    folder.mkdir()
    for name in (LOBSTER_MESSAGES, LOBSTER_BOOK):
        shutil.copy(FIXTURES / "orderbook" / name, folder / name)
    return folder / LOBSTER_MESSAGES


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home(tmp_path / "home").ensure()


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


def interop_tool(name: str) -> str:
    """Path of a third-party tool installed by `make setup` in .venv-interop (pywb, wacz...)."""
    path = INTEROP_BIN / name
    if not path.exists():
        found = shutil.which(name)
        if found is None:
            raise RuntimeError(f"{name} is missing: run `make setup` (it fills .venv-interop)")
        return found
    return str(path)


def salvage(*args: str, cwd: Path = ROOT, env: dict | None = None,
            text: bool = True) -> subprocess.CompletedProcess:
    """Run the `salvage` command line as a real subprocess, without the caller's SALVAGE_ settings
    (`text=False` keeps stdout and stderr as bytes)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SALVAGE_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "flows", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=text, timeout=300)


@pytest.fixture(scope="session")
def prefect_api():
    """One temporary Prefect API and database for the whole session (it takes ~12 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
