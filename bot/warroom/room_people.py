"""Who a war room invites: the opener and those they name, the service's owners and on-call
group (or the people named for drills), looked up in Slack while the channel is created."""

from __future__ import annotations

import asyncio
import logging

from bot.background import once_set, side_task, slot_lent
from bot.catalog.services import Catalog, Service
from bot.core.records import IncidentRecord
from bot.slack import SlackError, SlackGateway
from bot.warroom.room_records import WarRoomReport

log = logging.getLogger(__name__)


def drop_people(people: asyncio.Task[set[str]] | None) -> None:
    """Done with a look-up of people (``WarRoomPeople.look_up_people``), used or not: stopped if still
    running; its failure, if any, was told by the invite step that needed it, or nothing needed it."""
    if people is None:
        return
    if not people.done():
        people.cancel()
    elif not people.cancelled():
        people.exception()


class WarRoomPeople:
    """Owns looking up a war room's people in Slack and inviting those not in it yet."""

    def __init__(self, slack: SlackGateway, catalog: Catalog, *, drill_people: tuple[str, ...] = ()) -> None:
        self._slack = slack
        self._catalog = catalog
        self._drill_people = drill_people

    def service(self, name: str | None, *, private: bool) -> Service | None:
        # A private incident has only the opener and the people they invite: no owners or on-call.
        return None if private else self._catalog.get(name)

    def look_up_people(
        self, service_name: str | None, *, private: bool, drill: bool = False, after: asyncio.Event | None = None
    ) -> asyncio.Task[set[str]] | None:
        """Start looking up the owners and on-call members of the service a war room will invite
        (a drill's: the people named for drills, never the service's on-call): none of it needs
        the channel, so Slack is asked at once, or once ``after`` is set."""
        if drill:  # a private drill, like any private incident, has only the opener and whom they invite
            if not self._drill_people or private:
                return None
            return side_task(once_set(after, self._drill_people_ids), name="war-room-people-drill")
        service = self.service(service_name, private=private)
        if service is None:
            return None
        return side_task(once_set(after, lambda: self._service_people(service)), name=f"war-room-people-{service.name}")

    async def invite(self, report: WarRoomReport, incident: IncidentRecord, people: list[str], look: bool) -> None:
        assert incident.channel_id
        missing = sorted(set(people) - await self._slack.channels.members(incident.channel_id)) if look else people
        if missing:
            await self._slack.channels.invite(incident.channel_id, missing)
            report.done.append("invited " + ", ".join(f"<@{u}>" for u in missing))
        if set(people) - set(missing):
            report.already.append("in the war room: " + ", ".join(f"<@{u}>" for u in sorted(set(people) - set(missing))))

    async def _service_people(self, service: Service) -> set[str]:
        """Owners (IDs, or e-mails looked up) and the on-call group's members (by ID or handle):
        every look-up at once, none of them needing the channel."""

        async def by_email(email: str) -> str | None:
            user_id = await self._slack.people.id_by_email(email)
            if not user_id:
                log.warning("%s: no Slack user with the owner email %s", service.name, email)
            return user_id

        async def oncall() -> list[str]:
            group_id = service.oncall_group_id
            if group_id is None and service.oncall_group_handle:
                group_id = await self._slack.people.usergroup_id(service.oncall_group_handle)
                if group_id is None:
                    raise SlackError("usergroups.list", "no_such_subteam", f"no user group @{service.oncall_group_handle}")
            return await self._slack.people.usergroup_members(group_id) if group_id else []

        *owners, members = await asyncio.gather(*(by_email(email) for email in service.owner_emails), oncall())
        assert isinstance(members, list)
        return set(service.owner_user_ids) | {u for u in owners if isinstance(u, str)} | set(members)

    async def _drill_people_ids(self) -> set[str]:
        """The people named for drills (IDs, or e-mails looked up)."""
        found = await asyncio.gather(*(self._slack.people.id_by_email(p) for p in self._drill_people if "@" in p))
        for email, user_id in zip([p for p in self._drill_people if "@" in p], found, strict=True):
            if not user_id:
                log.warning("drills: no Slack user with the email %s", email)
        return {p for p in self._drill_people if "@" not in p} | {u for u in found if u}

    async def invite_service_people(
        self, report: WarRoomReport, incident: IncidentRecord, who: str, looked_up: asyncio.Task[set[str]], look: bool
    ) -> None:
        """The people ``looked_up`` found (``who``: the service's owners and on-call, or the drill's), once the channel exists."""
        assert incident.channel_id
        async with slot_lent():  # the look-up may wait on a rate limit: its slot runs other work meanwhile
            found = await looked_up
        people = found - {incident.commander}
        if not people:
            return
        missing = people - await self._slack.channels.members(incident.channel_id) if look else people
        if missing:
            await self._slack.channels.invite(incident.channel_id, sorted(missing))
            report.done.append(f"invited the {who} ({len(missing)})")
        else:
            report.already.append(f"the {who} ({len(people)}) in the war room")
