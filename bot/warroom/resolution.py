"""At verification: the MTTR summary in the war room and the announcement channel, and the
postmortem draft stored in the database and uploaded to the war room.

The draft is stored before any Slack call; each post records itself when Slack confirms it, so
``publish`` can run again after a Slack failure and posts only what is missing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any

import jinja2
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot import logs
from bot.analytics.summary import summarize, summary_blocks, summary_text
from bot.core.clock import Clock
from bot.core.records import IncidentRecord
from bot.core.tiers import TierTables
from bot.core.timefmt import human_duration
from bot.incidents.action_items import ActionItems
from bot.incidents.corrections import Corrections
from bot.incidents.operations import to_record
from bot.integrations.deploys import Deploys, deploy_line
from bot.slack import SlackError, SlackGateway, blocks
from bot.warroom.postmortem import ActionLine, Changes, TimelineEntry, render_postmortem
from bot.warroom.setup import SlackSteps
from bot.warroom.step_claims import StepBusy, adopt_since
from storage import incidents as incident_rows
from storage.db import Database

log = logging.getLogger(__name__)


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
        self._steps = SlackSteps(db, slack, clock)

    async def _names(self, user_ids: set[str]) -> dict[str, str]:
        async def one(user_id: str) -> tuple[str, str | None]:
            try:
                return user_id, await self._slack.display_name(user_id)
            except SlackError:
                return user_id, None

        pairs = await asyncio.gather(*(one(u) for u in sorted(user_ids)))
        return {user_id: name for user_id, name in pairs if name}

    async def render(self, incident_id: int, *, names: bool = True) -> tuple[IncidentRecord, str]:
        """The incident and a freshly rendered draft from its current timeline."""
        async with self._db.transaction() as session:
            row = await incident_rows.get(session, incident_id)
            if row is None:
                raise LookupError(f"there is no incident INC-{incident_id}")
            incident = to_record(row)
            events = [TimelineEntry(e.occurred_at, e.actor, e.kind, e.text) for e in await incident_rows.timeline(session, incident_id)]
        summary = summarize(incident, self._tiers) if incident.timeline.restored else None
        owners = {i.owner for i in await self._action_items.for_incident(incident_id) if i.owner}
        actors = {e.actor for e in events if e.actor} | {incident.commander} | owners
        display = await self._names(actors) if names else {}
        changes = Changes(
            checked=incident.service is not None,
            window=human_duration(self._deploy_window),
            lines=tuple(deploy_line(m, mrkdwn=False) for m in await self._deploys.for_incident(incident_id)),
        )
        today = self._clock().date()
        items = await self._action_items.for_incident(incident_id)
        markdown = render_postmortem(
            self._template,
            incident,
            events,
            summary,
            generated_at=self._clock(),
            names=display,
            changes=changes,
            corrections=await self._corrections.notes(incident_id),
            breakglass=[e for e in events if e.kind == "breakglass"],
            action_items=[
                ActionLine(
                    i.text,
                    display.get(i.owner, f"<@{i.owner}>") if i.owner else "",
                    i.due.isoformat() if i.due else "",
                    "overdue" if i.overdue(today) else i.status,
                )
                for i in items
            ],
        )
        return incident, markdown

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
        incident, markdown = await self.render(incident_id)
        if not incident.timeline.restored or incident.channel_id is None:
            return []
        now = self._clock()
        for attempt in range(2):
            try:
                async with self._db.transaction() as session:
                    stored = await incident_rows.save_postmortem_once(session, incident_id, markdown, at=now)
                    row = await incident_rows.get(session, incident_id)
                    assert row is not None
                    summary_ts, announced_ts, file_id = row.summary_ts, row.summary_announcement_ts, stored.file_id
                    actions_ts = stored.actions_message_ts
                    markdown = stored.markdown
                break
            except IntegrityError:  # a concurrent publish stored the draft first: use that one
                if attempt:
                    raise

        summary = summarize(incident, self._tiers)
        text, summary_message = summary_text(summary), summary_blocks(summary, await self._corrections.notes(incident_id))
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
            steps.append(("the postmortem draft was not uploaded", self._upload(incident, markdown, done, already, look)))
        else:
            already.append("the postmortem draft and its action items")
        results = await asyncio.gather(*(work for _, work in steps), return_exceptions=True)
        failures = []
        for (what, _), result in zip(steps, results, strict=True):
            if isinstance(result, StepBusy):
                failures.append(f"{what} yet: another repair is posting it right now")
            elif isinstance(result, SlackError):
                failures.append(f"{what} ({result})")
                async with self._db.transaction() as session:
                    await incident_rows.add_event(
                        session, incident_id, "slack_step_failed", at=self._clock(), text=f"{what}: {result}", data={"error": result.code}
                    )
            elif isinstance(result, BaseException):
                raise result
        return failures

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
        async def still_needed(session: AsyncSession, incident_id: int) -> bool:
            row = await incident_rows.get(session, incident_id)
            return row is not None and getattr(row, column) is None

        async def record(ts: str) -> None:
            async with self._db.transaction() as session:
                await incident_rows.record_fields(session, incident.id, at=self._clock(), **{column: ts})

        outcome = await self._steps.once(
            incident.id,
            column,
            still_needed=still_needed,
            find=(lambda: self._steps.find_message(channel, incident, column)) if look else None,
            create=self._steps.post(channel, incident, column, text, message),
            record=record,
        )
        outcome.tell(done, already, made=f"posted {what}", adopted=f"found {what} an interrupted attempt posted", recorded=what)

    async def _upload(self, incident: IncidentRecord, markdown: str, done: list[str], already: list[str], look: bool) -> None:
        """The draft, then under it its action items and the "Add action item" button: two
        steps, each recorded as Slack confirms it, so a repair redoes only the one missing."""
        assert incident.channel_id
        channel = incident.channel_id
        title = f"{incident.reference} postmortem draft"

        async def not_uploaded(session: AsyncSession, incident_id: int) -> bool:
            stored = await incident_rows.postmortem(session, incident_id)
            return stored is not None and stored.file_id is None

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
            still_needed=not_uploaded,
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

        async def no_actions_message(session: AsyncSession, incident_id: int) -> bool:
            stored = await incident_rows.postmortem(session, incident_id)
            return stored is not None and stored.actions_message_ts is None

        async def record_actions(ts: str) -> None:
            async with self._db.transaction() as session:
                await incident_rows.record_actions_message(session, incident.id, ts)

        outcome = await self._steps.once(
            incident.id,
            "actions_message",
            still_needed=no_actions_message,
            find=(lambda: self._steps.find_message(channel, incident, "actions_message")) if look else None,
            create=self._steps.post(
                channel, incident, "actions_message", f"Action items for {incident.reference}", await self._actions_blocks(incident)
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

    async def _actions_blocks(self, incident: IncidentRecord) -> list[dict[str, Any]]:
        today = self._clock().date()
        items = await self._action_items.for_incident(incident.id)
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
                incident.channel_id, ts, f"Action items for {incident.reference}", blocks=await self._actions_blocks(incident)
            )
        except SlackError as error:
            return [f"the action items under the postmortem draft were not updated ({error})"]
        return []

    async def show_correction(self, incident_id: int) -> list[str]:
        """After a time of a resolved incident was corrected: the posted summaries show the new
        figures and the correction, and the stored draft is rendered again from the timeline."""
        incident, markdown = await self.render(incident_id)
        async with self._db.transaction() as session:
            await incident_rows.replace_postmortem_markdown(session, incident_id, markdown)
            row = await incident_rows.get(session, incident_id)
            assert row is not None
            posted = [(incident.channel_id, row.summary_ts), (self._announce_channel, row.summary_announcement_ts)]
        summary = summarize(incident, self._tiers)
        text, message = summary_text(summary), summary_blocks(summary, await self._corrections.notes(incident_id))
        failures = []
        for channel, ts in posted:
            if channel and ts:
                try:
                    await self._slack.update_message(channel, ts, text, blocks=message)
                except SlackError as error:
                    failures.append(f"the MTTR summary in <#{channel}> was not updated ({error})")
        return failures
