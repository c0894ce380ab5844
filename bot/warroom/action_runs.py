"""Running a runbook action from the war room, once.

A run is claimed in the database before anything is sent (storage/runbook_action_runs.py): the
unique (incident, runbook, action, attempt) row makes a double click, Slack's retry of the click or a
second bot process send the request once. Then, each step committed before the next:

1. the claim (``claimed``): the click's acknowledgement waits for this commit;
2. ``sending``, committed just before the request leaves: from here on the bot never sends it again
   by itself, since it may have reached the other side;
3. the answer (``succeeded``, ``failed`` or ``unknown``) with a timeline event saying who ran what
   and the answer's status (never the headers or the body);
4. the result message in the war room, recorded the moment Slack confirms it.

A process that stops between the steps leaves a row the repair (``/incident repair``) finishes:
a claim never sent (its lease ran out) is sent, once; a request lost in flight is recorded as
``unknown`` and never sent again; a result message Slack may already show is found by its
metadata before it is posted again.

Running an action again is deliberate: the result message's *Run again* button carries the next
attempt's number and asks for a new confirmation, and that attempt is claimed only once the one
before it has finished.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from bot.catalog.runbook_actions import ActionFacts, RunbookAction, resolve_headers
from bot.catalog.runbooks import Runbook
from bot.core.clock import Clock
from bot.core.phases import Stamp
from bot.core.records import IncidentRecord
from bot.incidents.operations import Incidents
from bot.integrations.action_requests import ActionAnswer, ActionRequests
from bot.slack import SlackError, SlackGateway, step_metadata
from bot.slack.action_results import ActionResult, action_result_message
from bot.slack.steps import adopt_since
from bot.warroom.runbook_room import RunbookRoom
from storage import incidents as incident_rows
from storage import runbook_action_runs as runs
from storage import runbook_posts
from storage.db import Database
from storage.models import RunbookActionRun

log = logging.getLogger(__name__)

# A claim whose holder recorded nothing for this long is the repair's to finish: longer than the
# longest request (30 s) and its two commits.
SEND_LEASE = timedelta(minutes=2)
TIMELINE_KIND = "runbook_action_run"


@dataclass(frozen=True)
class RunOutcome:
    """What a click came to.

    ran: this click sent the request (``answer``); already: that attempt was claimed before (``run``);
    not_yet: a "Run again" whose previous run has not finished; unset: an environment variable the
    headers need is not set, nothing was claimed or sent."""

    kind: Literal["ran", "already", "not_yet", "unset"]
    run: runs.RunFacts | None = None
    answer: ActionAnswer | None = None
    unset: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # what did not reach Slack


def step_name(run_id: int) -> str:
    """The result message's step, in its metadata: how a repair finds a post Slack already has."""
    return f"runbook_action:{run_id}"


class ActionRuns:
    def __init__(
        self,
        db: Database,
        slack: SlackGateway,
        clock: Clock,
        incidents: Incidents,
        runbook_room: RunbookRoom,
        requests: ActionRequests,
        *,
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        self._db = db
        self._slack = slack
        self._clock = clock
        self._incidents = incidents
        self._runbook_room = runbook_room
        self._requests = requests
        self._environ = environ

    async def close(self) -> None:
        await self._requests.close()

    async def run(self, incident: IncidentRecord, runbook: Runbook, action: RunbookAction, *, attempt: int, by: str) -> RunOutcome:
        """Claim the run, send the request, record the answer and post it in the war room. The
        caller has checked the clicker's permission."""
        unset = resolve_headers(action.request, self._environ).missing
        if unset:
            return RunOutcome("unset", unset=unset)
        key = runs.RunKey(incident.id, runbook.name, action.id, attempt)
        token = uuid.uuid4().hex
        now = self._clock()
        # The click's ack waits for this commit: Core in one trip (Database.run_transaction), as a stamp.
        won, run = await self._db.run_transaction(lambda work: runs.claim_in(work, key, by=by, token=token, at=now))
        if not won:
            return RunOutcome("already", run=run) if run is not None else RunOutcome("not_yet")
        assert run is not None
        return await self._send(incident, runbook, action, run.id, token, by=by, attempt=attempt, by_repair=False)

    async def _send(
        self,
        incident: IncidentRecord,
        runbook: Runbook,
        action: RunbookAction,
        run_id: int,
        token: str,
        *,
        by: str,
        attempt: int,
        by_repair: bool,
    ) -> RunOutcome:
        resolved = resolve_headers(action.request, self._environ)
        if resolved.missing:  # unset since the claim (a repair on another host): nothing is sent
            return RunOutcome("unset", unset=resolved.missing)
        async with self._db.single_statements() as session:
            mine = await runs.start_sending(session, run_id, token=token, at=self._clock())
        if not mine:  # a repair took the claim over meanwhile: it sends the request
            async with self._db.lookup() as session:
                taken = await runs.by_id(session, run_id)
            return RunOutcome("already", run=runs.facts(taken) if taken is not None else None)
        facts = ActionFacts(service=incident.service, severity=incident.severity, number=incident.id)
        answer = await self._requests.send(action, headers=resolved.headers, body=action.body_bytes(facts))
        at = self._clock()
        async with self._db.transaction() as session:
            finished = await runs.finish(
                session, run_id, token=token, status=answer.outcome, http_status=answer.http_status, reason=answer.reason, at=at
            )
            if not finished:
                # A repair gave this request up as lost while it was in flight (this process stalled
                # past the lease): the run is recorded and shown as unknown already, once.
                lost = await runs.by_id(session, run_id)
                log.warning(
                    "%s: %s/%s answered after a repair recorded it as lost: %s", incident.reference, runbook.name, action.id, answer.reason
                )
                return RunOutcome("already", run=runs.facts(lost) if lost is not None else None)
            await self._record(
                session,
                incident.id,
                runbook,
                action,
                attempt=attempt,
                by=by,
                outcome=answer.outcome,
                reason=answer.reason,
                at=at,
                http_status=answer.http_status,
            )
            run = await runs.by_id(session, run_id)
        assert run is not None
        log.info("%s: %s ran %s/%s (attempt %d): %s", incident.reference, by, runbook.name, action.id, attempt, answer.reason)
        failures = await self._post_result(run, runbook, action, by_repair=by_repair, look=by_repair)
        return RunOutcome("ran", run=runs.facts(run), answer=answer, failures=failures)

    async def _record(
        self,
        session: AsyncSession,
        incident_id: int,
        runbook: Runbook,
        action: RunbookAction,
        *,
        attempt: int,
        by: str,
        outcome: str,
        reason: str,
        at: datetime,
        http_status: int | None,
    ) -> None:
        again = f" (run {attempt})" if attempt > 1 else ""
        await incident_rows.add_event(
            session,
            incident_id,
            TIMELINE_KIND,
            at=at,
            actor=by,
            text=f"Ran “{action.label}”{again} from the {runbook.name} runbook: {reason}",
            data={"runbook": runbook.name, "action": action.id, "attempt": attempt, "outcome": outcome, "status": http_status},
        )

    async def _post_result(
        self, run: RunbookActionRun, runbook: Runbook, action: RunbookAction, *, by_repair: bool, look: bool
    ) -> list[str]:
        """Post the run's result in the war room once (adopting a post Slack already shows when
        ``look``), and record it. What failed is returned for the person or the repair report."""
        incident = await self._incidents.get(run.incident_id)
        if incident is None or incident.channel_id is None or run.finished_at is None:
            return []
        async with self._db.lookup() as session:
            post = await runbook_posts.find(session, run.incident_id, run.runbook)
        step = step_name(run.id)
        if look:
            try:
                found = await self._slack.chat.find_step_message(incident.channel_id, incident.id, step, since=adopt_since(incident))
            except SlackError as error:
                return [f"the result of “{action.label}” was not posted ({error})"]
            if found is not None:
                async with self._db.single_statements() as session:
                    await runs.set_result_message(session, run.id, incident.channel_id, found)
                return []
        result = ActionResult(
            incident_id=incident.id,
            reference=incident.reference,
            runbook=runbook.name,
            post_id=post.id if post is not None else 0,
            action=action,
            attempt=run.attempt,
            by=run.requested_by,
            outcome=run.status,
            reason=run.reason or "",
            finished_at=run.finished_at,
            offer_mitigated=action.mitigation and run.status == runs.SUCCEEDED and incident.timeline.at(Stamp.MITIGATED) is None,
            by_repair=by_repair,
        )
        text, blocks = action_result_message(result)
        try:
            posted = await self._slack.chat.post(incident.channel_id, text, blocks=blocks, metadata=step_metadata(incident.id, step))
        except SlackError as error:
            log.error("%s: could not post the result of %s/%s: %s", incident.reference, runbook.name, action.id, error)
            return [f"the result of “{action.label}” was not posted in the war room ({error}); `/incident repair` posts it"]
        async with self._db.single_statements() as session:
            await runs.set_result_message(session, run.id, posted.channel, posted.ts)
        return []

    async def finish_interrupted(self, incident_id: int) -> tuple[list[str], list[str]]:
        """The repair's part: finish every run a stopped process left (see the module docstring).
        Returns (what was done, what failed), in words for the repair's report."""
        done: list[str] = []
        failures: list[str] = []
        now = self._clock()
        stale_before = now - SEND_LEASE
        async with self._db.lookup() as session:
            rows = await runs.for_incident(session, incident_id)
        if not rows:
            return done, failures
        incident = await self._incidents.get(incident_id)
        if incident is None:
            return done, failures
        for row in rows:
            runbook = self._runbook_room.find(row.runbook)
            action = runbook.action(row.action) if runbook is not None else None
            if runbook is None or action is None:
                if row.status in (runs.CLAIMED, runs.SENDING) or row.result_ts is None:
                    failures.append(f"the action {row.runbook}/{row.action} is no longer in the runbooks, so its run was not finished")
                continue
            if row.status == runs.CLAIMED and row.claimed_at < stale_before:
                token = uuid.uuid4().hex
                async with self._db.single_statements() as session:
                    taken = await runs.take_over_unsent(session, row.id, token=token, at=now, stale_before=stale_before)
                if taken:
                    outcome = await self._send(
                        incident, runbook, action, row.id, token, by=row.requested_by, attempt=row.attempt, by_repair=True
                    )
                    if outcome.kind == "unset":
                        failures.append(f"“{action.label}” was not sent: {', '.join(outcome.unset)} is not set")
                    else:
                        done.append(f"sent “{action.label}”, which a stopped process had claimed but never sent")
                        failures += outcome.failures
            elif row.status == runs.SENDING and row.sent_at is not None and row.sent_at < stale_before:
                reason = "the bot stopped while the request was in flight, so it may or may not have run"
                async with self._db.transaction() as session:
                    lost = await runs.give_up_on_lost(session, row.id, at=now, stale_before=stale_before, reason=reason)
                    if lost:
                        await self._record(
                            session,
                            incident_id,
                            runbook,
                            action,
                            attempt=row.attempt,
                            by=row.requested_by,
                            outcome=runs.UNKNOWN,
                            reason=reason,
                            at=now,
                            http_status=None,
                        )
                    current = await runs.by_id(session, row.id)
                if lost and current is not None:
                    done.append(f"recorded that “{action.label}” was lost in flight")
                    failures += await self._post_result(current, runbook, action, by_repair=True, look=True)
            elif row.status in runs.FINISHED and row.result_ts is None:
                posted = await self._post_result(row, runbook, action, by_repair=False, look=True)
                failures += posted
                if not posted:
                    done.append(f"the result of “{action.label}”")
        return done, failures
