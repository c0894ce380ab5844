"""Who asked, and answering them: every flow ends by telling the person what happened, and some
also tell the incident's war room and the announcement channel on their behalf."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from bot.core.records import IncidentRecord
from bot.slack import SlackError, SlackGateway
from bot.slack.blocks import drill_text
from storage.db import recording_done

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Requester:
    """Who asked, and where an answer only they can see goes."""

    user_id: str
    channel_id: str | None = None
    response_url: str | None = None


class Replies:
    def __init__(self, slack: SlackGateway, *, announce_channel: str | None) -> None:
        self._slack = slack
        self._announce_channel = announce_channel

    async def tell(self, requester: Requester, text: str, *, blocks_: list[dict[str, Any]] | None = None) -> None:
        """Ephemeral answer through the response_url; a direct message when there is none."""
        await recording_done()  # an answer means the outcome is settled: the request may be acknowledged
        try:
            if requester.response_url:
                await self._slack.chat.respond(requester.response_url, text, blocks=blocks_)
            else:
                await self._slack.chat.post(requester.user_id, text, blocks=blocks_)
        except SlackError as error:
            log.warning("could not answer %s: %s", requester.user_id, error)

    async def tell_rooms(self, incident: IncidentRecord, in_war_room: str, announcement: str | None, failures: list[str]) -> None:
        """Post, on the person's behalf and at the same time, ``in_war_room`` in the incident's war
        room and ``announcement`` (None: nothing) in the announcement channel, when there is one.
        What did not reach a room is added to ``failures`` for the answer instead of stopping the flow."""
        posts = []
        if incident.channel_id:
            posts.append(self._post(incident.channel_id, drill_text(incident.is_drill, in_war_room), failures, "the war room was not told"))
        if announcement is not None and self._announce_channel:
            shown = drill_text(incident.is_drill, announcement)
            posts.append(self._post(self._announce_channel, shown, failures, f"<#{self._announce_channel}> was not told"))
        await asyncio.gather(*posts)

    async def _post(self, channel: str, text: str, failures: list[str], what: str) -> None:
        try:
            await self._slack.chat.post(channel, text)
        except SlackError as error:
            failures.append(f"{what} ({error})")
