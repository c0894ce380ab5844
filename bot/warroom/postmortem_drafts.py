"""A resolved incident's postmortem draft: rendered from its facts with the people's names,
stored once in the database, and uploaded to its war room (Slack's three upload steps)."""

from __future__ import annotations

import asyncio
from dataclasses import KW_ONLY, dataclass
from datetime import timedelta

import jinja2
from sqlalchemy.exc import IntegrityError

from bot.core.clock import Clock
from bot.core.records import IncidentRecord
from bot.core.timefmt import human_duration
from bot.integrations.deploys import deploy_line
from bot.slack import SlackGateway
from bot.slack.blocks import drill_text
from bot.slack.steps import SlackSteps, StepClaim, adopt_since, still_empty
from bot.warroom.postmortem import ActionLine, Changes, render_postmortem
from bot.warroom.resolution_facts import Facts, Lists, ReadIncident, ResolutionFacts
from bot.warroom.step_claims import ClaimsTaken, StepClaims
from storage import incidents as incident_rows
from storage.db import Database, Statements

UPLOAD_STEP, ACTIONS_STEP = "postmortem_upload", "actions_message"


@dataclass(frozen=True)
class StoredDraft:
    """The draft as stored (the first stored wins), its facts, and what of it is in Slack already."""

    facts: Facts
    markdown: str
    file_id: str | None
    actions_ts: str | None
    taken: ClaimsTaken  # the upload's and the action items' claims, taken with the draft


@dataclass(frozen=True, eq=False)
class PostmortemDrafts:
    """Owns the postmortem draft: its rendering, its one stored copy and its upload to the war room."""

    db: Database
    slack: SlackGateway
    clock: Clock
    steps: SlackSteps
    facts: ResolutionFacts
    _: KW_ONLY
    template: jinja2.Template
    deploy_window: timedelta
    claims: StepClaims

    def markdown(self, facts: Facts) -> str:
        incident, display = facts.incident, facts.names
        changes = Changes(
            checked=incident.service is not None,
            window=human_duration(self.deploy_window),
            lines=tuple(deploy_line(m, mrkdwn=False) for m in facts.deploys),
        )
        today = self.clock().date()
        return render_postmortem(
            self.template,
            incident,
            facts.events,
            facts.summary,
            generated_at=self.clock(),
            names=display,
            changes=changes,
            corrections=facts.corrections,
            breakglass=[e for e in facts.events if e.kind == "breakglass"],
            action_items=[
                ActionLine(
                    i.text,
                    display.get(i.owner, f"<@{i.owner}>") if i.owner else "",
                    i.due.isoformat() if i.due else "",
                    "overdue" if i.overdue(today) else i.status,
                )
                for i in facts.action_items
            ],
        )

    async def render(self, incident_id: int, *, names: bool = True) -> tuple[IncidentRecord, str]:
        """The incident and a freshly rendered draft from its current timeline."""
        facts = await self.facts.facts(await self.facts.read(incident_id), names=names)
        return facts.incident, self.markdown(facts)

    async def draft(self, incident_id: int) -> str:
        """The stored draft when there is one (what the war room got), else a fresh rendering."""
        async with self.db.transaction() as session:
            stored = await incident_rows.postmortem(session, incident_id)
            if stored is not None:
                return stored.markdown
        return (await self.render(incident_id, names=False))[1]

    async def store(
        self,
        read: ReadIncident,
        corrections: list[str],
        lists: Lists | None = None,
        asking: asyncio.Event | None = None,
    ) -> StoredDraft:
        """The draft rendered with the people's display names and stored, unless one is stored
        already; the upload and the action items not done yet are claimed in the same transaction,
        so neither waits for a claim of its own after it. ``asking``: see ResolutionFacts.facts."""
        incident = read.incident
        facts = await self.facts.facts(read, names=True, corrections=corrections, lists=lists, asking=asking)
        markdown = self.markdown(facts)
        now = self.clock()

        def stored_and_claimed(work: Statements) -> StoredDraft:
            stored = incident_rows.save_postmortem_once(work, incident.id, markdown, at=now)
            due = [step for step, done in ((UPLOAD_STEP, stored.file_id), (ACTIONS_STEP, stored.actions_message_ts)) if done is None]
            taken = self.claims.claim_if_free(work, incident.id, due)
            return StoredDraft(facts, stored.markdown, stored.file_id, stored.actions_message_ts, taken)

        # One go (on SQLite one trip to a worker thread), not a statement at a time: the upload,
        # the resolution's longest chain, starts on this commit.
        try:
            return await self.db.run_transaction(stored_and_claimed)
        except IntegrityError:  # a concurrent publish stored the draft first: use that one
            return await self.db.run_transaction(stored_and_claimed)

    async def render_again(self, read: ReadIncident) -> Facts:
        """The stored draft rendered again from the timeline (after a time was corrected); the facts it was made from."""
        facts = await self.facts.facts(read, names=True)
        markdown = self.markdown(facts)
        async with self.db.transaction() as session:
            await incident_rows.replace_postmortem_markdown(session, read.incident.id, markdown)
        return facts

    async def upload(
        self, incident: IncidentRecord, markdown: str, done: list[str], already: list[str], look: bool, claim: StepClaim = None
    ) -> None:
        """The draft (Slack's three upload steps), recorded as Slack confirms it; its action items
        are a step of their own (ActionItemsMessages.post), so a repair redoes only the one missing.
        ``claim``: the upload's, when ``store`` took it (SlackSteps.once)."""
        assert incident.channel_id
        channel = incident.channel_id
        title = f"{incident.reference} postmortem draft"

        async def upload() -> str:
            return await self.slack.files.upload(
                channel,
                markdown.encode("utf-8"),
                filename=f"{incident.reference.lower()}-postmortem.md",
                title=title,
                comment=drill_text(
                    incident.is_drill,
                    f"📝 Postmortem draft for {incident.reference}, pre-filled from the timeline. Edit it, then share it.",
                ),
            )

        async def record_upload(file_id: str) -> None:
            async with self.db.transaction() as session:
                await incident_rows.mark_postmortem_uploaded(session, incident.id, file_id, at=self.clock())
                await incident_rows.add_event(
                    session,
                    incident.id,
                    "postmortem_drafted",
                    at=self.clock(),
                    text="Postmortem draft uploaded",
                    data={"file_id": file_id},
                )

        since = adopt_since(incident)
        outcome = await self.steps.once(
            incident.id,
            UPLOAD_STEP,
            claim,
            still_needed=still_empty(incident_rows.postmortem, "file_id"),
            find=(lambda: self.slack.files.find_uploaded(channel, title, since=since)) if look else None,
            create=upload,
            record=record_upload,
        )
        outcome.tell(
            done,
            already,
            made="uploaded the postmortem draft",
            adopted="found the postmortem draft an interrupted attempt uploaded",
            recorded="the postmortem draft",
        )
