"""Sign in with Slack (OpenID Connect) for the dashboard, and its session cookie.

1. ``start``: a random ``state`` and ``nonce``, kept in a short-lived signed cookie, and the URL of
   Slack's authorize page (scopes openid, email, profile) to send the browser to.
2. ``finish``: Slack sends the browser back with a ``code`` and the ``state``; the state must be
   the cookie's. The code is exchanged (``openid.connect.token``), the ID token must carry the
   cookie's nonce and this app's client ID, and ``openid.connect.userInfo`` must name this
   workspace. Only then is a session cookie issued.
3. ``viewer``: the session cookie read back; signed (HMAC-SHA256 with DASHBOARD_SESSION_SECRET),
   with its expiry inside, so a forged, altered or expired cookie is no sign-in.

The dashboard only reads, so a forged cross-site request could change nothing (CSRF-safe); the
cookies are HttpOnly, Secure and SameSite=Lax (set by handlers/dashboard.py). Nothing here logs
a token, a code or a cookie.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from bot.core.clock import Clock
from bot.interactions.dashboard import Viewer
from bot.slack import SlackError, SlackGateway

log = logging.getLogger(__name__)

SESSION_COOKIE = "incident_bot_session"
SIGN_IN_COOKIE = "incident_bot_sign_in"
SIGN_IN_LIFETIME = timedelta(minutes=10)
SCOPES = "openid email profile"


def authorize_url_of(slack_api_url: str) -> str:
    """Slack's authorize page beside its Web API: https://slack.com/api/ → https://slack.com/openid/connect/authorize."""
    return slack_api_url.rstrip("/").removesuffix("/api") + "/openid/connect/authorize"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SignedValues:
    """Small JSON values with an expiry, signed with HMAC-SHA256; ``purpose`` keeps a value signed
    for one cookie from being accepted as another."""

    def __init__(self, secret: str, clock: Clock) -> None:
        self._key = hashlib.sha256(b"incident-bot dashboard " + secret.encode()).digest()
        self._clock = clock

    def _mac(self, purpose: str, body: str) -> str:
        return _b64(hmac.new(self._key, f"{purpose}.{body}".encode(), hashlib.sha256).digest())

    def sign(self, purpose: str, value: dict[str, Any], lifetime: timedelta) -> str:
        expires = int((self._clock() + lifetime).timestamp())
        body = _b64(json.dumps({"v": value, "exp": expires}, separators=(",", ":")).encode())
        return f"{body}.{self._mac(purpose, body)}"

    def read(self, purpose: str, token: str | None) -> dict[str, Any] | None:
        """The value, or None when the token is missing, malformed, altered, signed for another purpose or expired."""
        if not token or token.count(".") != 1:
            return None
        body, mac = token.split(".")
        if not hmac.compare_digest(mac, self._mac(purpose, body)):
            return None
        try:
            content = json.loads(_unb64(body))
        except (ValueError, binascii.Error):
            return None
        if not isinstance(content, dict) or not isinstance(content.get("exp"), int) or not isinstance(content.get("v"), dict):
            return None
        if content["exp"] <= self._clock().timestamp():
            return None
        value: dict[str, Any] = content["v"]
        return value


@dataclass(frozen=True)
class SignInStart:
    url: str  # Slack's authorize page
    cookie: str  # the signed state and nonce


@dataclass(frozen=True)
class SignInOutcome:
    viewer: Viewer | None
    session_cookie: str | None = None
    refusal: str | None = None  # what the person is told when no session was made


def _id_token_claims(id_token: str | None) -> dict[str, Any] | None:
    """The claims of the ID token Slack's token endpoint returned. Received straight from Slack over
    TLS in answer to our own client secret, so its signature need not be checked (OpenID Connect
    Core 3.1.3.7); the nonce and audience in it are."""
    if not id_token or id_token.count(".") != 2:
        return None
    try:
        claims = json.loads(_unb64(id_token.split(".")[1]))
    except (ValueError, binascii.Error):
        return None
    return claims if isinstance(claims, dict) else None


class DashboardSignIn:
    def __init__(
        self,
        slack: SlackGateway,
        clock: Clock,
        *,
        client_id: str,
        client_secret: str,
        redirect_url: str,
        session_secret: str,
        session_lifetime: timedelta,
        authorize_url: str,
    ) -> None:
        self._slack = slack
        self._client_id = client_id
        self._client_secret = client_secret
        self._redirect_url = redirect_url
        self._signed = SignedValues(session_secret, clock)
        self.session_lifetime = session_lifetime
        self._authorize_url = authorize_url

    def start(self) -> SignInStart:
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        query = urlencode(
            {
                "response_type": "code",
                "scope": SCOPES,
                "client_id": self._client_id,
                "redirect_uri": self._redirect_url,
                "state": state,
                "nonce": nonce,
            }
        )
        cookie = self._signed.sign("sign-in", {"state": state, "nonce": nonce}, SIGN_IN_LIFETIME)
        return SignInStart(url=f"{self._authorize_url}?{query}", cookie=cookie)

    async def finish(self, *, code: str | None, state: str | None, error: str | None, sign_in_cookie: str | None) -> SignInOutcome:
        started = self._signed.read("sign-in", sign_in_cookie)
        if error:
            return SignInOutcome(None, refusal="Slack did not sign you in (you may have cancelled). Try again.")
        if started is None:
            return SignInOutcome(None, refusal="This sign-in was not started here, or took longer than 10 minutes. Start again.")
        if not state or not hmac.compare_digest(str(started.get("state", "")), state):
            return SignInOutcome(None, refusal="This sign-in does not match the one started in this browser. Start again.")
        if not code:
            return SignInOutcome(None, refusal="Slack sent no sign-in code back. Start again.")
        try:
            access_token, id_token = await self._slack.identity.openid_access_token(
                client_id=self._client_id, client_secret=self._client_secret, code=code, redirect_uri=self._redirect_url
            )
            claims = _id_token_claims(id_token)
            if claims is None or claims.get("nonce") != started.get("nonce") or claims.get("aud") != self._client_id:
                log.warning("dashboard sign-in refused: the ID token's nonce or audience is not this sign-in's")
                return SignInOutcome(None, refusal="Slack's answer did not match this sign-in. Start again.")
            user = await self._slack.identity.openid_user(access_token)
            workspace = await self._slack.identity.workspace_id()
        except SlackError as problem:
            log.warning("dashboard sign-in failed: %s", problem)
            return SignInOutcome(None, refusal=f"Slack did not complete the sign-in ({problem.code}). Start again.")
        if user.team_id != workspace or claims.get("https://slack.com/team_id", workspace) != workspace:
            log.warning("dashboard sign-in refused: %s is from another workspace", user.user_id)
            return SignInOutcome(None, refusal="You signed in to another Slack workspace. Sign in to the workspace this bot serves.")
        viewer = Viewer(user.user_id, user.name)
        session = self._signed.sign("session", {"user": viewer.user_id, "name": viewer.name}, self.session_lifetime)
        log.info("dashboard sign-in: %s", viewer.user_id)
        return SignInOutcome(viewer, session_cookie=session)

    def viewer(self, session_cookie: str | None) -> Viewer | None:
        value = self._signed.read("session", session_cookie)
        if value is None or not isinstance(value.get("user"), str):
            return None
        name = value.get("name")
        return Viewer(value["user"], name if isinstance(name, str) else None)
