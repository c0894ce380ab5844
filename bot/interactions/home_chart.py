"""App Home's picture: the dashboard overview's main chart (the weekly median time to restore),
uploaded to Slack as a PNG shared in no channel and shown with an image block's ``slack_file``.

Drawn and uploaded at most once an hour for the whole workspace: the hour is claimed in the
database (storage/dashboard.py), so however many processes publish App Home tabs, one uploads.
Until that upload is confirmed, the others show the newest chart Slack already has (or none).
The chart is of weekly medians: it names no incident, so it may be shown to everyone.
"""

from __future__ import annotations

import functools
import logging

from bot.analytics.chart import render_trend_chart, trend_alt_text
from bot.analytics.drawing import CHART_DRAWING, ChartDrawing
from bot.analytics.reports import Reports
from bot.analytics.stats import Trend
from bot.core.clock import Clock
from bot.slack import SlackError, SlackGateway
from storage import dashboard as chart_rows
from storage.db import Database

log = logging.getLogger(__name__)

CHART = "home-trend"
CHART_TITLE = "Time to restore, week by week"


class HomeChart:
    def __init__(self, db: Database, slack: SlackGateway, clock: Clock, reports: Reports, drawing: ChartDrawing = CHART_DRAWING) -> None:
        self._drawing = drawing
        self._db = db
        self._slack = slack
        self._clock = clock
        self._reports = reports

    async def current(self, trend: Trend) -> tuple[str, str] | None:
        """The chart's Slack file ID and its alt text; None when Slack has none yet. ``trend``: the
        App Home's own, drawn when this process wins the hour's claim."""
        now = self._clock()
        period = now.strftime("%Y-%m-%dT%H")
        async with self._db.transaction() as session:
            claimed = await chart_rows.claim_chart(session, CHART, period, at=now)
        if claimed:
            try:
                png = await self._drawing.submit(functools.partial(render_trend_chart, fmt="png"), trend, self._reports.settings.min_count)
                uploaded = await self._slack.files.upload(None, png, filename="time-to-restore.png", title=CHART_TITLE)
            except SlackError as error:
                log.warning("App Home chart not uploaded (the previous one stays): %s", error)
            else:
                async with self._db.transaction() as session:
                    await chart_rows.record_chart_file(session, CHART, period, uploaded)
        async with self._db.reading() as session:
            newest = await chart_rows.newest_chart_file(session, CHART)
        return (newest, trend_alt_text(trend)) if newest else None
