"""Deploys typed in Slack: ``/incident deploy`` records one, ``/incident deploys`` lists the recent ones."""

from __future__ import annotations

from datetime import timedelta

from bot.catalog.services import Catalog, require_known_service
from bot.core.clock import Clock
from bot.core.command_text import CommandTextError
from bot.core.timefmt import human_duration
from bot.integrations.deploys import Deploys, deploy_line, parse_deploy_text, parse_deploys_text
from bot.interactions.replies import Replies, Requester
from bot.slack import SlackError, SlackGateway, messages


class DeployRecords:
    def __init__(
        self, deploys: Deploys, catalog: Catalog, replies: Replies, slack: SlackGateway, clock: Clock, *, deploy_window: timedelta
    ) -> None:
        self._deploys = deploys
        self._catalog = catalog
        self._replies = replies
        self._slack = slack
        self._clock = clock
        self._deploy_window = deploy_window

    async def record(self, requester: Requester, text: str) -> None:
        try:
            author = await self._slack.people.display_name(requester.user_id)
        except SlackError:
            author = requester.user_id
        try:
            deploy_in = parse_deploy_text(text, now=self._clock(), author=author)
            require_known_service(self._catalog, deploy_in.service)
        except CommandTextError as error:
            await self._replies.tell(requester, messages.typed_text_refused(error))
            return
        record, created = await self._deploys.record(deploy_in, "slack")
        await self._replies.tell(requester, messages.deploy_recorded(record.id, deploy_line(record), created))

    async def list_recent(self, requester: Requester, text: str) -> None:
        try:
            query = parse_deploys_text(text, default_within=self._deploy_window)
            require_known_service(self._catalog, query.service)
        except CommandTextError as error:
            await self._replies.tell(requester, messages.typed_text_refused(error))
            return
        found = await self._deploys.recent(query.service, query.within)
        await self._replies.tell(
            requester, messages.deploy_list(query.service, human_duration(query.within), [deploy_line(d) for d in found])
        )
