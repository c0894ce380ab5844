"""The incident timer scheduler inside ``incident-bot serve``: escalations, status-update
reminders and the close after monitoring (rules in bot/timers/rules.py).

Shaped like the digest scheduler: each tick looks at the database, and each firing is claimed
with a unique (incident, kind, slot) row in the same transaction that re-reads the incident and
writes its timeline event, so it fires once however many bot processes run and whatever
restarts happen, and never for an incident that has moved on (acknowledged, mitigated,
reopened, closed) since the tick looked. Slack is told after the commit, a step at a time (the
war-room line, the invitation, each direct message, the announcement), and each step is recorded
as Slack confirms it. A failed firing is recorded on the firing and the timeline and retried after
a pause, a few times, while it still matters (an escalation only while its incident is still not
acknowledged or not mitigated); a retry does only the steps still missing, so nobody is paged or
told twice.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import re
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.background import repeat_until_stopped
from bot.catalog.services import Catalog
from bot.core.clock import Clock
from bot.core.columns import record_from_columns
from bot.core.records import IncidentRecord
from bot.core.timefmt import human_duration
from bot.incidents.operations import to_record
from bot.paging.chain import ChainLevel, ChainTarget, level_of_slot
from bot.paging.drills import NO_DRILL_PAGING, DrillPaging
from bot.paging.pager import PageLinks, Pager, PageResult, PageTarget, SlackOnlyPager
from bot.slack import SlackError, SlackGateway, messages
from bot.slack.blocks import drill_text
from bot.timers.monitoring import close
from bot.timers.rules import Due, TimerKind, TimerSettings, TimerState, due_timers, still_due
from bot.warroom.setup import WarRooms
from storage import incidents as incident_rows
from storage import timers as timer_rows
from storage.db import Database
from storage.models import Incident

log = logging.getLogger(__name__)

TICK_SECONDS = 30.0
RETRY_AFTER = timedelta(minutes=1)
MAX_ATTEMPTS = 5
MAX_DIRECT_MESSAGES = 10
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


@dataclass(frozen=True)
class Fired:
    incident_id: int
    kind: TimerKind
    slot: str
    result: str  # notified | failed


@dataclass(frozen=True)
class PagePlan:
    """Who one chain level pages, resolved from the catalog and Slack when it fires."""

    level: int
    after: timedelta  # from opening
    mentions: tuple[str, ...]  # for the war-room line: <@U…>, <!subteam^S…>, "PagerDuty"
    people: tuple[str, ...]  # Slack users paged by direct message
    pagers: tuple[PageTarget, ...]  # pages sent through the Pager
    nobody: tuple[str, ...]  # targets that named nobody, in words (for the timeline)
    # Those of ``people`` invited into the war room and told the title: everyone paged for a public
    # incident; for a private one only its catalog's private_escalation contact, paged in place of
    # the escalation contact (the others get a page without the title and are not let in).
    let_in: tuple[str, ...] = ()

    def who(self) -> str:
        return ", ".join(self.mentions) or "nobody"

    def facts(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "mentions": list(self.mentions),
            "people": list(self.people),
            "invited": list(self.let_in),
            "pagers": [target.kind for target in self.pagers],
            "nobody": list(self.nobody),
        }


_PAGER_NAMES = {"pagerduty": "PagerDuty", "webhook": "the paging webhook"}


@dataclass
class FiringSteps:
    """The Slack steps of one firing that Slack already confirmed, and where to record the next."""

    incident_id: int
    kind: TimerKind
    slot: str
    done: set[str] = field(default_factory=set)


def _state(row: Incident, last_activity: datetime) -> TimerState:
    return record_from_columns(TimerState, row, incident_id=row.id, opened_at=row.created_at, last_activity_at=last_activity)


_EVENT_TEXT = {
    TimerKind.ACK_ESCALATION: "Escalated: not acknowledged after {after} ({severity}); paging the escalation contact",
    TimerKind.MITIGATION_ESCALATION: "Escalated: not mitigated after {after} ({severity}); escalation contact and announcement channel notified",
    TimerKind.REMINDER: "Reminder: no timeline activity for {after}",
    TimerKind.CHAIN_EXHAUSTED: "Escalation chain exhausted: every level paged, not acknowledged after {after} ({severity})",
}


class IncidentTimers:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: TimerSettings,
        *,
        slack: SlackGateway,
        catalog: Catalog,
        war_rooms: WarRooms,
        announce_channel: str | None,
        pager: Pager | None = None,
        drills: DrillPaging = NO_DRILL_PAGING,
    ) -> None:
        self._drills = drills
        self.pager: Pager = pager or SlackOnlyPager()
        self._db = db
        self._clock = clock
        self._settings = settings
        self._slack = slack
        self._catalog = catalog
        self._war_rooms = war_rooms
        self._announce_channel = announce_channel
        self.identity = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"

    async def run_once(self) -> list[Fired]:
        now = self._clock()
        async with self._db.reading() as session:
            watched = [(row.id, _state(row, last)) for row, last in await timer_rows.watched(session)]
        fired = []
        for incident_id, state in watched:
            for due in due_timers(state, self._settings, now):
                outcome = await self._fire(incident_id, due)
                if outcome is not None:
                    fired.append(outcome)
        async with self._db.reading() as session:
            failed = [
                (f.incident_id, TimerKind(f.kind), f.slot)
                for f in await timer_rows.failed_firings(session, failed_before=now - RETRY_AFTER)
            ]
        for incident_id, kind, slot in failed:
            outcome = await self._retry(incident_id, kind, slot)
            if outcome is not None:
                fired.append(outcome)
        return fired

    async def _retry(self, incident_id: int, kind: TimerKind, slot: str) -> Fired | None:
        """One more attempt at a failed firing, for its missing steps only."""
        now = self._clock()
        async with self._db.transaction() as session:
            row = await incident_rows.get(session, incident_id, for_update=True)
            if row is None or not self._still_worth_telling(kind, row):
                return None
            if not await timer_rows.claim_retry(
                session, incident_id, kind.value, slot, by=self.identity, at=now, failed_before=now - RETRY_AFTER, max_attempts=MAX_ATTEMPTS
            ):
                return None
            done = await timer_rows.steps_done(session, incident_id, kind.value, slot)
            record = to_record(row)
        log.info("%s: retrying the %s (done already: %s)", record.reference, kind.value, ", ".join(sorted(done)) or "nothing")
        return await self._tell_slack(record, FiringSteps(incident_id, kind, slot, done), self._span(kind, row, slot))

    def _level(self, severity: str, slot: str) -> ChainLevel | None:
        chain = self._settings.policy(severity).chain
        number = level_of_slot(slot)
        return chain.level(number) if chain and number is not None else None

    def _still_worth_telling(self, kind: TimerKind, row: Incident) -> bool:
        """A page about an incident someone took on (or mitigated) meanwhile is no longer sent; a
        reminder is moot once the failure itself is on the timeline; the close is news until told."""
        if kind in (TimerKind.ACK_ESCALATION, TimerKind.PAGE, TimerKind.CHAIN_EXHAUSTED):
            return row.status == "open" and row.acknowledged_at is None
        if kind is TimerKind.MITIGATION_ESCALATION:
            return row.status == "open" and row.mitigated_at is None
        return kind is TimerKind.CLOSE

    def _span(self, kind: TimerKind, row: Incident, slot: str = "once") -> str:
        policy = self._settings.policy(row.severity)
        if kind in (TimerKind.PAGE, TimerKind.CHAIN_EXHAUSTED):
            level = self._level(row.severity, slot)
            offset = policy.chain.exhausted_at_offset if policy.chain and kind is TimerKind.CHAIN_EXHAUSTED else None
            return human_duration(offset or (level.after if level else timedelta(0)))
        spans = {
            TimerKind.ACK_ESCALATION: policy.unacknowledged_after,
            TimerKind.MITIGATION_ESCALATION: policy.unmitigated_after,
            TimerKind.REMINDER: policy.reminder_every,
            TimerKind.CLOSE: self._settings.monitoring_window,
        }
        return human_duration(spans[kind] or timedelta(0))

    async def _fire(self, incident_id: int, due: Due) -> Fired | None:
        plan = None
        if due.kind is TimerKind.PAGE:
            # Who a level pages is looked up (catalog, Slack users and groups) before the claim, so
            # the claim's timeline event says who was paged and how, and the transaction stays short.
            async with self._db.reading() as session:
                looked = await incident_rows.get(session, incident_id)
            if looked is None:
                return None
            try:
                plan = await self._plan(to_record(looked), due.slot)
            except SlackError as error:  # a user or group lookup failed: the next tick tries again
                log.warning("INC-%s: could not look up whom level %s pages: %s", incident_id, due.slot, error)
                return None
        now = self._clock()
        async with self._db.transaction() as session:
            row = await incident_rows.get(session, incident_id, for_update=True)
            last = await timer_rows.last_activity(session, incident_id)
            if row is None or last is None:
                return None
            current = still_due(due.kind, due.slot, _state(row, last), self._settings, now)
            if current is None:
                return None  # acknowledged, mitigated, reopened or closed since the tick looked
            if not await timer_rows.claim(session, incident_id, due.kind.value, due.slot, by=self.identity, at=now):
                return None  # another process fired it
            after = human_duration(current.after)
            if due.kind is TimerKind.CLOSE:
                if not await close(session, incident_id, at=now, window=after):
                    return None
            elif plan is not None:
                how = f"{plan.who()}" + (f" (nobody for {'; '.join(plan.nobody)})" if plan.nobody else "")
                await incident_rows.add_event(
                    session,
                    incident_id,
                    TimerKind.PAGE.value,
                    at=now,
                    text=f"Paged level {plan.level}, not acknowledged after {after}: {how}",
                    data={"severity": row.severity, "after_seconds": int(current.after.total_seconds()), "slot": due.slot} | plan.facts(),
                )
            else:
                await incident_rows.add_event(
                    session,
                    incident_id,
                    due.kind.value,
                    at=now,
                    text=_EVENT_TEXT[due.kind].format(after=after, severity=row.severity),
                    data={"severity": row.severity, "after_seconds": int(current.after.total_seconds()), "slot": due.slot},
                )
            await session.flush()
            await session.refresh(row)
            record = to_record(row)
        return await self._tell_slack(record, FiringSteps(incident_id, due.kind, due.slot), after, plan)

    async def _tell_slack(self, record: IncidentRecord, steps: FiringSteps, after: str, plan: PagePlan | None = None) -> Fired:
        incident_id, kind, slot = steps.incident_id, steps.kind, steps.slot
        try:
            if kind is TimerKind.PAGE:
                await self._page(record, plan or await self._plan(record, slot), steps)
            else:
                await self._notify(record, kind, after, steps)
        except SlackError as error:
            log.error("%s: %s could not be posted: %s", record.reference, kind.value, error)
            async with self._db.transaction() as session:
                await timer_rows.finish(session, incident_id, kind.value, slot, status="failed", error=str(error))
                await incident_rows.add_event(
                    session,
                    incident_id,
                    "slack_step_failed",
                    at=self._clock(),
                    text=f"Could not post the {kind.value.replace('_', ' ')}: {error}",
                    data={"error": error.code},
                )
            return Fired(incident_id, kind, slot, "failed")
        async with self._db.transaction() as session:
            await timer_rows.finish(session, incident_id, kind.value, slot, status="notified")
        log.info("%s: %s fired", record.reference, kind.value)
        return Fired(incident_id, kind, slot, "notified")

    async def _step(self, steps: FiringSteps, name: str, call: Callable[[], Awaitable[Any]]) -> None:
        """Do one Slack step of a firing unless an earlier attempt did it; record it once Slack
        confirms it. Raises SlackError."""
        if name in steps.done:
            return
        await call()
        async with self._db.single_statements() as session:
            await timer_rows.record_step(session, steps.incident_id, steps.kind.value, steps.slot, name, by=self.identity, at=self._clock())
        steps.done.add(name)

    async def _notify(self, incident: IncidentRecord, kind: TimerKind, after: str, steps: FiringSteps) -> None:
        if kind is TimerKind.CLOSE:
            if incident.channel_id:
                channel = incident.channel_id
                await self._step(
                    steps,
                    "war_room",
                    lambda: self._slack.post_message(
                        channel, drill_text(incident.is_drill, messages.closed_line(incident.reference, after))
                    ),
                )
                await self._war_rooms.refresh(incident)
            return
        assert incident.channel_id
        if kind is TimerKind.CHAIN_EXHAUSTED:
            channel = incident.channel_id
            await self._step(
                steps,
                "war_room",
                lambda: self._slack.post_message(
                    channel, drill_text(incident.is_drill, messages.chain_exhausted_line(incident.reference, after))
                ),
            )
            if self._announce_channel:
                announce = self._announce_channel
                notice = (
                    messages.private_chain_exhausted_announcement(incident.reference, incident.severity, after)
                    if incident.is_private
                    else messages.chain_exhausted_announcement(incident.reference, incident.severity, incident.title, after, channel)
                )
                await self._step(steps, "announcement", lambda: self._slack.post_message(announce, drill_text(incident.is_drill, notice)))
            return
        if kind is TimerKind.REMINDER:
            channel = incident.channel_id
            await self._step(
                steps,
                "war_room",
                lambda: self._slack.post_message(channel, drill_text(incident.is_drill, messages.reminder_line(incident.reference, after))),
            )
            return
        # A private incident still pages, but only its catalog's ``private_escalation`` contact
        # is invited and told the title; without one, the usual contacts get a direct message
        # saying that it exists, its number and whom to ask, and the announcement channel gets
        # neither title nor people.
        contact = await self._private_escalation_contact(incident) if incident.is_private and not incident.is_drill else None
        if contact is not None:
            mentions, people = [f"<@{contact}>"], [contact]
        else:
            mentions, people = await self._escalation_targets(incident)
        let_in = not incident.is_private or contact is not None
        targets = " ".join(mentions) or messages.NO_ESCALATION_CONTACT
        if kind is TimerKind.ACK_ESCALATION:
            line = messages.ack_escalation_line(incident.reference, after, targets)
            why, page_why = f"nobody acknowledged it within {after}", f"has not been acknowledged for {after}"
        else:
            line = messages.mitigation_escalation_line(incident.reference, incident.severity, after, targets)
            why, page_why = f"it is not mitigated after {after}", f"is not mitigated after {after}"
        channel = incident.channel_id
        await self._step(steps, "war_room", lambda: self._slack.post_message(channel, drill_text(incident.is_drill, line)))
        if people and let_in:
            await self._step(steps, "invite", lambda: self._slack.invite(channel, people))
        for person in people[:MAX_DIRECT_MESSAGES]:
            text = (
                messages.escalation_dm(incident.reference, incident.severity, incident.title, why, incident.channel_id)
                if let_in
                else messages.private_escalation_page(incident.reference, incident.severity, page_why, incident.commander)
            )
            await self._step(
                steps, f"dm:{person}", functools.partial(self._slack.post_message, person, drill_text(incident.is_drill, text))
            )
        if kind is TimerKind.MITIGATION_ESCALATION and self._announce_channel:
            announcement = (
                messages.private_escalation_announcement(incident.reference, after)
                if incident.is_private
                else messages.escalation_announcement(
                    incident.reference, incident.severity, incident.title, after, incident.channel_id, targets
                )
            )
            announce = self._announce_channel
            await self._step(steps, "announcement", lambda: self._slack.post_message(announce, drill_text(incident.is_drill, announcement)))

    async def _plan(self, incident: IncidentRecord, slot: str) -> PagePlan:
        level = self._level(incident.severity, slot)
        mentions: list[str] = []
        people: list[str] = []
        let_in: list[str] = []
        pagers: list[PageTarget] = []
        nobody: list[str] = []
        for target in (self._drill_targets(level.targets) if incident.is_drill else level.targets) if level else ():
            if target.kind in ("pagerduty", "webhook"):
                pagers.append(PageTarget(target.kind))
                mentions.append(_PAGER_NAMES[target.kind])
                continue
            users, groups, entitled = await self._resolve(incident, target)
            if not users and not groups:
                nobody.append(target.describe())
            mentions += [f"<@{u}>" for u in users if f"<@{u}>" not in mentions] + [f"<!subteam^{g}>" for g in groups]
            for group in groups:
                users += sorted(await self._slack.usergroup_members(group))
            people += [u for u in users if u not in people]
            if entitled:
                let_in += [u for u in users if u not in let_in]
        return PagePlan(
            level.number if level else 0,
            level.after if level else timedelta(0),
            tuple(mentions),
            tuple(people),
            tuple(pagers),
            tuple(nobody),
            tuple(let_in),
        )

    def _drill_targets(self, targets: Sequence[ChainTarget]) -> list[ChainTarget]:
        """A drill's level pages the people named for drills, never the service's, and a pager
        outside Slack only when it is configured for drills."""
        pagers = {"pagerduty": self._drills.pagerduty_routing_key_env is not None, "webhook": self._drills.webhook}
        kept = [target for target in targets if pagers.get(target.kind, False)]
        return kept + [ChainTarget("slack_user", person) for person in self._drills.page]

    async def _resolve(self, incident: IncidentRecord, target: ChainTarget) -> tuple[list[str], list[str], bool]:
        """A Slack target's users and user groups (IDs), and whether they may be let into the war
        room and told the title: always for a public incident; for a private one only the catalog's
        ``private_escalation`` contact, who stands in for the service's escalation contact and group
        (as on the single-level page), and without one nobody."""
        if incident.is_private and not incident.is_drill and target.kind == "service_escalation":
            contact = await self._private_escalation_contact(incident)
            if contact is not None:
                return [contact], [], True
        service = self._catalog.get(incident.service)
        users: list[str | None] = []
        groups: list[tuple[str | None, str | None]] = []
        if target.kind == "slack_user":
            users.append(target.ref)
        elif target.kind == "slack_group" and target.ref:
            groups.append((target.ref, None) if target.ref.startswith("S") and target.ref.isupper() else (None, target.ref))
        elif service is not None and target.kind == "service_oncall":
            groups.append((service.oncall_group_id, service.oncall_group_handle))
        elif service is not None and target.kind == "service_escalation":
            users.append(service.escalation)
            groups.append((service.escalation_group_id, service.escalation_group_handle))
        elif service is not None and target.kind == "service_lead":
            users.append(service.lead)
        user_ids = []
        for user in users:
            if user and not _USER_ID.match(user):
                found = await self._slack.user_id_by_email(user)
                if found is None:
                    log.warning("%s: no Slack user with the email %s (%s)", incident.reference, user, target.kind)
                user = found
            if user and user not in user_ids:
                user_ids.append(user)
        group_ids = []
        for group_id, handle in groups:
            group = group_id or (await self._slack.usergroup_id(handle) if handle else None)
            if group:
                group_ids.append(group)
        return user_ids, group_ids, not incident.is_private

    async def _page(self, incident: IncidentRecord, plan: PagePlan, steps: FiringSteps) -> None:
        """One chain level: the war-room line, the invitation (not into a private room), a direct
        message each (a private incident's without its title) and the pages outside Slack."""
        assert incident.channel_id
        channel = incident.channel_id
        after = human_duration(plan.after) if plan.after else None  # None: a level paged at once
        line = messages.page_level_line(incident.reference, plan.level, after, plan.who() if plan.mentions else messages.NOBODY_AT_LEVEL)
        kept_out = [person for person in plan.people if person not in plan.let_in]
        if incident.is_private and kept_out:
            line += " " + messages.private_page_note(", ".join(f"<@{person}>" for person in plan.let_in))
        await self._step(steps, "war_room", lambda: self._slack.post_message(channel, drill_text(incident.is_drill, line)))
        if plan.let_in:
            let_in = list(plan.let_in)
            await self._step(steps, "invite", lambda: self._slack.invite(channel, let_in))
        why = f"nobody acknowledged it within {after}" if after else "it is open and nobody has acknowledged it"
        page_why = f"has not been acknowledged for {after}" if after else "is open and not acknowledged"
        for person in plan.people[:MAX_DIRECT_MESSAGES]:
            text = (
                messages.escalation_dm(incident.reference, incident.severity, incident.title, why, incident.channel_id)
                if person in plan.let_in
                else messages.private_escalation_page(incident.reference, incident.severity, page_why, incident.commander)
            )
            await self._step(
                steps, f"dm:{person}", functools.partial(self._slack.post_message, person, drill_text(incident.is_drill, text))
            )
        for target in plan.pagers:
            await self._step(steps, f"pager:{target.kind}", functools.partial(self._send_page, incident, plan.level, target))
        try:
            await self._war_rooms.show_paging(incident)
        except SlackError as error:
            log.warning("%s: the control message could not show level %s: %s", incident.reference, plan.level, error)

    async def _send_page(self, incident: IncidentRecord, level: int, target: PageTarget) -> None:
        """A page outside Slack; one that failed is said on the timeline (the pager retries what it can).
        A private incident's page carries no link to its war room: the room is its members' alone."""
        control_url = None
        if incident.channel_id and incident.control_message_ts and not incident.is_private:
            try:
                control_url = await self._slack.permalink(incident.channel_id, incident.control_message_ts)
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
                    text=f"Could not page level {level} through {_PAGER_NAMES[target.kind]}: {result.reason}",
                    data={"level": level, "pager": target.kind, "reason": result.reason},
                )

    async def _private_escalation_contact(self, incident: IncidentRecord) -> str | None:
        service = self._catalog.get(incident.service)
        if service is None or not service.private_escalation:
            return None
        contact = service.private_escalation
        user = contact if _USER_ID.match(contact) else await self._slack.user_id_by_email(contact)
        if user is None:
            log.warning("%s: no Slack user with the private_escalation email %s", service.name, contact)
        return user

    async def _escalation_targets(self, incident: IncidentRecord) -> tuple[list[str], list[str]]:
        """Who is paged: the service's escalation contact and its escalation (secondary) group;
        with neither in the catalog, its on-call group (a drill's: the people named to escalate
        drills to, or nobody). Mentions for the war room, and the people to invite and message directly."""
        if incident.is_drill:
            named: list[str] = []
            for person in self._drills.escalate_to:
                named += [user for user in (await self._resolve(incident, ChainTarget("slack_user", person)))[0] if user not in named]
            return [f"<@{user}>" for user in named], named
        service = self._catalog.get(incident.service)
        if service is None:
            return [], []
        mentions: list[str] = []
        people: list[str] = []
        if service.escalation:
            user = service.escalation if _USER_ID.match(service.escalation) else await self._slack.user_id_by_email(service.escalation)
            if user:
                mentions.append(f"<@{user}>")
                people.append(user)
            else:
                log.warning("%s: no Slack user with the escalation email %s", service.name, service.escalation)
        groups = [(service.escalation_group_id, service.escalation_group_handle)]
        if not people and not any(groups[0]):
            groups.append((service.oncall_group_id, service.oncall_group_handle))
        for group_id, handle in groups:
            group = group_id or (await self._slack.usergroup_id(handle) if handle else None)
            if group:
                mentions.append(f"<!subteam^{group}>")
                people += [member for member in sorted(await self._slack.usergroup_members(group)) if member not in people]
        return mentions, people

    async def run_forever(self, stop: asyncio.Event, *, tick: float = TICK_SECONDS) -> None:
        await repeat_until_stopped(self.run_once, stop, every=tick, name="incident timer")
