"""Composing and posting one weekly digest: the figures from bot.analytics.stats, the words from
bot.analytics.digest, the chart from bot.analytics.chart; Slack is asked only at the end."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from bot.analytics.chart import DigestChart, draw_digest_chart
from bot.analytics.delivery_figures import DeliveryReport, delivery_history
from bot.analytics.delivery_view import delivery_blocks, delivery_table
from bot.analytics.digest import Digest, build_digest, digest_incidents, digest_trend, digest_week, incidents_per_week
from bot.analytics.digest_schedule import DigestChannel
from bot.analytics.drawing import CHART_DRAWING, ChartDrawing
from bot.analytics.reports import TREND_WEEKS, Reports
from bot.analytics.stats import Trend, detectable_change, report_from_columns
from bot.core.clock import Clock
from bot.incidents.action_items import ActionItems, digest_lines
from bot.slack import SlackGateway
from bot.slack.blocks import MAX_BLOCKS, action_items_digest_blocks
from bot.slack.steps import create_once
from storage.db import Database
from storage.reports import IncidentScope

# The digest's DORA keys and coverage look back this far: four whole weeks, enough for a band.
DELIVERY_SPAN = timedelta(weeks=4)


@dataclass(frozen=True)
class ComposedDigest:
    digest: Digest
    chart_png: bytes
    trend: Trend  # what the chart's first panel is drawn from (bot.analytics.chart.trend_points)


class DigestPublisher:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        reports: Reports,
        slack: SlackGateway,
        *,
        action_items: ActionItems | None = None,
        delivery_span: timedelta | None = None,
        drawing: ChartDrawing = CHART_DRAWING,
    ) -> None:
        self._drawing = drawing
        self._action_items = action_items
        # How far back the DORA keys and coverage look (the composition root sets DELIVERY_SPAN);
        # None: the digest has no such section, as without action items it has none of those.
        self._delivery_span = delivery_span
        self._db = db
        self._clock = clock
        self._reports = reports
        self._slack = slack

    async def compose(self, channel: DigestChannel, week: str | None = None) -> ComposedDigest:
        """The digest of ``week`` (``2026-W47``; None: the last complete week) for this channel."""
        now = self._clock()
        start, end = digest_week(week, now)
        services = channel.services or None
        severities = channel.severities or None
        history_start = start - timedelta(weeks=TREND_WEEKS - 1)
        # One read serves the figures and (with a delivery span) the four keys' months as well.
        delivery_since = end - self._delivery_span if self._delivery_span is not None else None
        read_from = history_start if delivery_since is None else min(history_start, delivery_history(delivery_since, end))
        scope = IncidentScope(services, severities)
        # What the week's incidents are listed by (title, war room) is read on a connection of its
        # own while the columns are read and added up, and their figures come from the columns;
        # the chart is drawn in the drawing process as soon as its figures are known, while the words are
        # written. One after the other, and each incident of the week read as an object of its
        # own, these took about a third of the digest at 100,000 incidents.
        titles = asyncio.create_task(self._reports.reads.listing(start, end, services=services, severities=severities))
        # The four keys' deploys too, on a third connection.
        figures = self._reports.delivery_figures
        deploys = figures.reading_deploys(delivery_since, end, services=services) if delivery_since is not None else None
        chart: asyncio.Future[bytes] | None = None
        try:
            read = await self._reports.reads.incidents_read(read_from, end, scope)
            restored, unrestored = read.restored, read.unrestored
            if read_from < history_start:
                restored = restored.subset(restored.started_between(history_start, end))
            settings, tiers = self._reports.settings, self._reports.tiers
            report = report_from_columns(restored, unrestored, since=start, until=end, now=now, tiers=tiers, settings=settings)
            # The trend ends with the covered week, so "against the previous week" compares the right pair.
            trend = digest_trend(restored, [i.started_at for i in unrestored], week_end=end, weeks=TREND_WEEKS, settings=settings)
            restores = restored.restore_us / 1_000_000
            # matplotlib is CPU work holding the GIL: it goes to the drawing process, here and
            # now, while the words are written (were it handed over when this coroutine next
            # waits, it would begin after them: 100,000 incidents, 40 ms later). The picture
            # names no incident, so it need not wait for the longest one's privacy check.
            chart = self._drawing.submit(draw_digest_chart, DigestChart.of(trend, report, restores))
            report = await self._reports.reads.hide_private_longest(report)
            per_week = incidents_per_week(trend)
            detectable = detectable_change(restores, per_week=per_week, settings=settings)
            in_week = restored.subset(restored.started_between(start, end))
            listed = await titles
            unlisted = [i for i in in_week.ids.tolist() if i not in listed]
            if unlisted:  # restored between the two reads: named by a read of their own
                listed |= await self._reports.reads.listing(start, end, ids=unlisted)
            last_week = digest_incidents(in_week, listed, tiers=tiers)
            war_rooms = {i.id: room for i in last_week if (room := listed[i.id].war_room) is not None}
            # The open incidents came with the columns, and their war rooms with them.
            war_rooms |= {i.id: read.open_war_rooms[i.id] for i in report.open_incidents if i.id in read.open_war_rooms}
            label = ", ".join(channel.services) if channel.services else "all services"
            if channel.severities:
                label += f" ({', '.join(channel.severities)})"
            digest = build_digest(
                channel_label=label,
                week_start=start,
                last_week_incidents=last_week,
                report=report,
                trend=trend,
                detectable=detectable,
                open_incidents=report.open_incidents,
                war_rooms=war_rooms,
                per_week=per_week,
            )
            if delivery_since is not None and deploys is not None:
                delivery = await figures.delivery_from(read, delivery_since, end, services=services, deploys=await deploys)
                digest = self._with_delivery(digest, delivery)
            digest = await self._with_action_items(digest, channel)
            png = await chart
        finally:
            # On a failure, neither the read nor the drawing outlives the call that asked for them.
            for task in (titles, chart, deploys):
                if task is not None and not task.done():
                    task.cancel()
            await asyncio.gather(*(task for task in (titles, chart, deploys) if task is not None), return_exceptions=True)
        return ComposedDigest(digest, png, trend)

    async def publish(
        self,
        channel: DigestChannel,
        week: str | None = None,
        *,
        posted_ts: str | None = None,
        on_posted: Callable[[str], Awaitable[None]] | None = None,
    ) -> str:
        """Post the digest and its chart in its thread; returns the message ts. Raises SlackError.

        Two Slack steps. ``on_posted`` stores the message's ts the moment Slack confirms it, so a
        retry after a failed chart passes it back as ``posted_ts`` and posts only the chart."""
        composed = await self.compose(channel, week)

        async def post() -> str:
            return (await self._slack.chat.post(channel.channel, composed.digest.fallback, blocks=composed.digest.blocks)).ts

        async def record(ts: str) -> None:
            if on_posted is not None:
                await on_posted(ts)

        message = await create_once(recorded=posted_ts, create=post, record=record)
        assert message.value is not None
        posted_ts = message.value
        await self._slack.files.upload(
            channel.channel,
            composed.chart_png,
            filename=f"mttr-{composed.digest.week}.png",
            title=f"MTTR {composed.digest.week}",
            comment=None,
            thread_ts=posted_ts,
        )
        return posted_ts

    def _with_delivery(self, digest: Digest, delivery: DeliveryReport) -> Digest:
        """DORA's four keys and detection coverage over the four weeks ending with the digest's week
        (one week is too short to place a deployment frequency in a band), with the warnings for
        services and teams whose P1s were customer-reported more than 20% of the time."""
        assert self._delivery_span is not None
        weeks = self._delivery_span.days // 7
        blocks = digest.blocks + delivery_blocks(delivery, room=MAX_BLOCKS - len(digest.blocks) - 1)
        return digest.followed_by(lambda: f"The last {weeks} weeks:\n" + delivery_table(delivery), blocks)

    async def _with_action_items(self, digest: Digest, channel: DigestChannel) -> Digest:
        """The team's open and overdue follow-ups after the figures, in the message and in the
        dry run's text alike."""
        if self._action_items is None:
            return digest
        items = await self._action_items.listing(which="open", requester="", services=channel.services or None)
        lines = digest_lines(items, self._clock().date())
        text = "Open action items (overdue first):\n" + "\n".join(lines) if lines else "Action items: none open."
        room = MAX_BLOCKS - len(digest.blocks)
        blocks = digest.blocks + (action_items_digest_blocks(lines) if room >= 1 else [])
        return digest.followed_by(lambda: text + "\n", blocks)
