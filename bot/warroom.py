"""Setting up an incident's war room in Slack, from whatever state the database says it is in.

Critical path: create the channel, then post the control message (and pin it). Invites, the topic
and the announcement depend only on the channel, so they run concurrently with that path. Each
step records its result as soon as Slack confirms it, so running ``set_up`` again (a repair)
redoes only what is missing and never posts a second control message or announcement.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field, replace

from bot import blocks
from bot.channel_names import war_room_name
from bot.clock import Clock
from bot.incidents import to_record
from bot.records import IncidentRecord
from bot.slack import SlackError, SlackGateway
from storage import incidents as incident_rows
from storage.db import Database

log = logging.getLogger(__name__)

NAME_ATTEMPTS = 10


@dataclass(frozen=True)
class _Progress:
    incident: IncidentRecord
    pinned: bool
    announced: bool


@dataclass
class WarRoomReport:
    channel_id: str | None = None
    done: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


class WarRooms:
    def __init__(self, db: Database, slack: SlackGateway, clock: Clock, *, announce_channel: str | None) -> None:
        self._db = db
        self._slack = slack
        self._clock = clock
        self._announce_channel = announce_channel

    async def _progress(self, incident_id: int) -> _Progress:
        async with self._db.transaction() as session:
            row = await incident_rows.get(session, incident_id)
            if row is None:
                raise LookupError(f"INC-{incident_id} does not exist")
            return _Progress(to_record(row), pinned=row.control_pinned_at is not None, announced=row.announcement_ts is not None)

    async def _record(self, incident_id: int, event: str | None = None, text: str = "", data: dict | None = None, **fields) -> None:
        now = self._clock()
        async with self._db.transaction() as session:
            if fields:
                await incident_rows.record_fields(session, incident_id, at=now, **fields)
            if event:
                await incident_rows.add_event(session, incident_id, event, at=now, text=text, data=data)

    async def _failed(self, report: WarRoomReport, incident_id: int, step: str, error: SlackError) -> None:
        report.failures.append(f"{step}: {error}")
        log.warning("INC-%s: %s failed: %s (%s)", incident_id, step, error.code, error)
        await self._record(incident_id, "slack_step_failed", f"Could not {step}: {error}", {"step": step, "error": error.code})

    async def set_up(self, incident_id: int, *, invitees: list[str], new: IncidentRecord | None = None) -> WarRoomReport:
        """Do the war-room steps the database does not show as done.

        ``new`` is a just-recorded incident: nothing is done for it yet, so no read is needed and
        the control message goes out as soon as Slack confirms the channel.
        """
        report = WarRoomReport()
        progress = _Progress(new, pinned=False, announced=False) if new else await self._progress(incident_id)
        incident = progress.incident
        recording: Awaitable[None] | None = None
        if incident.channel_id is None:
            try:
                channel = await self._create_channel(incident)
            except SlackError as error:
                await self._failed(report, incident_id, "create the war-room channel", error)
                return report
            # Recorded while the control message is posted: the channel id is already known.
            recording = self._record(
                incident_id,
                "war_room_created",
                f"War room #{channel.name} created",
                {"channel_id": channel.id, "channel_name": channel.name},
                channel_id=channel.id,
                channel_name=channel.name,
            )
            report.done.append(f"created <#{channel.id}>")
            incident = replace(incident, channel_id=channel.id, channel_name=channel.name)
        report.channel_id = incident.channel_id

        steps: list[tuple[str, Awaitable[str | None]]] = [
            ("post and pin the control message", self._control_message(incident, progress.pinned))
        ]
        people = sorted(set(invitees) | {incident.commander})
        steps.append((f"invite {', '.join(f'<@{u}>' for u in people)}", self._invite(incident, people)))
        steps.append(("set the channel topic", self._topic(incident)))
        if self._announce_channel and not progress.announced:
            steps.append((f"announce in <#{self._announce_channel}>", self._announce(incident)))
        works = [work for _, work in steps]
        results = await asyncio.gather(*([recording] if recording else []), *works, return_exceptions=True)
        if recording is not None:
            recorded, results = results[0], results[1:]
            if isinstance(recorded, BaseException):
                raise recorded
        for (step, _), result in zip(steps, results):
            if isinstance(result, SlackError):
                await self._failed(report, incident_id, step, result)
            elif isinstance(result, BaseException):
                raise result
            elif result:
                report.done.append(result)
        return report

    async def _create_channel(self, incident: IncidentRecord):
        last_error: SlackError | None = None
        for attempt in range(NAME_ATTEMPTS):
            name = war_room_name(incident.id, incident.title, attempt)
            try:
                return await self._slack.create_channel(name)
            except SlackError as error:
                last_error = error
                if error.code == "name_taken":
                    continue
                if error.code.startswith("invalid_name"):
                    # The slug is ours; a bare number is always a valid name.
                    return await self._slack.create_channel(war_room_name(incident.id, "", attempt))
                raise
        assert last_error is not None
        raise last_error

    async def _control_message(self, incident: IncidentRecord, pinned: bool) -> str | None:
        assert incident.channel_id
        done: list[str] = []
        ts = incident.control_message_ts
        if ts is None:
            posted = await self._slack.post_message(
                incident.channel_id, blocks.notification_text(incident), blocks=blocks.control_message(incident)
            )
            ts = posted.ts
            await self._record(incident.id, control_message_ts=ts)
            done.append("posted the control message")
        if not pinned:
            await self._slack.pin(incident.channel_id, ts)
            await self._record(incident.id, control_pinned_at=self._clock())
            done.append("pinned the control message")
        return " and ".join(done) or None

    async def _invite(self, incident: IncidentRecord, people: list[str]) -> str:
        assert incident.channel_id
        await self._slack.invite(incident.channel_id, people)
        return "invited " + ", ".join(f"<@{u}>" for u in people)

    async def _topic(self, incident: IncidentRecord) -> str:
        assert incident.channel_id
        await self._slack.set_topic(incident.channel_id, blocks.channel_topic(incident))
        return "set the topic"

    async def _announce(self, incident: IncidentRecord) -> str:
        assert self._announce_channel
        posted = await self._slack.post_message(
            self._announce_channel,
            f"{blocks.notification_text(incident)} — war room <#{incident.channel_id}>",
            blocks=blocks.announcement_blocks(incident),
        )
        await self._record(incident.id, announcement_ts=posted.ts)
        return f"announced in <#{self._announce_channel}>"

    async def refresh(self, incident: IncidentRecord, *, announce_line: str | None = None) -> list[str]:
        """Show a changed incident: update the control message and topic, and say what changed.

        Returns what did not happen, in words; the database already holds the change.
        """
        if incident.channel_id is None:
            return ["the incident has no war room yet"]
        steps: list[tuple[str, Awaitable[object]]] = []
        if incident.control_message_ts:
            steps.append(
                (
                    "the control message could not be updated",
                    self._slack.update_message(
                        incident.channel_id,
                        incident.control_message_ts,
                        blocks.notification_text(incident),
                        blocks=blocks.control_message(incident),
                    ),
                )
            )
        steps.append(("the channel topic could not be updated", self._topic(incident)))
        if announce_line:
            steps.append(("the war room could not be told", self._slack.post_message(incident.channel_id, announce_line)))
        results = await asyncio.gather(*(work for _, work in steps), return_exceptions=True)
        failures: list[str] = []
        for (what, _), result in zip(steps, results):
            if isinstance(result, SlackError):
                failures.append(f"{what} ({result})")
                await self._record(incident.id, "slack_step_failed", f"{what}: {result}", {"error": result.code})
            elif isinstance(result, BaseException):
                raise result
        return failures
