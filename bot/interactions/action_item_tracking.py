"""Follow-up action items: adding one (typed or through the form), marking it done from its
owner's message, and listing them."""

from __future__ import annotations

import logging

from bot.core.command_text import CommandTextError
from bot.core.records import IncidentRecord
from bot.incidents.action_items import LIST_USAGE, ActionItems, ActionRequest, parse_action_text
from bot.incidents.permissions import who_may
from bot.interactions.lookup import IncidentLookup
from bot.interactions.replies import Replies, Requester
from bot.slack import SlackError, SlackGateway, blocks, messages
from bot.warroom.resolution import Resolutions

log = logging.getLogger(__name__)


class ActionItemTracking:
    def __init__(self, items: ActionItems, lookup: IncidentLookup, resolutions: Resolutions, replies: Replies, slack: SlackGateway) -> None:
        self._items = items
        self._lookup = lookup
        self._resolutions = resolutions
        self._replies = replies
        self._slack = slack

    async def add(self, requester: Requester, text: str) -> None:
        """``/incident action <text> @owner [due:…]`` in a war room."""
        incident = await self._lookup.here(requester)
        if incident is None:
            return
        try:
            request = parse_action_text(text, today=self._items.today())
        except CommandTextError as error:
            await self._replies.tell(requester, messages.typed_text_refused(error))
            return
        await self._add(requester, incident, request)

    async def open_form(self, requester: Requester, incident_id: int, trigger_id: str) -> None:
        """The "Add action item" button."""
        incident = await self._lookup.numbered(requester, incident_id)
        if incident is None or await self._lookup.refused(requester, "stamp", incident):
            return
        metadata = {"channel_id": requester.channel_id or ""}
        try:
            await self._slack.views.open(trigger_id, blocks.add_action_modal(incident, private_metadata=metadata))
        except SlackError as error:
            await self._replies.tell(requester, f"Could not open the form: {error}.")

    async def add_from_form(self, requester: Requester, incident_id: int, request: ActionRequest) -> None:
        incident = await self._lookup.numbered(requester, incident_id)
        if incident is not None:
            await self._add(requester, incident, request)

    async def _add(self, requester: Requester, incident: IncidentRecord, request: ActionRequest) -> None:
        if await self._lookup.refused(requester, "stamp", incident):
            return
        item = await self._items.create(incident.id, request, by=requester.user_id)
        failures: list[str] = []
        try:
            await self._items.send_to_owner(item, heading=messages.action_owner_heading(incident.reference, incident.channel_id))
        except SlackError as error:
            failures.append(f"<@{item.owner}> could not be told by direct message ({error})")
        failures += await self._resolutions.refresh_actions_message(incident.id)
        if failures:
            await self._replies.tell(requester, messages.told_with_failures(f"Action item #{item.id}", failures, incident.reference))
        else:
            await self._replies.tell(requester, messages.action_added(item.id, incident.reference, item.owner))

    async def mark_done(self, requester: Requester, item_id: int) -> None:
        """The "Done" button on an action item: its owner, or whoever may correct the incident."""
        item = await self._items.get(item_id)
        if item is None:
            await self._replies.tell(requester, messages.UNKNOWN_ACTION_ITEM)
            return
        if requester.user_id != item.owner:
            incident = await self._lookup.get(item.incident_id)
            permissions = self._lookup.permissions
            try:
                allowed = await permissions.allowed("correct", incident, requester.user_id)
            except SlackError:
                allowed = False
            if not allowed:
                if incident is not None and await self._lookup.hidden_from(requester, incident):
                    return  # no owner, no commander named
                who = who_may(permissions.policy, "correct", incident)
                await self._replies.tell(requester, messages.action_done_refused(item_id, item.owner, who))
                return
        record, closed = await self._items.mark_done(item_id, by=requester.user_id)
        if not closed:
            await self._replies.tell(requester, messages.action_already_done(item_id, record.done_by))
            return
        failures = await self._resolutions.refresh_actions_message(record.incident_id)
        if failures:
            log.warning("action item %s: %s", item_id, failures)

    async def list_items(self, requester: Requester, text: str) -> None:
        """``/incident actions [mine|open|overdue]``."""
        which = text.strip().lower() or "open"
        if which not in ("mine", "open", "overdue"):
            await self._replies.tell(requester, f"I list `mine`, `open` or `overdue` action items: {LIST_USAGE}.")
            return
        incident = await self._lookup.in_channel_of(requester)
        items = await self._items.listing(which=which, requester=requester.user_id, incident_id=incident.id if incident else None)
        if incident is None:
            # Outside a war room, a private incident's items show only to their owner.
            items = [i for i in items if not i.incident_private or i.owner == requester.user_id]
        scope = f"in {incident.reference}" if incident else ("of yours" if which == "mine" else "across incidents")
        today = self._items.today()
        label = {"mine": "open", "open": "open", "overdue": "overdue"}[which]
        await self._replies.tell(requester, messages.action_list(label, scope, [f"#{i.id} {i.line(today)}" for i in items]))
