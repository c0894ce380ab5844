"""Message shortcuts. "Add to incident timeline" lands in ``add_to_timeline``."""

from __future__ import annotations

import logging

from pydantic import BaseModel, ConfigDict, ValidationError
from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.interactions.replies import Requester
from bot.runtime import Runtime
from handlers.after_ack import ack_once_recorded
from handlers.payloads import TypedText

log = logging.getLogger(__name__)

ADD_TO_TIMELINE = "add_to_incident_timeline"


class _Id(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore")
    ts: str
    user: str | None = None
    bot_id: str | None = None
    text: TypedText = ""


class MessageShortcut(BaseModel):
    model_config = ConfigDict(extra="ignore")
    callback_id: str
    user: _Id
    channel: _Id
    message: _Message
    response_url: str | None = None


def register(app: AsyncApp, runtime: Runtime) -> None:
    @app.shortcut(ADD_TO_TIMELINE)
    async def add_to_timeline(ack: AsyncAck, body: dict) -> None:
        try:
            shortcut = MessageShortcut.model_validate(body)
        except ValidationError as error:
            await ack()
            log.warning("malformed message shortcut: %s", error)
            return
        requester = Requester(shortcut.user.id, shortcut.channel.id, shortcut.response_url)
        work = runtime.interactions.notes.add_message(
            requester,
            message_ts=shortcut.message.ts,
            author=shortcut.message.user or shortcut.message.bot_id,
            text=shortcut.message.text,
        )
        await ack_once_recorded(ack, runtime, requester, work, name="add-to-timeline")
