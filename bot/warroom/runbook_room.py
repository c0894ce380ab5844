"""Runbooks in the war room: which one fits, posting it, and recording each ticked first step."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from bot.catalog.runbooks import Runbook, find_runbook, match_runbooks
from bot.catalog.services import Catalog
from bot.core.clock import Clock
from bot.core.records import IncidentRecord
from bot.core.text_input import escape
from bot.slack import SlackGateway, step_metadata
from bot.slack.blocks import drill_blocks, drill_text
from bot.slack.runbook_blocks import runbook_message
from bot.slack.steps import adopt_since
from storage import incidents as incident_rows
from storage import runbook_posts
from storage.db import Database
from storage.models import RunbookPost

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Toggle:
    index: int
    checked: bool


@dataclass(frozen=True)
class TickResult:
    runbook: Runbook | None
    changed: list[Toggle]
    incident_id: int | None
    # The post exists but belongs to another incident than the one the click came from.
    elsewhere: bool = False


class RunbookRoom:
    def __init__(self, db: Database, slack: SlackGateway, clock: Clock, *, runbooks: list[Runbook], catalog: Catalog) -> None:
        self._db = db
        self._slack = slack
        self._clock = clock
        self.runbooks = runbooks
        self._catalog = catalog

    def candidates(self, service: str | None, alert: str | None = None) -> list[Runbook]:
        """Most specific first (bot.catalog.runbooks.match_runbooks). Without an alert, the runbook the
        catalog names for the service leads; with one, the alert's runbooks lead and the catalog's
        follows if it did not match."""
        matched = match_runbooks(self.runbooks, service=service, alert=alert)
        entry = self._catalog.get(service) if service else None
        named = find_runbook(self.runbooks, entry.runbook_name) if entry and entry.runbook_name else None
        if named is None:
            return matched
        if alert:
            return matched if named in matched else [*matched, named]
        return [named, *(r for r in matched if r is not named)]

    def find(self, name: str) -> Runbook | None:
        return find_runbook(self.runbooks, name)

    async def post_of(self, post_id: int) -> RunbookPost | None:
        """The runbook post a button names (its incident and runbook), or None."""
        async with self._db.lookup() as session:
            return await runbook_posts.get(session, post_id)

    async def post(
        self, incident: IncidentRecord, runbook: Runbook, *, by: str | None, look: bool = True
    ) -> Literal["posted", "adopted", "already"]:
        """Post the runbook in the war room once. An attempt interrupted after Slack posted it left
        a post without a message: with ``look``, that message is found again by its metadata and
        adopted rather than posted twice."""
        assert incident.channel_id
        now = self._clock()
        step = f"runbook:{runbook.name}"
        async with self._db.transaction() as session:
            post = await runbook_posts.claim(session, incident.id, runbook.name, by=by, at=now)
            if post.message_ts is not None:
                return "already"
            post_id, checked = post.id, set(post.checked)
            interrupted = post.attached_at != now
            if not interrupted:
                await incident_rows.add_event(
                    session,
                    incident.id,
                    "runbook_attached",
                    at=now,
                    actor=by,
                    text=f"Runbook attached: {runbook.title}",
                    data={"runbook": runbook.name},
                )
        if look and interrupted:
            since = adopt_since(incident)
            ts = await self._slack.chat.find_step_message(incident.channel_id, incident.id, step, since=since)
            if ts is not None:
                async with self._db.single_statements() as session:
                    await runbook_posts.set_message(session, post_id, incident.channel_id, ts)
                return "adopted"
        posted = await self._slack.chat.post(
            incident.channel_id,
            drill_text(incident.is_drill, f"Runbook: {escape(runbook.title)}"),
            blocks=drill_blocks(
                incident.is_drill, runbook_message(runbook, post_id=post_id, checked=checked, reference=incident.reference)
            ),
            metadata=step_metadata(incident.id, step),
        )
        async with self._db.single_statements() as session:
            await runbook_posts.set_message(session, post_id, posted.channel, posted.ts)
        return "posted"

    async def tick(self, post_id: int, toggles: list[Toggle], *, by: str, at: datetime, incident: IncidentRecord) -> TickResult:
        """Apply what the person toggled to the stored state; each real change is a timeline event.
        Only a post of ``incident`` (the incident of the channel the click came from) is touched:
        a block_id naming another incident's post writes nothing anywhere."""
        changed: list[Toggle] = []
        async with self._db.transaction() as session:
            post = await runbook_posts.get(session, post_id, for_update=True)
            if post is None:
                return TickResult(None, [], None)
            if post.incident_id != incident.id:
                return TickResult(None, [], None, elsewhere=True)
            runbook = self.find(post.runbook)
            checked = set(post.checked)
            for toggle in toggles:
                if runbook is None or not 0 <= toggle.index < len(runbook.checklist):
                    continue
                if toggle.checked and toggle.index not in checked:
                    checked.add(toggle.index)
                elif not toggle.checked and toggle.index in checked:
                    checked.discard(toggle.index)
                else:
                    continue
                changed.append(toggle)
                step = runbook.checklist[toggle.index]
                await incident_rows.add_event(
                    session,
                    post.incident_id,
                    "runbook_step_checked" if toggle.checked else "runbook_step_unchecked",
                    at=at,
                    actor=by,
                    text=f"{'Ticked' if toggle.checked else 'Unticked'} “{step}” ({runbook.name})",
                    data={"runbook": runbook.name, "step": toggle.index},
                )
            if changed:
                await runbook_posts.set_checked(session, post_id, sorted(checked))
            channel_id, ts, incident_id = post.channel_id, post.message_ts, post.incident_id
        if changed and runbook is not None and channel_id and ts:
            await self._slack.chat.update(
                channel_id,
                ts,
                f"Runbook: {escape(runbook.title)}",
                blocks=runbook_message(runbook, post_id=post_id, checked=checked, reference=incident.reference),
            )
        return TickResult(runbook, changed, incident_id)
