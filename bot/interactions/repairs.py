"""``/incident repair`` (and ``incident-bot repair``): redo whatever Slack does not show yet, from
what the database holds, and the pages outside Slack (PagerDuty, the paging webhook) the
incident's state calls for. Steps already done are not repeated."""

from __future__ import annotations

from bot import logs
from bot.incidents.operations import Incidents
from bot.interactions.lookup import IncidentLookup
from bot.interactions.replies import Replies, Requester
from bot.paging.at_open import PagingAtOpen
from bot.slack import messages
from bot.warroom.action_runs import ActionRuns
from bot.warroom.handover_posts import HandoverPosts
from bot.warroom.resolution import Resolutions
from bot.warroom.room_records import WarRoomReport
from bot.warroom.setup import WarRooms


class Repairs:
    """Owns ``/incident repair``: every Slack step and page the database calls for that Slack does not show yet."""

    def __init__(
        self,
        incidents: Incidents,
        lookup: IncidentLookup,
        war_rooms: WarRooms,
        resolutions: Resolutions,
        replies: Replies,
        handovers: HandoverPosts,
        action_runs: ActionRuns,
        *,
        paging: PagingAtOpen | None = None,
    ) -> None:
        self._paging = paging
        self._incidents = incidents
        self._lookup = lookup
        self._war_rooms = war_rooms
        self._resolutions = resolutions
        self._replies = replies
        self._handovers = handovers
        self._action_runs = action_runs

    async def repair(self, requester: Requester, argument: str) -> None:
        incident = await self._lookup.named_or_here(requester, argument)
        if incident is None:
            return
        if await self._lookup.hidden_from(requester, incident):
            return  # its report would describe its war room
        logs.set_incident(incident.id)
        if await self._lookup.refused(requester, "repair", incident):
            return
        report = await self.bring_slack_up_to_date(incident.id)
        if report.failures:
            await self._replies.tell(
                requester, messages.repair_unfinished(incident.reference, report.channel_id, report.done, report.failures)
            )
        else:
            await self._replies.tell(requester, messages.repaired(incident.reference, report.done, report.already))

    async def bring_slack_up_to_date(self, incident_id: int) -> WarRoomReport:
        """War-room steps, the control message and topic as the database has them, each handover's
        posts, the resolution posts, the runbook actions' runs, and the pages (which do not wait on
        Slack: they are repaired even when a Slack step still fails)."""
        incident = await self._incidents.get(incident_id)
        if incident is None:
            raise LookupError(f"there is no incident INC-{incident_id}")
        if incident.imported_from:
            # A past incident loaded by `incident-bot import`: it never had a war room to repair.
            raise LookupError(
                f"INC-{incident_id} was imported (from {incident.imported_from}) and has no war room; there is nothing in Slack to repair"
            )
        report = await self._war_rooms.set_up(incident_id, invitees=[incident.opened_by])
        if self._paging is not None:
            pages = await self._paging.repair(await self._incidents.get(incident_id) or incident)
            report.done += pages.done
            report.failures += pages.failures
        if report.failures:
            return report
        current = await self._incidents.get(incident_id)
        assert current is not None
        await self._handovers.bring_up_to_date(current, report)
        report.failures += await self._war_rooms.refresh(current)
        report.failures += await self._resolutions.publish(incident_id, done=report.done, already=report.already, look=True)
        # Runbook actions a stopped process left half-way: sent once if they never left, never resent otherwise.
        done, failures = await self._action_runs.finish_interrupted(incident_id)
        report.done += done
        report.failures += failures
        return report
