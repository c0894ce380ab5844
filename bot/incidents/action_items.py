"""Follow-up action items: recorded from a war room or the postmortem message, sent to their
owner with a Done button, listed, shown in postmortems and digests, and an overdue one reminds
its owner once a week until it is done.

The weekly reminder is claimed in the database (a conditional UPDATE of ``last_reminded_at``)
before it is sent, so it goes out once however many bot processes run; one that Slack refused
gives its claim back and is tried again on the next tick.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from bot.background import repeat_until_stopped
from bot.core.clock import Clock
from bot.core.columns import record_from_columns
from bot.core.command_text import CommandTextError, unescape_slack
from bot.core.roles import UNESCAPED_MENTION, parse_user, plain_mention
from bot.core.text_input import escape
from bot.slack import SlackError, SlackGateway
from bot.slack.blocks import action_item_blocks
from storage import action_items as item_rows
from storage import incidents as incident_rows
from storage.db import Database
from storage.models import ActionItem, Incident

log = logging.getLogger(__name__)

ACTION_USAGE = "`/incident action <what will be done> [@owner] [due:2026-12-15]`"
LIST_USAGE = "`/incident actions [mine|open|overdue]`"
MAX_TEXT = 500
REMIND_EVERY = timedelta(days=7)
TICK_SECONDS = 300.0
_DUE = re.compile(r"^due:(.*)$", re.IGNORECASE)


@dataclass(frozen=True)
class ActionRequest:
    text: str
    owner: str | None
    due: date | None


def parse_action_text(text: str, *, today: date) -> ActionRequest:
    """``Add PSP retries <@U123|bob> due:2026-12-15`` -> text, owner, due date. Pure."""
    words, owner, due = [], None, None
    for word in text.split():
        if match := _DUE.match(word):
            try:
                due = date.fromisoformat(match.group(1))
            except ValueError:
                raise CommandTextError(f"`{word}` is not a date; write it like `due:2026-12-15`.") from None
            if due < today:
                raise CommandTextError(f"`{word}` is in the past; give today or a later date.")
            continue
        if owner is None and word.startswith("<@") and (user := parse_user(word)):
            owner = user
            continue
        if plain_mention(word):
            raise CommandTextError(UNESCAPED_MENTION.format(word=word))
        words.append(word)
    clean = unescape_slack(" ".join(words)).strip()
    if not clean:
        raise CommandTextError(f"Say what will be done: {ACTION_USAGE}.")
    if len(clean) > MAX_TEXT:
        raise CommandTextError(f"Keep an action item to {MAX_TEXT} characters.")
    return ActionRequest(clean, owner, due)


@dataclass(frozen=True)
class ActionItemRecord:
    id: int
    incident_id: int
    incident_private: bool
    text: str
    owner: str | None
    due: date | None
    status: str
    created_by: str
    done_by: str | None
    done_at: datetime | None

    @property
    def reference(self) -> str:
        return f"INC-{self.incident_id}"

    def overdue(self, today: date) -> bool:
        return self.status == "open" and self.due is not None and self.due < today

    def line(self, today: date, *, with_incident: bool = True) -> str:
        parts = [f"*{self.reference}* {escape(self.text)}" if with_incident else escape(self.text)]
        parts.append(f"owner <@{self.owner}>" if self.owner else "no owner")
        if self.due:
            parts.append(f"due {self.due.isoformat()}" + (" ⚠️ *overdue*" if self.overdue(today) else ""))
        parts.append("✅ done" if self.status == "done" else "open")
        return " · ".join(parts)

    def plain(self) -> str:
        return self.text


def item_record(item: ActionItem, incident: Incident | None = None) -> ActionItemRecord:
    return record_from_columns(
        ActionItemRecord,
        item,
        incident_private=bool(incident.is_private) if incident else False,
        due=item.due_date,
    )


class ActionItems:
    def __init__(self, db: Database, clock: Clock, slack: SlackGateway) -> None:
        self._db = db
        self._clock = clock
        self._slack = slack

    def today(self) -> date:
        return self._clock().date()

    async def create(self, incident_id: int, request: ActionRequest, *, by: str) -> ActionItemRecord:
        now = self._clock()
        async with self._db.transaction() as session:
            incident = await incident_rows.get(session, incident_id)
            if incident is None:
                raise LookupError(f"INC-{incident_id} does not exist")
            item = await item_rows.insert(
                session,
                ActionItem(
                    incident_id=incident_id,
                    text=request.text,
                    owner=request.owner,
                    due_date=request.due,
                    status="open",
                    created_by=by,
                    created_at=now,
                ),
            )
            owner = f" (owner <@{request.owner}>)" if request.owner else ""
            due = f", due {request.due.isoformat()}" if request.due else ""
            await incident_rows.add_event(
                session,
                incident_id,
                "action_item_added",
                at=now,
                actor=by,
                text=f"Action item: {request.text}{owner}{due}",
                data={"item_id": item.id, "owner": request.owner, "due": request.due.isoformat() if request.due else None},
            )
            return item_record(item, incident)

    async def send_to_owner(self, item: ActionItemRecord, *, heading: str) -> None:
        """The owner's direct message with the Done button; its place is kept to mark it done later.
        Raises SlackError."""
        if item.owner is None:
            return
        text = f"{heading}\n{item.line(self.today())}"
        posted = await self._slack.chat.post(item.owner, text, blocks=action_item_blocks(text, item.id))
        async with self._db.transaction() as session:
            await item_rows.record_dm(session, item.id, channel=posted.channel, ts=posted.ts)

    async def get(self, item_id: int) -> ActionItemRecord | None:
        async with self._db.reading() as session:
            item = await item_rows.get(session, item_id)
            if item is None:
                return None
            incident = await incident_rows.get(session, item.incident_id)
            return item_record(item, incident)

    async def mark_done(self, item_id: int, *, by: str) -> tuple[ActionItemRecord, bool]:
        """The item and whether this call closed it (False: it was done already)."""
        now = self._clock()
        async with self._db.transaction() as session:
            closed = await item_rows.mark_done(session, item_id, by=by, at=now)
            item = await item_rows.get(session, item_id)
            if item is None:
                raise LookupError(f"action item {item_id} does not exist")
            if closed:
                await incident_rows.add_event(
                    session,
                    item.incident_id,
                    "action_item_done",
                    at=now,
                    actor=by,
                    text=f"Action item done: {item.text}",
                    data={"item_id": item_id},
                )
            await session.refresh(item)
            dm = (item.dm_channel, item.dm_ts)
            record = item_record(item)
        if closed and dm[0] and dm[1]:
            text = f"Action item from {record.reference}\n{record.line(self.today())}"
            try:
                await self._slack.chat.update(
                    dm[0], dm[1], text, blocks=action_item_blocks(text, record.id, done_line=f"Marked done by <@{by}>")
                )
            except SlackError as error:
                log.warning("action item %s: the owner's message was not updated: %s", item_id, error)
        return record, closed

    async def listing(
        self,
        *,
        which: str,
        requester: str,
        incident_id: int | None = None,
        services: list[str] | None = None,
    ) -> list[ActionItemRecord]:
        """``which``: mine (open, owned by the requester), open, overdue, all (every status)."""
        async with self._db.reading() as session:
            rows = await item_rows.listing(
                session,
                owner=requester if which == "mine" else None,
                incident_id=incident_id,
                open_only=which != "all",
                due_before=self.today() if which == "overdue" else None,
                services=services,
            )
        return [item_record(item, incident) for item, incident in rows]

    async def for_incident(self, incident_id: int) -> list[ActionItemRecord]:
        return await self.listing(which="all", requester="", incident_id=incident_id)

    # ---- the weekly overdue reminder ----------------------------------------------------------

    async def remind_overdue(self) -> list[int]:
        """Remind each overdue item's owner whose last reminder is a week old; returns the items."""
        now = self._clock()
        reminded_before = now - REMIND_EVERY
        async with self._db.reading() as session:
            candidates = await item_rows.overdue_candidates(session, today=now.date(), reminded_before=reminded_before)
        sent = []
        for item_id in candidates:
            async with self._db.transaction() as session:
                item = await item_rows.get(session, item_id)
                previous = item.last_reminded_at if item else None
                if item is None or not await item_rows.claim_reminder(session, item_id, at=now, reminded_before=reminded_before):
                    continue  # another process has it
            record = await self.get(item_id)
            assert record is not None
            try:
                await self.send_to_owner(record, heading=f"⏰ Reminder: this action item from {record.reference} is overdue.")
            except SlackError as error:
                log.error("overdue reminder for action item %s failed: %s (retrying next tick)", item_id, error)
                async with self._db.transaction() as session:
                    await item_rows.release_reminder(session, item_id, claimed_at=now, previous=previous)
                continue
            sent.append(item_id)
        return sent

    async def run_reminders(self, stop: asyncio.Event, *, tick: float = TICK_SECONDS) -> None:
        await repeat_until_stopped(self.remind_overdue, stop, every=tick, name="action item reminder")


def digest_lines(items: list[ActionItemRecord], today: date) -> list[str]:
    """Open and overdue items for a digest; a private incident's are counted, never shown."""
    shown = [i for i in items if not i.incident_private]
    hidden = len(items) - len(shown)
    overdue = [i for i in shown if i.overdue(today)]
    rest = [i for i in shown if not i.overdue(today)]
    lines = [f"⚠️ {i.line(today)}" for i in overdue] + [f"• {i.line(today)}" for i in rest]
    if hidden:
        lines.append(f"…and {hidden} from private incidents")
    return lines
