"""Configuration: `salvage.toml` (every key has a default) and where the home is.

Found through `--config`, else `SALVAGE_CONFIG`, else `./salvage.toml`. The home is `--home`, else
`SALVAGE_HOME`, else the configuration's `home`, else `./salvage-data`.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archive.errors import SalvageError

if TYPE_CHECKING:
    from archive.capture import CaptureSettings


class ConfigError(SalvageError):
    """The configuration file is unreadable or holds a bad key or value."""


_TOP = {"home": str, "user_agent": str, "capture": dict, "warc": dict}
_CAPTURE = {"timeout": (int, float), "retries": int, "backoff": (int, float),
            "max_retry_wait": (int, float), "default_rate": (int, float), "rates": dict}
_WARC = {"max_size": int}


@dataclass
class Config:
    path: Path | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def home(self) -> str | None:
        return self.data.get("home")

    def capture_settings(self) -> CaptureSettings:
        from archive.capture import CaptureSettings  # requests and pyarrow load only when needed

        s = CaptureSettings()
        if "user_agent" in self.data:
            s.user_agent = self.data["user_agent"]
        for key, value in self.data.get("capture", {}).items():
            setattr(s, key, value)
        if "max_size" in self.data.get("warc", {}):
            s.max_warc_size = self.data["warc"]["max_size"]
        return s


def _check(table: dict, spec: dict, where: str, path: Path) -> None:
    for key, value in table.items():
        if key not in spec:
            raise ConfigError(f"{path}: unknown key {where}{key!r}; known keys: "
                              f"{', '.join(sorted(spec))}")
        if not isinstance(value, spec[key]) or isinstance(value, bool):
            raise ConfigError(f"{path}: {where}{key} = {value!r} has the wrong type")


def load_config(explicit: Path | None = None) -> Config:
    """Read and validate the configuration (a missing default file is an empty configuration)."""
    env = os.environ.get("SALVAGE_CONFIG")
    path = Path(explicit) if explicit else Path(env) if env else Path("salvage.toml")
    if not path.exists():
        if explicit or env:
            raise ConfigError(f"configuration file {path} does not exist")
        return Config()
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    _check(data, _TOP, "", path)
    _check(data.get("capture", {}), _CAPTURE, "capture.", path)
    _check(data.get("warc", {}), _WARC, "warc.", path)
    return Config(path, data)


def resolve_home(cli_home: Path | None, config: Config) -> Path:
    if cli_home:
        return Path(cli_home)
    if os.environ.get("SALVAGE_HOME"):
        return Path(os.environ["SALVAGE_HOME"])
    if config.home:
        return Path(config.home)
    return Path("salvage-data")
