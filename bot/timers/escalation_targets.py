"""Whom an escalation pages: the service's escalation contact and groups, each chain level's
targets (a drill's: the people named for drills), resolved from the catalog and Slack."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bot.catalog.services import Catalog
from bot.core.records import IncidentRecord
from bot.paging.chain import ChainLevel, ChainTarget, level_of_slot
from bot.paging.drills import NO_DRILL_PAGING, DrillPaging
from bot.paging.pager import PageTarget, pager_name
from bot.slack import SlackGateway
from bot.timers.rules import TimerSettings

log = logging.getLogger(__name__)

USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


@dataclass(frozen=True)
class PagePlan:
    """Who one chain level pages, resolved from the catalog and Slack when it fires."""

    level: int
    after: timedelta  # from opening
    mentions: tuple[str, ...]  # for the war-room line: <@U…>, <!subteam^S…>, "PagerDuty"
    people: tuple[str, ...]  # Slack users paged by direct message
    pagers: tuple[PageTarget, ...]  # pages sent through the Pager
    nobody: tuple[str, ...]  # targets that named nobody, in words (for the timeline)
    # Those of ``people`` invited into the war room and told the title: everyone paged for a public
    # incident; for a private one only its catalog's private_escalation contact, paged in place of
    # the escalation contact (the others get a page without the title and are not let in).
    let_in: tuple[str, ...] = ()

    def who(self) -> str:
        return ", ".join(self.mentions) or "nobody"

    def facts(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "mentions": list(self.mentions),
            "people": list(self.people),
            "invited": list(self.let_in),
            "pagers": [target.kind for target in self.pagers],
            "nobody": list(self.nobody),
        }


class EscalationTargets:
    """Owns resolving whom an escalation or a chain level pages (catalog, drills, Slack users and groups)."""

    def __init__(self, settings: TimerSettings, slack: SlackGateway, catalog: Catalog, *, drills: DrillPaging = NO_DRILL_PAGING) -> None:
        self._settings = settings
        self._slack = slack
        self._catalog = catalog
        self._drills = drills

    def level(self, severity: str, slot: str) -> ChainLevel | None:
        chain = self._settings.policy(severity).chain
        number = level_of_slot(slot)
        return chain.level(number) if chain and number is not None else None

    async def plan(self, incident: IncidentRecord, slot: str) -> PagePlan:
        level = self.level(incident.severity, slot)
        mentions: list[str] = []
        people: list[str] = []
        let_in: list[str] = []
        pagers: list[PageTarget] = []
        nobody: list[str] = []
        for target in (self._drill_targets(level.targets) if incident.is_drill else level.targets) if level else ():
            if target.kind in ("pagerduty", "webhook"):
                pagers.append(PageTarget(target.kind))
                mentions.append(pager_name(target.kind))
                continue
            users, groups, entitled = await self._resolve(incident, target)
            if not users and not groups:
                nobody.append(target.describe())
            mentions += [f"<@{u}>" for u in users if f"<@{u}>" not in mentions] + [f"<!subteam^{g}>" for g in groups]
            for group in groups:
                users += sorted(await self._slack.people.usergroup_members(group))
            people += [u for u in users if u not in people]
            if entitled:
                let_in += [u for u in users if u not in let_in]
        return PagePlan(
            level.number if level else 0,
            level.after if level else timedelta(0),
            tuple(mentions),
            tuple(people),
            tuple(pagers),
            tuple(nobody),
            tuple(let_in),
        )

    def _drill_targets(self, targets: Sequence[ChainTarget]) -> list[ChainTarget]:
        """A drill's level pages the people named for drills, never the service's, and a pager
        outside Slack only when it is configured for drills."""
        pagers = {"pagerduty": self._drills.pagerduty_routing_key_env is not None, "webhook": self._drills.webhook}
        kept = [target for target in targets if pagers.get(target.kind, False)]
        return kept + [ChainTarget("slack_user", person) for person in self._drills.page]

    async def _resolve(self, incident: IncidentRecord, target: ChainTarget) -> tuple[list[str], list[str], bool]:
        """A Slack target's users and user groups (IDs), and whether they may be let into the war
        room and told the title: always for a public incident; for a private one only the catalog's
        ``private_escalation`` contact, who stands in for the service's escalation contact and group
        (as on the single-level page), and without one nobody."""
        if incident.is_private and not incident.is_drill and target.kind == "service_escalation":
            contact = await self.private_escalation_contact(incident)
            if contact is not None:
                return [contact], [], True
        service = self._catalog.get(incident.service)
        users: list[str | None] = []
        groups: list[tuple[str | None, str | None]] = []
        if target.kind == "slack_user":
            users.append(target.ref)
        elif target.kind == "slack_group" and target.ref:
            groups.append((target.ref, None) if target.ref.startswith("S") and target.ref.isupper() else (None, target.ref))
        elif service is not None and target.kind == "service_oncall":
            groups.append((service.oncall_group_id, service.oncall_group_handle))
        elif service is not None and target.kind == "service_escalation":
            users.append(service.escalation)
            groups.append((service.escalation_group_id, service.escalation_group_handle))
        elif service is not None and target.kind == "service_lead":
            users.append(service.lead)
        user_ids = []
        for user in users:
            if user and not USER_ID.match(user):
                found = await self._slack.people.id_by_email(user)
                if found is None:
                    log.warning("%s: no Slack user with the email %s (%s)", incident.reference, user, target.kind)
                user = found
            if user and user not in user_ids:
                user_ids.append(user)
        group_ids = []
        for group_id, handle in groups:
            group = group_id or (await self._slack.people.usergroup_id(handle) if handle else None)
            if group:
                group_ids.append(group)
        return user_ids, group_ids, not incident.is_private

    async def private_escalation_contact(self, incident: IncidentRecord) -> str | None:
        service = self._catalog.get(incident.service)
        if service is None or not service.private_escalation:
            return None
        contact = service.private_escalation
        user = contact if USER_ID.match(contact) else await self._slack.people.id_by_email(contact)
        if user is None:
            log.warning("%s: no Slack user with the private_escalation email %s", service.name, contact)
        return user

    async def escalation_targets(self, incident: IncidentRecord) -> tuple[list[str], list[str]]:
        """Who is paged: the service's escalation contact and its escalation (secondary) group;
        with neither in the catalog, its on-call group (a drill's: the people named to escalate
        drills to, or nobody). Mentions for the war room, and the people to invite and message directly."""
        if incident.is_drill:
            named: list[str] = []
            for person in self._drills.escalate_to:
                named += [user for user in (await self._resolve(incident, ChainTarget("slack_user", person)))[0] if user not in named]
            return [f"<@{user}>" for user in named], named
        service = self._catalog.get(incident.service)
        if service is None:
            return [], []
        mentions: list[str] = []
        people: list[str] = []
        if service.escalation:
            user = service.escalation if USER_ID.match(service.escalation) else await self._slack.people.id_by_email(service.escalation)
            if user:
                mentions.append(f"<@{user}>")
                people.append(user)
            else:
                log.warning("%s: no Slack user with the escalation email %s", service.name, service.escalation)
        groups = [(service.escalation_group_id, service.escalation_group_handle)]
        if not people and not any(groups[0]):
            groups.append((service.oncall_group_id, service.oncall_group_handle))
        for group_id, handle in groups:
            group = group_id or (await self._slack.people.usergroup_id(handle) if handle else None)
            if group:
                mentions.append(f"<!subteam^{group}>")
                people += [member for member in sorted(await self._slack.people.usergroup_members(group)) if member not in people]
        return mentions, people
