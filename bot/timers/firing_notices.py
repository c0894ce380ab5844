"""What a timer tells Slack when it fires, one recorded step at a time: the war-room line, the
invitation, each direct message, the announcement and a chain level's pages outside Slack. A
retry does only the steps still missing, so nobody is paged or told twice."""

from __future__ import annotations

import functools
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

from bot.core.clock import Clock
from bot.core.records import IncidentRecord
from bot.core.timefmt import human_duration
from bot.paging.pager import PageLinks, Pager, PageResult, PageTarget, SlackOnlyPager, pager_name
from bot.slack import SlackError, SlackGateway, messages
from bot.slack.blocks import drill_text
from bot.timers.escalation_targets import EscalationTargets, PagePlan
from bot.timers.rules import TimerKind
from bot.warroom.setup import WarRooms
from storage import incidents as incident_rows
from storage import timers as timer_rows
from storage.db import Database

log = logging.getLogger(__name__)

MAX_DIRECT_MESSAGES = 10


@dataclass
class FiringSteps:
    """The Slack steps of one firing that Slack already confirmed, and where to record the next."""

    incident_id: int
    kind: TimerKind
    slot: str
    done: set[str] = field(default_factory=set)


class FiringStepLog:
    """Owns the record of a firing's steps: each done once, recorded as Slack confirms it, under this scheduler's identity."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self.identity = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"

    async def step(self, steps: FiringSteps, name: str, call: Callable[[], Awaitable[Any]]) -> None:
        """Do one Slack step of a firing unless an earlier attempt did it; record it once Slack
        confirms it. Raises SlackError."""
        if name in steps.done:
            return
        await call()
        async with self._db.single_statements() as session:
            await timer_rows.record_step(session, steps.incident_id, steps.kind.value, steps.slot, name, by=self.identity, at=self._clock())
        steps.done.add(name)


class PagesOutsideSlack:
    """Owns a chain level's pages outside Slack (through the Pager) and the timeline line of one that failed."""

    def __init__(self, db: Database, clock: Clock, slack: SlackGateway, pager: Pager | None = None) -> None:
        self._db = db
        self._clock = clock
        self.slack = slack
        self.pager: Pager = pager or SlackOnlyPager()

    async def send(self, incident: IncidentRecord, level: int, target: PageTarget) -> None:
        """A page outside Slack; one that failed is said on the timeline (the pager retries what it can).
        A private incident's page carries no link to its war room: the room is its members' alone."""
        control_url = None
        if incident.channel_id and incident.control_message_ts and not incident.is_private:
            try:
                control_url = await self.slack.chat.permalink(incident.channel_id, incident.control_message_ts)
            except SlackError as error:
                log.warning("%s: no permalink for the control message: %s", incident.reference, error)
        war_room_url = (
            f"https://slack.com/app_redirect?channel={incident.channel_id}" if incident.channel_id and not incident.is_private else None
        )
        links = PageLinks(war_room=war_room_url, control_message=control_url)
        try:
            result = await self.pager.trigger(incident, level=level, target=target, links=links)
        except Exception as error:  # a pager's own fault must not keep the level's other pages from going out
            log.exception("%s: the %s pager failed on level %s", incident.reference, target.kind, level)
            result = PageResult("failed", f"{type(error).__name__}: {error}")
        if result.outcome == "failed":
            async with self._db.transaction() as session:
                await incident_rows.add_event(
                    session,
                    incident.id,
                    "page_failed",
                    at=self._clock(),
                    text=f"Could not page level {level} through {pager_name(target.kind)}: {result.reason}",
                    data={"level": level, "pager": target.kind, "reason": result.reason},
                )


@dataclass(frozen=True, eq=False)
class TimerNotices:
    """Owns what each kind of timer tells Slack when it fires (lines, invitations, direct messages, announcements, pages)."""

    step_log: FiringStepLog
    slack: SlackGateway
    war_rooms: WarRooms
    targets: EscalationTargets
    pages: PagesOutsideSlack
    _: KW_ONLY
    announce_channel: str | None

    async def _post(self, steps: FiringSteps, name: str, channel: str, incident: IncidentRecord, text: str) -> None:
        """Post ``text`` (with a drill's banner) to ``channel`` as the firing's step ``name``."""
        await self.step_log.step(steps, name, lambda: self.slack.chat.post(channel, drill_text(incident.is_drill, text)))

    async def _direct_messages(
        self, steps: FiringSteps, incident: IncidentRecord, people: Sequence[str], let_in: Callable[[str], bool], why: str, page_why: str
    ) -> None:
        """A direct message to each person paged (at most MAX_DIRECT_MESSAGES): the title and the
        war room to those let in, else only that the incident exists and whom to ask."""
        assert incident.channel_id
        for person in people[:MAX_DIRECT_MESSAGES]:
            text = (
                messages.escalation_dm(incident.reference, incident.severity, incident.title, why, incident.channel_id)
                if let_in(person)
                else messages.private_escalation_page(incident.reference, incident.severity, page_why, incident.commander)
            )
            await self._post(steps, f"dm:{person}", person, incident, text)

    async def notify(self, incident: IncidentRecord, kind: TimerKind, after: str, steps: FiringSteps) -> None:
        if kind is TimerKind.CLOSE:
            if incident.channel_id:
                await self._post(steps, "war_room", incident.channel_id, incident, messages.closed_line(incident.reference, after))
                await self.war_rooms.refresh(incident)
            return
        assert incident.channel_id
        channel = incident.channel_id
        if kind is TimerKind.CHAIN_EXHAUSTED:
            await self._post(steps, "war_room", channel, incident, messages.chain_exhausted_line(incident.reference, after))
            if self.announce_channel:
                notice = (
                    messages.private_chain_exhausted_announcement(incident.reference, incident.severity, after)
                    if incident.is_private
                    else messages.chain_exhausted_announcement(incident.reference, incident.severity, incident.title, after, channel)
                )
                await self._post(steps, "announcement", self.announce_channel, incident, notice)
            return
        if kind is TimerKind.REMINDER:
            await self._post(steps, "war_room", channel, incident, messages.reminder_line(incident.reference, after))
            return
        # A private incident still pages, but only its catalog's ``private_escalation`` contact
        # is invited and told the title; without one, the usual contacts get a direct message
        # saying that it exists, its number and whom to ask, and the announcement channel gets
        # neither title nor people.
        contact = await self.targets.private_escalation_contact(incident) if incident.is_private and not incident.is_drill else None
        if contact is not None:
            mentions, people = [f"<@{contact}>"], [contact]
        else:
            mentions, people = await self.targets.escalation_targets(incident)
        let_in = not incident.is_private or contact is not None
        targets = " ".join(mentions) or messages.NO_ESCALATION_CONTACT
        if kind is TimerKind.ACK_ESCALATION:
            line = messages.ack_escalation_line(incident.reference, after, targets)
            why, page_why = f"nobody acknowledged it within {after}", f"has not been acknowledged for {after}"
        else:
            line = messages.mitigation_escalation_line(incident.reference, incident.severity, after, targets)
            why, page_why = f"it is not mitigated after {after}", f"is not mitigated after {after}"
        await self._post(steps, "war_room", channel, incident, line)
        if people and let_in:
            await self.step_log.step(steps, "invite", lambda: self.slack.channels.invite(channel, people))
        await self._direct_messages(steps, incident, people, lambda _person: let_in, why, page_why)
        if kind is TimerKind.MITIGATION_ESCALATION and self.announce_channel:
            announcement = (
                messages.private_escalation_announcement(incident.reference, after)
                if incident.is_private
                else messages.escalation_announcement(
                    incident.reference, incident.severity, incident.title, after, incident.channel_id, targets
                )
            )
            await self._post(steps, "announcement", self.announce_channel, incident, announcement)

    async def page(self, incident: IncidentRecord, plan: PagePlan, steps: FiringSteps) -> None:
        """One chain level: the war-room line, the invitation (not into a private room), a direct
        message each (a private incident's without its title) and the pages outside Slack."""
        assert incident.channel_id
        channel = incident.channel_id
        after = human_duration(plan.after) if plan.after else None  # None: a level paged at once
        line = messages.page_level_line(incident.reference, plan.level, after, plan.who() if plan.mentions else messages.NOBODY_AT_LEVEL)
        kept_out = [person for person in plan.people if person not in plan.let_in]
        if incident.is_private and kept_out:
            line += " " + messages.private_page_note(", ".join(f"<@{person}>" for person in plan.let_in))
        await self._post(steps, "war_room", channel, incident, line)
        if plan.let_in:
            let_in = list(plan.let_in)
            await self.step_log.step(steps, "invite", lambda: self.slack.channels.invite(channel, let_in))
        why = f"nobody acknowledged it within {after}" if after else "it is open and nobody has acknowledged it"
        page_why = f"has not been acknowledged for {after}" if after else "is open and not acknowledged"
        await self._direct_messages(steps, incident, plan.people, lambda person: person in plan.let_in, why, page_why)
        for target in plan.pagers:
            await self.step_log.step(steps, f"pager:{target.kind}", functools.partial(self.pages.send, incident, plan.level, target))
        try:
            await self.war_rooms.show_paging(incident)
        except SlackError as error:
            log.warning("%s: the control message could not show level %s: %s", incident.reference, plan.level, error)
