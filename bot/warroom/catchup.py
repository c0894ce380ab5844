"""What a catch-up is built from, read from the database in one snapshot, and the war-room joins
that show one (and measure time to assemble).

Which joins count for time to assemble (docs/analytics.md): a join by someone other than the
opener and the bot, who joined by themselves or was added by a person. Someone the bot added (the
people invited at the open, an escalation contact) is recorded, with the bot as inviter, but does
not count: an invitation is not someone arriving."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.clock import Clock
from bot.core.records import IncidentRecord
from bot.incidents.operations import to_record
from bot.slack.catchup import RECENT_EVENTS, CatchUp, Line, OpenQuestion, RunbookProgress
from bot.warroom.runbook_room import RunbookRoom
from bot.warroom.setup import WarRooms
from storage import incidents as incident_rows
from storage import runbook_posts
from storage import war_room_joins as join_rows
from storage.db import Database
from storage.models import TimelineEvent


def _line(event: TimelineEvent) -> Line:
    return Line(at=event.occurred_at, actor=event.actor, text=event.text)


@dataclass(frozen=True)
class Joined:
    """A join event recorded for the first time, in the war room of ``incident``."""

    incident: IncidentRecord
    counts: bool


class CatchUpFacts:
    def __init__(self, db: Database, clock: Clock, war_rooms: WarRooms, runbook_room: RunbookRoom) -> None:
        self._db = db
        self._clock = clock
        self._war_rooms = war_rooms
        self._runbook_room = runbook_room

    async def record_join(self, channel: str, user: str, *, event_id: str, inviter: str | None, bot_user: str) -> Joined | None:
        """Record that ``user`` joined ``channel``; None when it is no incident's war room or this
        event was recorded already (Slack delivers an event again when its ack was late)."""
        at = self._clock()
        async with self._db.transaction() as session:
            row = await incident_rows.find_by_channel(session, channel)
            if row is None:
                return None
            incident = to_record(row)
            counts = user not in (incident.opened_by, bot_user) and inviter != bot_user
            recorded = await join_rows.record_join(session, incident.id, user, at=at, event_id=event_id, inviter=inviter, counts=counts)
        return Joined(incident, counts) if recorded else None

    async def read(self, incident: IncidentRecord) -> CatchUp:
        """Everything the catch-up shows but the reader's buttons (the flow decides those)."""
        async with self._db.reading() as session:
            fresh = await incident_rows.get(session, incident.id)
            if fresh is not None:
                incident = to_record(fresh)
            recent = await join_rows.recent_events(session, incident.id, RECENT_EVENTS)
            questions = await join_rows.questions(session, incident.id)
            update = await incident_rows.latest_event(session, incident.id, "status_update")
            posts = await runbook_posts.for_incident(session, incident.id)
        runbooks = []
        for post in posts:
            runbook = self._runbook_room.find(post.runbook)
            total = len(runbook.checklist) if runbook else 0
            runbooks.append(RunbookProgress(post.runbook, len(set(post.checked)), total))
        context = await self._war_rooms.context(incident)
        return CatchUp(
            incident=incident,
            now=self._clock(),
            recent=tuple(_line(e) for e in recent),
            questions=tuple(OpenQuestion(q.number, _line(q.event)) for q in questions if q.answer is None),
            runbooks=tuple(runbooks),
            deploy_lines=context.deploy_lines,
            deploy_window=context.deploy_window,
            last_update=_line(update) if update else None,
        )

    async def questions(self, incident_id: int) -> list[join_rows.Question]:
        async with self._db.reading() as session:
            return await join_rows.questions(session, incident_id)

    async def answer(self, incident_id: int, number: int, *, by: str, text: str) -> tuple[join_rows.Question | None, bool]:
        """Record ``text`` as the answer to question ``number``: (the question, True) when this
        answered it; (the question, False) when it was answered already; (None, False) when the
        incident has no such question."""
        async with self._db.transaction() as session:
            asked = {q.number: q for q in await join_rows.questions(session, incident_id)}
            question = asked.get(number)
            if question is None or question.answer is not None:
                return question, False
            await incident_rows.add_event(
                session,
                incident_id,
                join_rows.ANSWER,
                at=self._clock(),
                actor=by,
                text=f"Answer to Q{number}: {text}",
                data={"question": number},
            )
        return question, True
