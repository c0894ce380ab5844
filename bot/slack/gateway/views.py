"""Views: the forms the bot opens (``views.open``, ``views.update``) and each person's App Home
(``views.publish``)."""

from __future__ import annotations

from typing import Any

from bot.slack.transport import SlackTransport


class Views:
    def __init__(self, transport: SlackTransport) -> None:
        self._transport = transport

    async def open(self, trigger_id: str, view: dict[str, Any]) -> None:
        await self._transport.call("views.open", trigger_id=trigger_id, view=view)

    async def update(self, view_id: str, view: dict[str, Any], *, hash_: str | None = None) -> None:
        await self._transport.call("views.update", view_id=view_id, view=view, hash=hash_)

    async def publish_home(self, user_id: str, view: dict[str, Any]) -> None:
        await self._transport.call("views.publish", user_id=user_id, view=view)
