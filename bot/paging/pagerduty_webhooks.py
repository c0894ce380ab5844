"""PagerDuty's V3 webhook bodies, read into the few facts the bot acts on (pure).

A V3 delivery is ``{"event": {"id", "event_type", "occurred_at", "agent": {...}, "data": {...}}}``;
for incident events ``data`` is the incident, whose ``incident_key`` is the dedup_key the bot
triggered it with. See tests/data/pagerduty/ for the reference these shapes come from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

ACTED_ON = ("incident.acknowledged", "incident.resolved", "incident.escalated", "incident.reassigned")
RIGHT_FORM = 'PagerDuty\'s V3 webhook body: {"event": {"id": "...", "event_type": "incident.acknowledged", "occurred_at": "<ISO 8601>", "data": {...}}}'


class PagerDutyWebhookError(ValueError):
    """The body is not a V3 webhook delivery; the message names the field and its right form."""


@dataclass(frozen=True)
class PagerDutyEvent:
    event_id: str
    event_type: str
    occurred_at: datetime
    incident_key: str | None  # None for an event the bot does not act on
    agent_name: str | None = None
    agent_email: str | None = None
    agent_id: str | None = None  # the PagerDuty user's id, when the agent is a user (a user_reference)
    assignees: tuple[str, ...] = ()
    html_url: str | None = None

    @property
    def acted_on(self) -> bool:
        return self.event_type in ACTED_ON and self.incident_key is not None


def _text(value: Any, field: str, *, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise PagerDutyWebhookError(f"{field}: should be non-empty text; send {RIGHT_FORM}")
    return value.strip()


def _time(value: Any) -> datetime:
    text = _text(value, "event.occurred_at")
    assert text is not None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise PagerDutyWebhookError(f"event.occurred_at: {text[:40]!r} is not an ISO 8601 time such as 2020-10-02T18:45:22.169Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_event(body: Any) -> PagerDutyEvent:
    if not isinstance(body, dict) or not isinstance(body.get("event"), dict):
        raise PagerDutyWebhookError(f"event: missing; send {RIGHT_FORM}")
    event = body["event"]
    event_id = _text(event.get("id"), "event.id")
    event_type = _text(event.get("event_type"), "event.event_type")
    assert event_id is not None and event_type is not None
    occurred_at = _time(event.get("occurred_at"))
    if event_type not in ACTED_ON:
        return PagerDutyEvent(event_id, event_type, occurred_at, None)
    data = event.get("data")
    if not isinstance(data, dict):
        raise PagerDutyWebhookError(f"event.data: should be the incident object for {event_type}; send {RIGHT_FORM}")
    incident_key = _text(data.get("incident_key"), "event.data.incident_key", required=False)
    agent = event.get("agent") if isinstance(event.get("agent"), dict) else {}
    assignees = tuple(
        str(item["summary"]) for item in data.get("assignees") or [] if isinstance(item, dict) and isinstance(item.get("summary"), str)
    )
    return PagerDutyEvent(
        event_id=event_id,
        event_type=event_type,
        occurred_at=occurred_at,
        incident_key=incident_key,
        agent_name=agent.get("summary") if isinstance(agent.get("summary"), str) else None,
        # V3's agent is a user reference (id, summary); an e-mail is used when the delivery carries one.
        agent_email=agent.get("email") if isinstance(agent.get("email"), str) else None,
        agent_id=agent.get("id") if agent.get("type") in ("user_reference", "user") and isinstance(agent.get("id"), str) else None,
        assignees=assignees,
        html_url=data.get("html_url") if isinstance(data.get("html_url"), str) else None,
    )
