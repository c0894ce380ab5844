"""A click on a runbook action's button (or *Run again* on its result): check who clicked, then run
it once (bot/warroom/action_runs.py). Refusals are ephemeral and write nothing."""

from __future__ import annotations

from bot import logs
from bot.core.text_input import escape
from bot.interactions.lookup import IncidentLookup
from bot.interactions.replies import Replies, Requester
from bot.slack import messages
from bot.warroom.action_runs import ActionRuns
from bot.warroom.runbook_room import RunbookRoom


def permission_words(label: str) -> str:
    """What a refusal says the person may not do; the label is the runbook's text, shown as written."""
    return f"run “{escape(label)}”"


class RunbookActionClicks:
    def __init__(self, runbook_room: RunbookRoom, action_runs: ActionRuns, lookup: IncidentLookup, replies: Replies) -> None:
        self._runbook_room = runbook_room
        self._action_runs = action_runs
        self._lookup = lookup
        self._replies = replies

    async def run(self, requester: Requester, post_id: int, action_id: str, attempt: int) -> None:
        incident = await self._lookup.here(requester, messages.ACTION_NOT_HERE)
        if incident is None:
            return
        logs.set_incident(incident.id)
        post = await self._runbook_room.post_of(post_id)
        if post is None or post.incident_id != incident.id:
            await self._replies.tell(requester, messages.ACTION_NOT_HERE)
            return
        runbook = self._runbook_room.find(post.runbook)
        action = runbook.action(action_id) if runbook is not None else None
        if runbook is None or action is None:
            await self._replies.tell(requester, messages.action_gone(post.runbook, action_id))
            return
        refusal = await self._lookup.permissions.check_at(action.permission, permission_words(action.label), incident, requester.user_id)
        if refusal is not None:
            await self._replies.tell(requester, refusal.text)
            return
        outcome = await self._action_runs.run(incident, runbook, action, attempt=attempt, by=requester.user_id)
        if outcome.kind == "unset":
            await self._replies.tell(requester, messages.action_variables_unset(action.label, outcome.unset))
        elif outcome.kind == "not_yet":
            await self._replies.tell(requester, messages.action_not_finished(action.label))
        elif outcome.kind == "already" and outcome.run is not None:
            run = outcome.run
            await self._replies.tell(
                requester, messages.action_already_run(action.label, run.requested_by, run.status, run.reason, run.attempt)
            )
        elif outcome.failures and outcome.answer is not None:
            await self._replies.tell(requester, messages.action_ran_but_not_shown(action.label, outcome.answer.reason, outcome.failures))
