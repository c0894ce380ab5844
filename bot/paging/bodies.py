"""What a page says: the body of a PagerDuty Events API v2 event and of the generic paging webhook.

Pure: an incident snapshot in, JSON-ready dicts out. A private incident's page carries its number
and severity only: no title, no service, no war-room or control-message link (its room is
private too), whichever tool receives it.

The generic webhook body, version 1 (docs/paging.md)::

    {"version": 1, "action": "trigger" | "acknowledge" | "resolve", "incident": "INC-42",
     "severity": "P1", "level": 1, "private": false, "service": "payments-api" | null,
     "title": "Checkout failing" (public incidents only), "summary": "<one line>",
     "links": {"war_room": "<url>" | null, "control_message": "<url>" | null}, "sent_at": "<ISO 8601>",
     "drill": true (drills only: a rehearsal, sent only when drills.webhook is set)}
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from bot.core.records import IncidentRecord
from bot.paging.pager import PageLinks

Action = Literal["trigger", "acknowledge", "resolve"]

WEBHOOK_BODY_VERSION = 1
SOURCE = "incident-bot"
SUMMARY_LIMIT = 1024  # Events API v2: payload.summary is at most 1024 characters
# PagerDuty's four severities, from the bot's P1-P4.
PAGERDUTY_SEVERITY = {"P1": "critical", "P2": "error", "P3": "warning", "P4": "info"}


def dedup_key(incident: IncidentRecord) -> str:
    """PagerDuty's alert key for the incident: its reference, so a retried or doubled trigger
    lands on the same alert, and PagerDuty's webhooks name the incident by it (incident_key)."""
    return incident.reference


def summary(incident: IncidentRecord) -> str:
    """One line for the phone screen. A private incident's says no title and no service; a drill's says it is one first."""
    drill = "[DRILL] " if incident.is_drill else ""
    if incident.is_private:
        return f"{drill}{incident.reference}: a private {incident.severity} incident (details in its Slack war room)"
    service = f" {incident.service}:" if incident.service else ""
    return f"{drill}{incident.reference} [{incident.severity}]{service} {incident.title}"[:SUMMARY_LIMIT]


def _links(incident: IncidentRecord, links: PageLinks) -> PageLinks:
    return PageLinks() if incident.is_private else links


def pagerduty_event(
    action: Action, incident: IncidentRecord, *, routing_key: str, level: int, links: PageLinks, at: datetime
) -> dict[str, Any]:
    """An Events API v2 event (POST https://events.pagerduty.com/v2/enqueue)."""
    event: dict[str, Any] = {"routing_key": routing_key, "event_action": action, "dedup_key": dedup_key(incident)}
    if action != "trigger":
        return event
    shown = _links(incident, links)
    event["payload"] = {
        "summary": summary(incident),
        "source": SOURCE,
        "severity": PAGERDUTY_SEVERITY.get(incident.severity, "critical"),
        "timestamp": at.isoformat(),
        "custom_details": {"incident": incident.reference, "severity": incident.severity, "level": level}
        | ({"drill": True} if incident.is_drill else {}),
    }
    if not incident.is_private and incident.service:
        event["payload"]["component"] = incident.service
    event["links"] = [
        {"href": href, "text": text}
        for href, text in ((shown.war_room, "War room in Slack"), (shown.control_message, "Control message"))
        if href
    ]
    event["client"] = SOURCE
    return event


def webhook_body(action: Action, incident: IncidentRecord, *, level: int, links: PageLinks, at: datetime) -> dict[str, Any]:
    """The generic paging webhook's body (version 1, above)."""
    shown = _links(incident, links)
    body: dict[str, Any] = {
        "version": WEBHOOK_BODY_VERSION,
        "action": action,
        "incident": incident.reference,
        "severity": incident.severity,
        "level": level,
        "private": incident.is_private,
        "service": None if incident.is_private else incident.service,
        "summary": summary(incident),
        "links": {"war_room": shown.war_room, "control_message": shown.control_message},
        "sent_at": at.isoformat(),
    }
    if not incident.is_private:
        body["title"] = incident.title
    if incident.is_drill:
        body["drill"] = True
    return body
