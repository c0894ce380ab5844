"""At verification: the MTTR summary in the war room and the announcement channel, and the
postmortem draft stored in the database and uploaded to the war room.

The draft is stored before any Slack call; each post records itself when Slack confirms it, so
``publish`` can run again after a Slack failure and posts only what is missing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jinja2
from sqlalchemy.exc import IntegrityError

from bot import logs
from bot.analytics.summary import MttrSummary, summarize, summary_blocks, summary_text
from bot.core.clock import Clock
from bot.core.records import IncidentRecord
from bot.core.tiers import TierTables
from bot.core.timefmt import human_duration
from bot.incidents.action_items import ActionItemRecord, ActionItems
from bot.incidents.corrections import Corrections
from bot.incidents.operations import to_record
from bot.integrations.deploys import DeployMatch, Deploys, deploy_line
from bot.slack import SlackError, SlackGateway, blocks
from bot.slack.steps import SlackSteps, adopt_since, run_steps, still_empty
from bot.warroom.postmortem import ActionLine, Changes, TimelineEntry, render_postmortem
from bot.warroom.step_claims import StepClaims
from storage import incidents as incident_rows
from storage.db import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Incident:
    """The incident, its timeline, and where its summaries were posted: one read."""

    incident: IncidentRecord
    events: list[TimelineEntry]
    summary_ts: str | None
    announced_ts: str | None


@dataclass(frozen=True)
class _Facts:
    incident: IncidentRecord
    events: list[TimelineEntry]
    summary: MttrSummary | None
    action_items: list[ActionItemRecord]
    deploys: list[DeployMatch]
    corrections: list[str]
    names: dict[str, str]  # display names by user ID; empty when not asked of Slack


class Resolutions:
    def __init__(
        self,
        db: Database,
        slack: SlackGateway,
        clock: Clock,
        *,
        tiers: TierTables,
        template: jinja2.Template,
        announce_channel: str | None,
        deploys: Deploys,
        deploy_window: timedelta,
        corrections: Corrections,
        action_items: ActionItems,
    ) -> None:
        self._corrections = corrections
        self._action_items = action_items
        self._deploys = deploys
        self._deploy_window = deploy_window
        self._db = db
        self._slack = slack
        self._clock = clock
        self._tiers = tiers
        self._template = template
        self._announce_channel = announce_channel
        self._steps = SlackSteps(StepClaims(db, clock), slack)

    async def _names(self, user_ids: set[str]) -> dict[str, str]:
        async def one(user_id: str) -> tuple[str, str | None]:
            try:
                return user_id, await self._slack.display_name(user_id)
            except SlackError:
                return user_id, None

        pairs = await asyncio.gather(*(one(u) for u in sorted(user_ids)))
        return {user_id: name for user_id, name in pairs if name}

    async def _read(self, incident_id: int) -> _Incident:
        async with self._db.transaction() as session:
            row = await incident_rows.get(session, incident_id)
            if row is None:
                raise LookupError(f"there is no incident INC-{incident_id}")
            events = [
                TimelineEntry(e.occurred_at, e.actor, e.kind, e.text, e.data or {})
                for e in await incident_rows.timeline(session, incident_id)
            ]
            return _Incident(to_record(row), events, summary_ts=row.summary_ts, announced_ts=row.summary_announcement_ts)

    async def _facts(self, read: _Incident, *, names: bool) -> _Facts:
        """Each fact the resolution shows, read once: its summary, postmortem and action items
        are all made from these."""
        incident = read.incident
        summary = summarize(incident, self._tiers) if incident.timeline.restored else None
        items = await self._action_items.for_incident(incident.id)
        deploys = await self._deploys.for_incident(incident.id)
        corrections = await self._corrections.notes(incident.id)
        owners = {i.owner for i in items if i.owner}
        paged = {person for e in read.events if e.kind == "page" for person in e.data.get("people", [])}
        actors = {e.actor for e in read.events if e.actor} | {incident.commander} | owners | paged
        display = await self._names(actors) if names else {}
        return _Facts(incident, read.events, summary, items, deploys, corrections, display)

    def _markdown(self, facts: _Facts) -> str:
        incident, display = facts.incident, facts.names
        changes = Changes(
            checked=incident.service is not None,
            window=human_duration(self._deploy_window),
            lines=tuple(deploy_line(m, mrkdwn=False) for m in facts.deploys),
        )
        today = self._clock().date()
        return render_postmortem(
            self._template,
            incident,
            facts.events,
            facts.summary,
            generated_at=self._clock(),
            names=display,
            changes=changes,
            corrections=facts.corrections,
            breakglass=[e for e in facts.events if e.kind == "breakglass"],
            action_items=[
                ActionLine(
                    i.text,
                    display.get(i.owner, f"<@{i.owner}>") if i.owner else "",
                    i.due.isoformat() if i.due else "",
                    "overdue" if i.overdue(today) else i.status,
                )
                for i in facts.action_items
            ],
        )

    async def render(self, incident_id: int, *, names: bool = True) -> tuple[IncidentRecord, str]:
        """The incident and a freshly rendered draft from its current timeline."""
        facts = await self._facts(await self._read(incident_id), names=names)
        return facts.incident, self._markdown(facts)

    async def draft(self, incident_id: int) -> str:
        """The stored draft when there is one (what the war room got), else a fresh rendering."""
        async with self._db.transaction() as session:
            stored = await incident_rows.postmortem(session, incident_id)
            if stored is not None:
                return stored.markdown
        return (await self.render(incident_id, names=False))[1]

    async def publish(
        self, incident_id: int, *, done: list[str] | None = None, already: list[str] | None = None, look: bool = False
    ) -> list[str]:
        """Post whatever of the resolution is not posted yet; returns what failed, in words, and
        adds what it posted to ``done`` and what was there already to ``already``. With ``look``
        (a repair), each post is first looked for in Slack, where an interrupted attempt may have
        made it, and adopted rather than made twice."""
        done = [] if done is None else done
        already = [] if already is None else already
        logs.set_incident(incident_id)
        read = await self._read(incident_id)
        incident = read.incident
        # Only a resolved incident with a war room has anything to post: checked before anything
        # else is read or anyone's name is asked of Slack.
        if not incident.timeline.restored or incident.channel_id is None:
            return []
        facts = await self._facts(read, names=True)
        markdown = self._markdown(facts)
        now = self._clock()
        for attempt in range(2):
            try:
                async with self._db.transaction() as session:
                    stored = await incident_rows.save_postmortem_once(session, incident_id, markdown, at=now)
                    file_id, actions_ts, markdown = stored.file_id, stored.actions_message_ts, stored.markdown
                break
            except IntegrityError:  # a concurrent publish stored the draft first: use that one
                if attempt:
                    raise
        # Read above, before the draft was stored: a summary posted meanwhile is found under its
        # step's claim, which reads the database again.
        summary_ts, announced_ts = read.summary_ts, read.announced_ts
        assert facts.summary is not None
        text, summary_message = summary_text(facts.summary), summary_blocks(facts.summary, facts.corrections)
        steps: list[tuple[str, Awaitable[None]]] = []
        if summary_ts is None:
            steps.append(
                (
                    "the MTTR summary was not posted in the war room",
                    self._post_summary(
                        incident, incident.channel_id, text, summary_message, "summary_ts", done, already, "the MTTR summary", look
                    ),
                )
            )
        else:
            already.append("the MTTR summary")
        # A private incident's summary stays in its war room.
        if self._announce_channel and not incident.is_private:
            where = f"the MTTR summary in <#{self._announce_channel}>"
            if announced_ts is None:
                steps.append(
                    (
                        f"the MTTR summary was not posted in <#{self._announce_channel}>",
                        self._post_summary(
                            incident, self._announce_channel, text, summary_message, "summary_announcement_ts", done, already, where, look
                        ),
                    )
                )
            else:
                already.append(where)
        if file_id is None or actions_ts is None:
            steps.append(
                ("the postmortem draft was not uploaded", self._upload(incident, markdown, facts.action_items, done, already, look))
            )
        else:
            already.append("the postmortem draft and its action items")

        async def note(what: str, error: SlackError) -> None:
            async with self._db.transaction() as session:
                await incident_rows.add_event(
                    session, incident_id, "slack_step_failed", at=self._clock(), text=f"{what}: {error}", data={"error": error.code}
                )

        run = await run_steps(steps, note=note)
        return [
            f"{failure.what} yet: another repair is posting it right now" if failure.busy else f"{failure.what} ({failure.error})"
            for failure in run.failures
        ]

    async def _post_summary(
        self,
        incident: IncidentRecord,
        channel: str,
        text: str,
        message: list[dict[str, Any]],
        column: str,
        done: list[str],
        already: list[str],
        what: str,
        look: bool,
    ) -> None:
        async def record(ts: str) -> None:
            async with self._db.transaction() as session:
                await incident_rows.record_fields(session, incident.id, at=self._clock(), **{column: ts})

        outcome = await self._steps.once(
            incident.id,
            column,
            still_needed=still_empty(incident_rows.get, column),
            find=(lambda: self._steps.find_message(channel, incident, column)) if look else None,
            create=self._steps.post(channel, incident, column, text, message),
            record=record,
        )
        outcome.tell(done, already, made=f"posted {what}", adopted=f"found {what} an interrupted attempt posted", recorded=what)

    async def _upload(
        self, incident: IncidentRecord, markdown: str, items: list[ActionItemRecord], done: list[str], already: list[str], look: bool
    ) -> None:
        """The draft, then under it its action items and the "Add action item" button: two
        steps, each recorded as Slack confirms it, so a repair redoes only the one missing."""
        assert incident.channel_id
        channel = incident.channel_id
        title = f"{incident.reference} postmortem draft"

        async def upload() -> str:
            return await self._slack.upload_file(
                channel,
                markdown.encode("utf-8"),
                filename=f"{incident.reference.lower()}-postmortem.md",
                title=title,
                comment=f"📝 Postmortem draft for {incident.reference}, pre-filled from the timeline. Edit it, then share it.",
            )

        async def record_upload(file_id: str) -> None:
            async with self._db.transaction() as session:
                await incident_rows.mark_postmortem_uploaded(session, incident.id, file_id, at=self._clock())
                await incident_rows.add_event(
                    session,
                    incident.id,
                    "postmortem_drafted",
                    at=self._clock(),
                    text="Postmortem draft uploaded",
                    data={"file_id": file_id},
                )

        since = adopt_since(incident)
        outcome = await self._steps.once(
            incident.id,
            "postmortem_upload",
            still_needed=still_empty(incident_rows.postmortem, "file_id"),
            find=(lambda: self._slack.find_uploaded_file(channel, title, since=since)) if look else None,
            create=upload,
            record=record_upload,
        )
        outcome.tell(
            done,
            already,
            made="uploaded the postmortem draft",
            adopted="found the postmortem draft an interrupted attempt uploaded",
            recorded="the postmortem draft",
        )

        async def record_actions(ts: str) -> None:
            async with self._db.transaction() as session:
                await incident_rows.record_actions_message(session, incident.id, ts)

        outcome = await self._steps.once(
            incident.id,
            "actions_message",
            still_needed=still_empty(incident_rows.postmortem, "actions_message_ts"),
            find=(lambda: self._steps.find_message(channel, incident, "actions_message")) if look else None,
            create=self._steps.post(
                channel, incident, "actions_message", f"Action items for {incident.reference}", self._actions_blocks(incident, items)
            ),
            record=record_actions,
        )
        outcome.tell(
            done,
            already,
            made="posted the action items under the postmortem draft",
            adopted="found the action items message an interrupted attempt posted",
            recorded="the action items under the postmortem draft",
        )

    def _actions_blocks(self, incident: IncidentRecord, items: list[ActionItemRecord]) -> list[dict[str, Any]]:
        today = self._clock().date()
        return blocks.postmortem_actions_blocks(incident, [i.line(today, with_incident=False) for i in items])

    async def refresh_actions_message(self, incident_id: int) -> list[str]:
        """Show the incident's action items under its postmortem draft, when that message exists."""
        async with self._db.transaction() as session:
            stored = await incident_rows.postmortem(session, incident_id)
            row = await incident_rows.get(session, incident_id)
            if stored is None or stored.actions_message_ts is None or row is None or row.channel_id is None:
                return []
            incident, ts = to_record(row), stored.actions_message_ts
        assert incident.channel_id
        try:
            await self._slack.update_message(
                incident.channel_id,
                ts,
                f"Action items for {incident.reference}",
                blocks=self._actions_blocks(incident, await self._action_items.for_incident(incident.id)),
            )
        except SlackError as error:
            return [f"the action items under the postmortem draft were not updated ({error})"]
        return []

    async def show_correction(self, incident_id: int) -> list[str]:
        """After a time of a resolved incident was corrected: the posted summaries show the new
        figures and the correction, and the stored draft is rendered again from the timeline."""
        read = await self._read(incident_id)
        facts = await self._facts(read, names=True)
        incident, markdown = facts.incident, self._markdown(facts)
        async with self._db.transaction() as session:
            await incident_rows.replace_postmortem_markdown(session, incident_id, markdown)
        posted = [(incident.channel_id, read.summary_ts), (self._announce_channel, read.announced_ts)]
        summary = facts.summary if facts.summary is not None else summarize(incident, self._tiers)
        text, message = summary_text(summary), summary_blocks(summary, facts.corrections)
        failures = []
        for channel, ts in posted:
            if channel and ts:
                try:
                    await self._slack.update_message(channel, ts, text, blocks=message)
                except SlackError as error:
                    failures.append(f"the MTTR summary in <#{channel}> was not updated ({error})")
        return failures
