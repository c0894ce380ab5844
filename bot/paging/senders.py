"""The two pagers outside Slack, each one HTTP request: PagerDuty's Events API v2 (the service's
routing key, from the environment variable the catalog names) and the signed generic webhook."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field

import aiohttp

from bot.catalog.services import Catalog
from bot.core.clock import Clock
from bot.core.records import IncidentRecord
from bot.paging import bodies
from bot.paging.bodies import Action
from bot.paging.delivery import Delivery, post_json
from bot.paging.drills import NO_DRILL_PAGING, DrillPaging
from bot.paging.pager import PageLinks
from bot.paging.signatures import WEBHOOK_SIGNATURE_HEADER, WEBHOOK_TIMESTAMP_HEADER, webhook_signature


class PagingHttp:
    """Owns the one HTTP session the pagers share, opened on first use."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


@dataclass(frozen=True, eq=False)
class PagerDutySender:
    """Owns PagerDuty: which routing key an incident pages (a drill's: the drills' own) and the Events API request."""

    http: PagingHttp
    clock: Clock
    catalog: Catalog
    _: KW_ONLY
    events_url: str
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    drills: DrillPaging = NO_DRILL_PAGING

    def routing_key_variable(self, incident: IncidentRecord, service_name: str | None = None) -> str | None:
        if incident.is_drill:  # never the service's real on-call: the drills' own PagerDuty service, if any
            return self.drills.pagerduty_routing_key_env
        service = self.catalog.get(service_name or incident.service)
        return service.pagerduty.routing_key_env if service is not None and service.pagerduty is not None else None

    def pages(self, incident: IncidentRecord) -> bool:
        return self.routing_key_variable(incident) is not None

    async def send(self, incident: IncidentRecord, action: Action, *, level: int, links: PageLinks, service_name: str | None) -> Delivery:
        variable = self.routing_key_variable(incident, service_name)
        if variable is None:
            return Delivery(False, None, f"the service {service_name or incident.service} names no PagerDuty routing key in the catalog")
        routing_key = self.environ.get(variable, "").strip()
        if not routing_key:
            return Delivery(
                False,
                None,
                f"{variable} is not set: set it to the Events API v2 integration key of the PagerDuty service",
                configuration_error=True,
            )
        event = bodies.pagerduty_event(action, incident, routing_key=routing_key, level=level, links=links, at=self.clock())
        return await post_json(self.http.session(), self.events_url, json.dumps(event).encode(), {}, what="PagerDuty")


class WebhookSender:
    """Owns the generic paging webhook: whether it is configured and its signed request."""

    def __init__(self, http: PagingHttp, clock: Clock, *, url: str | None, secret: str | None) -> None:
        self.http = http
        self.clock = clock
        self._url = url
        self._secret = secret

    @property
    def configured(self) -> bool:
        return bool(self._url and self._secret)

    async def send(self, incident: IncidentRecord, action: Action, *, level: int, links: PageLinks) -> Delivery:
        if not (self._url and self._secret):
            return Delivery(
                False, None, "the paging webhook is off: set PAGING_WEBHOOK_URL and PAGING_WEBHOOK_SECRET", configuration_error=True
            )
        now = self.clock()
        body = json.dumps(bodies.webhook_body(action, incident, level=level, links=links, at=now)).encode()
        timestamp = int(now.timestamp())
        headers = {
            WEBHOOK_TIMESTAMP_HEADER: str(timestamp),
            WEBHOOK_SIGNATURE_HEADER: webhook_signature(self._secret, timestamp, body),
        }
        return await post_json(self.http.session(), self._url, body, headers, what="the paging webhook")
