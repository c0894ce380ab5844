"""Alert payloads: Prometheus Alertmanager's webhook, Grafana's alerting webhook and our generic
JSON form, read into one shape. Pure: no database, no Slack.

Which form a body is: an ``alerts`` list with ``orgId`` is Grafana, an ``alerts`` list without it
is Alertmanager (both send ``groupKey``, ``status`` and per-alert ``labels``, ``annotations``,
``startsAt``, ``fingerprint``), anything else is the generic form::

    {"service": "payments-api", "title": "5xx above 5%", "status": "firing",
     "dedup_key": "payments-5xx", "severity": "critical", "started_at": "2026-11-23T10:02:00Z",
     "description": "optional", "url": "https://optional"}

An alert belongs to the incident of its group: ``groupKey`` (Alertmanager, Grafana) or else the
alert's ``fingerprint`` / ``dedup_key``, together with the service (a group spanning two services
opens one incident per service). A grouped body is read alert by alert: the usable alerts are
taken and each unusable one (a service the catalog does not know, a missing start time...) is
listed with its reason, because Alertmanager never retries a 4xx and one foreign alert must not
lose the others. A body where no alert is usable is refused whole (422): nothing in it can be
recorded and resending it unchanged cannot help.

Grafana's "Test" button on a contact point sends one alert named ``TestAlert`` for the instance
``Grafana``: it is recognised as a test (``AlertBody.grafana_test``) and never recorded. Grafana's
legacy alerting webhook (``ruleName``, ``evalMatches``) is refused with the way to switch.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from bot.core.command_text import MAX_BACKDATE
from bot.core.text_input import clip, storable_json
from bot.core.timefmt import zoned_time

MAX_TITLE = 150
MAX_ALERTS = 1000
STATUSES = ("firing", "resolved")
GENERIC_FORM = (
    '{"service": "payments-api", "title": "5xx above 5%", "status": "firing", "dedup_key": "payments-5xx", '
    '"severity": "critical", "started_at": "2026-11-23T10:02:00Z"}'
)

_FRACTION = re.compile(r"(\.\d{6})\d+")


LEGACY_GRAFANA = (
    "this is Grafana's legacy alerting webhook (ruleName, evalMatches), which incident-bot does not support: "
    "in Grafana Alerting (unified alerting, Grafana 8 and later) add a contact point of type Webhook with this URL "
    "and the secret as its Authorization header, and give the alert rules a `service` label naming a catalog service"
)
# What Grafana's contact-point "Test" button sends (tests/data/grafana_test_notification.json).
GRAFANA_TEST_LABELS = {"alertname": "TestAlert", "instance": "Grafana"}


DEFAULT_ALERT_SEVERITIES: Mapping[str, str] = MappingProxyType(
    {
        "critical": "P1",
        "page": "P1",
        "high": "P2",
        "error": "P2",
        "major": "P2",
        "warning": "P3",
        "medium": "P3",
        "minor": "P3",
        "info": "P4",
        "low": "P4",
    }
)


@dataclass(frozen=True)
class AlertRules:
    """How an alert's labels become an incident: which label names the catalog service, and how
    the severity label's values map to P1-P4."""

    service_labels: tuple[str, ...] = ("service",)
    severity_label: str = "severity"
    severities: Mapping[str, str] = field(default_factory=lambda: DEFAULT_ALERT_SEVERITIES)
    default_severity: str = "P3"

    @classmethod
    def with_overrides(
        cls, *, service_labels: tuple[str, ...], severity_label: str, severities: Mapping[str, str], default_severity: str
    ) -> AlertRules:
        merged = dict(DEFAULT_ALERT_SEVERITIES) | {k.strip().lower(): v for k, v in severities.items()}
        return cls(service_labels, severity_label, MappingProxyType(merged), default_severity)

    def severity_of(self, labels: Mapping[str, str]) -> str:
        value = str(labels.get(self.severity_label, "")).strip().lower()
        if value.upper() in ("P1", "P2", "P3", "P4"):
            return value.upper()
        return self.severities.get(value, self.default_severity)


class AlertPayloadError(ValueError):
    """The body is not a usable alert payload; the message says what and the right form."""


@dataclass(frozen=True)
class RefusedAlert:
    """One alert of a grouped body that could not be used, and why."""

    where: str  # "alerts[2]"
    reason: str  # the whole sentence, starting with ``where``
    name: str | None  # its alertname, when it has one

    def as_json(self) -> dict[str, str | None]:
        return {"alert": self.where, "alertname": self.name, "error": self.reason}


@dataclass(frozen=True)
class AlertBody:
    """A body read alert by alert: what can be recorded and what cannot."""

    alerts: list[Alert]
    refused: list[RefusedAlert] = field(default_factory=list)
    grafana_test: bool = False  # Grafana's contact-point test: nothing to record


@dataclass(frozen=True)
class Alert:
    source: str  # alertmanager | grafana | generic
    status: str  # firing | resolved
    group: str  # the group key, or the fingerprint when the sender has no groups
    fingerprint: str | None
    service: str
    severity: str
    title: str
    started_at: datetime | None
    ended_at: datetime | None
    description: str = ""
    url: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    # The sender says every alert of the group is resolved (Alertmanager's and Grafana's body
    # status); only then is verifying suggested.
    group_resolved: bool = True
    # Label drill=true: the alert opens a drill (a rehearsed alert, a game day), never a real incident.
    drill: bool = False

    @property
    def dedup_key(self) -> str:
        # A drill's alerts group apart: a real alert of the same group never lands in a drill, nor a drill's in a real incident.
        return f"{self.group}|{self.service}" + ("|drill" if self.drill else "")

    @property
    def name(self) -> str:
        return self.labels.get("alertname") or self.title


def incident_start(alert: Alert, now: datetime) -> tuple[datetime, str | None]:
    """When the incident a firing alert opens started, and why the alert's own start was not taken
    (None when it was). A start after ``now`` is the sender's clock ahead: ``now``. A start more than
    MAX_BACKDATE ago, the bound of a typed start, is far more often a sender's fault (a zero time, a
    clock reset, a replayed example) than an impact that began weeks before anyone was told, and
    would weigh as that many weeks in every time-to-restore figure: the incident starts when the
    alert arrived, and the timeline keeps the alert's start and says how to set it."""
    started = alert.started_at
    if started is None or started > now:
        return now, None
    if now - started > MAX_BACKDATE:
        return now, (
            f"its start time {started.isoformat()} is more than {MAX_BACKDATE.days} days ago, so the incident starts when "
            "the alert arrived; if that start was right, set it with *Edit times* on the control message"
        )
    return started, None


def parse_time(value: Any, where: str) -> datetime | None:
    """RFC 3339 as the senders write it (nanoseconds, Z); Go's zero time means "none"."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise AlertPayloadError(f"{where}: expected an RFC 3339 time like 2026-11-23T10:02:00Z, got {value!r}")
    text = _FRACTION.sub(r"\1", value.strip()).replace("z", "Z")
    parsed = zoned_time(
        text,
        unreadable=f"{where}: '{value}' is not an RFC 3339 time like 2026-11-23T10:02:00Z",
        unzoned=f"{where}: '{value}' has no time zone; add Z or an offset like +02:00",
        error=AlertPayloadError,
    )
    if parsed.year <= 1:
        return None
    return parsed.astimezone(UTC)


def _text_map(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AlertPayloadError(f"{where}: expected an object of names to texts")
    return {str(k): v if isinstance(v, str) else str(v) for k, v in value.items()}


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _title(text: str) -> str:
    return clip(_one_line(text), MAX_TITLE)


DRILL_LABEL = "drill"
_DRILL_VALUES = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def _drill(labels: Mapping[str, str], where: str) -> bool:
    """The ``drill`` label: true opens a drill; absent or false, a real incident."""
    value = labels.get(DRILL_LABEL)
    if value is None:
        return False
    drill = _DRILL_VALUES.get(value.strip().lower())
    if drill is None:
        raise AlertPayloadError(f"{where}: label {DRILL_LABEL}={value[:40]!r}: expected drill=true (a drill) or drill=false, or no label")
    return drill


def _known(services: set[str]) -> str:
    """The services an alert may name, or why there are none."""
    return (
        ", ".join(sorted(services))
        or "none: the bot has no service catalog (SERVICE_CATALOG, or catalog.yml in RUNBOOKS_DIR; docs/configuration.md)"
    )


def _service(labels: Mapping[str, str], rules: AlertRules, services: set[str], where: str) -> str:
    named = [(label, labels[label].strip()) for label in rules.service_labels if labels.get(label, "").strip()]
    for _, value in named:
        if value in services:
            return value
    known = _known(services)
    if named:
        given = ", ".join(f"{label}={value!r}" for label, value in named)
        raise AlertPayloadError(f"{where}: {given} is not a service in the catalog; known services: {known}")
    wanted = " or ".join(f"`{label}`" for label in rules.service_labels)
    raise AlertPayloadError(f"{where}: no {wanted} label naming the affected service; add one with one of: {known}")


def parse_alerts(data: Any, rules: AlertRules, services: set[str]) -> AlertBody:
    """The body's usable alerts and the refused ones; AlertPayloadError when nothing in it is usable
    (the message names every refused alert's problem, or the body's)."""
    if not isinstance(data, dict):
        raise AlertPayloadError(f"the body must be a JSON object: Alertmanager's or Grafana's webhook, or {GENERIC_FORM}")
    # Senders put whatever their templates produce in titles and labels, NUL characters included.
    data = storable_json(data)
    if "alerts" in data:
        return _parse_grouped(data, rules, services)
    if "evalMatches" in data or "ruleName" in data:
        raise AlertPayloadError(LEGACY_GRAFANA)
    return AlertBody([_parse_generic(data, rules, services)])


def _is_grafana_test(source: str, alerts: list[Any], common: Mapping[str, str]) -> bool:
    if source != "grafana":
        return False
    for alert in alerts:
        labels = alert.get("labels") if isinstance(alert, dict) else None
        merged = dict(common) | (labels if isinstance(labels, dict) else {})
        if any(merged.get(name) != value for name, value in GRAFANA_TEST_LABELS.items()):
            return False
    return True


MAX_REASONS_IN_ERROR = 10


def _parse_grouped(data: dict[str, Any], rules: AlertRules, services: set[str]) -> AlertBody:
    source = "grafana" if "orgId" in data else "alertmanager"
    alerts = data["alerts"]
    if not isinstance(alerts, list) or not alerts:
        raise AlertPayloadError("alerts: expected a non-empty list of alerts")
    if len(alerts) > MAX_ALERTS:
        raise AlertPayloadError(f"alerts: {len(alerts)} alerts in one body; send at most {MAX_ALERTS}")
    group_key = data.get("groupKey")
    if group_key is not None and not isinstance(group_key, str):
        raise AlertPayloadError("groupKey: expected a text")
    common = _text_map(data.get("commonLabels"), "commonLabels")
    if _is_grafana_test(source, alerts, common):
        return AlertBody([], grafana_test=True)
    parsed, refused = [], []
    for index, alert in enumerate(alerts):
        where = f"alerts[{index}]"
        try:
            parsed.append(_parse_one(data, alert, where, source, group_key, common, rules, services))
        except AlertPayloadError as error:
            labels = alert.get("labels") if isinstance(alert, dict) else None
            name = labels.get("alertname") if isinstance(labels, dict) else None
            refused.append(RefusedAlert(where, str(error), name if isinstance(name, str) else common.get("alertname")))
    if not parsed:
        reasons = "; ".join(r.reason for r in refused[:MAX_REASONS_IN_ERROR])
        more = f"; and {len(refused) - MAX_REASONS_IN_ERROR} more" if len(refused) > MAX_REASONS_IN_ERROR else ""
        raise AlertPayloadError(reasons + more)
    return AlertBody(parsed, refused)


def _parse_one(
    data: dict[str, Any],
    alert: Any,
    where: str,
    source: str,
    group_key: str | None,
    common: Mapping[str, str],
    rules: AlertRules,
    services: set[str],
) -> Alert:
    """One alert of a grouped body, or AlertPayloadError saying what is wrong with it."""
    if not isinstance(alert, dict):
        raise AlertPayloadError(f"{where}: expected an object with status, labels and startsAt")
    status = alert.get("status", data.get("status"))
    if status not in STATUSES:
        raise AlertPayloadError(f"{where}.status: expected firing or resolved, got {status!r}")
    labels = {**common, **_text_map(alert.get("labels"), f"{where}.labels")}
    annotations = _text_map(alert.get("annotations"), f"{where}.annotations")
    fingerprint = alert.get("fingerprint")
    if fingerprint is not None and not isinstance(fingerprint, str):
        raise AlertPayloadError(f"{where}.fingerprint: expected a text")
    group = group_key or fingerprint
    if not group:
        raise AlertPayloadError(f"{where}: no groupKey in the body and no fingerprint in the alert, so repeats cannot be recognised")
    started = parse_time(alert.get("startsAt"), f"{where}.startsAt")
    if status == "firing" and started is None:
        raise AlertPayloadError(f"{where}.startsAt: a firing alert needs its start time, like 2026-11-23T10:02:00Z")
    title = annotations.get("summary") or annotations.get("title") or labels.get("alertname") or data.get("title") or ""
    if not str(title).strip():
        raise AlertPayloadError(f"{where}: no title: give an alertname label or a summary annotation")
    url = alert.get("generatorURL") or alert.get("panelURL") or alert.get("dashboardURL") or None
    return Alert(
        source=source,
        status=status,
        group=group,
        fingerprint=fingerprint,
        service=_service(labels, rules, services, where),
        severity=rules.severity_of(labels),
        title=_title(str(title)),
        started_at=started,
        ended_at=parse_time(alert.get("endsAt"), f"{where}.endsAt"),
        description=annotations.get("description", ""),
        url=url if isinstance(url, str) and url.startswith(("http://", "https://")) else None,
        labels=labels,
        group_resolved=data.get("status") == "resolved",
        drill=_drill(labels, f"{where}.labels"),
    )


def _parse_generic(data: dict[str, Any], rules: AlertRules, services: set[str]) -> Alert:
    missing = [name for name in ("service", "title", "status") if not str(data.get(name) or "").strip()]
    if not (data.get("dedup_key") or data.get("fingerprint")):
        missing.append("dedup_key")
    if missing:
        raise AlertPayloadError(f"missing {', '.join(missing)}: send {GENERIC_FORM}")
    status = data["status"]
    if status not in STATUSES:
        raise AlertPayloadError(f"status: expected firing or resolved, got {status!r}")
    key = data.get("dedup_key") or data.get("fingerprint")
    if not isinstance(key, str):
        raise AlertPayloadError("dedup_key: expected a text that stays the same while the problem lasts")
    labels = _text_map(data.get("labels"), "labels")
    if "drill" in data:
        if not isinstance(data["drill"], bool):
            raise AlertPayloadError(f"drill: expected true or false, got {str(data['drill'])[:40]!r}")
        labels[DRILL_LABEL] = "true" if data["drill"] else "false"
    labels.setdefault(rules.service_labels[0], str(data["service"]))
    if "severity" in data:
        labels[rules.severity_label] = str(data["severity"])
    service = str(data["service"]).strip()
    if service not in services:
        raise AlertPayloadError(f"service: '{service}' is not a service in the catalog; known services: {_known(services)}")
    url = data.get("url")
    return Alert(
        source="generic",
        status=status,
        group=key,
        fingerprint=key,
        service=service,
        severity=rules.severity_of(labels),
        title=_title(str(data["title"])),
        started_at=parse_time(data.get("started_at"), "started_at"),
        ended_at=parse_time(data.get("ended_at"), "ended_at"),
        description=str(data.get("description") or ""),
        url=url if isinstance(url, str) and url.startswith(("http://", "https://")) else None,
        labels=labels,
        drill=_drill(labels, "labels"),
    )
