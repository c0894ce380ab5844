"""What a war room's control message shows beside the incident: the service's neighbours, the
deploys linked to it, its call link and the escalation chain's last page."""

from __future__ import annotations

from datetime import timedelta

from bot.catalog.services import Catalog
from bot.core.records import IncidentRecord, Paging, WarRoomContext
from bot.core.timefmt import human_duration
from bot.integrations.deploys import DeployMatch, Deploys, deploy_line
from bot.warroom.call_links import NO_CALL_LINKS, CallLinks
from storage import incidents as incident_rows
from storage.db import Database


class WarRoomContexts:
    """Owns the reading of a war room's context (WarRoomContext) from the catalog, the deploys and the timeline."""

    def __init__(
        self, db: Database, catalog: Catalog, deploys: Deploys, *, deploy_window: timedelta, call_links: CallLinks = NO_CALL_LINKS
    ) -> None:
        self._db = db
        self._catalog = catalog
        self._deploys = deploys
        self._deploy_window = deploy_window
        self._call_links = call_links

    async def context(self, incident: IncidentRecord, matches: list[DeployMatch] | None = None, *, new: bool = False) -> WarRoomContext:
        """The service's neighbours, the deploys linked to the incident (``matches`` when the
        caller just correlated them), its call link and the escalation chain's last page (none
        yet for a ``new`` incident)."""
        service = self._catalog.get(incident.service)
        call_url = self.call_url(incident)
        paging = None if new else await self._paging(incident)
        if service is None:
            return WarRoomContext(call_url=call_url, paging=paging)
        if matches is None:
            matches = await self._deploys.for_incident(incident.id)
        return WarRoomContext(
            team=service.team,
            upstream=tuple(self._catalog.upstream_of(service.name)),
            downstream=tuple(service.downstream),
            deploy_lines=tuple(deploy_line(m) for m in matches),
            deploy_window=human_duration(self._deploy_window),
            call_url=call_url,
            paging=paging,
        )

    def call_url(self, incident: IncidentRecord) -> str | None:
        """The incident's call link, as its control message and bookmarks show it."""
        return self._call_links.link_for(incident, self._catalog.get(incident.service))

    async def _paging(self, incident: IncidentRecord) -> Paging | None:
        if incident.status != "open" or incident.acknowledged_at is not None:
            return None
        async with self._db.lookup() as session:
            page = await incident_rows.latest_event(session, incident.id, "page")
        if page is None:
            return None
        return Paging(level=int(page.data.get("level", 0)), who=", ".join(page.data.get("mentions") or []) or "nobody", at=page.occurred_at)
