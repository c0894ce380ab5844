"""A resolved incident's MTTR summary: posted once in its war room and (not a private incident's)
in the announcement channel, and edited when a time is corrected."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row

from bot.analytics.summary import summarize, summary_blocks, summary_text
from bot.core.records import IncidentRecord
from bot.core.tiers import TierTables
from bot.incidents.corrections import correction_notes
from bot.incidents.operations import to_record
from bot.slack import SlackError, SlackGateway
from bot.slack.blocks import drill_blocks, drill_text
from bot.slack.steps import SlackSteps, still_empty
from bot.warroom.resolution_facts import Facts, ReadIncident
from bot.warroom.room_records import WarRoomRecords
from bot.warroom.step_claims import ClaimsTaken, StepClaims
from storage import audit as audit_rows
from storage import incidents as incident_rows
from storage.db import Statements


@dataclass(frozen=True)
class SummariesDue:
    """The MTTR summaries a verifying click made due, claimed in the click's own transaction
    (``SummaryPosts.claim_due``), with the corrected times they show: after its commit they are
    posted from what that transaction read, with no claim or read of their own first."""

    read: ReadIncident  # the stamped row's view; no timeline (the summaries show none)
    corrections: list[str]
    taken: ClaimsTaken


class SummaryPosts:
    """Owns the MTTR summary's posts (war room, announcement channel) and their edits after a correction."""

    def __init__(
        self,
        records: WarRoomRecords,
        slack: SlackGateway,
        steps: SlackSteps,
        claims: StepClaims,
        *,
        tiers: TierTables,
        announce_channel: str | None,
    ) -> None:
        self._records = records
        self._slack = slack
        self._steps = steps
        self._claims = claims
        self._tiers = tiers
        self._announce_channel = announce_channel

    def claim_due(self, work: Statements, stamped: Row[Any]) -> SummariesDue | None:
        """The summaries a verifying click makes due, claimed inside its transaction (``Stamper.stamp``'s
        ``along``; on SQLite in a worker thread), right after the stamp; None when the incident has
        no war room or is not restored."""
        incident = to_record(stamped)
        if not incident.timeline.restored or incident.channel_id is None:
            return None
        steps = ["summary_ts"] if stamped.summary_ts is None else []
        if self._announce_channel and not incident.is_private and stamped.summary_announcement_ts is None:
            steps.append("summary_announcement_ts")
        taken = self._claims.claim_if_free(work, incident.id, steps)
        corrections = correction_notes(audit_rows.corrected_times(work, incident.id))
        read = ReadIncident(incident, [], summary_ts=stamped.summary_ts, announced_ts=stamped.summary_announcement_ts)
        return SummariesDue(read, corrections, taken)

    def steps(
        self, read: ReadIncident, corrections: list[str], done: list[str], already: list[str], look: bool, due: SummariesDue | None = None
    ) -> list[tuple[str, Awaitable[None]]]:
        """The summaries ``read`` does not show as posted yet, as steps (what failed, in words; the post).
        Those ``due`` claimed already are posted under that claim, with nothing read again."""
        incident = read.incident
        assert incident.channel_id
        summary = summarize(incident, self._tiers)
        text, summary_message = summary_text(summary), summary_blocks(summary, corrections)
        steps: list[tuple[str, Awaitable[None]]] = []
        # Read above: a summary posted meanwhile is found under its step's claim, which reads the
        # database again.
        if read.summary_ts is None:
            steps.append(
                (
                    "the MTTR summary was not posted in the war room",
                    self._post(
                        incident, incident.channel_id, text, summary_message, "summary_ts", done, already, "the MTTR summary", look, due
                    ),
                )
            )
        else:
            already.append("the MTTR summary")
        # A private incident's summary stays in its war room.
        if self._announce_channel and not incident.is_private:
            where = f"the MTTR summary in <#{self._announce_channel}>"
            if read.announced_ts is None:
                steps.append(
                    (
                        f"the MTTR summary was not posted in <#{self._announce_channel}>",
                        self._post(
                            incident,
                            self._announce_channel,
                            text,
                            summary_message,
                            "summary_announcement_ts",
                            done,
                            already,
                            where,
                            look,
                            due,
                        ),
                    )
                )
            else:
                already.append(where)
        return steps

    async def _post(
        self,
        incident: IncidentRecord,
        channel: str,
        text: str,
        message: list[dict[str, Any]],
        column: str,
        done: list[str],
        already: list[str],
        what: str,
        look: bool,
        due: SummariesDue | None,
    ) -> None:
        async def record(ts: str) -> None:
            await self._records.record_column(incident.id, column, ts)

        outcome = await self._steps.once(
            incident.id,
            column,
            due.taken.of(column) if due is not None else None,
            still_needed=still_empty(incident_rows.get, column),
            find=(lambda: self._steps.find_message(channel, incident, column)) if look else None,
            create=self._steps.post(channel, incident, column, text, message),
            record=record,
        )
        outcome.tell(done, already, made=f"posted {what}", adopted=f"found {what} an interrupted attempt posted", recorded=what)

    async def show(self, read: ReadIncident, facts: Facts) -> list[str]:
        """The posted summaries edited to show ``facts``' figures and corrections; what failed, in words."""
        incident = facts.incident
        posted = [(incident.channel_id, read.summary_ts), (self._announce_channel, read.announced_ts)]
        summary = facts.summary if facts.summary is not None else summarize(incident, self._tiers)
        text = drill_text(incident.is_drill, summary_text(summary))
        message = drill_blocks(incident.is_drill, summary_blocks(summary, facts.corrections))
        failures = []
        for channel, ts in posted:
            if channel and ts:
                try:
                    await self._slack.chat.update(channel, ts, text, blocks=message)
                except SlackError as error:
                    failures.append(f"the MTTR summary in <#{channel}> was not updated ({error})")
        return failures
