"""The deploys an incident being opened is tied to: the recent deploys its form offers as the
moment impact began, and those in the window before impact linked to it once it is recorded."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.catalog.services import Catalog
from bot.core.records import IncidentRecord
from bot.core.timefmt import human_duration, utc_clock
from bot.integrations.deploys import DeployMatch, DeployRecord, Deploys
from storage.db import Statements


class ImpactDeploys:
    """Owns the deploys to a service and what it depends on, within the deploy window, as an opening sees them."""

    def __init__(self, deploys: Deploys, catalog: Catalog, *, window: timedelta) -> None:
        self._deploys = deploys
        self._catalog = catalog
        self._window = window

    async def start_choices(self, service: str, now: datetime) -> list[tuple[str, str]]:
        """The form's choices of "impact started at that deploy": value and label, newest first."""
        services = [service, *self._catalog.upstream_of(service)]
        recent = [d for s in services for d in await self._deploys.recent(s, self._window)]
        recent.sort(key=lambda d: d.deployed_at, reverse=True)
        return [
            (f"deploy:{d.id}", f"{d.service} {d.version} · {human_duration(now - d.deployed_at)} ago ({utc_clock(d.deployed_at)})")
            for d in recent
            if d.deployed_at <= now
        ]

    async def get(self, deploy_id: int) -> DeployRecord | None:
        return await self._deploys.get(deploy_id)

    async def correlate(self, incident: IncidentRecord) -> list[DeployMatch] | None:
        """Deploys to the service and what it depends on, in the window before impact began."""
        if incident.service is None:
            return None
        services = [incident.service, *self._catalog.upstream_of(incident.service)]
        return await self._deploys.correlate(incident.id, services, incident.started_at, self._window)

    def correlate_in(self, work: Statements, incident: IncidentRecord) -> list[DeployMatch] | None:
        """``correlate`` inside the transaction that inserted the incident."""
        if incident.service is None:
            return None
        services = [incident.service, *self._catalog.upstream_of(incident.service)]
        return self._deploys.correlate_in(work, incident.id, services, incident.started_at, self._window, new_incident=True)
