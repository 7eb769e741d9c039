"""`salvage replicate`: a second copy in a folder and in an S3-compatible store (moto's server,
over HTTP on 127.0.0.1), fixity findings of damaged and missing files, and their byte-exact
restoration from the replica."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from conftest import salvage

from archive.capture import Capturer, CaptureSettings
from archive.fixity import verify
from archive.home import Home
from archive.replicate import MANIFEST, ReplicaError, replicate
from archive.restore import NO_REPLICA, fixity_findings, restore_from_replica
from archive.watch import capture_watchlist
from flows.config import ConfigError, load_config
from flows.mirror import Mirror
from storage.compact import compact

SETTINGS = CaptureSettings(user_agent="Salvage tests test@example.com", backoff=0.01, retries=1,
                           default_rate=None)
PAGES = ["investors.html", "ir/press-1.html", "ir/press-2.html"]
KEYS = {"access_key": "test", "secret_key": "test"}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x55
    path.write_bytes(bytes(data))


def _recorded(home: Home) -> dict[str, str]:
    """The SHA-256 of every closed WARC, as its `warc.closed` event recorded it."""
    return {e["file"]: e["sha256"] for e in home.audit.entries() if e["event"] == "warc.closed"}


def _events(home: Home, event: str) -> list[dict]:
    return [e for e in home.audit.entries() if e["event"] == event]


@pytest.fixture
def site(tmp_path: Path):
    folder = tmp_path / "site"
    for rel in PAGES:
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(f"<html><body><p>{rel}: quarterly results</p></body></html>")
    with Mirror(folder) as mirror:
        yield folder, mirror


def _capture(home: Home, site, note: str = "") -> None:
    """One watch run: one closed WARC, its index and captures batch, one watch_events batch."""
    folder, mirror = site
    if note:
        (folder / PAGES[0]).write_text(f"<html><body><p>{note}</p></body></html>")
    with Capturer(home, SETTINGS) as capturer:
        report = capture_watchlist(capturer, [f"{mirror.url}/{p}" for p in PAGES])
    assert not report.problems


@pytest.fixture
def captured(home: Home, site) -> Home:
    """A home with two closed WARCs (a page changed in between) and two watch_events batches."""
    _capture(home, site)
    _capture(home, site, "restated results")
    assert len(_recorded(home)) == 2
    return home


@pytest.fixture(scope="module")
def s3():
    """A real S3-compatible HTTP server (moto's) on 127.0.0.1, with one bucket."""
    from moto.server import ThreadedMotoServer
    from pyarrow import fs as pafs

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"{host}:{port}"
    pafs.S3FileSystem(endpoint_override=endpoint, scheme="http", region="us-east-1",
                      allow_bucket_creation=True, **KEYS).create_dir("replicas")
    yield endpoint
    server.stop()


def _s3_uri(endpoint: str, prefix: str) -> str:
    return f"s3://replicas/{prefix}?region=us-east-1&endpoint_override={endpoint}&scheme=http"


@pytest.fixture(autouse=True)
def _no_cloud_lookups(monkeypatch):
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never ask 169.254.169.254


# -- replicate --------------------------------------------------------------------------------


def test_a_home_is_replicated_to_a_folder_then_only_what_is_new_is_copied(captured, site,
                                                                             tmp_path):
    home, target = captured, tmp_path / "replica"
    first = replicate(home, str(target))
    assert first.ok, first.problems
    recorded = _recorded(home)
    assert set(recorded) <= set(first.copied) and "audit/log.jsonl" in first.copied
    assert {n.split("/")[0] for n in first.copied} == {"warcs", "indexes", "catalog", "audit"}
    assert not any(n.endswith(".open") for n in first.copied)
    for name in first.copied:  # the audit log has grown since, by `replica.synced`
        copy, ours = (target / name).read_bytes(), (home.root / name).read_bytes()
        assert copy == ours or name == "audit/log.jsonl" and ours.startswith(copy)
    manifest = json.loads((target / MANIFEST).read_text())["files"]
    assert {n: manifest[n]["sha256"] for n in recorded} == recorded
    synced = _events(home, "replica.synced")[-1]
    assert synced["copied"] == len(first.copied) and synced["problems"] == 0
    assert {c["file"].split("/")[1] for c in synced["catalog"]} == {"watch_events"}

    again = replicate(home, f"file://{target}")
    assert again.copied == ["audit/log.jsonl"]  # only the chain grew (by `replica.synced`)
    assert again.skipped == len(first.copied) - 1 and again.ok

    _capture(home, site, "third look")
    third = replicate(home, str(target))
    [new_warc] = set(_recorded(home)) - set(recorded)
    assert new_warc in third.copied and len(third.copied) == 5  # + index, 2 batches, audit
    assert (target / new_warc).read_bytes() == (home.root / new_warc).read_bytes()


def test_a_home_is_replicated_to_s3_and_restored_from_it(captured, s3):
    home, uri = captured, _s3_uri(s3, "first")
    report = replicate(home, uri, **KEYS)
    assert report.ok and set(_recorded(home)) <= set(report.copied)
    assert replicate(home, uri, **KEYS).copied == ["audit/log.jsonl"]
    name = sorted(_recorded(home))[0]
    (home.root / name).unlink()
    [finding] = fixity_findings(home, uri, **KEYS)
    assert finding.entity == name and "recoverable" in finding.evidence["recovery"]
    restored = restore_from_replica(home, uri, [finding], **KEYS)
    assert restored.ok, restored.unrecoverable
    assert [r.file for r in restored.restored] == [name]
    assert _sha(home.root / name) == _recorded(home)[name]
    assert verify(home).ok


def test_a_damaged_warc_is_not_replicated_and_a_conflicting_replica_copy_is_kept(captured,
                                                                                  tmp_path):
    home, target = captured, tmp_path / "replica"
    first, second = sorted(_recorded(home))
    _flip(home.root / first, (home.root / first).stat().st_size // 2)
    report = replicate(home, str(target))
    assert [(p.file, p.kind) for p in report.problems] == [(first, "local-damaged")]
    assert not (target / first).exists() and (target / second).exists()
    assert _events(home, "replica.synced")[-1]["problems"] == 1

    manifest = json.loads((target / MANIFEST).read_text())
    manifest["files"][second]["sha256"] = "0" * 64  # the replica vouches for another file
    (target / MANIFEST).write_text(json.dumps(manifest))
    before = (target / second).read_bytes()
    again = replicate(home, str(target))
    assert (second, "replica-conflict") in [(p.file, p.kind) for p in again.problems]
    assert (target / second).read_bytes() == before


def test_damaged_and_missing_files_are_found_then_restored_byte_exact(captured, tmp_path):
    home, target = captured, str(tmp_path / "replica")
    assert replicate(home, target).ok
    [merge] = [r for r in compact(home.catalog, home.audit) if r.merged]
    assert merge.table == "watch_events" and merge.replaced == 2
    assert fixity_findings(home) == []  # the files the compaction replaced are not "gone"
    assert replicate(home, target).ok  # sends the merged file; the replaced ones stay there

    damaged, deleted = sorted(_recorded(home))
    merged = f"catalog/watch_events/{merge.merged[0]}"
    batch = f"catalog/captures/{home.batch_id(deleted)}.parquet"
    original = (home.root / damaged).read_bytes()
    _flip(home.root / damaged, len(original) // 2)
    for name in (deleted, merged, batch):
        (home.root / name).unlink()

    findings = fixity_findings(home)
    assert {f.entity for f in findings} == {damaged, deleted, merged, batch}
    assert all(f.type == "archive.fixity" and f.evidence["recovery"] == NO_REPLICA
               for f in findings)
    closed = {e["file"]: e["time"][:10] for e in _events(home, "warc.closed")}
    by_entity = {f.entity: f for f in findings}
    assert by_entity[damaged].period == closed[damaged]
    assert by_entity[damaged].evidence["recorded_sha256"] == _recorded(home)[damaged]
    assert "file-sha256" in {p["kind"] for p in by_entity[damaged].evidence["problems"]}

    alone = restore_from_replica(home, None, findings)
    assert not alone.ok and not alone.restored
    assert {u.file for u in alone.unrecoverable} == {damaged, deleted, merged, batch}
    assert all("no replica" in u.reason for u in alone.unrecoverable)

    report = restore_from_replica(home, target, findings)
    assert report.ok, report.unrecoverable
    assert {r.file for r in report.restored} == {damaged, deleted, merged, batch}
    for name, sha in _recorded(home).items():
        assert _sha(home.root / name) == sha
    assert (home.root / damaged).read_bytes() == original
    [kept] = [r.quarantined for r in report.restored if r.quarantined]
    assert kept.startswith("quarantine/") and (home.root / kept).read_bytes() != original
    assert len((home.root / kept).read_bytes()) == len(original)
    assert {e["file"] for e in _events(home, "replica.restored")} == set(by_entity)
    assert verify(home).ok and fixity_findings(home) == []


def test_a_replica_whose_copy_is_also_damaged_is_refused(captured, tmp_path):
    home, target = captured, tmp_path / "replica"
    assert replicate(home, str(target)).ok
    name = sorted(_recorded(home))[0]
    for root in (home.root, target):
        _flip(root / name, (root / name).stat().st_size // 3)
    damaged = (home.root / name).read_bytes()
    [finding] = fixity_findings(home, str(target))
    report = restore_from_replica(home, str(target), [finding])
    [refused] = report.unrecoverable
    assert refused.file == name and "damaged too" in refused.reason
    assert _recorded(home)[name] in refused.reason
    assert (home.root / name).read_bytes() == damaged  # nothing changed here
    assert not (home.root / "quarantine").exists() and not _events(home, "replica.restored")


def test_a_replica_holding_no_copy_or_another_home_is_unrecoverable(captured, tmp_path):
    home = captured
    name = sorted(_recorded(home))[0]
    (home.root / name).unlink()
    report = restore_from_replica(home, str(tmp_path / "empty"), [name])
    assert "holds no copy" in report.unrecoverable[0].reason
    with pytest.raises(ReplicaError, match="no replica"):
        replicate(home, "")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / MANIFEST).write_text('{"format": "something else"}')
    with pytest.raises(ReplicaError, match="not a Salvage replica manifest"):
        replicate(home, str(tmp_path / "other"))


# -- configuration and the command line ------------------------------------------------------


def test_the_replica_section_is_read_and_checked(tmp_path):
    config = load_config(_toml(tmp_path, ""), environ={})
    assert config.replica.uri == "" and config.replica.after_ingest is True
    uri = "s3://archive/salvage?region=eu-west-1&endpoint_override=127.0.0.1:9000&scheme=http"
    config = load_config(_toml(tmp_path, f'[replica]\nuri = "{uri}"\nafter_ingest = false\n'),
                         environ={})
    assert config.replica.uri == uri and config.replica.after_ingest is False
    env = load_config(_toml(tmp_path, ""), environ={"SALVAGE_REPLICA__URI": "/mnt/replica"})
    assert env.replica.uri == "/mnt/replica"
    for bad, says in [("relative/path", "an absolute path"),
                      ("s3://key:secret@archive/x", "without credentials"),
                      ("s3://archive/x?timeout=3", "'timeout' is not an option"),
                      ("https://example.com/x", "s3://bucket/prefix")]:
        with pytest.raises(ConfigError, match="replica.uri") as caught:
            load_config(_toml(tmp_path, f'[replica]\nuri = "{bad}"\n'), environ={})
        assert says in str(caught.value)


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "salvage.toml"
    path.write_text(text)
    return path


def test_the_command_line_replicates_restores_and_says_when_there_is_no_replica(
        captured, tmp_path, s3):
    root = str(captured.root)
    none = salvage("--home", root, "replicate")
    assert none.returncode == 1 and "no replica" in none.stderr
    config = _toml(tmp_path, f'[replica]\nuri = "{_s3_uri(s3, "cli")}"\n')
    env = {"SALVAGE_SECRET_REPLICA_ACCESS_KEY_ID": "test",
           "SALVAGE_SECRET_REPLICA_SECRET_ACCESS_KEY": "test",
           "AWS_EC2_METADATA_DISABLED": "true"}
    done = salvage("--home", root, "--config", str(config), "replicate", "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["ok"] is True

    name = sorted(_recorded(captured))[1]
    _flip(captured.root / name, (captured.root / name).stat().st_size // 2)
    alone = salvage("--home", root, "replicate", "--restore")
    assert alone.returncode == 1 and "no replica is configured" in alone.stderr
    back = salvage("--home", root, "--config", str(config), "replicate", "--restore", "--json",
                   env=env)
    assert back.returncode == 0, back.stderr
    doc = json.loads(back.stdout)
    assert [r["file"] for r in doc["restored"]] == [name] and doc["verify"]["ok"] is True
    assert _sha(captured.root / name) == _recorded(captured)[name]


def test_a_reindexed_index_supersedes_the_replicas_and_an_unexplained_change_is_refused(
        captured, tmp_path):
    from archive.reindex import reindex

    home, target = captured, tmp_path / "replica"
    name = sorted(_recorded(home))[0]
    index = home.index_path(name)
    rel = home.relative(index)
    good = index.read_bytes()
    index.write_bytes(good.replace(b'"offset": "', b'"offset": "1', 1))  # a wrong line
    assert replicate(home, str(target)).ok  # a new file: sent as it is
    assert [n for n, why in reindex(home).rewritten] == [name]
    assert index.read_bytes() == good
    report = replicate(home, str(target))
    assert report.ok and rel in report.copied
    [kept] = report.superseded
    assert kept.startswith(f"superseded/{rel}.") and (target / kept).read_bytes() != good
    assert (target / rel).read_bytes() == good

    index.write_bytes(good.replace(b'"offset": "', b'"offset": "2', 1))  # no reindex explains it
    again = replicate(home, str(target))
    assert [(p.file, p.kind) for p in again.problems] == [(rel, "local-changed")]
    assert (target / rel).read_bytes() == good
