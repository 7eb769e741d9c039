"""Configuration: `salvage.toml`, `SALVAGE_*` environment overrides, secrets, and where the home is.

The file is `--config`, else `$SALVAGE_CONFIG`, else `./salvage.toml`; every key has a default, so
no file is needed. `SALVAGE_<KEY>` overrides a top-level key and `SALVAGE_<SECTION>__<KEY>` a key of
a section (lists comma-separated); `--home` overrides everything. Secrets are named values from
`$SALVAGE_SECRET_<NAME>`, else the secrets file; they are never printed whole. Everything is checked
when the configuration is loaded, and every refusal names the file or variable, the key, the value
and what was expected.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import math
import os
import re
import tomllib
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from archive.errors import SalvageError

if TYPE_CHECKING:
    from archive.capture import CaptureSettings
    from storage.incidents import IncidentSettings

ENV_PREFIX = "SALVAGE_"
CONFIG_VARIABLE = "SALVAGE_CONFIG"
SECRET_PREFIX = "SALVAGE_SECRET_"
SECRETS_FILE_NAME = "secrets.toml"
# Kept equal to archive.capture.CaptureSettings' own defaults (tests/test_config.py checks).
DEFAULT_USER_AGENT = "Salvage/0.1 (+https://github.com/salvage; set user_agent to 'Name email')"


class ConfigError(SalvageError):
    """The configuration (file, environment, secrets) is unreadable or holds a bad key or value."""


_SAME = object()  # _Bad.value: the value being checked
_ABSENT = object()  # _Bad.value: a required key that is not there


class _Bad(ValueError):
    """A value that does not fit. `expected` says what would; `at` locates the culprit inside a
    list or table (`[2]`, `[0].url`) and `value` is the culprit when it is not the whole value."""

    def __init__(self, expected: str, at: str = "", value: Any = _SAME):
        super().__init__(expected)
        self.expected, self.at, self.value = expected, at, value


def _within(at: str, check: Callable[[Any], Any], value: Any) -> Any:
    try:
        return check(value)
    except _Bad as exc:
        raise _Bad(exc.expected, at + exc.at, value if exc.value is _SAME else exc.value) from None


# -- checks: a raw TOML value in, the typed value out, or _Bad ------------------------------------


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Bad("expected a non-empty string")
    return value


def _path(value: Any) -> Path:
    return Path(_text(value))


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Bad("expected true or false")
    return value


def _whole(minimum: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise _Bad(f"expected a whole number of at least {minimum}")
        return value
    return check


def _number(*, positive: bool) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        if (isinstance(value, bool) or not isinstance(value, int | float)
                or not math.isfinite(value) or value < 0 or (positive and value == 0)):
            raise _Bad("expected a number greater than 0" if positive
                       else "expected a number of at least 0")
        return value
    return check


def _url(value: Any) -> str:
    text = _text(value).strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 -- a bad port raises here
    except ValueError:
        raise _Bad("expected an http:// or https:// URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _Bad("expected an http:// or https:// URL")
    if parts.password is not None:
        raise _Bad("expected a URL without a password (keep credentials in the secrets file)")
    return text


def _base_url(value: Any) -> str:
    """A site's root (a local mirror works too): no query or fragment; the trailing / dropped."""
    text = _url(value)
    parts = urlsplit(text)
    if parts.query or parts.fragment:
        raise _Bad("expected a base URL without ?query or #fragment, like https://www.sec.gov")
    return text.rstrip("/")


def _form(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Bad('expected a form type, like "8-K" or "10-K/A"')
    return " ".join(value.split()).upper()


def _cik(value: Any) -> str:
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else (
        value.strip() if isinstance(value, str) else "")
    if not (text.isascii() and text.isdigit()) or len(text) > 10 or int(text) == 0:
        raise _Bad('expected a CIK: a number of up to 10 digits, like 320193 or "0000320193"')
    return text.zfill(10)


def _list_of(item: Callable[[Any], Any]) -> Callable[[Any], tuple]:
    """A list whose items pass `item`; duplicates dropped, order kept."""
    def check(value: Any) -> tuple:
        if not isinstance(value, list):
            raise _Bad('expected a list, like ["a", "b"]')
        out: list = []
        for i, raw in enumerate(value):
            checked = _within(f"[{i}]", item, raw)
            if checked not in out:
                out.append(checked)
        return tuple(out)
    return check


def _rates(value: Any) -> dict[str, float]:
    if not isinstance(value, dict):
        raise _Bad('expected a table of host = requests per second, like { "sec.gov" = 10 }')
    return {host.lower(): _within(f".{json.dumps(host)}", _number(positive=False), rate)
            for host, rate in value.items()}


_CRON_MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
_MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)}
_DAYS = {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
_CRON_FIELDS = (("minute", 0, 59, {}), ("hour", 0, 23, {}), ("day of month", 1, 31, {}),
                ("month", 1, 12, _MONTHS), ("day of week", 0, 7, _DAYS))
_SCHEDULE = ('expected a cron expression of 5 fields (minute hour day-of-month month '
             'day-of-week), like "30 22 * * 1-5"; or an interval in seconds greater than 0; '
             'or false (never)')


def _cron(text: str) -> str:
    """Check a standard 5-field cron expression (or an @macro): numbers, names (jan, mon), `*`,
    ranges, lists and steps; not the L, W, # or ? extensions."""
    if text.strip().lower() in _CRON_MACROS:
        return text.strip().lower()
    parts = text.split()
    if len(parts) != 5:
        raise _Bad(f"{_SCHEDULE}; this one has {len(parts)} fields")
    for part, (name, low, high, names) in zip(parts, _CRON_FIELDS, strict=True):
        for item in part.split(","):
            body, slash, step = item.partition("/")
            if slash and not (step.isdigit() and int(step) > 0):
                raise _Bad(f"{_SCHEDULE}; the {name} field has a bad step {item!r}")
            if body == "*":
                continue
            first, dash, last = body.partition("-")
            start = _cron_value(first, name, low, high, names)
            end = _cron_value(last, name, low, high, names) if dash else start
            if end < start:
                raise _Bad(f"{_SCHEDULE}; the {name} range {body!r} runs backwards")
    return " ".join(parts)


def _cron_value(token: str, name: str, low: int, high: int, names: dict[str, int]) -> int:
    if token.isascii() and token.isdigit() and low <= int(token) <= high:
        return int(token)
    if token.lower() in names:
        return names[token.lower()]
    raise _Bad(f"{_SCHEDULE}; {token!r} is not a {name} ({low}-{high}"
               + (", or a name like " + next(iter(names)) if names else "") + ")")


def _schedule(value: Any) -> str | int | bool:
    """A cron expression (spaces normalised), an interval in seconds, or False (never)."""
    if value is False:
        return False
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str):
        return _cron(value)
    raise _Bad(_SCHEDULE)


def _timezone(value: Any) -> str:
    text = value.strip() if isinstance(value, str) else ""
    try:
        zoneinfo.ZoneInfo(text)
    except (KeyError, ValueError, OSError):
        raise _Bad('expected an IANA time zone, like "America/New_York" or "UTC"') from None
    return text


_SECRET_NAME = re.compile(r"[a-z0-9_]+")


def _secret_name(value: Any) -> str:
    name = value.strip().lower() if isinstance(value, str) else ""
    if not _SECRET_NAME.fullmatch(name):
        raise _Bad('expected the name of a secret (letters, digits, _), like "webhook_key"')
    return name


def _port(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise _Bad("expected a TCP port number, 1-65535")
    return value


# -- from the environment: the text of a variable to the raw value its key's check reads -----------


def _env_text(text: str) -> Any:
    return text


def _env_number(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _env_flag(text: str) -> Any:
    return {"true": True, "1": True, "yes": True, "on": True,
            "false": False, "0": False, "no": False, "off": False}.get(text.strip().lower(), text)


def _env_list(text: str) -> Any:
    return [item.strip() for item in text.split(",") if item.strip()]


def _env_rates(text: str) -> Any:
    rates = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        host, eq, rate = pair.partition("=")
        if not eq or not host.strip():
            raise _Bad('expected host=rate pairs separated by commas, like '
                       '"sec.gov=10,example.com=2"')
        rates[host.strip()] = _env_number(rate.strip())
    return rates


def _env_schedule(text: str) -> Any:
    text = text.strip()
    if text.lower() in ("false", "off", "no", "never"):
        return False
    return int(text) if text.isascii() and text.isdigit() else text


def _env_refused(text: str) -> Any:
    raise _Bad("a list of tables cannot be set from the environment: use [[incidents.sinks]] "
               "in salvage.toml")


def _key(default: Any, check: Callable[[Any], Any], env: Callable[[str], Any] = _env_text) -> Any:
    """A configuration key: its default, the check that reads a raw value, how a SALVAGE_ variable's
    text becomes a raw value."""
    meta = {"check": check, "env": env}
    if isinstance(default, dict):
        return field(default_factory=dict, metadata=meta)
    return field(default=default, metadata=meta)


# -- the configuration ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CaptureConfig:
    """[capture]: how pages are fetched."""

    timeout: float = _key(30.0, _number(positive=True), _env_number)  # seconds per request
    retries: int = _key(4, _whole(0), _env_number)  # on 429/5xx/throttle pages/cut connections
    backoff: float = _key(1.0, _number(positive=False), _env_number)  # first wait, doubling
    max_retry_wait: float = _key(120.0, _number(positive=False), _env_number)  # give up past it
    default_rate: float = _key(10.0, _number(positive=False), _env_number)  # req/s a host; 0: none
    rates: dict[str, float] = _key({}, _rates, _env_rates)  # per domain (covers subdomains)


@dataclass(frozen=True)
class WarcConfig:
    """[warc]: the files captures are written to."""

    max_size: int = _key(1_000_000_000, _whole(1), _env_number)  # roll to a new file past it


@dataclass(frozen=True)
class EdgarConfig:
    """[edgar]: where EDGAR is (a local mirror works) and what scheduled ingestion takes from it."""

    archives_url: str = _key("https://www.sec.gov", _base_url)  # /Archives, /cgi-bin, index files
    data_url: str = _key("https://data.sec.gov", _base_url)  # submissions JSON, XBRL APIs
    forms: tuple[str, ...] = _key((), _list_of(_form), _env_list)  # () = every form
    ciks: tuple[str, ...] = _key((), _list_of(_cik), _env_list)  # 10-digit, for submissions JSON
    feed: bool = _key(True, _flag, _env_flag)  # poll the latest-filings Atom feed
    backfill_days: int = _key(0, _whole(0), _env_number)  # on a first run, look this far back
    recheck_days: int = _key(1, _whole(0), _env_number)  # re-fetch filings filed this recently


@dataclass(frozen=True)
class WatchConfig:
    """[watch]: web pages captured on the `watch` schedule."""

    urls: tuple[str, ...] = _key((), _list_of(_url), _env_list)
    sitemaps: tuple[str, ...] = _key((), _list_of(_url), _env_list)  # every <loc> is captured


@dataclass(frozen=True)
class DropConfig:
    """[drop]: a folder whose files are archived as `resource` records, then moved aside. Paths
    are kept as written: `folder` is relative to the home, `processed` to the folder."""

    folder: Path = _key(Path("drop"), _path)
    processed: Path = _key(Path("processed"), _path)
    settle_seconds: float = _key(2.0, _number(positive=False), _env_number)  # unchanged this long

    def folder_in(self, home: Path) -> Path:
        return Path(home) / self.folder

    def processed_in(self, home: Path) -> Path:
        return self.folder_in(home) / self.processed


@dataclass(frozen=True)
class FeedsConfig:
    """[feeds]: a folder of market-data files (LOBSTER pairs, Databento MBO CSV) imported into
    the order-book store, then moved aside. `folder` is relative to the home."""

    folder: Path = _key(Path("feeds"), _path)
    processed: Path = _key(Path("processed"), _path)
    venue: str = _key("", _text)  # "" = unknown (LOBSTER files do not say)
    settle_seconds: float = _key(2.0, _number(positive=False), _env_number)
    checkpoint_every: int = _key(100_000, _whole(1), _env_number)
    silence_seconds: float = _key(60.0, _number(positive=True), _env_number)  # a time gap
    whole_channel: bool = _key(False, _flag, _env_flag)  # files hold whole channels (sequences)


@dataclass(frozen=True)
class SchedulesConfig:
    """[schedules]: when each flow runs: a cron expression (in `timezone`), an interval in
    seconds, or False (never)."""

    timezone: str = _key("America/New_York", _timezone)  # of the cron expressions
    edgar: str | int | bool = _key("30 22 * * 1-5", _schedule, _env_schedule)  # after the close
    watch: str | int | bool = _key("0 * * * *", _schedule, _env_schedule)
    drop: str | int | bool = _key(300, _schedule, _env_schedule)
    extract: str | int | bool = _key(600, _schedule, _env_schedule)
    gaps: str | int | bool = _key(3600, _schedule, _env_schedule)  # also after every ingest
    feeds: str | int | bool = _key(300, _schedule, _env_schedule)
    # the monthly drill: weekdays 1-3 at 06:00; the flow runs on the first business day only
    drill: str | int | bool = _key("0 6 1-3 * 1-5", _schedule, _env_schedule)

    def as_dict(self) -> dict[str, str | int | bool]:
        """Each flow's schedule by name (edgar, watch, drop, extract, gaps, feeds, drill);
        False: never."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "timezone"}


@dataclass(frozen=True)
class IncidentSink:
    """Where incidents go. `file`: one JSON line per event appended to `path` (relative to the
    home); `webhook`: CloudEvents POSTed to `url`, signed with the secret named `secret` (and the
    secret named `routing_key` sent as X-Salvage-Routing-Key); `pagerduty`: Events API v2 at `url`
    with the secret named `routing_key`; `log`: a log line; `prefect`: a Prefect event. HTTP
    sinks retry `retries` times, waiting `backoff` seconds, doubling."""

    kind: str
    url: str | None = None
    path: Path | None = None
    secret: str | None = None
    routing_key: str | None = None
    retries: int | None = None  # None: 3
    backoff: float | None = None  # None: 1.0


_HTTP_RETRY = ("retries", "backoff")
_SINK_KEYS = {"webhook": ("url", "secret", "routing_key", *_HTTP_RETRY), "file": ("path",),
              "log": (), "pagerduty": ("url", "routing_key", *_HTTP_RETRY), "prefect": ()}
_SINK_CHECKS = {"url": _url, "path": _path, "secret": _secret_name, "routing_key": _secret_name,
                "retries": _whole(0), "backoff": _number(positive=False)}
_SINK_DEFAULTS = {"file": {"path": Path("incidents.jsonl")},
                  "pagerduty": {"url": "https://events.pagerduty.com/v2/enqueue"}}


def _sink(table: Any) -> IncidentSink:
    if not isinstance(table, dict):
        raise _Bad('expected a table, like { kind = "log" }')
    kind = table.get("kind", _ABSENT)
    if not isinstance(kind, str) or kind not in _SINK_KEYS:
        raise _Bad('expected kind = "file", "webhook", "pagerduty", "prefect" or "log"', ".kind",
                   kind)
    for key, value in table.items():
        if key != "kind" and key not in _SINK_KEYS[kind]:
            takes = ", ".join(_SINK_KEYS[kind]) or "nothing but kind"
            raise _Bad(f"a {kind} sink takes {takes}", f".{key}", value)
    required = {"webhook": "url", "pagerduty": "routing_key"}.get(kind)
    if required and required not in table:
        raise _Bad(f"a {kind} sink needs {required}", f".{required}", _ABSENT)
    return IncidentSink(kind, **{**_SINK_DEFAULTS.get(kind, {}), **{
        key: _within(f".{key}", _SINK_CHECKS[key], value)
        for key, value in table.items() if key != "kind"}})


_SEVERITIES = ("critical", "high", "warning", "info")


@dataclass(frozen=True)
class IncidentRule:
    """[[incidents.rules]]: the severity of incidents matching every condition given; the first
    matching rule wins, else the type's default (see storage/incidents.py)."""

    severity: str
    type: str = "*"  # a shell pattern over the incident types, like "filing.*"
    forms: tuple[str, ...] = ()  # form types; () = any
    watched: bool | None = None  # the filer is (true) or is not (false) one of [edgar] ciks
    older_than_hours: float | None = None  # the gap began to matter longer ago than this


def _incident_type(value: Any) -> str:
    from storage.findings import TYPES

    pattern = _text(value).strip()
    if not any(fnmatch.fnmatchcase(t, pattern) for t in TYPES):
        raise _Bad(f"expected an incident type or a pattern matching one ({', '.join(TYPES)})")
    return pattern


def _severity(value: Any) -> str:
    if value not in _SEVERITIES:
        raise _Bad(f"expected one of {', '.join(map(json.dumps, _SEVERITIES))}")
    return value


_RULE_CHECKS = {"severity": _severity, "type": _incident_type, "forms": _list_of(_form),
                "watched": _flag, "older_than_hours": _number(positive=False)}


def _rule(table: Any) -> IncidentRule:
    if not isinstance(table, dict):
        raise _Bad('expected a table, like { type = "filing.*", severity = "high" }')
    for key, value in table.items():
        if key not in _RULE_CHECKS:
            raise _Bad(f"a rule takes {', '.join(_RULE_CHECKS)}", f".{key}", value)
    if "severity" not in table:
        raise _Bad(f"a rule needs severity ({', '.join(_SEVERITIES)})", ".severity", _ABSENT)
    return IncidentRule(**{key: _within(f".{key}", _RULE_CHECKS[key], value)
                           for key, value in table.items()})


def _env_refused_rules(text: str) -> Any:
    raise _Bad("a list of tables cannot be set from the environment: use [[incidents.rules]] "
               "in salvage.toml")


@dataclass(frozen=True)
class IncidentsConfig:
    """[incidents]: the sinks every incident event is sent to ([[incidents.sinks]] tables) and
    the severity rules ([[incidents.rules]])."""

    sinks: tuple[IncidentSink, ...] = _key(
        (IncidentSink("file", path=Path("incidents.jsonl")), IncidentSink("log")),
        _list_of(_sink), _env_refused)
    rules: tuple[IncidentRule, ...] = _key((), _list_of(_rule), _env_refused_rules)


@dataclass(frozen=True)
class PrefectConfig:
    """[prefect]: the Prefect server the flows report to."""

    api_url: str | None = _key(None, _url)  # None: `salvage serve` starts its own server
    port: int = _key(4200, _port, _env_number)  # of the server `salvage serve` starts


_S3_OPTIONS = {"region", "scheme", "endpoint_override", "allow_bucket_creation",
               "allow_bucket_deletion", "tls_ca_file_path", "tls_verify_certificates"}
_REPLICA = ('expected "" (no replica), an absolute path, a file:///path URI, or '
            's3://bucket/prefix (options: ?region=…&endpoint_override=host:port&scheme=http)')


def _replica_uri(value: Any) -> str:
    """Where `salvage replicate` copies to, as `pyarrow.fs.FileSystem.from_uri` reads it; checked
    here without pyarrow (whose S3 parser may ask AWS for the bucket's region)."""
    if not isinstance(value, str):
        raise _Bad(_REPLICA)
    text = value.strip()
    if not text:
        return ""
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 -- a bad port raises here
    except ValueError:
        raise _Bad(_REPLICA) from None
    local = parts.scheme == "file" and not parts.netloc and not parts.query
    if (parts.scheme == "" or local) and parts.path.startswith("/"):
        return text
    if parts.scheme != "s3" or not parts.hostname:
        raise _Bad(_REPLICA)
    if parts.username is not None or parts.password is not None:
        raise _Bad("expected an s3:// URI without credentials: keep the keys in the secrets "
                   "file (replica_access_key_id, replica_secret_access_key) or in "
                   "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
    for pair in filter(None, parts.query.split("&")):
        if pair.partition("=")[0] not in _S3_OPTIONS:
            raise _Bad(f"{_REPLICA}; {pair.partition('=')[0]!r} is not an option of an s3:// "
                       f"URI (those are: {', '.join(sorted(_S3_OPTIONS))})")
    return text


@dataclass(frozen=True)
class ReplicaConfig:
    """[replica]: the second copy `salvage replicate` keeps (a path or an S3-compatible store)."""

    uri: str = _key("", _replica_uri)  # "" = no replica
    after_ingest: bool = _key(True, _flag, _env_flag)  # replicate when an ingest flow ends


@dataclass(frozen=True)
class DrillConfig:
    """[drill]: the monthly forensic drill (`salvage drill`): its sample, targets and the
    optional RFC 3161 time-stamping authority for the report's digest."""

    sample: str = _key("25", _text)  # items per scenario, or a share such as "10%"
    byte_exact_pct: float = _key(100.0, _number(positive=True), _env_number)  # filings target
    rto_seconds: float = _key(900.0, _number(positive=True), _env_number)  # for the sample
    tsa_url: str = _key("", _text)  # "" = no time stamp
    tsa_ca_file: str = _key("", _text)  # the TSA's CA certificate, to verify its tokens


_SECTIONS: dict[str, type] = {
    "capture": CaptureConfig, "warc": WarcConfig, "edgar": EdgarConfig, "watch": WatchConfig,
    "drop": DropConfig, "feeds": FeedsConfig, "schedules": SchedulesConfig,
    "incidents": IncidentsConfig, "prefect": PrefectConfig, "replica": ReplicaConfig,
    "drill": DrillConfig,
}


@dataclass(frozen=True)
class Config:
    """The effective configuration, built by `load_config` (`Config()` holds the defaults)."""

    home: Path = _key(Path("salvage-data"), _path)
    user_agent: str = _key(DEFAULT_USER_AGENT, _text)
    secrets_file: Path | None = _key(None, _path)  # None: <home>/secrets.toml when it exists
    capture: CaptureConfig = field(default_factory=CaptureConfig)
    warc: WarcConfig = field(default_factory=WarcConfig)
    edgar: EdgarConfig = field(default_factory=EdgarConfig)
    watch: WatchConfig = field(default_factory=WatchConfig)
    drop: DropConfig = field(default_factory=DropConfig)
    feeds: FeedsConfig = field(default_factory=FeedsConfig)
    schedules: SchedulesConfig = field(default_factory=SchedulesConfig)
    incidents: IncidentsConfig = field(default_factory=IncidentsConfig)
    prefect: PrefectConfig = field(default_factory=PrefectConfig)
    replica: ReplicaConfig = field(default_factory=ReplicaConfig)
    drill: DrillConfig = field(default_factory=DrillConfig)
    path: Path | None = None  # the salvage.toml read; None when there was none
    origins: Mapping[str, str] = field(default_factory=dict, repr=False)  # dotted key -> origin
    warnings: tuple[str, ...] = ()  # to show the user (a secrets file others can read)
    _secrets: Mapping[str, tuple[str, str]] = field(default_factory=dict, repr=False)

    def secret(self, name: str) -> str | None:
        """The secret `name` (any case): `$SALVAGE_SECRET_<NAME>`, else the secrets file."""
        found = self._secrets.get(name.lower())
        return found[0] if found else None

    def capture_settings(self) -> CaptureSettings:
        from archive.capture import CaptureSettings  # requests and pyarrow load only when needed

        c = self.capture
        return CaptureSettings(
            user_agent=self.user_agent, timeout=c.timeout, retries=c.retries, backoff=c.backoff,
            max_retry_wait=c.max_retry_wait, rates=dict(c.rates), default_rate=c.default_rate,
            max_warc_size=self.warc.max_size)

    def incident_settings(self) -> IncidentSettings:
        """What `storage.incidents.IncidentStore` needs: sinks, severity rules, the watched CIKs
        ([edgar] ciks) and these secrets."""
        from storage.incidents import IncidentSettings, SeverityRule
        from storage.sinks import SinkSpec

        return IncidentSettings(
            sinks=tuple(SinkSpec(**_fields(s)) for s in self.incidents.sinks),
            rules=tuple(SeverityRule(**_fields(r)) for r in self.incidents.rules),
            watched_ciks=frozenset(self.edgar.ciks), secret=self.secret)

    def as_dict(self) -> dict[str, Any]:
        """The effective values, shaped like salvage.toml (JSON-ready; None where unset). Holds
        no secret."""
        out: dict[str, Any] = {f.name: _plain(getattr(self, f.name)) for f in _keys(Config)}
        for section in _SECTIONS:
            part = getattr(self, section)
            out[section] = {f.name: _plain(getattr(part, f.name)) for f in fields(part)}
        return out

    def report(self) -> dict[str, Any]:
        """What `salvage config show --json` prints: the values, where each came from, the secrets
        masked, and warnings."""
        return {
            "path": str(self.path) if self.path else None,
            "config": self.as_dict(),
            "origins": dict(self.origins),
            "secrets": {name: {"value": mask(value), "origin": origin}
                        for name, (value, origin) in sorted(self._secrets.items())},
            "warnings": list(self.warnings),
        }

    def to_toml(self) -> str:
        """The effective configuration as TOML, each value followed by where it came from
        (default, file, env VARIABLE, --home); secrets masked, in comments."""
        lines = [f"# configuration file: {self.path}" if self.path
                 else "# no configuration file: defaults and the environment"]
        lines += [self._toml_line(f.name, getattr(self, f.name), f.name) for f in _keys(Config)]
        for section in _SECTIONS:
            part = getattr(self, section)
            lines += ["", f"[{section}]"]
            for f in sorted(fields(part), key=lambda f: _tables(getattr(part, f.name))):
                value, dotted = getattr(part, f.name), f"{section}.{f.name}"
                if _tables(value):  # [[tables]] last: a key after them would belong to them
                    for item in value:
                        lines += ["", f"[[{dotted}]]  # {self.origins.get(dotted, 'default')}"]
                        lines += [f"{k} = {_toml(v)}" for k, v in _plain(item).items()]
                else:
                    lines.append(self._toml_line(f.name, value, dotted))
        lines += ["", "# secrets (masked):"]
        lines += [f"#   {name} = {_toml(mask(value))}  # {origin}"
                  for name, (value, origin) in sorted(self._secrets.items())] or ["#   none"]
        return "\n".join(lines) + "\n"

    def _toml_line(self, key: str, value: Any, dotted: str) -> str:
        origin = self.origins.get(dotted, "default")
        if value is None:
            return f"# {key} is not set: {_UNSET[dotted]}  # {origin}"
        return f"{f'{key} = {_toml(_plain(value))}':<44}  # {origin}"


_UNSET = {"secrets_file": f"<home>/{SECRETS_FILE_NAME} is read when it exists",
          "prefect.api_url": "salvage serve starts its own Prefect server"}


def mask(secret: str) -> str:
    """`****` and, for a secret of 12 characters or more, its last 2: enough to tell two apart."""
    return "****" + secret[-2:] if len(secret) >= 12 else "****"


def _tables(value: Any) -> bool:
    return bool(value) and isinstance(value, tuple) and dataclasses.is_dataclass(value[0])


def _fields(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


def _keys(cls: type) -> list[dataclasses.Field]:
    return [f for f in fields(cls) if "check" in f.metadata]


def _default(f: dataclasses.Field) -> Any:
    return f.default_factory() if f.default is dataclasses.MISSING else f.default


def _plain(value: Any) -> Any:
    """A typed value as TOML/JSON holds it."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)
                if getattr(value, f.name) is not None}
    return value


def _toml(value: Any) -> str:
    """A value as TOML writes it (for messages and `config show`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        return json.dumps(str(value), ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict) and not value:
        return "{}"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return repr(value)


# -- loading --------------------------------------------------------------------------------------


def load_config(explicit: Path | None = None, *, home: Path | None = None,
                environ: Mapping[str, str] | None = None) -> Config:
    """Read and check the configuration: each key's default, overridden by the file, overridden by
    its `SALVAGE_*` variable; `home` (the `--home` option) overrides the home. A missing default
    file is no file. `environ` defaults to the process environment."""
    environ = os.environ if environ is None else environ
    path, data = _read_file(explicit, environ)
    overrides = _overrides(environ)
    origins: dict[str, str] = {}

    def read(cls: type, section: str) -> dict[str, Any]:
        table = data.get(section, {}) if section else data
        return {f.name: _value(f, f"{section}.{f.name}" if section else f.name, table,
                               overrides, path, origins) for f in _keys(cls)}

    top = read(Config, "")
    if home:
        top["home"], origins["home"] = Path(home), "--home"
    parts = {section: cls(**read(cls, section)) for section, cls in _SECTIONS.items()}
    root: Path = top["home"]
    secrets_file = top["secrets_file"]
    if secrets_file is None and (root / SECRETS_FILE_NAME).is_file():
        secrets_file = top["secrets_file"] = root / SECRETS_FILE_NAME
    secrets, warnings = _read_secrets(secrets_file, _where(origins, "secrets_file", path))
    secrets.update(_environment_secrets(environ))
    _check_sink_secrets(parts["incidents"].sinks, secrets, secrets_file or root / SECRETS_FILE_NAME,
                        _where(origins, "incidents.sinks", path))
    return Config(**top, **parts, path=path, origins=origins, warnings=tuple(warnings),
                  _secrets=secrets)


def resolve_home(cli_home: Path | None, config: Config) -> Path:
    """`--home`, else the configuration's home: `SALVAGE_HOME`, else `home`, else ./salvage-data."""
    return Path(cli_home) if cli_home else config.home


def _read_file(explicit: Path | None, environ: Mapping[str, str]) -> tuple[Path | None, dict]:
    named = environ.get(CONFIG_VARIABLE)
    path = Path(explicit) if explicit else Path(named) if named else Path("salvage.toml")
    if not path.exists():
        if explicit or named:
            how = "--config" if explicit else CONFIG_VARIABLE
            raise ConfigError(f"configuration file {path} (from {how}) does not exist")
        return None, {}
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    top = [f.name for f in _keys(Config)]
    for key, value in data.items():
        if key in _SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: {key} = {_toml(value)}: expected a table [{key}]")
            known = [f.name for f in fields(_SECTIONS[key])]
            for sub in value:
                if sub not in known:
                    raise ConfigError(f"{path}: unknown key {key}.{sub}; the keys of [{key}] are: "
                                      f"{', '.join(known)}")
        elif key not in top:
            raise ConfigError(f"{path}: unknown key {key}; the top-level keys are: "
                              f"{', '.join(top)}; the sections: {', '.join(_SECTIONS)}")
    return path, data


def _overrides(environ: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """The `SALVAGE_*` variables that set keys, by dotted key: (variable, text). SALVAGE_CONFIG and
    SALVAGE_SECRET_* are not keys; any other SALVAGE_ variable must name a key, so a typo is an
    error rather than a setting silently ignored. An empty variable counts as unset."""
    found = {}
    for var, text in environ.items():
        if (not var.startswith(ENV_PREFIX) or var == CONFIG_VARIABLE
                or var.startswith(SECRET_PREFIX)):
            continue
        section, sep, key = var[len(ENV_PREFIX):].lower().partition("__")
        if not sep:
            section, key = "", section
        cls = _SECTIONS.get(section, Config if not section else None)
        if cls is None or key not in [f.name for f in _keys(cls)]:
            raise ConfigError(_unknown_variable(var, section, key))
        if text:
            found[f"{section}.{key}" if section else key] = (var, text)
    return found


def _unknown_variable(var: str, section: str, key: str) -> str:
    if section in _SECTIONS:
        names = [f.name for f in _keys(_SECTIONS[section])]
        return (f"environment variable {var}: [{section}] has no key {key!r}; its keys are: "
                f"{', '.join(names)} (set as {ENV_PREFIX}{section.upper()}__<KEY>)")
    if section:
        return (f"environment variable {var}: there is no section [{section}]; the sections are: "
                f"{', '.join(_SECTIONS)} (set a key as {ENV_PREFIX}<SECTION>__<KEY>)")
    if key in _SECTIONS:
        first = _keys(_SECTIONS[key])[0].name.upper()
        return (f"environment variable {var}: [{key}] is a section; set one of its keys, like "
                f"{ENV_PREFIX}{key.upper()}__{first}")
    top = ", ".join(ENV_PREFIX + f.name.upper() for f in _keys(Config))
    return (f"environment variable {var} is not a Salvage setting; the top-level keys are {top}; "
            f"a key of a section is {ENV_PREFIX}<SECTION>__<KEY> (sections: "
            f"{', '.join(_SECTIONS)}); also {CONFIG_VARIABLE} (the configuration file) and "
            f"{SECRET_PREFIX}<NAME> (a secret)")


def _value(f: dataclasses.Field, dotted: str, table: dict, overrides: dict,
           path: Path | None, origins: dict[str, str]) -> Any:
    check = f.metadata["check"]
    if dotted in overrides:
        var, text = overrides[dotted]
        origins[dotted], source = f"env {var}", f"environment variable {var}"
        try:
            raw = f.metadata["env"](text)
        except _Bad as exc:
            raise ConfigError(f"{source}: {dotted} = {_toml(text)}: {exc.expected}") from None
    elif f.name in table:
        origins[dotted], source, raw = "file", str(path), table[f.name]
    else:
        origins[dotted] = "default"
        return _default(f)
    try:
        return check(raw)
    except _Bad as exc:
        raise ConfigError(_refusal(source, dotted, raw, exc)) from None


def _refusal(source: str, dotted: str, raw: Any, exc: _Bad) -> str:
    key = dotted + exc.at
    culprit = raw if exc.value is _SAME else exc.value
    if culprit is _ABSENT:
        return f"{source}: {key} is missing: {exc.expected}"
    return f"{source}: {key} = {_toml(culprit)}: {exc.expected}"


def _where(origins: dict[str, str], dotted: str, path: Path | None) -> str:
    origin = origins.get(dotted, "default")
    return str(path) if origin == "file" else (
        "environment variable " + origin[4:] if origin.startswith("env ") else origin)


def _read_secrets(path: Path | None, named_by: str) -> tuple[dict[str, tuple[str, str]], list]:
    """The secrets file: TOML of name = "value". Its values never appear in a message. A file that
    group or others can read is used, with a warning."""
    if path is None:
        return {}, []
    if not path.is_file():
        raise ConfigError(f"{named_by}: secrets_file = {_toml(path)}: no such file")
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read secrets file {path}: {exc}") from exc
    secrets = {}
    for name, value in data.items():
        if not _SECRET_NAME.fullmatch(name.lower()):
            raise ConfigError(f"secrets file {path}: {name!r} is not a secret's name "
                              f"(letters, digits, _)")
        if not isinstance(value, str) or not value:
            raise ConfigError(f"secrets file {path}: {name} must be a non-empty string "
                              f"(its value is not shown)")
        secrets[name.lower()] = (value, f"secrets file {path}")
    warnings = []
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        warnings.append(f"secrets file {path} can be read by group or others (mode {mode:o}): "
                        f"chmod 600 {path}")
    return secrets, warnings


def _environment_secrets(environ: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    secrets = {}
    for var, value in environ.items():
        if var.startswith(SECRET_PREFIX) and value:
            name = var[len(SECRET_PREFIX):].lower()
            if not _SECRET_NAME.fullmatch(name):
                raise ConfigError(f"environment variable {var}: a secret's name after "
                                  f"{SECRET_PREFIX} is letters, digits and _ (its value is not "
                                  f"shown)")
            secrets[name] = (value, f"env {var}")
    return secrets


def _check_sink_secrets(sinks: tuple[IncidentSink, ...], secrets: Mapping[str, Any],
                        secrets_file: Path, source: str) -> None:
    for i, sink in enumerate(sinks):
        for attr in ("secret", "routing_key"):
            name = getattr(sink, attr)
            if name and name not in secrets:
                raise ConfigError(
                    f"{source}: incidents.sinks[{i}].{attr} = {_toml(name)}: there is no secret "
                    f"named {name}; set {SECRET_PREFIX}{name.upper()} or add {name} = \"...\" to "
                    f"{secrets_file}")
