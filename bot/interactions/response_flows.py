"""Running the response: roles, severity, status updates, break-glass access, corrections of
phase times and follow-up action items. Each flow checks the permission first (a refusal changes
nothing), commits to the database, then brings Slack up to date and tells the person."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.core.clock import Clock
from bot.core.command_text import CommandTextError, parse_severity, unescape_slack
from bot.core.records import IncidentRecord
from bot.core.roles import ROLES, RoleTextError, parse_role_text
from bot.incidents.action_items import LIST_USAGE, ActionItems, ActionRequest, parse_action_text
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
from bot.incidents.operations import Incidents, parse_reference
from bot.incidents.permissions import PermissionChecks, who_may
from bot.interactions.flows import Flows, Requester
from bot.slack import SlackError, SlackGateway, blocks, messages
from bot.warroom.resolution import Resolutions
from bot.warroom.setup import WarRooms

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CorrectionOutcome:
    errors: dict[str, str] | None = None
    incident: IncidentRecord | None = None
    plan: CorrectionPlan | None = None


class ResponseFlows:
    def __init__(
        self,
        flows: Flows,
        incidents: Incidents,
        war_rooms: WarRooms,
        resolutions: Resolutions,
        corrections: Corrections,
        action_items: ActionItems,
        permissions: PermissionChecks,
        slack: SlackGateway,
        clock: Clock,
        announce_channel: str | None,
    ) -> None:
        self._flows = flows
        self._incidents = incidents
        self._war_rooms = war_rooms
        self._resolutions = resolutions
        self._corrections = corrections
        self._items = action_items
        self._permissions = permissions
        self._slack = slack
        self._clock = clock
        self._announce_channel = announce_channel

    async def _tell(self, requester: Requester, text: str) -> None:
        await self._flows.tell(requester, text)

    async def _war_room_incident(self, requester: Requester) -> IncidentRecord | None:
        incident = await self._incidents.in_channel(requester.channel_id) if requester.channel_id else None
        if incident is None:
            await self._tell(requester, messages.NOT_IN_WAR_ROOM_FOR_COMMAND)
        return incident

    async def _refused(self, requester: Requester, action: str, incident: IncidentRecord | None) -> bool:
        refusal = await self._permissions.check(action, incident, requester.user_id)
        if refusal is not None:
            await self._tell(requester, refusal.text)
            return True
        return False

    async def _post(self, channel: str, text: str, failures: list[str], what: str) -> None:
        try:
            await self._slack.post_message(channel, text)
        except SlackError as error:
            failures.append(f"{what} ({error})")

    # ---- roles ------------------------------------------------------------------------------

    async def role(self, requester: Requester, text: str) -> None:
        incident = await self._war_room_incident(requester)
        if incident is None:
            return
        try:
            role, user = parse_role_text(unescape_slack(text))
        except RoleTextError as error:
            await self._tell(requester, messages.typed_text_refused(error))
            return
        await self._assign(requester, incident, role, user)

    async def role_from_select(self, requester: Requester, incident_id: int, role: str, user: str) -> None:
        incident = await self._incidents.get(incident_id)
        if incident is None:
            await self._tell(requester, messages.unknown_incident(f"INC-{incident_id}"))
            return
        await self._assign(requester, incident, role, user)

    async def _assign(self, requester: Requester, incident: IncidentRecord, role: str, user: str) -> None:
        if await self._refused(requester, "roles", incident):
            return
        label = ROLES[role]
        if reason := await self._cannot_hold_role(user):
            await self._tell(requester, messages.role_target_refused(user, label, incident.reference, reason))
            return
        result = await self._incidents.assign_role(incident.id, role, user, by=requester.user_id)
        if result is None:
            await self._tell(requester, messages.role_unchanged(user, label, incident.reference))
            return
        record, _previous = result
        line = messages.role_assigned_line(requester.user_id, user, label, record.reference)
        failures = await self._war_rooms.refresh(record, announce_line=line)
        if record.channel_id:
            try:
                await self._slack.invite(record.channel_id, [user])
            except SlackError as error:
                failures.append(f"<@{user}> could not be invited to the war room ({error})")
        try:
            await self._slack.post_message(user, messages.role_dm(label, record.reference, record.channel_id, record.title))
        except SlackError as error:
            failures.append(f"<@{user}> could not be told by direct message ({error})")
        if failures:
            await self._tell(requester, messages.told_with_failures("The role", failures, record.reference))

    async def _cannot_hold_role(self, user: str) -> str | None:
        """Why ``user`` cannot hold a role, or None when they can. A role goes to a person who can
        act on it: not a deactivated account, a bot or Slackbot, which would leave the incident
        with a commander nobody can reach (and only an admin able to close it). When Slack cannot
        say, the assignment is refused (fail closed)."""
        try:
            person = await self._slack.user(user)
        except SlackError as error:
            if error.code == "user_not_found":
                return "there is no such user in this workspace"
            return f"Slack could not say who that is ({error}); try again"
        if person.is_slackbot:
            return "Slackbot is not a person"
        if person.deleted:
            return "that account is deactivated"
        if person.is_bot:
            return "that is a bot, not a person"
        return None

    # ---- severity and status updates -------------------------------------------------------

    async def severity(self, requester: Requester, text: str) -> None:
        incident = await self._war_room_incident(requester)
        if incident is None:
            return
        try:
            severity = parse_severity(text.strip().removeprefix("sev:")) if text.strip() else None
        except CommandTextError as error:
            await self._tell(requester, messages.typed_text_refused(error))
            return
        if severity is None:
            await self._tell(requester, messages.SEVERITY_USAGE)
            return
        if await self._refused(requester, "severity", incident):
            return
        result = await self._incidents.change_severity(incident.id, severity, by=requester.user_id)
        if result is None:
            await self._tell(requester, messages.severity_unchanged(incident.reference, severity))
            return
        record, before = result
        failures = await self._war_rooms.refresh(record, announce_line=messages.severity_line(requester.user_id, before, severity))
        if failures:
            await self._tell(requester, messages.told_with_failures("The severity", failures, record.reference))

    async def update(self, requester: Requester, text: str) -> None:
        incident = await self._war_room_incident(requester)
        if incident is None:
            return
        text = unescape_slack(text).strip()
        if not text:
            await self._tell(requester, messages.UPDATE_USAGE)
            return
        if await self._refused(requester, "stamp", incident):
            return
        await self._incidents.add_to_timeline(incident.id, "status_update", actor=requester.user_id, text=f"Status update: {text}")
        failures: list[str] = []
        posts = []
        if incident.channel_id:
            posts.append(
                self._post(incident.channel_id, messages.update_in_war_room(requester.user_id, text), failures, "the war room was not told")
            )
        if self._announce_channel and not incident.is_private:
            posts.append(
                self._post(
                    self._announce_channel,
                    messages.update_announcement(
                        incident.reference, incident.severity, incident.title, incident.channel_id, requester.user_id, text
                    ),
                    failures,
                    f"<#{self._announce_channel}> was not told",
                )
            )
        await asyncio.gather(*posts)
        if failures:
            await self._tell(requester, messages.told_with_failures("The update", failures, incident.reference))

    async def breakglass(self, requester: Requester, text: str) -> None:
        """``/incident breakglass [INC-42] <reason>``: in the war room, or from anywhere with the
        incident's number. It is how an admin gets into a private incident they are not in (the
        permission checks keep admins out of private incidents otherwise): invited, recorded in
        the audit trail and announced by name in the war room."""
        first, _, rest = text.strip().partition(" ")
        number = parse_reference(first) if first.upper().startswith("INC") else None
        if number is not None:
            incident = await self._incidents.get(number)
            if incident is None:
                await self._tell(requester, messages.unknown_incident(f"INC-{number}"))
                return
            text = rest
        else:
            incident = await self._war_room_incident(requester)
            if incident is None:
                return
        reason = unescape_slack(text).strip()
        if not reason:
            await self._tell(requester, messages.BREAKGLASS_USAGE)
            return
        refusal = await self._permissions.check_breakglass(incident, requester.user_id)
        if refusal is not None:
            await self._tell(requester, refusal.text)
            return
        await self._incidents.record_breakglass(incident.id, reason, by=requester.user_id)
        failures: list[str] = []
        if incident.channel_id and requester.channel_id != incident.channel_id:
            try:
                await self._slack.invite(incident.channel_id, [requester.user_id])
            except SlackError as error:
                failures.append(f"you could not be invited to the war room ({error})")
        posts = []
        if incident.channel_id:
            posts.append(
                self._post(
                    incident.channel_id, messages.breakglass_in_war_room(requester.user_id, reason), failures, "the war room was not told"
                )
            )
        if self._announce_channel:
            posts.append(
                self._post(
                    self._announce_channel,
                    messages.breakglass_announcement(incident.reference, requester.user_id, reason, incident.is_private),
                    failures,
                    f"<#{self._announce_channel}> was not told",
                )
            )
        await asyncio.gather(*posts)
        if failures:
            await self._tell(requester, messages.told_with_failures("The break-glass access", failures, incident.reference))
        else:
            await self._tell(requester, messages.breakglass_recorded(incident.reference))

    # ---- corrections ---------------------------------------------------------------------------

    async def open_edit_times(self, requester: Requester, incident_id: int, trigger_id: str) -> None:
        incident = await self._incidents.get(incident_id)
        if incident is None:
            await self._tell(requester, messages.unknown_incident(f"INC-{incident_id}"))
            return
        if await self._refused(requester, "correct", incident):
            return
        form = blocks.edit_times_modal(incident, current_times(incident), {k: label for k, (_, label) in TIME_FIELDS.items()})
        try:
            await self._slack.open_view(trigger_id, form)
        except SlackError as error:
            await self._tell(requester, f"Could not open the form: {error}.")

    async def correct_times(
        self,
        user: str,
        incident_id: int,
        original: dict[str, datetime],
        submitted: dict[str, datetime | None],
        reason: str | None,
    ) -> CorrectionOutcome:
        """The submitted "Edit times" form, checked and applied before Slack gets its answer, so
        every problem shows under its field in the form and a refused change writes nothing."""
        incident = await self._incidents.get(incident_id)
        if incident is None:
            return CorrectionOutcome(errors={"reason": messages.unknown_incident(f"INC-{incident_id}")})
        refusal = await self._permissions.check("correct", incident, user)
        if refusal is not None:
            return CorrectionOutcome(errors={"reason": refusal.text})
        if set(original) != set(current_times(incident)):
            return CorrectionOutcome(errors={"reason": messages.CORRECTION_CONFLICT})
        try:
            plan = plan_correction(original, submitted, reason, now=self._clock())
        except CorrectionErrors as problems:
            return CorrectionOutcome(errors=problems.errors)
        try:
            record = await self._corrections.apply(incident_id, plan, by=user)
        except CorrectionConflict:
            return CorrectionOutcome(errors={"reason": messages.CORRECTION_CONFLICT})
        return CorrectionOutcome(incident=record, plan=plan)

    async def show_correction(self, requester: Requester, outcome: CorrectionOutcome) -> None:
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
            await self._tell(requester, messages.told_with_failures("The correction", failures, record.reference))

    # ---- action items --------------------------------------------------------------------------

    async def add_action(self, requester: Requester, text: str) -> None:
        incident = await self._war_room_incident(requester)
        if incident is None:
            return
        try:
            request = parse_action_text(text, today=self._items.today())
        except CommandTextError as error:
            await self._tell(requester, messages.typed_text_refused(error))
            return
        await self._add(requester, incident, request)

    async def open_action_form(self, requester: Requester, incident_id: int, trigger_id: str) -> None:
        incident = await self._incidents.get(incident_id)
        if incident is None:
            await self._tell(requester, messages.unknown_incident(f"INC-{incident_id}"))
            return
        if await self._refused(requester, "stamp", incident):
            return
        metadata = {"channel_id": requester.channel_id or ""}
        try:
            await self._slack.open_view(trigger_id, blocks.add_action_modal(incident, private_metadata=metadata))
        except SlackError as error:
            await self._tell(requester, f"Could not open the form: {error}.")

    async def add_action_from_form(self, requester: Requester, incident_id: int, request: ActionRequest) -> None:
        incident = await self._incidents.get(incident_id)
        if incident is None:
            await self._tell(requester, messages.unknown_incident(f"INC-{incident_id}"))
            return
        await self._add(requester, incident, request)

    async def _add(self, requester: Requester, incident: IncidentRecord, request: ActionRequest) -> None:
        if await self._refused(requester, "stamp", incident):
            return
        item = await self._items.create(incident.id, request, by=requester.user_id)
        failures: list[str] = []
        try:
            await self._items.send_to_owner(item, heading=messages.action_owner_heading(incident.reference, incident.channel_id))
        except SlackError as error:
            failures.append(f"<@{item.owner}> could not be told by direct message ({error})")
        failures += await self._resolutions.refresh_actions_message(incident.id)
        if failures:
            await self._tell(requester, messages.told_with_failures(f"Action item #{item.id}", failures, incident.reference))
        else:
            await self._tell(requester, messages.action_added(item.id, incident.reference, item.owner))

    async def action_done(self, requester: Requester, item_id: int) -> None:
        item = await self._items.get(item_id)
        if item is None:
            await self._tell(requester, messages.UNKNOWN_ACTION_ITEM)
            return
        if requester.user_id != item.owner:
            incident = await self._incidents.get(item.incident_id)
            try:
                allowed = await self._permissions.allowed("correct", incident, requester.user_id)
            except SlackError:
                allowed = False
            if not allowed:
                if incident is not None and incident.is_private and not await self._permissions.in_war_room(incident, requester.user_id):
                    await self._tell(requester, messages.PRIVATE_INCIDENT)  # no owner, no commander named
                    return
                who = who_may(self._permissions.policy, "correct", incident)
                await self._tell(requester, messages.action_done_refused(item_id, item.owner, who))
                return
        record, closed = await self._items.mark_done(item_id, by=requester.user_id)
        if not closed:
            await self._tell(requester, messages.action_already_done(item_id, record.done_by))
            return
        failures = await self._resolutions.refresh_actions_message(record.incident_id)
        if failures:
            log.warning("action item %s: %s", item_id, failures)

    async def list_actions(self, requester: Requester, text: str) -> None:
        which = text.strip().lower() or "open"
        if which not in ("mine", "open", "overdue"):
            await self._tell(requester, f"I list `mine`, `open` or `overdue` action items: {LIST_USAGE}.")
            return
        incident = await self._incidents.in_channel(requester.channel_id) if requester.channel_id else None
        items = await self._items.listing(which=which, requester=requester.user_id, incident_id=incident.id if incident else None)
        if incident is None:
            # Outside a war room, a private incident's items show only to their owner.
            items = [i for i in items if not i.incident_private or i.owner == requester.user_id]
        scope = f"in {incident.reference}" if incident else ("of yours" if which == "mine" else "across incidents")
        today = self._items.today()
        label = {"mine": "open", "open": "open", "overdue": "overdue"}[which]
        await self._tell(requester, messages.action_list(label, scope, [f"#{i.id} {i.line(today)}" for i in items]))


def epoch(value: int) -> datetime:
    return datetime.fromtimestamp(value, UTC)
