"""Events API. Opening the bot's App Home lands in ``home_opened``."""

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
