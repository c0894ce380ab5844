"""Alerts into incidents: a firing alert for a catalog service opens an incident with the same war
room as a manual open; later alerts of its group go to its timeline; a resolved alert is shown in
the war room and suggests verifying, never stamping anything itself.

Deduplication is decided by the database: the first delivery of a group inserts its active key,
every concurrent or later one fails that insert and joins the incident (storage/alerts.py).
Every alert of one body is recorded in one transaction, so a refused or failed body writes nothing.
Grafana's contact-point test is answered with a line in the announcement channel and recorded nowhere.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.background import BackgroundWork, urgency
from bot.core.clock import Clock
from bot.core.command_text import OpenRequest
from bot.core.records import IncidentRecord
from bot.core.timefmt import slack_time
from bot.incidents.operations import insert_opened, to_record
from bot.integrations.alerts import Alert, incident_start
from bot.interactions.opening import severity_urgency
from bot.slack import SlackError, SlackGateway, messages
from bot.slack.blocks import drill_text
from storage import alerts as alert_rows
from storage import incidents as incident_rows
from storage.db import Database
from storage.models import AlertGroup, Incident

if TYPE_CHECKING:
    from bot.interactions.opening import Opening

log = logging.getLogger(__name__)


@dataclass
class IntakeResult:
    opened: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)  # firing again: on the incident's timeline
    resolved: list[str] = field(default_factory=list)
    ignored: int = 0  # resolved alerts with no incident taking their group

    def as_json(self) -> dict[str, Any]:
        return {"ok": True, "opened": self.opened, "added": self.added, "resolved": self.resolved, "ignored": self.ignored}


GRAFANA_TEST_LINE = "🧪 Test alert received from Grafana: the alert webhook works. Nothing was recorded."


@dataclass
class _SlackWork:
    new: list[IncidentRecord] = field(default_factory=list)
    lines: list[tuple[IncidentRecord, str]] = field(default_factory=list)


def _alert_data(alert: Alert) -> dict[str, Any]:
    return {
        "source": alert.source,
        "group": alert.group,
        "fingerprint": alert.fingerprint,
        "alertname": alert.labels.get("alertname"),
        "severity_label": alert.labels.get("severity"),
        "starts_at": alert.started_at.isoformat() if alert.started_at else None,
        "ends_at": alert.ended_at.isoformat() if alert.ended_at else None,
        "url": alert.url,
    }


async def _onto_its_incident(session: AsyncSession, group: AlertGroup, alert: Alert, kind: str, text: str, now: datetime) -> Incident:
    """A later alert of a group that has its incident: the group seen again, the alert on the
    incident's timeline; the incident's row."""
    assert group.incident_id is not None
    await alert_rows.seen_again(session, group.id, at=now)
    await incident_rows.add_event(session, group.incident_id, kind, at=now, text=text, data=_alert_data(alert))
    row = await incident_rows.get(session, group.incident_id)
    assert row is not None
    return row


class AlertIntake:
    def __init__(self, db: Database, slack: SlackGateway, clock: Clock, background: BackgroundWork) -> None:
        self._db = db
        self._slack = slack
        self._clock = clock
        self._background = background
        self._opening: Opening | None = None
        self._bot_user: str | None = None

    def attach(self, opening: Opening) -> None:
        self._opening = opening

    async def bot_user(self) -> str:
        """Who opens alert incidents (the bot itself); raises SlackError when Slack cannot say."""
        if self._bot_user is None:
            self._bot_user = await self._slack.identity.bot_user_id()
        return self._bot_user

    async def receive(self, alerts: list[Alert]) -> IntakeResult:
        """Record every alert (one transaction), then do the Slack work after the answer."""
        opener = await self.bot_user()
        now = self._clock()
        result, work = IntakeResult(), _SlackWork()
        async with self._db.transaction() as session:
            for alert in alerts:
                if alert.status == "firing":
                    await self._firing(session, alert, opener, now, result, work)
                else:
                    await self._resolved(session, alert, now, result, work)
        assert self._opening is not None
        # One task per war room, each waiting for its turn by its severity: in a storm (a region
        # down, one alert body per service or one for all) a P1's room goes before a P4's.
        for record in sorted(work.new, key=lambda record: severity_urgency(record.severity)):
            with urgency(severity_urgency(record.severity)):
                self._background.spawn(self._opening.set_up_alert_war_room(record), name=f"alert war room {record.reference}")
        if work.lines:
            self._background.spawn(self._show(work.lines), name="alert lines")
        return result

    async def grafana_test(self, announce_channel: str | None) -> str:
        """Show that Grafana's contact-point test arrived; returns what the answer says about it."""
        if not announce_channel:
            return "test alert received; nothing was posted: set INCIDENT_ANNOUNCE_CHANNEL to see it in Slack"
        try:
            await self._slack.chat.post(announce_channel, GRAFANA_TEST_LINE)
        except SlackError as error:
            log.warning("Grafana test alert: line not posted to %s: %s", announce_channel, error)
            return f"test alert received; the line to {announce_channel} was not posted: {error}"
        return f"test alert received; posted to {announce_channel}"

    async def _firing(
        self, session: AsyncSession, alert: Alert, opener: str, now: datetime, result: IntakeResult, work: _SlackWork
    ) -> None:
        for _ in range(3):
            group = await alert_rows.claim(session, alert.source, alert.dedup_key, at=now)
            existing = None if group is not None else await alert_rows.active(session, alert.source, alert.dedup_key)
            if group is not None or existing is not None:
                break
            # the holder was closed between our insert and our read: claim again
        if group is None:
            assert existing is not None
            text = f"Alert {alert.name} firing again ({alert.source})"
            row = await _onto_its_incident(session, existing, alert, "alert_firing", text, now)
            result.added.append(row.reference)
            if row.status == "resolved" and row.channel_id:
                work.lines.append((to_record(row), messages.alert_refiring_line(alert.name)))
            return
        started, start_set_aside = incident_start(alert, now)
        opened = OpenRequest(
            title=alert.title,
            severity=alert.severity,
            service=alert.service,
            detection_method="alert",
            started_at=started,
            detected_at=started,
            drill=alert.drill,
        )
        row = await insert_opened(session, opened, opener=opener, at=now, from_alert=True)
        group.incident_id = row.id
        await session.flush()
        text = f"Alert {alert.name} firing ({alert.source})" + (f"; {start_set_aside}" if start_set_aside else "")
        await incident_rows.add_event(session, row.id, "alert_firing", at=now, text=text, data=_alert_data(alert))
        record = to_record(row)
        result.opened.append(record.reference)
        work.new.append(record)

    async def _resolved(self, session: AsyncSession, alert: Alert, now: datetime, result: IntakeResult, work: _SlackWork) -> None:
        group = await alert_rows.active(session, alert.source, alert.dedup_key)
        if group is None or group.incident_id is None:
            result.ignored += 1
            return
        ended = alert.ended_at or now
        text = f"Alert {alert.name} resolved at {ended.isoformat()} ({alert.source}); verification is for a person to mark"
        row = await _onto_its_incident(session, group, alert, "alert_resolved", text, now)
        result.resolved.append(row.reference)
        if row.channel_id:
            work.lines.append(
                (to_record(row), messages.alert_resolved_line(alert.name, slack_time(ended), row.status == "open", alert.group_resolved))
            )

    async def _show(self, lines: list[tuple[IncidentRecord, str]]) -> None:
        for record, line in lines:
            assert record.channel_id
            try:
                await self._slack.chat.post(record.channel_id, drill_text(record.is_drill, line))
            except SlackError as error:
                log.warning("%s: alert line not posted: %s", record.reference, error)
