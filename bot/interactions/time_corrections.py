"""Correcting an incident's phase times: the "Edit times" button opens the form, its submission is
checked and applied before Slack gets its answer (every problem shows under its field), then the
war room and the resolution posts show the corrected times."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from bot.core.clock import Clock
from bot.core.records import IncidentRecord
from bot.incidents.corrections import (
    TIME_FIELDS,
    CorrectionConflict,
    CorrectionErrors,
    CorrectionPlan,
    Corrections,
    current_times,
    plan_correction,
    utc_text,
)
from bot.interactions.lookup import IncidentLookup
from bot.interactions.replies import Replies, Requester
from bot.slack import SlackError, SlackGateway, blocks, messages
from bot.warroom.resolution import Resolutions
from bot.warroom.setup import WarRooms


@dataclass(frozen=True)
class CorrectionOutcome:
    errors: dict[str, str] | None = None
    incident: IncidentRecord | None = None
    plan: CorrectionPlan | None = None


def epoch(value: int) -> datetime:
    return datetime.fromtimestamp(value, UTC)


class TimeCorrections:
    def __init__(
        self,
        lookup: IncidentLookup,
        corrections: Corrections,
        war_rooms: WarRooms,
        resolutions: Resolutions,
        replies: Replies,
        slack: SlackGateway,
        clock: Clock,
    ) -> None:
        self._lookup = lookup
        self._corrections = corrections
        self._war_rooms = war_rooms
        self._resolutions = resolutions
        self._replies = replies
        self._slack = slack
        self._clock = clock

    async def open_form(self, requester: Requester, incident_id: int, trigger_id: str) -> None:
        """The "Edit times" button."""
        incident = await self._lookup.numbered(requester, incident_id)
        if incident is None or await self._lookup.refused(requester, "correct", incident):
            return
        form = blocks.edit_times_modal(incident, current_times(incident), {k: label for k, (_, label) in TIME_FIELDS.items()})
        try:
            await self._slack.views.open(trigger_id, form)
        except SlackError as error:
            await self._replies.tell(requester, f"Could not open the form: {error}.")

    async def correct(
        self,
        requester: Requester,
        incident_id: int,
        original: dict[str, datetime],
        submitted: dict[str, datetime | None],
        reason: str | None,
    ) -> CorrectionOutcome:
        """The submitted form. A refusal or a problem is returned for the form to show under its
        field, and writes nothing; nobody is told anything else."""
        incident = await self._lookup.get(incident_id)
        if incident is None:
            return CorrectionOutcome(errors={"reason": messages.unknown_incident(f"INC-{incident_id}")})
        refusal = await self._lookup.refusal("correct", incident, requester)
        if refusal is not None:
            return CorrectionOutcome(errors={"reason": refusal.text})
        if set(original) != set(current_times(incident)):
            return CorrectionOutcome(errors={"reason": messages.CORRECTION_CONFLICT})
        try:
            plan = plan_correction(original, submitted, reason, now=self._clock())
        except CorrectionErrors as problems:
            return CorrectionOutcome(errors=problems.errors)
        try:
            record = await self._corrections.apply(incident_id, plan, by=requester.user_id)
        except CorrectionConflict:
            return CorrectionOutcome(errors={"reason": messages.CORRECTION_CONFLICT})
        return CorrectionOutcome(incident=record, plan=plan)

    async def show(self, requester: Requester, outcome: CorrectionOutcome) -> None:
        """Announce an applied correction and bring the resolution posts up to date."""
        record, plan = outcome.incident, outcome.plan
        assert record is not None and plan is not None
        described = "; ".join(
            f"*{TIME_FIELDS[name][1].lower()}* from {utc_text(old)} to {utc_text(new)}" for name, (old, new) in plan.changes.items()
        )
        line = messages.corrected_line(requester.user_id, described, plan.reason)
        failures = await self._war_rooms.refresh(record, announce_line=line)
        if record.timeline.restored:
            failures += await self._resolutions.show_correction(record.id)
        if failures:
            await self._replies.tell(requester, messages.told_with_failures("The correction", failures, record.reference))
