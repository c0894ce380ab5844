"""The page outside Slack an incident of a configured severity gets at open, and its repair."""

from __future__ import annotations

import logging

from bot import metrics
from bot.core.records import IncidentRecord
from bot.incidents.operations import Incidents
from bot.paging.external_pagers import ExternalPagers, PagesRepair

log = logging.getLogger(__name__)


class PagingAtOpen:
    """Owns which severities page outside Slack at open (PAGE_AT_OPEN), that page, and bringing it up to date on repair."""

    def __init__(self, pagers: ExternalPagers, incidents: Incidents, *, severities: frozenset[str]) -> None:
        self._pagers = pagers
        self._incidents = incidents
        self._severities = severities

    async def page(self, incident: IncidentRecord) -> None:
        """Page outside Slack at open, once, after the war-room set-up (so the page links the war
        room and its control message), and whatever that set-up managed: waking someone must not
        wait on a Slack failure."""
        if incident.severity not in self._severities:
            return
        try:
            shown = await self._incidents.get(incident.id) or incident
            await self._pagers.page_at_open(shown, self._severities)
        except Exception:
            metrics.ERRORS.labels("flow").inc()
            log.exception("%s: paging at open stopped", incident.reference)

    async def repair(self, incident: IncidentRecord) -> PagesRepair:
        """ExternalPagers.repair with the severities paged at open."""
        return await self._pagers.repair(incident, self._severities)
