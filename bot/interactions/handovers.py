"""Handing over command: ``/incident handover @bob <note>``, the "Hand over" button and its form,
and the new commander's Accept and Decline.

Who may hand over: the commander, or whoever may assign roles (``PermissionChecks.check_handover``).
Not to oneself, not to whoever already holds command, not to a bot or a deactivated account.
The handover is recorded (the commander, the note, the timeline) before Slack hears anything;
then its Slack steps run, each exactly once (bot.warroom.handover_posts)."""

from __future__ import annotations

from bot.core.command_text import unescape_slack
from bot.core.handover_notes import HandoverNote, HandoverTextError, parse_handover_text
from bot.core.records import IncidentRecord
from bot.incidents.handovers import HandoverLog
from bot.incidents.operations import parse_reference
from bot.interactions.lookup import IncidentLookup
from bot.interactions.replies import Replies, Requester
from bot.interactions.roles_and_severity import why_cannot_hold_role
from bot.slack import SlackError, SlackGateway, messages
from bot.slack.handover_messages import handover_modal
from bot.warroom.handover_posts import HandoverPosts


class Handovers:
    def __init__(self, log: HandoverLog, posts: HandoverPosts, lookup: IncidentLookup, replies: Replies, slack: SlackGateway) -> None:
        self._log = log
        self._posts = posts
        self._lookup = lookup
        self._replies = replies
        self._slack = slack

    async def command(self, requester: Requester, text: str, *, request_key: str) -> None:
        """``/incident handover [INC-42] @bob <note>``: the war room's incident, or the one named."""
        try:
            parsed = parse_handover_text(unescape_slack(text))
        except HandoverTextError as error:
            await self._replies.tell(requester, messages.typed_text_refused(error))
            return
        if parsed.reference is not None:
            number = parse_reference(parsed.reference)
            if number is None:
                await self._replies.tell(requester, messages.bad_reference(parsed.reference))
                return
            incident = await self._lookup.numbered(requester, number)
        else:
            incident = await self._lookup.here(requester, messages.NOT_IN_WAR_ROOM_FOR_HANDOVER)
        if incident is not None:
            await self._hand_over(requester, incident, parsed.to_user, parsed.note, request_key=request_key)

    async def open_form(self, requester: Requester, incident_id: int, trigger_id: str) -> None:
        """The "Hand over" button on the control message."""
        incident = await self._lookup.numbered(requester, incident_id)
        if incident is None or await self._refused(requester, incident):
            return
        try:
            await self._slack.views.open(trigger_id, handover_modal(incident, private_metadata={"channel_id": requester.channel_id or ""}))
        except SlackError as error:
            await self._replies.tell(requester, f"Could not open the form: {error}.")

    async def from_form(self, requester: Requester, incident_id: int, to_user: str, note: HandoverNote, *, request_key: str) -> None:
        """The submitted form (its fields already checked: bot.core.handover_notes.form_errors)."""
        incident = await self._lookup.numbered(requester, incident_id)
        if incident is not None:
            await self._hand_over(requester, incident, to_user, note, request_key=request_key)

    async def _refused(self, requester: Requester, incident: IncidentRecord) -> bool:
        refusal = await self._lookup.permissions.check_handover(incident, requester.user_id)
        if refusal is not None:
            await self._replies.tell(requester, refusal.text)
        return refusal is not None

    async def _hand_over(
        self, requester: Requester, incident: IncidentRecord, to_user: str, note: HandoverNote, *, request_key: str
    ) -> None:
        # A copy of a request that already handed over (Slack's retry, a double submit) is told
        # so before anything else: once it has, the requester may no longer be commander and the
        # new commander is the one named, and the checks below would answer as to a new request.
        if await self._log.of_request(request_key) is not None:
            await self._replies.tell(requester, messages.handover_already_recorded(incident.reference))
            return
        if await self._refused(requester, incident):
            return
        if to_user == incident.commander:
            await self._replies.tell(requester, messages.handover_to_commander(to_user, incident.reference))
            return
        if to_user == requester.user_id:
            await self._replies.tell(requester, messages.handover_to_oneself(incident.reference))
            return
        if reason := await why_cannot_hold_role(self._slack, to_user):
            await self._replies.tell(requester, messages.role_target_refused(to_user, "Commander", incident.reference, reason))
            return
        result = await self._log.hand_over(
            incident.id, to_user, note, by=requester.user_id, commander_seen=incident.commander, request_key=request_key
        )
        if result.outcome == "already":
            await self._replies.tell(requester, messages.handover_already_recorded(result.incident.reference))
            return
        if result.outcome == "commander_changed":
            await self._replies.tell(requester, messages.handover_commander_changed(result.incident.commander, result.incident.reference))
            return
        if result.outcome == "already_commander" or result.handover is None:
            await self._replies.tell(requester, messages.handover_to_commander(to_user, result.incident.reference))
            return
        report = await self._posts.publish(result.handover, result.incident, look=False)
        if report.failures:
            await self._replies.tell(requester, messages.told_with_failures("The handover", report.failures, result.incident.reference))
        else:
            await self._replies.tell(requester, messages.handed_over(to_user, result.incident.reference))

    async def answer(self, requester: Requester, handover_id: int, *, accept: bool) -> None:
        """Accept or Decline on the new commander's DM."""
        answered = await self._log.answer(handover_id, by=requester.user_id, accept=accept)
        if answered is None:
            await self._replies.tell(requester, messages.NO_SUCH_HANDOVER)
            return
        handover, incident = answered.handover, answered.incident
        if answered.outcome == "not_theirs":
            if await self._lookup.hidden_from(requester, incident):
                return  # names nobody of a private incident to someone outside it
            await self._replies.tell(requester, messages.handover_not_theirs(handover.to_user))
            return
        if answered.outcome == "already":
            await self._replies.tell(requester, messages.handover_already_answered(handover.answer or "", incident.reference))
            return
        if answered.outcome == "commander_changed":
            await self._replies.tell(requester, messages.handover_overtaken(incident.commander, incident.reference, accept=accept))
            return
        if accept:
            try:
                await self._posts.show_answer(handover, incident)
            except SlackError as error:
                await self._replies.tell(requester, f"Your acceptance is recorded, but the message could not be updated ({error}).")
            return
        report = await self._posts.publish_decline(handover, incident, look=False)
        if report.failures:
            await self._replies.tell(requester, messages.told_with_failures("The decline", report.failures, incident.reference))
