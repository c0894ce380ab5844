"""Who the bot is in Slack (``auth.test``: its user ID and workspace, asked once per process) and
who signs in with Slack to the dashboard (``openid.connect.*``)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.slack.transport import SlackTransport


@dataclass(frozen=True)
class SignedInUser:
    """Who signed in with Slack (``openid.connect.userInfo``): their user ID and workspace."""

    user_id: str
    team_id: str | None
    name: str | None


class Identity:
    def __init__(self, transport: SlackTransport) -> None:
        self._transport = transport
        self._bot_user_id: str | None = None
        self._workspace_id: str | None = None

    async def bot_user_id(self) -> str:
        if self._bot_user_id is None:
            await self.who_am_i()
        assert self._bot_user_id is not None
        return self._bot_user_id

    async def who_am_i(self) -> str:
        """Asks Slack who the token belongs to (``auth.test``): "@bot in workspace"; a refused
        token raises SlackError with Slack's code (invalid_auth, token_revoked...)."""
        data = await self._transport.call("auth.test")
        self._bot_user_id = data["user_id"]
        return f"@{data.get('user') or data['user_id']} in {data.get('team') or data.get('team_id') or 'the workspace'}"

    async def workspace_id(self) -> str:
        """The ID of the bot's workspace (``auth.test``'s team_id), asked once per process."""
        if self._workspace_id is None:
            data = await self._transport.call("auth.test")
            self._bot_user_id = data["user_id"]
            self._workspace_id = str(data["team_id"])
        return self._workspace_id

    async def openid_access_token(self, *, client_id: str, client_secret: str, code: str, redirect_uri: str) -> tuple[str, str | None]:
        """Sign in with Slack: the code Slack's authorize page gave back, exchanged for the person's
        access token and the ID token (``openid.connect.token``). Neither is ever logged."""
        data = await self._transport.call(
            "openid.connect.token",
            client_id=client_id,
            client_secret=client_secret,
            code=code,
            redirect_uri=redirect_uri,
            grant_type="authorization_code",
        )
        id_token = data.get("id_token")
        return str(data["access_token"]), str(id_token) if id_token else None

    async def openid_user(self, access_token: str) -> SignedInUser:
        """Who the access token belongs to (``openid.connect.userInfo``, with the person's token)."""
        data = await self._transport.call("openid.connect.userInfo", token=access_token)
        team = data.get("https://slack.com/team_id")
        return SignedInUser(user_id=str(data["https://slack.com/user_id"]), team_id=str(team) if team else None, name=data.get("name"))
