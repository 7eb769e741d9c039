"""The configuration: salvage.toml, SALVAGE_* overrides, --home, secrets, `salvage config show`."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from conftest import salvage

from archive.capture import CaptureSettings
from flows.config import ConfigError, load_config

FULL = """
home = "data"
user_agent = "Example Capital research@example.com"

[capture]
timeout = 12.5
retries = 2
backoff = 0.5
max_retry_wait = 30
default_rate = 0
rates = { "SEC.gov" = 8, "example.com" = 2 }

[warc]
max_size = 5000000

[edgar]
archives_url = "http://127.0.0.1:8000/"
data_url = "http://127.0.0.1:8001"
forms = ["8-k", " 10-K/A ", "8-K"]
ciks = [320193, "0000789019", "  1318605 "]
feed = false
backfill_days = 3

[watch]
urls = ["https://example.com/ir/", "http://example.org/notice?id=7"]
sitemaps = ["https://example.com/sitemap.xml"]

[drop]
folder = "inbox"
processed = "done"
settle_seconds = 0.5

[schedules]
timezone = "UTC"
edgar = "0 6 * * mon-fri"
watch = 900
drop = false
extract = "@hourly"

[[incidents.sinks]]
kind = "webhook"
url = "https://alerts.example.com/hook"
secret = "webhook_key"
routing_key = "PD_Key"

[[incidents.sinks]]
kind = "file"
path = "incidents.jsonl"

[[incidents.sinks]]
kind = "log"

[prefect]
api_url = "http://prefect.internal:4200/api"
port = 4300
"""

LONG_SECRET = "whsec-7f3a9c1e5b2d8f4a6c0e"
ROUTING_SECRET = "R0UT1NG-KEY-abcdef123456"


def write(tmp_path: Path, text: str, name: str = "salvage.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def refusal(tmp_path: Path, text: str, environ: dict | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), environ=environ or {})
    return str(caught.value)


def secrets_env() -> dict[str, str]:
    return {"SALVAGE_SECRET_WEBHOOK_KEY": LONG_SECRET, "SALVAGE_SECRET_PD_KEY": ROUTING_SECRET}


# -- the file ---------------------------------------------------------------------------------


def test_no_file_means_every_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config(environ={})
    assert config.path is None
    assert config.home == Path("salvage-data")
    assert config.capture_settings() == CaptureSettings()  # one set of defaults
    assert config.edgar.archives_url == "https://www.sec.gov"
    assert config.edgar.data_url == "https://data.sec.gov"
    assert config.edgar.forms == () and config.edgar.ciks == () and config.edgar.feed is True
    assert config.watch.urls == () and config.drop.settle_seconds == 2
    assert config.drop.folder_in(config.home) == Path("salvage-data/drop")
    assert config.drop.processed_in(Path("/h")) == Path("/h/drop/processed")
    assert config.schedules.as_dict() == {"edgar": "30 22 * * 1-5", "watch": "0 * * * *",
                                          "drop": 300, "extract": 600, "gaps": 3600,
                                          "feeds": 300, "drill": "0 6 1-3 * 1-5"}
    assert config.schedules.timezone == "America/New_York"
    assert [s.kind for s in config.incidents.sinks] == ["file", "log"]
    assert config.incidents.sinks[0].path == Path("incidents.jsonl")
    assert config.incidents.rules == ()
    assert config.prefect.api_url is None and config.prefect.port == 4200
    assert config.secrets_file is None and config.secret("webhook_key") is None
    assert set(config.origins.values()) == {"default"}


def test_every_section_is_read_and_normalised(tmp_path):
    config = load_config(write(tmp_path, FULL), environ=secrets_env())
    assert config.home == Path("data")
    settings = config.capture_settings()
    assert settings.user_agent == "Example Capital research@example.com"
    assert (settings.timeout, settings.retries, settings.backoff) == (12.5, 2, 0.5)
    assert settings.rates == {"sec.gov": 8, "example.com": 2} and settings.default_rate == 0
    assert settings.max_warc_size == 5_000_000
    edgar = config.edgar
    assert edgar.archives_url == "http://127.0.0.1:8000"  # a base: no trailing /
    assert edgar.forms == ("8-K", "10-K/A")
    assert edgar.ciks == ("0000320193", "0000789019", "0001318605")
    assert (edgar.feed, edgar.backfill_days) == (False, 3)
    assert config.watch.urls == ("https://example.com/ir/", "http://example.org/notice?id=7")
    assert config.drop.processed_in(Path("/h")) == Path("/h/inbox/done")
    assert config.schedules.as_dict() == {"edgar": "0 6 * * mon-fri", "watch": 900,
                                          "drop": False, "extract": "@hourly",
                                          "gaps": 3600, "feeds": 300,
                                          "drill": "0 6 1-3 * 1-5"}
    webhook, file, log = config.incidents.sinks
    assert (webhook.kind, webhook.url, webhook.secret, webhook.routing_key) == \
        ("webhook", "https://alerts.example.com/hook", "webhook_key", "pd_key")
    assert (file.kind, file.path, log.kind) == ("file", Path("incidents.jsonl"), "log")
    assert config.prefect.api_url == "http://prefect.internal:4200/api"
    assert config.prefect.port == 4300
    assert config.origins["edgar.ciks"] == "file" and config.origins["watch.sitemaps"] == "file"


@pytest.mark.parametrize(("text", "named"), [
    ('[capture]\nretries = "three"\n', ['capture.retries = "three"', "whole number"]),
    ("[capture]\ntimeout = 0\n", ["capture.timeout = 0", "greater than 0"]),
    ('[capture]\nrates = { "sec.gov" = "fast" }\n', ['capture.rates."sec.gov" = "fast"']),
    ("[warc]\nmax_size = -1\n", ["warc.max_size = -1"]),
    ('[edgar]\narchives_url = "ftp://mirror.example.com"\n',
     ['edgar.archives_url = "ftp://mirror.example.com"', "http:// or https://"]),
    ('[edgar]\ndata_url = "https://data.sec.gov/?x=1"\n', ["edgar.data_url", "base URL"]),
    ('[edgar]\nciks = [320193, "AAPL"]\n', ['edgar.ciks[1] = "AAPL"', "CIK"]),
    ("[edgar]\nciks = [12345678901]\n", ["edgar.ciks[0] = 12345678901", "10 digits"]),
    ('[edgar]\nforms = "8-K"\n', ['edgar.forms = "8-K"', "list"]),
    ('[edgar]\nfeed = "yes"\n', ['edgar.feed = "yes"', "true or false"]),
    ('[watch]\nurls = ["example.com/ir"]\n', ['watch.urls[0] = "example.com/ir"']),
    ('[watch]\nsitemaps = ["https://u:pw@example.com/s.xml"]\n', ["watch.sitemaps[0]", "password"]),
    ("[drop]\nsettle_seconds = -1\n", ["drop.settle_seconds = -1"]),
    ("[prefect]\nport = 70000\n", ["prefect.port = 70000", "1-65535"]),
    ('[prefect]\napi_url = "localhost:4200"\n', ['prefect.api_url = "localhost:4200"']),
    ('[[incidents.sinks]]\nkind = "pager"\n', ['incidents.sinks[0].kind = "pager"', "webhook"]),
    ('[[incidents.sinks]]\nkind = "webhook"\n', ["incidents.sinks[0].url is missing"]),
    ('[[incidents.sinks]]\nkind = ["log"]\n', ['incidents.sinks[0].kind = ["log"]']),
    ('[[incidents.sinks]]\nkind = "log"\n[[incidents.sinks]]\nkind = "file"\nurl = "http://x"\n',
     ['incidents.sinks[1].url = "http://x"', "a file sink takes path"]),
    ('[capture]\nretrys = 3\n', ["capture.retrys", "retries, backoff"]),
    ('colour = "blue"\n', ["unknown key colour", "user_agent", "edgar"]),
    ('capture = 3\n', ["capture = 3", "table [capture]"]),
    ("home = 7\n", ["home = 7", "string"]),
])
def test_a_bad_value_is_refused_naming_file_key_value_and_expectation(tmp_path, text, named):
    message = refusal(tmp_path, text)
    assert str(tmp_path / "salvage.toml") in message
    for fragment in named:
        assert fragment in message


def test_a_missing_named_file_is_refused_but_a_missing_default_is_not(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_config(environ={}).path is None
    with pytest.raises(ConfigError, match="nowhere.toml.*--config"):
        load_config(tmp_path / "nowhere.toml", environ={})
    with pytest.raises(ConfigError, match="SALVAGE_CONFIG"):
        load_config(environ={"SALVAGE_CONFIG": str(tmp_path / "nowhere.toml")})
    write(tmp_path, "[warc]\nmax_size = 10\n", "other.toml")
    assert load_config(environ={"SALVAGE_CONFIG": "other.toml"}).warc.max_size == 10


# -- schedules --------------------------------------------------------------------------------


CRONS = ["30 22 * * 1-5", "*/15 9-17 * * MON-FRI", "0 0 1,15 * *", "5 4 * jan,jul sun",
         "0 12 * * 7", "@daily", "0-30/10 * * * *", "0  6  *  *  *"]


@pytest.mark.parametrize("cron", CRONS)
def test_a_cron_schedule_we_accept_is_one_prefect_accepts(tmp_path, cron):
    from prefect.schedules import Cron

    config = load_config(write(tmp_path, f'[schedules]\nedgar = "{cron}"\n'), environ={})
    assert config.schedules.edgar == " ".join(cron.split())
    Cron(config.schedules.edgar, timezone=config.schedules.timezone)  # raises if Prefect refuses


@pytest.mark.parametrize(("value", "named"), [
    ('"61 * * * *"', "'61' is not a minute (0-59)"),
    ('"* * * *"', "this one has 4 fields"),
    ('"0 0 * * * *"', "this one has 6 fields"),
    ('"0 0 L * *"', "'L' is not a day of month"),
    ('"0 0 * foo *"', "'foo' is not a month"),
    ('"*/0 * * * *"', "bad step"),
    ('"0 17-9 * * *"', "runs backwards"),
    ("0", "interval in seconds greater than 0"),
    ("true", "or false (never)"),
    ("1.5", "cron expression of 5 fields"),
])
def test_a_bad_schedule_is_refused_with_what_is_expected(tmp_path, value, named):
    message = refusal(tmp_path, f"[schedules]\nwatch = {value}\n")
    assert f"schedules.watch = {value}" in message and named in message


def test_a_bad_timezone_is_refused(tmp_path):
    message = refusal(tmp_path, '[schedules]\ntimezone = "Mars/Olympus_Mons"\n')
    assert 'schedules.timezone = "Mars/Olympus_Mons"' in message and "IANA" in message


# -- the environment --------------------------------------------------------------------------


def test_environment_variables_override_the_file(tmp_path):
    path = write(tmp_path, FULL)
    config = load_config(path, environ={
        **secrets_env(),
        "SALVAGE_USER_AGENT": "Other Desk desk@example.com",
        "SALVAGE_CAPTURE__RETRIES": "7",
        "SALVAGE_CAPTURE__TIMEOUT": "2.5",
        "SALVAGE_CAPTURE__RATES": "sec.gov=5, example.org=1",
        "SALVAGE_EDGAR__ARCHIVES_URL": "http://127.0.0.1:9000",
        "SALVAGE_EDGAR__FORMS": "8-K, 10-K,",
        "SALVAGE_EDGAR__CIKS": "320193,789019",
        "SALVAGE_EDGAR__FEED": "yes",
        "SALVAGE_SCHEDULES__EDGAR": "false",
        "SALVAGE_SCHEDULES__DROP": "60",
        "SALVAGE_SCHEDULES__WATCH": "15 * * * *",
        "SALVAGE_PREFECT__PORT": "",  # empty: unset, the file's value stays
    })
    assert config.user_agent == "Other Desk desk@example.com"
    assert config.capture.retries == 7 and config.capture.timeout == 2.5
    assert config.capture.rates == {"sec.gov": 5, "example.org": 1}
    assert config.edgar.archives_url == "http://127.0.0.1:9000"
    assert config.edgar.data_url == "http://127.0.0.1:8001"  # not overridden: the file's
    assert config.edgar.forms == ("8-K", "10-K")
    assert config.edgar.ciks == ("0000320193", "0000789019")
    assert config.edgar.feed is True
    assert config.schedules.as_dict() == {"edgar": False, "watch": "15 * * * *", "drop": 60,
                                          "extract": "@hourly", "gaps": 3600, "feeds": 300,
                                          "drill": "0 6 1-3 * 1-5"}
    assert config.prefect.port == 4300
    assert config.origins["capture.retries"] == "env SALVAGE_CAPTURE__RETRIES"
    assert config.origins["edgar.data_url"] == "file"
    assert config.origins["prefect.port"] == "file"


@pytest.mark.parametrize(("var", "text", "named"), [
    ("SALVAGE_CAPTURE__RETRIES", "three", 'capture.retries = "three"'),
    ("SALVAGE_EDGAR__CIKS", "320193,AAPL", 'edgar.ciks[1] = "AAPL"'),
    ("SALVAGE_EDGAR__FEED", "sometimes", 'edgar.feed = "sometimes"'),
    ("SALVAGE_WARC__MAX_SIZE", "1.5", "warc.max_size = 1.5"),
    ("SALVAGE_CAPTURE__RATES", "sec.gov:10", "host=rate pairs"),
    ("SALVAGE_SCHEDULES__EXTRACT", "every hour", "schedules.extract"),
    ("SALVAGE_INCIDENTS__SINKS", "log", "[[incidents.sinks]] in salvage.toml"),
])
def test_a_bad_environment_value_names_the_variable(tmp_path, monkeypatch, var, text, named):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_config(environ={var: text})
    assert f"environment variable {var}" in str(caught.value) and named in str(caught.value)


@pytest.mark.parametrize(("var", "named"), [
    ("SALVAGE_CAPTURE__RETRYS", "[capture] has no key 'retrys'; its keys are: timeout, retries"),
    ("SALVAGE_EGDAR__FORMS", "no section [egdar]; the sections are: capture, warc, edgar"),
    ("SALVAGE_USERAGENT", "SALVAGE_USER_AGENT"),
    ("SALVAGE_EDGAR", "[edgar] is a section; set one of its keys, like SALVAGE_EDGAR__"),
    ("SALVAGE_CAPTURE__RATES__SEC_GOV", "no key 'rates__sec_gov'"),
])
def test_an_unknown_salvage_variable_is_refused_not_ignored(tmp_path, monkeypatch, var, named):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_config(environ={var: "1"})
    assert var in str(caught.value) and named in str(caught.value)


def test_config_and_secret_variables_are_not_keys(tmp_path):
    path = write(tmp_path, "")
    config = load_config(environ={"SALVAGE_CONFIG": str(path), "SALVAGE_SECRET_ANYTHING": "x"})
    assert config.path == path and config.secret("anything") == "x"


# -- the home ---------------------------------------------------------------------------------


def show(tmp_path: Path, *args: str, env: dict | None = None) -> dict:
    r = salvage(*args, "config", "show", "--json", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_home_is_the_flag_then_the_environment_then_the_file_then_the_default(tmp_path):
    assert show(tmp_path)["config"]["home"] == "salvage-data"
    write(tmp_path, 'home = "from-file"\n')
    report = show(tmp_path)
    assert (report["config"]["home"], report["origins"]["home"]) == ("from-file", "file")
    env = {"SALVAGE_HOME": "from-env"}
    report = show(tmp_path, env=env)
    assert (report["config"]["home"], report["origins"]["home"]) == \
        ("from-env", "env SALVAGE_HOME")
    report = show(tmp_path, "--home", "from-flag", env=env)
    assert (report["config"]["home"], report["origins"]["home"]) == ("from-flag", "--home")


def test_config_show_needs_no_file_and_creates_no_home(tmp_path):
    r = salvage("config", "show", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "# no configuration file" in r.stdout
    assert 'archives_url = "https://www.sec.gov"' in r.stdout
    assert not (tmp_path / "salvage-data").exists()


def test_config_show_prints_toml_annotated_with_each_origin(tmp_path):
    write(tmp_path, FULL)
    env = {**secrets_env(), "SALVAGE_CAPTURE__RETRIES": "9"}
    r = salvage("--home", str(tmp_path / "h"), "config", "show", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert any(ln.startswith("retries = 9 ") and ln.endswith("# env SALVAGE_CAPTURE__RETRIES")
               for ln in lines)
    assert any(ln.startswith(f'home = "{tmp_path / "h"}"') and ln.endswith("# --home")
               for ln in lines)
    assert any(ln.startswith("backfill_days = 3") and ln.endswith("# file") for ln in lines)
    assert any(ln.startswith("port = 4300") for ln in lines)
    # what it prints is TOML: it reads back as the effective configuration
    printed = tomllib.loads(r.stdout)
    as_json = show(tmp_path, "--home", str(tmp_path / "h"), env=env)["config"]
    assert printed == _without_none(as_json)


def _without_none(value):
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    return value


# -- secrets ----------------------------------------------------------------------------------


def test_secrets_come_from_the_environment_before_the_file(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    secrets = write(home, f'webhook_key = "from-the-file-{LONG_SECRET}"\n'
                          f'pd_key = "{ROUTING_SECRET}"\n', "secrets.toml")
    secrets.chmod(0o600)
    path = write(tmp_path, FULL)
    config = load_config(path, home=home, environ={})
    assert config.secrets_file == home / "secrets.toml"  # the home's, found by default
    assert config.secret("webhook_key") == f"from-the-file-{LONG_SECRET}"
    assert config.secret("PD_KEY") == ROUTING_SECRET
    assert config.warnings == ()
    config = load_config(path, home=home, environ={"SALVAGE_SECRET_WEBHOOK_KEY": LONG_SECRET})
    assert config.secret("webhook_key") == LONG_SECRET
    assert LONG_SECRET not in repr(config)


def test_a_secret_a_sink_names_must_exist(tmp_path):
    message = refusal(tmp_path, FULL, environ={"SALVAGE_SECRET_WEBHOOK_KEY": LONG_SECRET})
    assert 'incidents.sinks[0].routing_key = "pd_key"' in message
    assert "SALVAGE_SECRET_PD_KEY" in message and "secrets.toml" in message


def test_a_named_secrets_file_must_exist_and_its_values_are_never_shown(tmp_path):
    message = refusal(tmp_path, 'secrets_file = "missing.toml"\n')
    assert 'secrets_file = "missing.toml"' in message and "no such file" in message
    write(tmp_path, f"webhook_key = 12345\nother = [\"{LONG_SECRET}\"]\n", "secrets.toml")
    message = refusal(tmp_path, f'secrets_file = "{tmp_path / "secrets.toml"}"\n')
    assert "webhook_key must be a non-empty string" in message and "12345" not in message
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, ""), environ={"SALVAGE_SECRET_BAD-NAME": LONG_SECRET})
    assert "SALVAGE_SECRET_BAD-NAME" in str(caught.value)
    assert LONG_SECRET not in str(caught.value)


def test_config_show_masks_every_secret_and_warns_of_a_readable_secrets_file(tmp_path):
    short = "tiny1"
    secrets = write(tmp_path, f'pd_key = "{ROUTING_SECRET}"\nshort = "{short}"\n', "s.toml")
    secrets.chmod(0o644)
    write(tmp_path, f'secrets_file = "{secrets}"\n' + FULL)
    env = {"SALVAGE_SECRET_WEBHOOK_KEY": LONG_SECRET}
    text = salvage("config", "show", cwd=tmp_path, env=env)
    as_json = salvage("config", "show", "--json", cwd=tmp_path, env=env)
    for r in (text, as_json):
        assert r.returncode == 0, r.stderr
        everything = r.stdout + r.stderr
        for secret in (LONG_SECRET, ROUTING_SECRET, short):
            assert secret not in everything
        assert "can be read by group or others" in r.stderr and "chmod 600" in r.stderr
    assert f"webhook_key = \"****{LONG_SECRET[-2:]}\"  # env SALVAGE_SECRET_WEBHOOK_KEY" \
        in text.stdout
    report = json.loads(as_json.stdout)
    assert report["secrets"] == {
        "pd_key": {"value": "****" + ROUTING_SECRET[-2:], "origin": f"secrets file {secrets}"},
        "short": {"value": "****", "origin": f"secrets file {secrets}"},
        "webhook_key": {"value": "****" + LONG_SECRET[-2:],
                        "origin": "env SALVAGE_SECRET_WEBHOOK_KEY"},
    }
    assert report["warnings"] and report["path"] == "salvage.toml"


def test_a_bad_configuration_fails_every_command_with_its_key(tmp_path):
    r = salvage("config", "show", cwd=tmp_path, env={"SALVAGE_EDGAR__BACKFILL_DAYS": "-2"})
    assert r.returncode == 1
    assert "SALVAGE_EDGAR__BACKFILL_DAYS" in r.stderr and "edgar.backfill_days = -2" in r.stderr
    r = salvage("lookup", "https://example.com/", cwd=tmp_path,
                env={"SALVAGE_CAPTURE__RETRYS": "1"})
    assert r.returncode == 1
    assert "[capture] has no key 'retrys'; its keys are: timeout, retries" in r.stderr
