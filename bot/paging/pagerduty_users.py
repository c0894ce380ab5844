"""Who acknowledged in PagerDuty, as an e-mail: PagerDuty's V3 webhooks name the agent by a user
reference (id, summary, html_url) only, so with a REST API key the bot reads the user's e-mail with
``GET /users/{id}`` (PagerDuty REST API v2; tests/data/pagerduty/README.md gives the source).

One attempt with a short timeout: the look-up runs while PagerDuty waits for the webhook's answer,
and the acknowledgement is stamped whatever it gives (by the PagerDuty name when it gives nothing).
The key is sent in the Authorization header and never logged."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp

log = logging.getLogger(__name__)

ACCEPT = "application/vnd.pagerduty+json;version=2"
TIMEOUT_SECONDS = 5.0
MAX_USER_ID = 64


class PagerDutyUsers:
    def __init__(self, api_url: str, token: str | None) -> None:
        self._api_url = api_url.rstrip("/")
        self._token = token
        self._session: aiohttp.ClientSession | None = None

    @property
    def configured(self) -> bool:
        return self._token is not None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def email_of(self, user_id: str) -> str | None:
        """The user's e-mail, or None without a key, for an unknown user, or when PagerDuty
        refuses or does not answer (the reason goes to the log)."""
        if self._token is None or not user_id.isalnum() or len(user_id) > MAX_USER_ID:
            return None
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        headers = {"Authorization": f"Token token={self._token}", "Accept": ACCEPT}
        try:
            async with self._session.get(
                f"{self._api_url}/users/{user_id}", headers=headers, timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
            ) as response:
                status = response.status
                body: Any = await response.json(content_type=None) if status < 500 else None
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as error:
            log.warning("PagerDuty user %s: the REST API did not answer (%s); recorded by name", user_id, type(error).__name__)
            return None
        if status == 200 and isinstance(body, dict) and isinstance(body.get("user"), dict):
            email = body["user"].get("email")
            return email if isinstance(email, str) and "@" in email else None
        reason = {
            401: "PAGERDUTY_API_TOKEN was refused (401): check the key in PagerDuty's API Access Keys",
            403: "PAGERDUTY_API_TOKEN may not read users (403)",
            404: "no such user (404)",
            429: "rate limited (429)",
        }.get(status, f"answered {status}")
        level = logging.ERROR if status in (401, 403) else logging.WARNING
        log.log(level, "PagerDuty user %s: %s; recorded by name", user_id, reason)
        return None
