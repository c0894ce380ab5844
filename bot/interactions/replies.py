"""Who asked, and answering them: every flow ends by telling the person what happened."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from bot.slack import SlackError, SlackGateway
from storage.db import recording_done

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Requester:
    """Who asked, and where an answer only they can see goes."""

    user_id: str
    channel_id: str | None = None
    response_url: str | None = None


class Replies:
    def __init__(self, slack: SlackGateway) -> None:
        self._slack = slack

    async def tell(self, requester: Requester, text: str, *, blocks_: list[dict[str, Any]] | None = None) -> None:
        """Ephemeral answer through the response_url; a direct message when there is none."""
        await recording_done()  # an answer means the outcome is settled: the request may be acknowledged
        try:
            if requester.response_url:
                await self._slack.respond(requester.response_url, text, blocks=blocks_)
            else:
                await self._slack.post_message(requester.user_id, text, blocks=blocks_)
        except SlackError as error:
            log.warning("could not answer %s: %s", requester.user_id, error)

    async def post(self, channel: str, text: str, failures: list[str], what: str) -> None:
        """A message to a channel on the person's behalf (the war room, the announcement channel);
        a failure is added to ``failures`` for the answer instead of stopping the flow."""
        try:
            await self._slack.post_message(channel, text)
        except SlackError as error:
            failures.append(f"{what} ({error})")
