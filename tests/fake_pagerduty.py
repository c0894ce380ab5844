"""A stateful fake of PagerDuty on loopback, from its published reference (tests/data/pagerduty/):
the Events API v2 (``POST /v2/enqueue``: 202 with the dedup_key, 400 for an invalid event, and
429 or 5xx when a test scripts them), the REST API's ``GET /users/{id}`` (200 with the user, 401
for a wrong API key, 404 for an unknown user, 429 when a test scripts it), a generic paging-webhook receiver (``POST /paging-webhook``)
that keeps every body and its headers, and a sender of V3 webhooks signed as PagerDuty signs them.

Alerts are kept per (routing key, dedup_key) as PagerDuty keeps them: a trigger opens one (or adds
to the open one), acknowledge and resolve move the open one and are dropped when none is open.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web

from bot.paging.signatures import PAGERDUTY_SIGNATURE_HEADER, pagerduty_signature

DATA = Path(__file__).parent / "data" / "pagerduty"
SHIPPED_CATALOG = Path(__file__).parent.parent / "runbooks" / "catalog.yml"
ROUTING_KEY = "0123456789abcdef0123456789abcdef"  # 32 characters, as PagerDuty's integration keys
KEY_VARIABLE = "PAGERDUTY_TEST_CHECKOUT_KEY"
RESPONSES = json.loads((DATA / "enqueue_responses.json").read_text())
REST_USER = json.loads((DATA / "rest_get_user.json").read_text())
API_TOKEN = "u+AbCdEfGhIjKlMnOpQr"  # the shape of a PagerDuty REST API key
SEVERITIES = {"critical", "error", "warning", "info"}
ACTIONS = {"trigger", "acknowledge", "resolve"}


@dataclass
class Alert:
    routing_key: str
    dedup_key: str
    status: str  # triggered, acknowledged, resolved
    triggers: int = 1


@dataclass
class Received:
    path: str
    body: bytes
    headers: dict[str, str]
    status: int  # what the fake answered

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class PageHold:
    """An enqueue the fake keeps open, so a test can kill the sender meanwhile (as FakeSlack.hold).

    ``answered=False`` holds it before PagerDuty takes it: released, it is answered 500 and changes
    nothing. ``answered=True`` lets PagerDuty take it, then holds the 202: the alert exists but
    the sender has not heard. ``arrived`` is set when the request is held."""

    match: Callable[[dict[str, Any]], bool]
    answered: bool
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def release(self) -> None:
        self.released.set()


def _invalid(event: Any) -> list[str]:
    """The Events API v2's checks of an event, as its reference states them."""
    if not isinstance(event, dict):
        return ["Event object is not a JSON object"]
    errors = []
    if not isinstance(event.get("routing_key"), str) or len(event["routing_key"]) != 32:
        errors.append("Length of 'routing_key' is incorrect (should be 32 characters)")
    if event.get("event_action") not in ACTIONS:
        errors.append("'event_action' is invalid (must be one of the following: 'trigger', 'acknowledge' or 'resolve')")
    dedup = event.get("dedup_key")
    if dedup is not None and (not isinstance(dedup, str) or len(dedup) > 255):
        errors.append("'dedup_key' is too long (the maximum is 255 characters)")
    if event.get("event_action") == "trigger":
        payload = event.get("payload")
        if not isinstance(payload, dict):
            errors.append("'payload' is missing or not an object")
        else:
            summary = payload.get("summary")
            if not isinstance(summary, str) or not summary or len(summary) > 1024:
                errors.append("'payload.summary' is missing or longer than 1024 characters")
            if not isinstance(payload.get("source"), str) or not payload["source"]:
                errors.append("'payload.source' is missing")
            if payload.get("severity") not in SEVERITIES:
                errors.append("'payload.severity' is invalid (must be one of 'critical', 'error', 'warning' or 'info')")
        for link in event.get("links") or []:
            if not isinstance(link, dict) or not isinstance(link.get("href"), str):
                errors.append("'links' items need an 'href'")
    elif not isinstance(dedup, str):
        errors.append("'dedup_key' is required for acknowledge and resolve")
    return errors


@dataclass
class FakePagerDuty:
    received: list[Received] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    # Statuses to answer the next requests with (429, 500, 503...), one per request, before 202s again.
    scripted: deque[int] = field(default_factory=deque)
    webhook_scripted: deque[int] = field(default_factory=deque)
    # While set and not released, every enqueue waits on it: PagerDuty answering slowly.
    held: asyncio.Event | None = None
    holds: list[PageHold] = field(default_factory=list)
    # PagerDuty's users, by id: (name, e-mail), read with GET /users/{id} and the API_TOKEN key.
    users: dict[str, tuple[str, str]] = field(default_factory=dict)
    users_scripted: deque[int] = field(default_factory=deque)
    _runner: web.AppRunner | None = None
    port: int = 0

    @property
    def events_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v2/enqueue"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def user_requests(self) -> list[Received]:
        return [r for r in self.received if r.path.startswith("/users/")]

    async def _get_user(self, request: web.Request) -> web.Response:
        user_id = request.match_info["id"]
        headers = dict(request.headers)
        if self.users_scripted:
            status = self.users_scripted.popleft()
        elif headers.get("Authorization") != f"Token token={API_TOKEN}":
            status = 401
        else:
            status = 200 if user_id in self.users else 404
        self.received.append(Received(f"/users/{user_id}", b"", headers, status))
        if status != 200:
            return web.json_response(REST_USER[str(status)], status=status)
        name, email = self.users[user_id]
        user = {**REST_USER["200"]["user"], "id": user_id, "name": name, "summary": name, "email": email}
        user["self"] = f"https://api.pagerduty.com/users/{user_id}"
        return web.json_response({"user": user})

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/paging-webhook"

    def script(self, *statuses: int) -> None:
        self.scripted.extend(statuses)

    def hold(self, match: Callable[[dict[str, Any]], bool], *, answered: bool) -> PageHold:
        """Keep the next enqueue whose event ``match``es (or paging-webhook call whose body does)
        open until released; see ``PageHold``."""
        hold = PageHold(match, answered)
        self.holds.append(hold)
        return hold

    def _take_hold(self, event: Any) -> PageHold | None:
        hold = next((h for h in self.holds if isinstance(event, dict) and h.match(event)), None)
        if hold is not None:
            self.holds.remove(hold)
        return hold

    def alerts_for(self, dedup_key: str) -> list[Alert]:
        return [alert for alert in self.alerts if alert.dedup_key == dedup_key]

    def events(self, action: str | None = None) -> list[dict[str, Any]]:
        """The events PagerDuty accepted (202), in order."""
        accepted = [r.json() for r in self.received if r.path == "/v2/enqueue" and r.status == 202]
        return [event for event in accepted if action is None or event.get("event_action") == action]

    def enqueue_requests(self) -> list[Received]:
        return [r for r in self.received if r.path == "/v2/enqueue"]

    def webhook_calls(self) -> list[Received]:
        return [r for r in self.received if r.path == "/paging-webhook" and 200 <= r.status < 300]

    def open_alert(self, routing_key: str, dedup_key: str) -> Alert | None:
        return next((a for a in self.alerts if (a.routing_key, a.dedup_key) == (routing_key, dedup_key) and a.status != "resolved"), None)

    async def _enqueue(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.held is not None:
            await self.held.wait()
        headers = dict(request.headers)
        if self.scripted:
            status = self.scripted.popleft()
            self.received.append(Received("/v2/enqueue", body, headers, status))
            return web.json_response(RESPONSES.get(str(status), RESPONSES["500"]), status=status)
        try:
            event = json.loads(body)
        except ValueError:
            event = None
        hold = self._take_hold(event)
        if hold is not None and not hold.answered:
            hold.arrived.set()
            await hold.released.wait()
            return web.json_response(RESPONSES["500"], status=500)
        response = self._take(event, body, headers)
        if hold is not None:
            hold.arrived.set()
            await hold.released.wait()
        return response

    def _take(self, event: Any, body: bytes, headers: dict[str, str]) -> web.Response:
        errors = _invalid(event)
        if errors:
            self.received.append(Received("/v2/enqueue", body, headers, 400))
            return web.json_response({"status": "invalid event", "message": "Event object is invalid", "errors": errors}, status=400)
        assert isinstance(event, dict)
        dedup_key = event.get("dedup_key") or uuid.uuid4().hex
        alert = self.open_alert(event["routing_key"], dedup_key)
        if event["event_action"] == "trigger":
            if alert is None:
                self.alerts.append(Alert(event["routing_key"], dedup_key, "triggered"))
            else:
                alert.triggers += 1
        elif alert is not None:
            alert.status = "acknowledged" if event["event_action"] == "acknowledge" else "resolved"
        self.received.append(Received("/v2/enqueue", body, headers, 202))
        return web.json_response({"status": "success", "message": "Event processed", "dedup_key": dedup_key}, status=202)

    async def _paging_webhook(self, request: web.Request) -> web.Response:
        """The generic webhook's receiver; a ``hold`` whose ``match`` takes its JSON body keeps it
        open as an enqueue's (not answered: released, it is answered 500 and nothing was taken)."""
        body = await request.read()
        try:
            taken = json.loads(body)
        except ValueError:
            taken = None
        hold = self._take_hold(taken) if isinstance(taken, dict) and "version" in taken else None
        if hold is not None and not hold.answered:
            hold.arrived.set()
            await hold.released.wait()
            self.received.append(Received("/paging-webhook", body, dict(request.headers), 500))
            return web.json_response({"ok": False}, status=500)
        status = self.webhook_scripted.popleft() if self.webhook_scripted else 200
        self.received.append(Received("/paging-webhook", body, dict(request.headers), status))
        if hold is not None:
            hold.arrived.set()
            await hold.released.wait()
        return web.json_response({"ok": status < 300}, status=status)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v2/enqueue", self._enqueue)
        app.router.add_post("/paging-webhook", self._paging_webhook)
        app.router.add_get("/users/{id}", self._get_user)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # started on the line above

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def v3_event(
    event_type: str,
    incident_key: str,
    *,
    occurred_at: str = "2026-11-23T14:03:00.000Z",
    agent: str = "Tenex Engineer",
    agent_email: str | None = None,
    agent_id: str | None = None,
    assignees: tuple[str, ...] = ("User 123",),
    event_id: str | None = None,
) -> dict[str, Any]:
    """A V3 webhook delivery in the reference's shape (tests/data/pagerduty/webhook_incident_acknowledged.json)."""
    body = json.loads((DATA / "webhook_incident_acknowledged.json").read_text())
    event = body["event"]
    event["id"] = event_id or str(uuid.uuid4())
    event["event_type"] = event_type
    event["occurred_at"] = occurred_at
    event["agent"]["summary"] = agent
    if agent_email is not None:
        event["agent"]["email"] = agent_email
    if agent_id is not None:
        event["agent"].update(id=agent_id, self=f"https://api.pagerduty.com/users/{agent_id}")
    event["data"]["incident_key"] = incident_key
    event["data"]["status"] = event_type.removeprefix("incident.")
    event["data"]["assignees"] = [
        {"summary": name, "type": "user_reference", "id": f"P{index:06d}"} for index, name in enumerate(assignees)
    ]
    return body


class WebhookSender:
    """Posts V3 deliveries as PagerDuty does: the raw JSON body signed in X-PagerDuty-Signature."""

    def __init__(self, url: str, secret: str) -> None:
        self.url = url
        self.secret = secret

    async def send(
        self,
        body: dict[str, Any] | bytes,
        *,
        signature: str | None = None,
        secrets: tuple[str, ...] | None = None,
        content_type: str = "application/json",
    ) -> tuple[int, Any]:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        if signature is None:
            signature = ",".join(pagerduty_signature(secret, raw) for secret in (secrets or (self.secret,)))
        headers = {"Content-Type": content_type, "User-Agent": "PagerDuty-Webhook/V3.0"}
        if signature:
            headers[PAGERDUTY_SIGNATURE_HEADER] = signature
        async with aiohttp.ClientSession() as session, session.post(self.url, data=raw, headers=headers) as response:
            text = await response.text()
            try:
                return response.status, json.loads(text)
            except ValueError:
                return response.status, text


def catalog_with_pagerduty(folder: Path, service: str = "checkout-web") -> Path:
    """The shipped catalog with ``service`` paged through PagerDuty (its key in KEY_VARIABLE); the others are not."""
    data = yaml.safe_load(SHIPPED_CATALOG.read_text())
    for entry in data["services"]:
        if entry["name"] == service:
            entry["pagerduty"] = {"routing_key_env": KEY_VARIABLE}
    path = folder / "catalog.yml"
    path.write_text(yaml.safe_dump(data))
    return path
