"""Events API. Opening the bot's App Home lands in ``home_opened``; someone joining a channel the
bot is in, in ``member_joined`` (a war room's catch-up)."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.background import only_first_copy
from bot.runtime import Runtime


def register(app: AsyncApp, runtime: Runtime) -> None:
    @app.event("app_home_opened")
    async def home_opened(event: dict) -> None:
        # Events are acknowledged by Bolt itself; the view is published after.
        if event.get("tab", "home") != "home" or not event.get("user"):
            return
        runtime.background.spawn(only_first_copy(runtime.interactions.readouts.publish_home(event["user"])), name="app-home")

    @app.event("member_joined_channel")
    async def member_joined(event: dict, body: dict) -> None:
        user, channel = event.get("user"), event.get("channel")
        if not isinstance(user, str) or not user or not isinstance(channel, str) or not channel:
            return
        inviter = event.get("inviter") if isinstance(event.get("inviter"), str) else None
        # The event's id is the same in every delivery of one event: the join is recorded (and its
        # catch-up shown) once however often Slack delivers it.
        event_id = str(body.get("event_id") or event.get("event_ts") or "")[:32]
        work = runtime.interactions.catchups.joined(channel, user, event_id=event_id, inviter=inviter)
        runtime.background.spawn(only_first_copy(work), name="catch-up")
