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
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row

from bot import logs
from bot.core.records import IncidentRecord
from bot.slack.steps import StepFailure, StepsRun, run_steps
from bot.warroom.action_items_message import ActionItemsMessages
from bot.warroom.postmortem_drafts import ACTIONS_STEP, UPLOAD_STEP, PostmortemDrafts
from bot.warroom.resolution_facts import Lists, ReadIncident, ResolutionFacts
from bot.warroom.room_records import WarRoomRecords
from bot.warroom.summary_posts import SummariesDue, SummaryPosts
from storage.db import Statements


@dataclass(frozen=True, eq=False)
class Resolutions:
    """Owns the order of what a verified incident posts (summaries first, the draft and its action
    items meanwhile) and the edits after a correction; each post belongs to its own class."""

    facts: ResolutionFacts
    summaries: SummaryPosts
    drafts: PostmortemDrafts
    action_messages: ActionItemsMessages
    records: WarRoomRecords

    async def render(self, incident_id: int, *, names: bool = True) -> tuple[IncidentRecord, str]:
        """The incident and a freshly rendered draft from its current timeline."""
        return await self.drafts.render(incident_id, names=names)

    async def draft(self, incident_id: int) -> str:
        """The stored draft when there is one (what the war room got), else a fresh rendering."""
        return await self.drafts.draft(incident_id)

    async def refresh_actions_message(self, incident_id: int) -> list[str]:
        """Show the incident's action items under its postmortem draft, when that message exists."""
        return await self.action_messages.refresh(incident_id)

    def learn_names(self, incident_id: int) -> None:
        """Ahead of the verification: the people's display names put on file, in the background
        (ResolutionFacts.learn_names)."""
        self.facts.learn_names(incident_id)

    def claim_summaries(self, work: Statements, stamped: Row[Any]) -> SummariesDue | None:
        """See SummaryPosts.claim_due: for ``Stamper.stamp``'s ``along``, then ``publish``'s ``due``."""
        return self.summaries.claim_due(work, stamped)

    async def publish(
        self,
        incident_id: int,
        *,
        done: list[str] | None = None,
        already: list[str] | None = None,
        look: bool = False,
        due: SummariesDue | None = None,
        under_way: asyncio.Event | None = None,
    ) -> list[str]:
        """Post whatever of the resolution is not posted yet; returns what failed, in words, and
        adds what it posted to ``done`` and what was there already to ``already``. With ``look``
        (a repair), each post is first looked for in Slack, where an interrupted attempt may have
        made it, and adopted rather than made twice. ``due``: the summaries the verifying click
        claimed with its stamp, posted at once from its row while the rest is read.

        ``under_way`` is set once the postmortem no longer needs the event loop to get going: its
        upload and action items have taken their first turn (their requests are out), or it waits
        on Slack for display names, or publishing ended. Work that is not in a hurry (the control
        message's edit) waits for it rather than stand between the click and the upload, the
        longest chain of the resolution."""
        done = [] if done is None else done
        already = [] if already is None else already
        logs.set_incident(incident_id)
        try:
            if due is not None:
                return await self._publish_due(due, done, already, look, under_way)
            return await self._publish_read(incident_id, done, already, look)
        finally:
            if under_way is not None:
                under_way.set()

    async def _publish_read(self, incident_id: int, done: list[str], already: list[str], look: bool) -> list[str]:
        read = await self.facts.read(incident_id)
        incident = read.incident
        # Only a resolved incident with a war room has anything to post: checked before anything
        # else is read or anyone's name is asked of Slack.
        if not incident.timeline.restored or incident.channel_id is None:
            return []
        # The summaries need only the stamp and the corrections: they go out now, the postmortem
        # (display names, the draft, its upload) is made meanwhile.
        corrections = await self.facts.correction_notes(incident.id)
        steps = self.summaries.steps(read, corrections, done, already, look)
        # Started before the postmortem is made, so the summaries do not wait for it.
        summaries = asyncio.ensure_future(run_steps(steps, note=self.records.note_step_failed(incident_id)))
        try:
            drafted = await self._postmortem(read, corrections, done, already, look)
        finally:
            run = await summaries
        return _failure_words([*run.failures, *drafted.failures])

    async def _publish_due(
        self, due: SummariesDue, done: list[str], already: list[str], look: bool, under_way: asyncio.Event | None
    ) -> list[str]:
        stamped = due.read
        incident_id = stamped.incident.id
        # What the postmortem shows is read while the summaries go out, all at once.
        reading = asyncio.ensure_future(self.facts.read_with_lists(incident_id))
        corrections = due.corrections
        try:
            steps = self.summaries.steps(stamped, corrections, done, already, look, due)
            summaries = asyncio.ensure_future(run_steps(steps, note=self.records.note_step_failed(incident_id)))
        except BaseException:
            await asyncio.gather(reading, return_exceptions=True)
            raise
        try:
            read, lists = await reading
            drafted = await self._postmortem(read, corrections, done, already, look, lists, under_way)
        finally:
            await asyncio.gather(reading, return_exceptions=True)
            run = await summaries
        return _failure_words([*run.failures, *drafted.failures])

    async def _postmortem(
        self,
        read: ReadIncident,
        corrections: list[str],
        done: list[str],
        already: list[str],
        look: bool,
        lists: Lists | None = None,
        under_way: asyncio.Event | None = None,
    ) -> StepsRun:
        """The draft, rendered with the people's display names and stored, then uploaded and its
        action items posted, each on its own (neither waits for the other). ``under_way``: see ``publish``."""
        incident = read.incident
        assert incident.channel_id
        stored = await self.drafts.store(read, corrections, lists, asking=under_way)
        steps: list[tuple[str, Awaitable[None]]] = []
        if stored.file_id is None:
            steps.append(
                (
                    "the postmortem draft was not uploaded",
                    self.drafts.upload(incident, stored.markdown, done, already, look, stored.taken.of(UPLOAD_STEP)),
                )
            )
        if stored.actions_ts is None:
            steps.append(
                (
                    "the action items under the postmortem draft were not posted",
                    self.action_messages.post(incident, stored.facts.action_items, done, already, look, stored.taken.of(ACTIONS_STEP)),
                )
            )
        if stored.file_id is not None and stored.actions_ts is not None:
            already.append("the postmortem draft and its action items")
        if under_way is not None:
            # Queued ahead of the steps' first turns, which run_steps queues next; what the event
            # wakes is queued by set() itself, so it runs after those turns have sent their requests.
            asyncio.get_running_loop().call_soon(under_way.set)
        return await run_steps(steps, note=self.records.note_step_failed(incident.id))

    async def show_correction(self, incident_id: int) -> list[str]:
        """After a time of a resolved incident was corrected: the posted summaries show the new
        figures and the correction, and the stored draft is rendered again from the timeline."""
        read = await self.facts.read(incident_id)
        facts = await self.drafts.render_again(read)
        return await self.summaries.show(read, facts)


def _failure_words(failures: list[StepFailure]) -> list[str]:
    return [
        f"{failure.what} yet: another repair is posting it right now" if failure.busy else f"{failure.what} ({failure.error})"
        for failure in failures
    ]
