"""Webhooks from other systems: ``POST /hooks/deploys`` records a deploy reported by a pipeline;
``POST /hooks/alerts`` takes Alertmanager's, Grafana's or the generic alert form (bot/integrations/alerts.py),
with its own secret (ALERT_WEBHOOK_SECRET) and the same checks and answers.

Every answer is JSON: ``{"ok": true, "deploy_id": N, "duplicate": false}`` (201, new) or
``... "duplicate": true}`` (200, stored before), else ``{"ok": false, "error": "<reason>"}``:

======  ===========================================================================
503     the webhook is off (DEPLOY_WEBHOOK_SECRET unset), or the database is down
401     no secret, or the wrong one (``X-Incident-Bot-Secret`` or ``Authorization: Bearer``)
415     the body is not declared as JSON
413     the body is over 64 KiB
400     the body is not JSON
422     the JSON is not a valid deploy, or (with a service catalog) names a service the catalog
        does not list; the reason names each field and its right form, or the close matches
======  ===========================================================================

The alert webhook answers 201 (an incident opened) or 200 with ``opened``, ``added``, ``resolved``,
``ignored`` and ``refused`` (each unusable alert of the body: ``alert``, ``alertname``, ``error``);
422 only when no alert of the body is usable; 200 with ``"test": true`` for Grafana's test button.

The checks run in that order, so a caller without the secret learns nothing about the rest, and
nothing is written unless every check passed.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from bot.catalog.services import require_known_service
from bot.core.command_text import CommandTextError
from bot.integrations.alerts import GENERIC_FORM, AlertPayloadError, parse_alerts
from bot.integrations.deploys import parse_deploy, validation_reason
from bot.paging.pagerduty_webhooks import RIGHT_FORM as PAGERDUTY_RIGHT_FORM
from bot.paging.pagerduty_webhooks import PagerDutyWebhookError, parse_event
from bot.paging.signatures import PAGERDUTY_SIGNATURE_HEADER, pagerduty_signature_valid
from bot.runtime import Runtime
from bot.slack import SlackError

log = logging.getLogger(__name__)

DEPLOYS_PATH = "/hooks/deploys"
SECRET_HEADER = "X-Incident-Bot-Secret"
MAX_BODY = 64 * 1024
_CHUNK = 16 * 1024

DISABLED = "deploy webhook disabled: set DEPLOY_WEBHOOK_SECRET"
_HOW_TO_AUTHENTICATE = f"send the DEPLOY_WEBHOOK_SECRET in the header `{SECRET_HEADER}: <secret>` or `Authorization: Bearer <secret>`"
NOT_JSON_TYPE = "the body must be JSON: send the header `Content-Type: application/json`"
TOO_LARGE = f"the body is larger than {MAX_BODY // 1024} KiB; a deploy is a small JSON object"
DATABASE_DOWN = "the database is unavailable; nothing was recorded, try again"

Handler = Callable[[web.Request], Awaitable[web.Response]]


def _refuse(status: int, reason: str, **headers: str) -> web.Response:
    return web.json_response({"ok": False, "error": reason}, status=status, headers=headers or None)


def presented_secret(request: web.Request) -> str | None:
    """The secret in ``X-Incident-Bot-Secret``, else in ``Authorization: Bearer``; None when neither."""
    header = request.headers.get(SECRET_HEADER)
    if header is not None and header.strip():
        return header.strip()
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def secret_matches(presented: str, expected: str) -> bool:
    # Bytes, so that a non-ASCII header cannot make compare_digest raise; constant time either way.
    return hmac.compare_digest(presented.encode("utf-8", "replace"), expected.encode("utf-8", "replace"))


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or (content_type.startswith("application/") and content_type.endswith("+json"))


async def read_at_most(request: web.Request, limit: int) -> bytes | None:
    """The body, or None when it is longer than ``limit`` (read no further than that)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    body = bytearray()
    while chunk := await request.content.read(_CHUNK):
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def _json_problem(error: Exception) -> str:
    if isinstance(error, UnicodeDecodeError):
        return "not UTF-8 text"
    if isinstance(error, RecursionError):
        return "nested too deeply"
    return str(error).splitlines()[0][:200]


@dataclass(frozen=True)
class WebhookDoor:
    """What one webhook says when a request does not get in, and how large a body it takes."""

    name: str  # "deploy webhook"
    disabled: str
    how_to_authenticate: str
    max_body: int
    too_large: str
    right_form: str  # the body to send, for the "not valid JSON" answer


async def _authenticated_json(request: web.Request, secret: str | None, door: WebhookDoor) -> tuple[Any, web.Response | None]:
    """The decoded JSON body of an authenticated request, or the refusal to answer with."""
    if not secret:
        return None, _refuse(503, door.disabled)
    presented = presented_secret(request)
    if presented is None:
        return None, _refuse(401, f"no secret given: {door.how_to_authenticate}", **{"WWW-Authenticate": 'Bearer realm="incident-bot"'})
    if not secret_matches(presented, secret):
        return None, _refuse(
            401,
            f"wrong secret: {door.how_to_authenticate}",
            **{"WWW-Authenticate": 'Bearer realm="incident-bot", error="invalid_token"'},
        )
    if not _is_json(request.content_type):
        return None, _refuse(415, NOT_JSON_TYPE)
    body = await read_at_most(request, door.max_body)
    if body is None:
        return None, _refuse(413, door.too_large)
    try:
        return json.loads(body), None
    except (ValueError, RecursionError) as error:
        return None, _refuse(400, f"the body is not valid JSON ({_json_problem(error)}); send {door.right_form}")


JsonReader = Callable[[web.Request, str | None, WebhookDoor], Awaitable[tuple[Any, web.Response | None]]]


def _json_webhook(
    door: WebhookDoor, secret: Callable[[], str | None], answer: Callable[[Any], Awaitable[web.Response]], *, read: JsonReader
) -> Handler:
    """A webhook: ``read`` lets a request in (or gives the refusal to answer with), ``answer`` acts
    on its decoded body. The secret is read on each request, as the settings have it then."""

    async def receive(request: web.Request) -> web.Response:
        data, refusal = await read(request, secret(), door)
        if refusal is not None:
            return refusal
        return await answer(data)

    return receive


DEPLOY_DOOR = WebhookDoor(
    name="deploy webhook",
    disabled=DISABLED,
    how_to_authenticate=_HOW_TO_AUTHENTICATE,
    max_body=MAX_BODY,
    too_large=TOO_LARGE,
    right_form='an object such as {"service": "payments-api", "version": "v1.42"}',
)


def deploy_webhook(runtime: Runtime) -> Handler:
    async def record_deploy(data: Any) -> web.Response:
        try:
            deploy_in = parse_deploy(data, now=runtime.clock())
            require_known_service(runtime.catalog, deploy_in.service, spelled='`"service": "{}"`')
        except ValidationError as error:
            return _refuse(422, validation_reason(error))
        except CommandTextError as error:
            return _refuse(422, f"service: {error}")
        try:
            record, created = await runtime.deploys.record(deploy_in, source="webhook")
        except (SQLAlchemyError, OSError) as error:
            log.error("deploy webhook: could not record %s %s: %s", deploy_in.service, deploy_in.version, error)
            return _refuse(503, DATABASE_DOWN)
        return web.json_response({"ok": True, "deploy_id": record.id, "duplicate": not created}, status=201 if created else 200)

    return _json_webhook(DEPLOY_DOOR, lambda: runtime.settings.deploy_webhook_secret, record_deploy, read=_authenticated_json)


ALERTS_PATH = "/hooks/alerts"
ALERTS_MAX_BODY = 1024 * 1024  # Alertmanager groups can carry hundreds of alerts
ALERTS_DISABLED = "alert webhook disabled: set ALERT_WEBHOOK_SECRET"
_HOW_TO_AUTHENTICATE_ALERTS = (
    f"send the ALERT_WEBHOOK_SECRET in the header `{SECRET_HEADER}: <secret>` or `Authorization: Bearer <secret>` "
    "(Alertmanager: http_config.authorization.credentials; Grafana: the webhook's Authorization header)"
)
ALERT_DOOR = WebhookDoor(
    name="alert webhook",
    disabled=ALERTS_DISABLED,
    how_to_authenticate=_HOW_TO_AUTHENTICATE_ALERTS,
    max_body=ALERTS_MAX_BODY,
    too_large=f"the body is larger than {ALERTS_MAX_BODY // 1024} KiB; lower max_alerts in the sender",
    right_form=f"Alertmanager's or Grafana's webhook body, or {GENERIC_FORM}",
)
SLACK_DOWN = "Slack is not answering, so no war room could be opened; nothing was recorded, try again"


def alert_webhook(runtime: Runtime) -> Handler:
    async def receive_alerts(data: Any) -> web.Response:
        try:
            body = parse_alerts(data, runtime.team.alerts, set(runtime.catalog.names()))
        except AlertPayloadError as error:
            return _refuse(422, str(error))
        if body.grafana_test:
            note = await runtime.alerts.grafana_test(runtime.settings.announce_channel)
            return web.json_response({"ok": True, "test": True, "note": note}, status=200)
        for refused in body.refused:
            log.warning("alert webhook: alert refused, the others taken: %s", refused.reason)
        try:
            result = await runtime.alerts.receive(body.alerts)
        except SlackError as error:
            log.error("alert webhook: Slack unavailable: %s", error)
            return _refuse(503, SLACK_DOWN)
        except (SQLAlchemyError, OSError) as error:
            log.error("alert webhook: could not record alerts: %s", error)
            return _refuse(503, DATABASE_DOWN)
        answer = result.as_json() | {"refused": [refused.as_json() for refused in body.refused]}
        return web.json_response(answer, status=201 if result.opened else 200)

    return _json_webhook(ALERT_DOOR, lambda: runtime.settings.alert_webhook_secret, receive_alerts, read=_authenticated_json)


PAGERDUTY_PATH = "/hooks/pagerduty"
PAGERDUTY_MAX_BODY = 256 * 1024
PAGERDUTY_DOOR = WebhookDoor(
    name="PagerDuty webhook",
    disabled="PagerDuty webhook disabled: set PAGERDUTY_WEBHOOK_SECRET to the V3 webhook subscription's signing secret",
    how_to_authenticate=(
        f"PagerDuty signs each delivery in `{PAGERDUTY_SIGNATURE_HEADER}: v1=<hex HMAC-SHA256 of the body>`; "
        "set PAGERDUTY_WEBHOOK_SECRET to the secret PagerDuty showed when the subscription was created"
    ),
    max_body=PAGERDUTY_MAX_BODY,
    too_large=f"the body is larger than {PAGERDUTY_MAX_BODY // 1024} KiB; a V3 webhook delivery is one event",
    right_form=PAGERDUTY_RIGHT_FORM,
)


async def _signed_json(request: web.Request, secret: str | None, door: WebhookDoor) -> tuple[Any, web.Response | None]:
    """The decoded JSON body of a request PagerDuty signed, or the refusal to answer with. The
    signature covers the raw body, so the body is read (bounded) before anything else is judged."""
    if not secret:
        return None, _refuse(503, door.disabled)
    header = request.headers.get(PAGERDUTY_SIGNATURE_HEADER)
    if not header or not header.strip():
        return None, _refuse(401, f"no signature given: {door.how_to_authenticate}")
    body = await read_at_most(request, door.max_body)
    if body is None:
        return None, _refuse(413, door.too_large)
    if not pagerduty_signature_valid(header, body, secret):
        return None, _refuse(401, f"wrong signature: {door.how_to_authenticate}")
    if not _is_json(request.content_type):
        return None, _refuse(415, NOT_JSON_TYPE)
    try:
        return json.loads(body), None
    except (ValueError, RecursionError) as error:
        return None, _refuse(400, f"the body is not valid JSON ({_json_problem(error)}); send {door.right_form}")


def pagerduty_webhook(runtime: Runtime) -> Handler:
    async def receive_pagerduty_event(data: Any) -> web.Response:
        try:
            event = parse_event(data)
        except PagerDutyWebhookError as error:
            return _refuse(422, str(error))
        try:
            answer = await runtime.pagerduty_events.receive(event)
        except (SQLAlchemyError, OSError) as error:
            log.error("PagerDuty webhook: could not record %s %s: %s", event.event_type, event.event_id[:80], error)
            return _refuse(503, DATABASE_DOWN)
        return web.json_response(answer.as_json(), status=200)

    return _json_webhook(PAGERDUTY_DOOR, lambda: runtime.settings.pagerduty_webhook_secret, receive_pagerduty_event, read=_signed_json)
