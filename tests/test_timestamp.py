"""RFC 3161 time-stamps against a throwaway CA and TSA (`openssl ts -reply`) served on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import salvage

from archive.home import Home
from archive.timestamp import (
    NO_CA,
    TimestampError,
    check_tokens,
    find_tokens,
    request_timestamp,
    verify_timestamp,
)

TSA_CONFIG = """\
[tsa]
default_tsa = tsa_config

[tsa_config]
serial = {dir}/serial
crypto_device = builtin
signer_cert = {dir}/tsa.pem
signer_key = {dir}/tsa.key
ca_certs = {dir}/ca.pem
signer_digest = sha256
default_policy = 1.2.3.4.1
other_policies = 1.2.3.4.2
digests = sha256
accuracy = secs:1
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def _run(*args: str | Path, cwd: Path) -> None:
    subprocess.run(["openssl", *map(str, args)], cwd=cwd, check=True, capture_output=True)


def _pki(folder: Path) -> None:
    """A self-signed CA, a TSA certificate it issued (critical EKU timeStamping), the ts config."""
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    _run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
         "-subj", "/CN=Salvage Test CA", "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=folder)
    _run("req", *ec, "-keyout", "tsa.key", "-out", "tsa.csr", "-subj", "/CN=Salvage Test TSA",
         cwd=folder)
    (folder / "tsa.ext").write_text("basicConstraints = critical, CA:FALSE\n"
                                    "keyUsage = critical, digitalSignature\n"
                                    "extendedKeyUsage = critical, timeStamping\n")
    _run("x509", "-req", "-in", "tsa.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
         "-CAcreateserial", "-out", "tsa.pem", "-days", "2", "-extfile", "tsa.ext", cwd=folder)
    (folder / "serial").write_text("01\n")
    (folder / "ts.cnf").write_text(TSA_CONFIG.format(dir=folder))
    # a request of someone else's, for the TSA that answers stale replies
    _run("ts", "-query", "-digest", "00" * 32, "-sha256", "-cert", "-out", "other.tsq",
         cwd=folder)


class TSA:
    """A TSA on 127.0.0.1: `mode` is "ok", "500", "garbage" or "stale" (answers another
    request)."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.mode, self.requests = folder, "ok", 0
        tsa = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 -- http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                tsa.requests += 1
                if tsa.mode == "500":
                    self.send_error(500, "TSA down")
                    return
                reply = b"<html>not a TSA</html>" if tsa.mode == "garbage" else tsa.reply(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/tsa"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def reply(self, query: bytes) -> bytes:
        name = f"req{self.requests}.tsq"
        (self.folder / name).write_bytes(query)
        queryfile = "other.tsq" if self.mode == "stale" else name
        _run("ts", "-reply", "-config", "ts.cnf", "-queryfile", queryfile, "-inkey", "tsa.key",
             "-signer", "tsa.pem", "-out", "reply.tsr", cwd=self.folder)
        return (self.folder / "reply.tsr").read_bytes()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def tsa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TSA]:
    folder = tmp_path_factory.mktemp("tsa")
    _pki(folder)
    server = TSA(folder)
    yield server
    server.close()


@pytest.fixture
def served(tsa: TSA) -> Iterator[TSA]:
    tsa.mode = "ok"
    yield tsa
    tsa.mode = "ok"


@pytest.fixture
def report(tmp_path: Path) -> Path:
    path = tmp_path / "report.html"
    path.write_bytes(b"<html><body>drill 1: all good</body></html>\n")
    return path


def test_a_timestamped_file_verifies_with_the_ca(served: TSA, report: Path):
    token = request_timestamp(report, served.url)
    assert token == report.with_name("report.html.tsr") and token.stat().st_size > 0
    check = verify_timestamp(report, token, ca_file=served.folder / "ca.pem")
    assert check.ok and check.imprint_matches and check.signature_checked
    assert check.time is not None and check.time.endswith("Z") and check.time[4] == "-"
    assert "signature verified" in check.detail
    assert check.as_dict()["time"] == check.time
    untrusted = verify_timestamp(report, token, ca_file=served.folder / "ca.pem",
                                 untrusted=served.folder / "tsa.pem")
    assert untrusted.ok


def test_a_changed_byte_fails_with_an_imprint_mismatch(served: TSA, report: Path):
    token = request_timestamp(report, served.url, out=report.parent / "elsewhere.tsr")
    data = bytearray(report.read_bytes())
    data[10] ^= 1
    report.write_bytes(bytes(data))
    for ca in (served.folder / "ca.pem", None):
        check = verify_timestamp(report, token, ca_file=ca)
        assert not check.ok and not check.imprint_matches
        assert check.detail.startswith("imprint mismatch") and "changed after" in check.detail
        assert check.signature_checked is (ca is not None)


def test_without_a_ca_only_the_imprint_is_checked(served: TSA, report: Path):
    token = request_timestamp(report, served.url)
    check = verify_timestamp(report, token)
    assert check.ok and check.imprint_matches and not check.signature_checked
    assert check.detail == NO_CA and check.time


def test_a_wrong_ca_fails_the_signature(served: TSA, report: Path, tmp_path: Path):
    token = request_timestamp(report, served.url)
    other = tmp_path / "other"
    other.mkdir()
    _run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", "k.pem", "-out", "ca.pem", "-days", "1", "-subj", "/CN=Other", cwd=other)
    check = verify_timestamp(report, token, ca_file=other / "ca.pem")
    assert not check.ok and check.imprint_matches and check.signature_checked
    assert check.detail.startswith("signature not verified") and "certificate" in check.detail
    with pytest.raises(TimestampError, match="does not exist"):
        verify_timestamp(report, token, ca_file=other / "missing.pem")


@pytest.mark.parametrize("mode", ["500", "garbage", "stale"])
def test_a_bad_tsa_raises_and_writes_nothing(served: TSA, report: Path, mode: str):
    served.mode = mode
    expected = {"500": "HTTP 500", "garbage": "did not answer with a time-stamp reply",
                "stale": "answered another request"}[mode]
    with pytest.raises(TimestampError, match=expected):
        request_timestamp(report, served.url)
    assert sorted(p.name for p in report.parent.iterdir()) == ["report.html"]


def test_an_unreachable_tsa_or_a_bad_token_raises(report: Path, tmp_path: Path):
    with pytest.raises(TimestampError, match="cannot be reached"):
        request_timestamp(report, "http://127.0.0.1:9/tsa", timeout=2)
    with pytest.raises(TimestampError, match="not an http"):
        request_timestamp(report, "file:///etc/passwd")
    bad = tmp_path / "bad.tsr"
    bad.write_bytes(b"not DER")
    with pytest.raises(TimestampError, match="not an RFC 3161"):
        verify_timestamp(report, bad)


def test_find_tokens_pairs_each_token_with_its_file(home: Home):
    drill = home.root / "drills" / "d1"
    drill.mkdir(parents=True)
    for name in ("report.html", "report.html.tsr", "orphan.json.tsr", "notes.txt"):
        (drill / name).write_bytes(b"x")
    assert find_tokens(home.root) == [(drill / "report.html", drill / "report.html.tsr")]
    assert find_tokens(home.root / "nowhere") == []
    results = {r["token"]: r for r in check_tokens(home.root)}
    assert not results["drills/d1/orphan.json.tsr"]["ok"]
    assert "is gone" in results["drills/d1/orphan.json.tsr"]["detail"]
    assert "not an RFC 3161" in results["drills/d1/report.html.tsr"]["detail"]


def test_salvage_verify_checks_drill_report_tokens(served: TSA, home: Home):
    drill = home.root / "drills" / "20260101T000000Z"
    drill.mkdir(parents=True)
    report = drill / "report.html"
    report.write_bytes(b"<html>drill report</html>\n")
    request_timestamp(report, served.url)
    ca = str(served.folder / "ca.pem")

    done = salvage("--home", str(home.root), "verify", "--json", "--tsa-ca", ca)
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads(done.stdout)
    [stamp] = doc["timestamps"]
    assert doc["ok"] is True and stamp["ok"] and stamp["signature_checked"]
    assert stamp["file"] == "drills/20260101T000000Z/report.html" and stamp["time"]

    plain = salvage("--home", str(home.root), "verify")  # no CA: a note, not a failure
    assert plain.returncode == 0 and "signature not checked (no CA)" in plain.stdout

    report.write_bytes(b"<html>drill report, edited</html>\n")
    failed = salvage("--home", str(home.root), "verify",  # the CA from [drill] tsa_ca_file
                     env={"SALVAGE_DRILL__TSA_CA_FILE": ca})
    assert failed.returncode == 1 and "verify: FAILED" in failed.stdout
    assert "imprint mismatch" in failed.stderr and "report.html.tsr" in failed.stderr
