"""What a war room's set-up puts in Slack once the channel exists: the control message and its
pin, the bookmarks, the topic, the announcement and the service's runbook."""

from __future__ import annotations

import asyncio
from dataclasses import KW_ONLY, dataclass

from bot.catalog.runbooks import Runbook
from bot.catalog.services import Service
from bot.core.records import IncidentRecord, WarRoomContext
from bot.slack import SlackGateway, blocks
from bot.slack.steps import HeldWithOthers, SlackSteps
from bot.warroom.call_links import CALL_BOOKMARK_TITLE
from bot.warroom.room_records import WarRoomRecords, WarRoomReport, always_needed, lacks
from bot.warroom.runbook_room import RunbookRoom


@dataclass(frozen=True, eq=False)
class WarRoomPosts:
    """Owns the steps that post, pin, bookmark and announce in a war room, each done once (bot.slack.steps)."""

    slack: SlackGateway
    steps: SlackSteps
    records: WarRoomRecords
    runbook_room: RunbookRoom
    _: KW_ONLY
    announce_channel: str | None

    def runbooks(self, service_name: str | None) -> list[Runbook]:
        """The runbooks a war room of the service posts (the first, when any)."""
        return self.runbook_room.candidates(service_name)

    async def control_message(
        self,
        report: WarRoomReport,
        incident: IncidentRecord,
        context: WarRoomContext,
        pinned: bool,
        look: bool,
        posted: asyncio.Task[str] | None,
    ) -> None:
        """``posted``: the post already on its way (a new incident's, under its claim)."""
        assert incident.channel_id
        channel = incident.channel_id
        ts = incident.control_message_ts
        if posted is not None:
            # Not SlackSteps.once: the post was made by the channel step, under the claim taken with
            # the channel's, with nothing to look for (a first attempt); what is left is to record it,
            # and the pin must not wait for that record.
            ts = await posted
            report.done.append("posted the control message")
            # The pin needs only the ts: it goes out while the ts is recorded.
            recorded = asyncio.create_task(self.records.record(incident.id, control_message_ts=ts))
            try:
                await self.slack.chat.pin(channel, ts)
            finally:
                await recorded
            await self.records.stamp(incident.id, "control_pinned_at")
            report.done.append("pinned the control message")
            return
        if ts is None:
            outcome = await self.steps.once(
                incident.id,
                "control_message",
                still_needed=lacks("control_message_ts"),
                find=(lambda: self.steps.find_message(channel, incident, "control_message")) if look else None,
                create=self.steps.post(
                    channel, incident, "control_message", blocks.notification_text(incident), blocks.control_message(incident, context)
                ),
                record=lambda posted_ts: self.records.record(incident.id, control_message_ts=posted_ts),
            )
            report.add(outcome, "posted the control message", "found the control message an interrupted attempt posted", None)
            ts = outcome.value if outcome.value is not None else (await self.records.progress(incident.id)).incident.control_message_ts
            assert ts is not None
        else:
            report.already.append("the control message")
        if pinned:
            report.already.append("its pin")
            return
        await self.slack.chat.pin(channel, ts)  # Slack answers already_pinned to a second pin: idempotent
        await self.records.stamp(incident.id, "control_pinned_at")
        report.done.append("pinned the control message")

    def _runbook_link(self, service: Service) -> str | None:
        if service.runbook_url:
            return service.runbook_url
        runbook = self.runbook_room.find(service.runbook_name) if service.runbook_name else None
        return runbook.url if runbook else None

    def bookmark_links(self, service: Service | None, call_url: str | None) -> list[tuple[str, str]]:
        """The war room's bookmarks: its call, and (not for a private incident) the service's dashboard and runbook."""
        links = [(CALL_BOOKMARK_TITLE, call_url)]
        if service is not None:
            links += [(f"{service.name} dashboard", service.dashboard), (f"{service.name} runbook", self._runbook_link(service))]
        return [(title, link) for title, link in links if link]

    async def bookmark(
        self,
        report: WarRoomReport,
        incident: IncidentRecord,
        service: Service | None,
        call_url: str | None,
        look: bool,
        claimed: dict[str, HeldWithOthers],
    ) -> None:
        assert incident.channel_id
        channel = incident.channel_id
        wanted = self.bookmark_links(service, call_url)

        async def add_missing() -> int:
            # Bookmarks are several calls: an interrupted attempt may have added some of them.
            present = {(b.title, b.link) for b in await self.slack.channels.bookmarks(channel)} if look else set()
            missing = [(title, link) for title, link in wanted if (title, link) not in present]
            for title, link in missing:
                await self.slack.channels.add_bookmark(channel, title, link)
            return len(missing)

        outcome = await self.steps.once(
            incident.id,
            "bookmarks",
            claimed.get("bookmarks"),
            still_needed=lacks("bookmarked_at"),
            create=add_missing,
            record=lambda _added: self.records.stamp(incident.id, "bookmarked_at"),
        )
        if outcome.how == "recorded":
            report.already.append("the dashboard and runbook bookmarks")
        elif outcome.value:
            report.done.append("bookmarked the dashboard and runbook")
        else:
            report.done.append("found the dashboard and runbook bookmarks an interrupted attempt added")

    async def post_runbook(
        self, report: WarRoomReport, incident: IncidentRecord, runbook: Runbook, look: bool, claimed: dict[str, HeldWithOthers]
    ) -> None:
        step = f"runbook:{runbook.name}"
        # RunbookRoom.post reads under the claim whether it is posted already (its own row), and
        # records it itself: only the claim is the runner's.
        async with self.steps.claimed(incident.id, step, claimed.get(step), always_needed) as _:
            posted = await self.runbook_room.post(incident, runbook, by=None, look=look)
        if posted == "posted":
            report.done.append(f"posted the runbook {runbook.name}")
        elif posted == "adopted":
            report.done.append(f"found the runbook {runbook.name} an interrupted attempt posted")
        else:
            report.already.append(f"the runbook {runbook.name}")

    async def topic(self, report: WarRoomReport, incident: IncidentRecord, first: bool) -> None:
        assert incident.channel_id
        await self.slack.channels.set_topic(incident.channel_id, blocks.channel_topic(incident))
        # A repair sets the topic every time (it shows the incident as it is now); it is news only the first time.
        if first:
            report.done.append("set the topic")

    async def announce(self, report: WarRoomReport, incident: IncidentRecord, look: bool, claimed: dict[str, HeldWithOthers]) -> None:
        channel = self.announce_channel
        assert channel
        if incident.is_private:
            create = self.steps.post(channel, incident, "announcement", blocks.PRIVATE_ANNOUNCEMENT)
        else:
            create = self.steps.post(
                channel,
                incident,
                "announcement",
                f"{blocks.notification_text(incident)} — war room <#{incident.channel_id}>",
                blocks.announcement_blocks(incident),
            )
        outcome = await self.steps.once(
            incident.id,
            "announcement",
            claimed.get("announcement"),
            still_needed=lacks("announcement_ts"),
            find=(lambda: self.steps.find_message(channel, incident, "announcement")) if look else None,
            create=create,
            record=lambda ts: self.records.record(incident.id, announcement_ts=ts),
        )
        private = " (without the title: private)" if incident.is_private else ""
        report.add(
            outcome,
            f"announced in <#{channel}>{private}",
            f"found the announcement in <#{channel}> an interrupted attempt posted",
            f"the announcement in <#{channel}>",
        )
