"""What the bot shows when asked: an incident's status, the MTTR figures of a window, and the App
Home tab. Nothing here writes."""

from __future__ import annotations

import logging
from datetime import timedelta

from bot.analytics.delivery_view import delivery_blocks
from bot.analytics.drills import drill_blocks
from bot.analytics.reports import Reports, parse_stats_text
from bot.analytics.stats_view import home_view, report_blocks
from bot.catalog.services import Catalog, require_known_service
from bot.core.clock import Clock
from bot.core.command_text import CommandTextError
from bot.interactions.home_chart import HomeChart
from bot.interactions.lookup import IncidentLookup
from bot.interactions.replies import Replies, Requester
from bot.slack import SlackError, SlackGateway, blocks, messages
from bot.slack.blocks import MAX_BLOCKS

log = logging.getLogger(__name__)


class Readouts:
    def __init__(
        self,
        lookup: IncidentLookup,
        reports: Reports,
        catalog: Catalog,
        replies: Replies,
        slack: SlackGateway,
        clock: Clock,
        home_chart: HomeChart | None = None,
    ) -> None:
        self._home_chart = home_chart
        self._lookup = lookup
        self._reports = reports
        self._catalog = catalog
        self._replies = replies
        self._slack = slack
        self._clock = clock

    async def status(self, requester: Requester, argument: str) -> None:
        """``/incident status [INC-42]``."""
        incident = await self._lookup.named_or_here(requester, argument)
        if incident is None or await self._lookup.hidden_from(requester, incident):
            return
        await self._replies.tell(requester, blocks.notification_text(incident), blocks_=blocks.status_blocks(incident))

    async def stats(self, requester: Requester, text: str) -> None:
        """``/incident stats``: the window's figures, only for the person who asked."""
        try:
            query = parse_stats_text(text)
            require_known_service(self._catalog, query.service)
        except CommandTextError as error:
            await self._replies.tell(requester, messages.typed_text_refused(error))
            return
        now = self._clock()
        services = [query.service] if query.service else None
        if query.drills:
            drills = await self._reports.drills(now - timedelta(days=query.days), now, services=services)
            title = f"Drills · {query.label}"
            await self._replies.tell(requester, title, blocks_=drill_blocks(drills, title=title))
            return
        severities = [query.severity] if query.severity else None
        read = await self._reports.recent_window_read(
            query.days, services=services, severities=severities, delivery=True, year=query.dora_year
        )
        report, war_rooms, trend, delivery = read.report, read.war_rooms, read.trend, read.delivery
        assert delivery is not None
        title = f"MTTR · {query.label}"
        shown = report_blocks(report, trend, title=title, war_rooms=war_rooms)
        shown += delivery_blocks(delivery, room=MAX_BLOCKS - len(shown))
        await self._replies.tell(requester, title, blocks_=shown)

    async def publish_home(self, user_id: str) -> None:
        """The App Home tab: open incidents with their phase and age, and the last 30 days."""
        now = self._clock()
        report, war_rooms, trend = await self._reports.window_and_trend(now - timedelta(days=30), now)
        chart = await self._home_chart.current(trend) if self._home_chart is not None else None
        view = home_view(report.open_incidents, report, war_rooms=war_rooms, trend=trend, chart=chart)
        try:
            await self._slack.views.publish_home(user_id, view)
        except SlackError as error:
            log.warning("App Home for %s not published: %s", user_id, error)
