"""Incident sinks: where each incident event is sent. A small registry a user extends by adding one
function.

A sink is a function `send(notice, spec, context) -> Sent` registered under its kind with
`@sink("kind")`; it raises `DeliveryFailed` when the event could not be handed over (after its
own retries). It is never told about the outbox: `storage/delivery.py` decides what is pending,
keeps the `deliveries` ledger and the dead-letter file. Shipped: `file` (JSONL), `log`,
`webhook` (CloudEvents 1.0, structured JSON, HMAC-SHA256 signed) and `pagerduty` (Events API v2).
`prefect` lives in `flows/publish.py` (storage never imports Prefect) and registers itself when
that module is imported.
"""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archive.errors import SalvageError

if TYPE_CHECKING:
    import requests

EVENTS = ("opened", "acknowledged", "recovering", "recovered", "unrecoverable", "resolved")
"""Every incident event, in lifecycle order."""

DEFAULT_FILE = Path("incidents.jsonl")
PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"
SIGNATURE_HEADER = "X-Salvage-Signature"
CLOUDEVENTS_TYPE = "com.salvage.data-gap.{event}"
CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"

log = logging.getLogger("salvage.incidents")


class DeliveryFailed(SalvageError):
    """A sink could not hand an event over (after its retries); the event is dead-lettered."""

    def __init__(self, error: str, attempts: int = 1, http_status: int | None = None):
        super().__init__(error)
        self.error, self.attempts, self.http_status = error, attempts, http_status


@dataclass(frozen=True)
class Notice:
    """One incident event as the sinks receive it: what happened, when, and the incident as it
    stood right after it (`Incident.as_dict()`: identity, status, timeline up to this event)."""

    event_id: str
    event: str
    at: datetime
    incident: dict[str, Any]
    type: str | None = None
    """The CloudEvents type of an announcement that is not an incident event (a drill's
    `salvage.drill.completed`; `incident` then holds its subject: id, key, type, severity,
    subject and the rest); None: `com.salvage.data-gap.<event>`."""

    def as_dict(self) -> dict[str, Any]:
        out = {"event_id": self.event_id, "event": self.event, "at": _iso(self.at),
               "incident": self.incident}
        return out if self.type is None else {**out, "type": self.type}


@dataclass(frozen=True)
class SinkSpec:
    """One configured sink (`[[incidents.sinks]]`): its kind and the fields that kind takes.
    `secret` and `routing_key` are names of secrets, never their values."""

    kind: str
    url: str | None = None
    path: Path | None = None
    secret: str | None = None
    routing_key: str | None = None
    retries: int | None = None
    backoff: float | None = None

    @property
    def name(self) -> str:
        """How the ledger names this sink: its kind and its target (`webhook:https://…`)."""
        if self.kind == "file":
            return f"file:{self.path or DEFAULT_FILE}"
        if self.kind == "pagerduty":
            return f"pagerduty:{self.url or PAGERDUTY_URL}"
        return f"{self.kind}:{self.url}" if self.url else self.kind


@dataclass
class SinkContext:
    """What every sink may use: the home, the CloudEvents `source`, secrets by name, one HTTP
    session, and the retry defaults a sink's own `retries`/`backoff` override."""

    home: Path
    source: str
    secret: Callable[[str], str | None]
    retries: int = 3
    backoff: float = 1.0
    max_backoff: float = 30.0
    timeout: float = 10.0
    _session: requests.Session | None = field(default=None, repr=False)

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            import requests

            self._session = requests.Session()
            self._session.headers["User-Agent"] = "Salvage incidents"
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


@dataclass(frozen=True)
class Sent:
    """What a sink did with one event: `delivered`, or `skipped` (nothing to send for this kind
    of event, with the reason in `note`)."""

    status: str = "delivered"
    attempts: int = 1
    http_status: int | None = None
    note: str | None = None


Send = Callable[[Notice, SinkSpec, SinkContext], Sent]
SINKS: dict[str, Send] = {}
"""Every sink kind, by name: `SINKS[spec.kind](notice, spec, context)`."""


def sink(kind: str) -> Callable[[Send], Send]:
    """Register `send` as the sink of `kind` (a later registration of the same kind wins)."""
    def register(send: Send) -> Send:
        SINKS[kind] = send
        return send
    return register


# -- shipped sinks --------------------------------------------------------------------------------


@sink("file")
def file_sink(notice: Notice, spec: SinkSpec, context: SinkContext) -> Sent:
    """One JSON line per event, appended and fsync'd (relative paths are in the home)."""
    path = context.home / (spec.path or DEFAULT_FILE)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(notice.as_dict(), sort_keys=True, ensure_ascii=False) + "\n"
    with open(path, "ab") as fh:
        if fh.tell() and not _ends_with_newline(path):
            fh.write(b"\n")  # a line torn by a crash stays alone, never glued to this one
        fh.write(line.encode())
        fh.flush()
        os.fsync(fh.fileno())
    return Sent()


@sink("log")
def log_sink(notice: Notice, spec: SinkSpec, context: SinkContext) -> Sent:
    """A log line: a warning when an incident opens or proves unrecoverable, else info."""
    incident = notice.incident
    level = logging.WARNING if notice.event in ("opened", "unrecoverable") else logging.INFO
    log.log(level, "incident %s %s (%s, %s): %s", incident["id"], notice.event,
            incident["severity"], incident["key"], incident["subject"])
    return Sent()


@sink("webhook")
def webhook_sink(notice: Notice, spec: SinkSpec, context: SinkContext) -> Sent:
    """POST a CloudEvents 1.0 structured JSON event, signed `X-Salvage-Signature: sha256=<hex>`
    (HMAC-SHA256 of the body with the secret named `secret`)."""
    if not spec.url:
        raise DeliveryFailed("a webhook sink needs a url", attempts=0)
    body = cloudevent_body(notice, context.source)
    headers = {"Content-Type": CLOUDEVENTS_CONTENT_TYPE}
    if spec.secret:
        headers[SIGNATURE_HEADER] = signature(_secret(context, spec.secret), body)
    if spec.routing_key:
        headers["X-Salvage-Routing-Key"] = _secret(context, spec.routing_key)
    return post(context, spec, spec.url, body, headers)


PAGERDUTY_ACTIONS = {"opened": "trigger", "acknowledged": "acknowledge", "resolved": "resolve"}
PAGERDUTY_SEVERITY = {"critical": "critical", "high": "error", "warning": "warning",
                      "info": "info"}


@sink("pagerduty")
def pagerduty_sink(notice: Notice, spec: SinkSpec, context: SinkContext) -> Sent:
    """PagerDuty Events API v2: trigger, acknowledge and resolve, `dedup_key` = the gap's key."""
    action = PAGERDUTY_ACTIONS.get(notice.event)
    if action is None:
        return Sent("skipped", 0, note=f"the Events API has no action for {notice.event}")
    if not spec.routing_key:
        raise DeliveryFailed("a pagerduty sink needs routing_key", attempts=0)
    body = json.dumps(pagerduty_event(notice, action, _secret(context, spec.routing_key),
                                      context.source), sort_keys=True).encode()
    return post(context, spec, spec.url or PAGERDUTY_URL, body,
                {"Content-Type": "application/json"})


def pagerduty_event(notice: Notice, action: str, routing_key: str,
                    source: str) -> dict[str, Any]:
    incident = notice.incident
    event: dict[str, Any] = {"routing_key": routing_key, "event_action": action,
                             "dedup_key": incident["key"]}
    if action == "trigger":
        event["client"] = "Salvage"
        event["payload"] = {
            "summary": f"[{incident['id']}] {incident['subject']}"[:1024],
            "source": source,
            "severity": PAGERDUTY_SEVERITY.get(incident["severity"], "error"),
            "timestamp": _iso(notice.at),
            "component": incident["entity"],
            "group": incident["type"].split(".", 1)[0],
            "class": incident["type"],
            "custom_details": {k: incident[k] for k in (
                "id", "key", "period", "window", "form_type", "cik", "evidence")},
        }
    return event


# -- the wire -------------------------------------------------------------------------------------


def cloudevent(notice: Notice, source: str) -> dict[str, Any]:
    """The CloudEvents 1.0 attributes and data of one incident event."""
    return {
        "specversion": "1.0",
        "id": notice.event_id,
        "source": source,
        "type": notice.type or CLOUDEVENTS_TYPE.format(event=notice.event),
        "subject": notice.incident["id"],
        "time": _iso(notice.at),
        "datacontenttype": "application/json",
        "data": notice.incident,
    }


def cloudevent_body(notice: Notice, source: str) -> bytes:
    return json.dumps(cloudevent(notice, source), sort_keys=True, ensure_ascii=False).encode()


def signature(secret: str, body: bytes) -> str:
    """`sha256=<hex>`: what a receiver recomputes over the raw body with the shared secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


RETRIED_STATUS = {408, 425, 429, 500, 502, 503, 504}


def post(context: SinkContext, spec: SinkSpec, url: str, body: bytes,
         headers: dict[str, str]) -> Sent:
    """POST `body`; retry connection errors, timeouts, 408/425/429 and 5xx with exponential
    backoff (Retry-After wins, up to `max_backoff`). Any 2xx is delivered; anything else after the
    retries (or a 4xx at once) raises `DeliveryFailed`."""
    import requests

    retries = context.retries if spec.retries is None else spec.retries
    backoff = context.backoff if spec.backoff is None else spec.backoff
    attempt = 0
    while True:
        attempt += 1
        wait = backoff * 2 ** (attempt - 1)
        try:
            response = context.session.post(url, data=body, headers=headers,
                                            timeout=context.timeout, allow_redirects=False)
        except requests.RequestException as exc:
            status, error, again = None, f"{type(exc).__name__}: {_first_line(exc)}", True
        else:
            status = response.status_code
            if 200 <= status < 300:
                return Sent(attempts=attempt, http_status=status)
            error = f"HTTP {status} from {url}: {response.text[:200].strip()}"
            again = status in RETRIED_STATUS or status >= 500
            wait = _retry_after(response.headers.get("Retry-After"), wait)
        if not again or attempt > retries:
            raise DeliveryFailed(error, attempts=attempt, http_status=status)
        time.sleep(min(wait, context.max_backoff))


def _retry_after(value: str | None, default: float) -> float:
    if not value:
        return default
    if value.strip().isdigit():
        return float(value.strip())
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def _secret(context: SinkContext, name: str) -> str:
    value = context.secret(name)
    if not value:
        raise DeliveryFailed(f"there is no secret named {name}: set SALVAGE_SECRET_{name.upper()} "
                             "or add it to the secrets file", attempts=0)
    return value


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [""])[0][:300]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
