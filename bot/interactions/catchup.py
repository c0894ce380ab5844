"""Catching up: the catch-up shown to whoever joins a war room (only to them), ``/incident
catchup`` on demand, and the open questions it lists (``question``, ``answer``)."""

from __future__ import annotations

import logging
from dataclasses import replace

from bot.core.command_text import CommandTextError, parse_answer, unescape_slack
from bot.core.phases import BUTTON_STAMPS, Stamp
from bot.core.records import IncidentRecord
from bot.incidents.clicks import NotPermitted, click_permission
from bot.incidents.stamping import Stamper
from bot.interactions.lookup import IncidentLookup
from bot.interactions.replies import Replies, Requester
from bot.slack import SlackError, SlackGateway, messages
from bot.slack.catchup import CatchUp, catchup_blocks, catchup_text
from bot.warroom.catchup import CatchUpFacts
from storage.war_room_joins import QUESTION

log = logging.getLogger(__name__)


class CatchUps:
    def __init__(self, facts: CatchUpFacts, lookup: IncidentLookup, replies: Replies, slack: SlackGateway, stamper: Stamper) -> None:
        self._facts = facts
        self._lookup = lookup
        self._replies = replies
        self._slack = slack
        self._stamper = stamper

    async def joined(self, channel: str, user: str, *, event_id: str, inviter: str | None) -> None:
        """Slack's member_joined_channel: record the join and, in a war room, show the joiner (and
        only them) the catch-up. A redelivered event finds its join recorded and shows nothing."""
        try:
            bot_user = await self._slack.identity.bot_user_id()
        except SlackError as error:
            log.warning("join of %s in %s not recorded: %s", user, channel, error)
            return
        if user == bot_user:
            return
        joined = await self._facts.record_join(channel, user, event_id=event_id, inviter=inviter, bot_user=bot_user)
        if joined is None or user == joined.incident.opened_by:
            return
        catchup = await self._for_reader(await self._facts.read(joined.incident), user)
        try:
            await self._slack.chat.post_ephemeral(channel, user, catchup_text(catchup), blocks=catchup_blocks(catchup))
        except SlackError as error:  # user_not_in_channel: they left again before it was shown
            log.warning("catch-up for %s in %s not shown: %s", user, channel, error)

    async def catchup(self, requester: Requester, argument: str) -> None:
        """``/incident catchup [INC-42]``: only for the person who asked; a private incident only
        for the people in its war room (anyone else learns only that it is private)."""
        incident = await self._lookup.named_or_here(requester, argument)
        if incident is None or await self._lookup.hidden_from(requester, incident):
            return
        catchup = await self._for_reader(await self._facts.read(incident), requester.user_id)
        await self._replies.tell(requester, catchup_text(catchup), blocks_=catchup_blocks(catchup))

    async def _for_reader(self, catchup: CatchUp, user: str) -> CatchUp:
        """The catch-up with the buttons ``user`` may press: Acknowledge while nobody has, and the
        phase stamps still open (marking verified takes the ``close`` permission, the others ``stamp``)."""
        incident = catchup.incident
        if incident.status != "open":
            return catchup
        may_stamp = await self._may(incident, "stamp", user)
        may_close = await self._may(incident, "close", user)
        stamps = tuple(
            stamp
            for stamp in BUTTON_STAMPS
            if stamp in incident.timeline.open_stamps() and (may_close if stamp is Stamp.VERIFIED else may_stamp)
        )
        return replace(catchup, may_acknowledge=may_stamp and incident.acknowledged_at is None, stamps=stamps)

    async def _may(self, incident: IncidentRecord, action: str, user: str) -> bool:
        return await self._lookup.permissions.check(action, incident, user) is None

    async def question(self, requester: Requester, text: str) -> None:
        """``/incident question <text>`` in a war room: an open question on the timeline."""
        text = unescape_slack(text).strip()
        if not text:
            await self._replies.tell(requester, messages.QUESTION_USAGE)
            return
        if not requester.channel_id:
            await self._replies.tell(requester, messages.NOT_IN_WAR_ROOM_FOR_NOTE)
            return
        permission = click_permission(self._lookup.permissions, "stamp", requester.user_id)
        noted = await self._stamper.note(requester.channel_id, QUESTION, actor=requester.user_id, text=text, permission=permission)
        if isinstance(noted, NotPermitted):
            await self._replies.tell(requester, noted.refusal.text)
        elif noted.incident is None:
            await self._replies.tell(requester, messages.NOT_IN_WAR_ROOM_FOR_NOTE)
        else:
            asked = await self._facts.questions(noted.incident.id)
            mine = [q.number for q in asked if q.event.actor == requester.user_id and q.event.text == text]
            number = mine[-1] if mine else len(asked)
            await self._replies.tell(requester, messages.question_noted(noted.incident.reference, number))

    async def answer(self, requester: Requester, text: str) -> None:
        """``/incident answer <number> <text>`` in a war room: the question is no longer open."""
        incident = await self._lookup.here(requester, messages.NOT_IN_WAR_ROOM_FOR_NOTE)
        if incident is None:
            return
        try:
            number, answer = parse_answer(unescape_slack(text))
        except CommandTextError as error:
            await self._replies.tell(requester, messages.typed_text_refused(error))
            return
        if await self._lookup.refused(requester, "stamp", incident):
            return
        question, answered = await self._facts.answer(incident.id, number, by=requester.user_id, text=answer)
        if question is None:
            count = len(await self._facts.questions(incident.id))
            await self._replies.tell(requester, messages.no_such_question(incident.reference, number, count))
        elif not answered:
            by = question.answer.actor if question.answer else None
            await self._replies.tell(requester, messages.question_already_answered(incident.reference, number, by))
        else:
            await self._replies.tell(requester, messages.question_answered(incident.reference, number))
