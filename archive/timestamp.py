"""RFC 3161 time-stamps: a TSA vouches that a file's SHA-256 existed at a time; checked later.

A token is the TSA's whole reply (a DER TimeStampResp), kept as `X.tsr` beside the file `X` it
vouches for (drill reports: `<home>/drills/<id>/report.html.tsr`). All ASN.1 work is done by the
`openssl ts` command (OpenSSL 3); this module reads its `-text` output. `request_timestamp` checks
that the reply grants a time-stamp for this very request (same imprint, same nonce) before it
keeps it; whether the TSA's signature chains to a trusted CA is `verify_timestamp`'s job, as it
needs the CA certificate. Without one, `verify_timestamp` still checks the imprint.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from archive.errors import SalvageError
from storage.atomic import write_atomic

__all__ = ["TimestampCheck", "TimestampError", "check_tokens", "find_tokens",
           "request_timestamp", "verify_timestamp"]

QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"
TOKEN_SUFFIX = ".tsr"
MAX_REPLY = 1 << 20  # a TimeStampResp with its certificates is a few KB
GRANTED = ("Granted.", "Granted with modifications.")
NO_CA = "imprint matches, signature not checked (no CA)"
_OPENSSL_ERROR = re.compile(r"^[0-9A-F]+:error:[0-9A-F]+:[^:]*:[^:]*:([^:]*):[^:]*:\d+:?(.*)$")
_HEX_LINE = re.compile(r"^\s*[0-9a-f]{4} - ((?:[0-9a-f]{2}[ -])+)", re.IGNORECASE)
_TIME = re.compile(r"^(\w{3}) +(\d{1,2}) (\d\d:\d\d:\d\d)(\.\d+)? (\d{4}) GMT$")


class TimestampError(SalvageError):
    """A time-stamp could not be obtained or read: TSA unreachable, bad reply, unreadable token."""


@dataclass(frozen=True)
class TimestampCheck:
    """What `verify_timestamp` found: `time` is the TSA's genTime (ISO 8601, UTC)."""

    ok: bool
    time: str | None
    imprint_matches: bool
    signature_checked: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Info:
    """The fields of `openssl ts -query/-reply -text` this module uses."""

    status: str | None
    algorithm: str | None
    imprint: bytes | None
    time: str | None
    nonce: str | None


# -- openssl -------------------------------------------------------------------------------------


def _openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("openssl")
    if exe is None:
        raise TimestampError("the `openssl` command is missing: install OpenSSL 3 "
                             "(`apt-get install openssl`)")
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, timeout=60)


def _message(stderr: str) -> str:
    """openssl's complaint, readable: `…:ts_check_imprints:message imprint mismatch:…` becomes
    `message imprint mismatch`; its "Using configuration from" chatter is dropped."""
    said: list[str] = []
    for line in stderr.splitlines():
        line = line.strip()
        if not line or line.startswith("Using configuration from"):
            continue
        m = _OPENSSL_ERROR.match(line)
        text = (m.group(1) + (f" ({m.group(2)})" if m.group(2) else "")) if m else line
        if text not in said:
            said.append(text)
    return "; ".join(said) or "no reason given"


def _parse(text: str) -> _Info:
    fields: dict[str, str] = {}
    imprint: list[str] = []
    in_dump = False
    for line in text.splitlines():
        if in_dump and (m := _HEX_LINE.match(line)):
            imprint += m.group(1).replace("-", " ").split()
            continue
        in_dump = line.startswith("Message data:")
        key, sep, value = line.partition(":")
        if sep and not line.startswith(" "):
            fields.setdefault(key.strip(), value.strip())
    return _Info(status=fields.get("Status"), algorithm=fields.get("Hash Algorithm"),
                 imprint=bytes.fromhex("".join(imprint)) if imprint else None,
                 time=_iso_time(fields.get("Time stamp")), nonce=fields.get("Nonce"))


def _iso_time(value: str | None) -> str | None:
    """`Nov 30 13:12:06.5 2026 GMT` -> `2026-11-30T13:12:06.5Z`."""
    m = _TIME.match(value or "")
    if m is None:
        return value or None
    month, day, clock, fraction, year = m.groups()
    when = datetime.strptime(f"{month} {day} {year} {clock}", "%b %d %Y %H:%M:%S")
    return when.strftime("%Y-%m-%dT%H:%M:%S") + (fraction or "") + "Z"


def _reply_info(token_path: Path) -> _Info:
    done = _openssl("ts", "-reply", "-in", token_path, "-text")
    if done.returncode != 0:
        raise TimestampError(f"{token_path} is not an RFC 3161 time-stamp reply "
                             f"(openssl: {_message(done.stderr)})")
    return _parse(done.stdout)


def _file_digest(path: Path, algorithm: str) -> bytes:
    try:
        hasher = hashlib.new(algorithm.lower().replace("-", "_"))
    except ValueError:
        raise TimestampError(f"the token's hash algorithm {algorithm!r} is not one Python "
                             "knows") from None
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                hasher.update(chunk)
    except OSError as exc:
        raise TimestampError(f"{path} cannot be read ({exc}): the time-stamp cannot be "
                             "checked without the file it vouches for") from None
    return hasher.digest()


# -- asking a TSA -------------------------------------------------------------------------------


def _post(tsa_url: str, body: bytes, timeout: float) -> bytes:
    import urllib.error
    import urllib.request  # here, not at the top: `salvage verify` need not import http.client

    if urlsplit(tsa_url).scheme not in ("http", "https"):
        raise TimestampError(f"the TSA URL {tsa_url!r} is not an http:// or https:// URL")
    request = urllib.request.Request(tsa_url, data=body, method="POST", headers={
        "Content-Type": QUERY_TYPE, "Accept": REPLY_TYPE})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            data = reply.read(MAX_REPLY + 1)
    except urllib.error.HTTPError as exc:
        raise TimestampError(f"the TSA {tsa_url} answered HTTP {exc.code} {exc.reason}: try "
                             "again later or use another TSA") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TimestampError(f"the TSA {tsa_url} cannot be reached ({reason}): check the URL "
                             "and the network, or try again later") from None
    if len(data) > MAX_REPLY:
        raise TimestampError(f"the TSA {tsa_url} sent more than {MAX_REPLY:,} bytes: not a "
                             "time-stamp reply")
    return data


def request_timestamp(data_path: Path, tsa_url: str, *, timeout: float = 30.0,
                      out: Path | None = None) -> Path:
    """Have the TSA at `tsa_url` time-stamp the SHA-256 of `data_path`; keep its reply.

    The request carries a nonce and asks for the TSA's certificate. The reply is kept only if it
    grants a time-stamp of this file's digest with this request's nonce; it is written
    crash-safely to `out` (default: `data_path` + ".tsr"), whose path is returned. Raises
    `TimestampError` (and writes nothing) when the TSA cannot be reached or answers otherwise.
    """
    data_path = Path(data_path)
    out = Path(out) if out is not None else data_path.with_name(data_path.name + TOKEN_SUFFIX)
    digest = _file_digest(data_path, "sha256")
    with tempfile.TemporaryDirectory(prefix="salvage-ts-") as tmp:
        query, reply_path = Path(tmp) / "query.tsq", Path(tmp) / "reply.tsr"
        done = _openssl("ts", "-query", "-digest", digest.hex(), "-sha256", "-cert",
                        "-out", query)
        if done.returncode != 0:
            raise TimestampError(f"openssl could not build the time-stamp request: "
                                 f"{_message(done.stderr)}")
        asked = _parse(_openssl("ts", "-query", "-in", query, "-text").stdout)
        reply = _post(tsa_url, query.read_bytes(), timeout)
        reply_path.write_bytes(reply)
        try:
            got = _reply_info(reply_path)
        except TimestampError:
            raise TimestampError(f"the TSA {tsa_url} did not answer with a time-stamp reply "
                                 f"({len(reply)} bytes that openssl cannot read): check the "
                                 "URL") from None
    if got.status not in GRANTED:
        raise TimestampError(f"the TSA {tsa_url} refused the time-stamp (status: {got.status})")
    if asked.nonce is None or got.nonce != asked.nonce or got.imprint != digest:
        raise TimestampError(f"the TSA {tsa_url} answered another request (its reply has "
                             f"nonce {got.nonce} and imprint "
                             f"{got.imprint.hex() if got.imprint else None}, not {asked.nonce} "
                             f"and {digest.hex()}): not kept")
    write_atomic(out, reply)
    return out


# -- checking tokens ----------------------------------------------------------------------------


def verify_timestamp(data_path: Path, token_path: Path, *, ca_file: Path | None = None,
                     untrusted: Path | None = None) -> TimestampCheck:
    """Check the token `token_path` against the file `data_path`.

    With `ca_file`, `openssl ts -verify` checks the imprint and that the TSA's signature chains to
    that CA (`untrusted`: the TSA's certificate and intermediates, if the token lacks them).
    Without, only the imprint is compared with the file's digest. Raises `TimestampError` when
    the token or the file cannot be read, or `ca_file` does not exist.
    """
    info = _reply_info(Path(token_path))
    if info.status not in GRANTED or info.imprint is None or info.algorithm is None:
        return TimestampCheck(False, info.time, False, False,
                              f"the token grants no time-stamp (status: {info.status})")
    actual = _file_digest(Path(data_path), info.algorithm)
    matches = actual == info.imprint
    mismatch = (f"imprint mismatch: the file's {info.algorithm} is {actual.hex()}, the token "
                f"vouches for {info.imprint.hex()}: the file changed after it was time-stamped")
    if ca_file is None:
        return TimestampCheck(matches, info.time, matches, False, NO_CA if matches else mismatch)
    for name, path in (("CA file", ca_file), ("untrusted certificate file", untrusted)):
        if path is not None and not Path(path).is_file():
            raise TimestampError(f"the {name} {path} does not exist")
    extra = ("-untrusted", untrusted) if untrusted is not None else ()
    done = _openssl("ts", "-verify", "-data", data_path, "-in", token_path, "-CAfile", ca_file,
                    *extra)
    verified = done.returncode == 0 and "Verification: OK" in done.stdout
    if verified and matches:
        detail = f"imprint matches, signature verified against {ca_file}"
    elif not matches:
        detail = mismatch
    else:
        detail = f"signature not verified against {ca_file}: {_message(done.stderr)}"
    return TimestampCheck(verified and matches, info.time, matches, True, detail)


def find_tokens(home_root: Path) -> list[tuple[Path, Path]]:
    """(data file, token) pairs under `<home>/drills/*/`: every `X.tsr` beside its `X`."""
    return [(data, token) for data, token in _tokens(Path(home_root)) if data.is_file()]


def _tokens(home_root: Path) -> list[tuple[Path, Path]]:
    """Every token under `<home>/drills/*/` with the file it names, present or not."""
    tokens = sorted(p for p in (home_root / "drills").glob(f"*/*{TOKEN_SUFFIX}")
                    if p.is_file() and not p.name.startswith("."))
    return [(p.with_name(p.name.removesuffix(TOKEN_SUFFIX)), p) for p in tokens]


def check_tokens(home_root: Path, *, ca_file: Path | None = None) -> list[dict[str, Any]]:
    """Check every token under `<home>/drills/` (for `salvage verify`): one dict per token, its
    `file` and `token` relative to the home and the `TimestampCheck` fields. A token that cannot
    be read, or whose file is gone, is a failed check."""
    home_root = Path(home_root)
    results = []
    for data, token in _tokens(home_root):
        try:
            if not data.is_file():
                raise TimestampError(f"the file it vouches for ({data.name}) is gone")
            check = verify_timestamp(data, token, ca_file=ca_file)
        except TimestampError as exc:
            check = TimestampCheck(False, None, False, False, str(exc))
        results.append({"file": data.relative_to(home_root).as_posix(),
                        "token": token.relative_to(home_root).as_posix(), **check.as_dict()})
    return results
