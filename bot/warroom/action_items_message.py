"""The message of a resolved incident's action items (with its "Add action item" button) beside
its postmortem draft: posted once, and edited when the items change."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.core.clock import Clock
from bot.core.records import IncidentRecord
from bot.incidents.action_items import ActionItemRecord, ActionItems
from bot.incidents.operations import to_record
from bot.slack import SlackError, SlackGateway, blocks
from bot.slack.blocks import drill_blocks, drill_text
from bot.slack.steps import SlackSteps, StepClaim, still_empty
from bot.warroom.postmortem_drafts import ACTIONS_STEP
from storage import incidents as incident_rows
from storage.db import Database


@dataclass(frozen=True, eq=False)
class ActionItemsMessages:
    """Owns the action-items message under a postmortem draft: its one post and its later edits."""

    db: Database
    slack: SlackGateway
    clock: Clock
    steps: SlackSteps
    action_items: ActionItems

    def _blocks(self, incident: IncidentRecord, items: list[ActionItemRecord]) -> list[dict[str, Any]]:
        today = self.clock().date()
        return blocks.postmortem_actions_blocks(incident, [i.line(today, with_incident=False) for i in items])

    async def post(
        self,
        incident: IncidentRecord,
        items: list[ActionItemRecord],
        done: list[str],
        already: list[str],
        look: bool,
        claim: StepClaim = None,
    ) -> None:
        """The draft's action items and the "Add action item" button, beside the draft: the message
        does not use the upload, so it does not wait for it. ``claim``: the message's, when
        PostmortemDrafts.store took it (SlackSteps.once)."""
        assert incident.channel_id
        channel = incident.channel_id

        async def record_actions(ts: str) -> None:
            async with self.db.transaction() as session:
                await incident_rows.record_actions_message(session, incident.id, ts)

        outcome = await self.steps.once(
            incident.id,
            ACTIONS_STEP,
            claim,
            still_needed=still_empty(incident_rows.postmortem, "actions_message_ts"),
            find=(lambda: self.steps.find_message(channel, incident, ACTIONS_STEP)) if look else None,
            create=self.steps.post(
                channel, incident, ACTIONS_STEP, f"Action items for {incident.reference}", self._blocks(incident, items)
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

    async def refresh(self, incident_id: int) -> list[str]:
        """Show the incident's action items under its postmortem draft, when that message exists."""
        async with self.db.transaction() as session:
            stored = await incident_rows.postmortem(session, incident_id)
            row = await incident_rows.get(session, incident_id)
            if stored is None or stored.actions_message_ts is None or row is None or row.channel_id is None:
                return []
            incident, ts = to_record(row), stored.actions_message_ts
        assert incident.channel_id
        try:
            await self.slack.chat.update(
                incident.channel_id,
                ts,
                drill_text(incident.is_drill, f"Action items for {incident.reference}"),
                blocks=drill_blocks(incident.is_drill, self._blocks(incident, await self.action_items.for_incident(incident.id))),
            )
        except SlackError as error:
            return [f"the action items under the postmortem draft were not updated ({error})"]
        return []
