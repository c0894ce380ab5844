"""At verification: the MTTR summary in the war room and the announcement channel, and the
postmortem draft stored in the database and uploaded to the war room.

The summaries need nothing but the stamp, so they go out first, while the people's display names
are asked of Slack for the draft. The draft is stored before it or its action-items message is
posted; the action-items message does not wait for the upload (three round trips) it does not
use. Each post records itself when Slack confirms it, so ``publish`` can run again after a Slack
failure and posts only what is missing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
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
from bot.slack.blocks import drill_blocks, drill_text
from bot.slack.steps import SlackSteps, StepsRun, adopt_since, run_steps, still_empty
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
        # One snapshot, and no write lock: the resolution's writes do not queue behind it.
        async with self._db.reading() as session:
            row = await incident_rows.get(session, incident_id)
            if row is None:
                raise LookupError(f"there is no incident INC-{incident_id}")
            events = [
                TimelineEntry(e.occurred_at, e.actor, e.kind, e.text, e.data or {})
                for e in await incident_rows.timeline(session, incident_id)
            ]
            return _Incident(to_record(row), events, summary_ts=row.summary_ts, announced_ts=row.summary_announcement_ts)

    async def _facts(self, read: _Incident, *, names: bool, corrections: list[str] | None = None) -> _Facts:
        """Each fact the resolution shows, read once: its summary, postmortem and action items
        are all made from these (``corrections`` when the caller read them already)."""
        incident = read.incident
        summary = summarize(incident, self._tiers) if incident.timeline.restored else None
        paged = {person for e in read.events if e.kind == "page" for person in e.data.get("people", [])}
        actors = {e.actor for e in read.events if e.actor} | {incident.commander} | paged
        # The people of the timeline are asked of Slack while the database is read.
        asked = asyncio.create_task(self._names(actors)) if names else None
        try:
            items, deploys = await asyncio.gather(self._action_items.for_incident(incident.id), self._deploys.for_incident(incident.id))
            if corrections is None:
                corrections = await self._corrections.notes(incident.id)
        except BaseException:
            if asked is not None:
                asked.cancel()
            raise
        display = await asked if asked is not None else {}
        owners = {i.owner for i in items if i.owner} - actors
        if names and owners:
            display |= await self._names(owners)
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
        # The summaries need only the stamp and the corrections: they go out now, the postmortem
        # (display names, the draft, its upload) is made meanwhile.
        corrections = await self._corrections.notes(incident.id)
        summary = summarize(incident, self._tiers)
        text, summary_message = summary_text(summary), summary_blocks(summary, corrections)
        steps: list[tuple[str, Awaitable[None]]] = []
        # Read above: a summary posted meanwhile is found under its step's claim, which reads the
        # database again.
        if read.summary_ts is None:
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
            if read.announced_ts is None:
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
        # Started before the postmortem is made, so the summaries do not wait for it.
        summaries = asyncio.ensure_future(run_steps(steps, note=self._note(incident_id)))
        try:
            drafted = await self._postmortem(read, corrections, done, already, look)
        finally:
            run = await summaries
        return [
            f"{failure.what} yet: another repair is posting it right now" if failure.busy else f"{failure.what} ({failure.error})"
            for failure in [*run.failures, *drafted.failures]
        ]

    def _note(self, incident_id: int) -> Callable[[str, SlackError], Awaitable[None]]:
        async def note(what: str, error: SlackError) -> None:
            async with self._db.transaction() as session:
                await incident_rows.add_event(
                    session, incident_id, "slack_step_failed", at=self._clock(), text=f"{what}: {error}", data={"error": error.code}
                )

        return note

    async def _postmortem(self, read: _Incident, corrections: list[str], done: list[str], already: list[str], look: bool) -> StepsRun:
        """The draft, rendered with the people's display names and stored, then uploaded and its
        action items posted, each on its own (neither waits for the other)."""
        incident = read.incident
        assert incident.channel_id
        facts = await self._facts(read, names=True, corrections=corrections)
        markdown = self._markdown(facts)
        now = self._clock()
        for attempt in range(2):
            try:
                async with self._db.transaction() as session:
                    stored = await incident_rows.save_postmortem_once(session, incident.id, markdown, at=now)
                    file_id, actions_ts, markdown = stored.file_id, stored.actions_message_ts, stored.markdown
                break
            except IntegrityError:  # a concurrent publish stored the draft first: use that one
                if attempt:
                    raise
        steps: list[tuple[str, Awaitable[None]]] = []
        if file_id is None:
            steps.append(("the postmortem draft was not uploaded", self._upload(incident, markdown, done, already, look)))
        if actions_ts is None:
            steps.append(
                (
                    "the action items under the postmortem draft were not posted",
                    self._post_actions(incident, facts.action_items, done, already, look),
                )
            )
        if file_id is not None and actions_ts is not None:
            already.append("the postmortem draft and its action items")
        return await run_steps(steps, note=self._note(incident.id))

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

    async def _upload(self, incident: IncidentRecord, markdown: str, done: list[str], already: list[str], look: bool) -> None:
        """The draft (Slack's three upload steps), recorded as Slack confirms it; its action items
        are a step of their own (``_post_actions``), so a repair redoes only the one missing."""
        assert incident.channel_id
        channel = incident.channel_id
        title = f"{incident.reference} postmortem draft"

        async def upload() -> str:
            return await self._slack.upload_file(
                channel,
                markdown.encode("utf-8"),
                filename=f"{incident.reference.lower()}-postmortem.md",
                title=title,
                comment=drill_text(
                    incident.is_drill,
                    f"📝 Postmortem draft for {incident.reference}, pre-filled from the timeline. Edit it, then share it.",
                ),
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

    async def _post_actions(
        self, incident: IncidentRecord, items: list[ActionItemRecord], done: list[str], already: list[str], look: bool
    ) -> None:
        """The draft's action items and the "Add action item" button, beside the draft: the message
        does not use the upload, so it does not wait for it."""
        assert incident.channel_id
        channel = incident.channel_id

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
                drill_text(incident.is_drill, f"Action items for {incident.reference}"),
                blocks=drill_blocks(incident.is_drill, self._actions_blocks(incident, await self._action_items.for_incident(incident.id))),
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
        text = drill_text(incident.is_drill, summary_text(summary))
        message = drill_blocks(incident.is_drill, summary_blocks(summary, facts.corrections))
        failures = []
        for channel, ts in posted:
            if channel and ts:
                try:
                    await self._slack.update_message(channel, ts, text, blocks=message)
                except SlackError as error:
                    failures.append(f"the MTTR summary in <#{channel}> was not updated ({error})")
        return failures
