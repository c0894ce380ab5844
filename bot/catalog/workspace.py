"""The catalog's people and groups against the workspace: the IDs, e-mails and group handles Slack
does not know.

The example catalog's IDs are made up, and a typo in a team's own pages nobody at 3 AM; the file
check cannot see either, so `incident-bot runbooks check` asks Slack when it has a bot token.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot.catalog.services import Catalog, Location, line_for

# Slack's reason a person or group is unknown, or None when Slack knows them.
Lookup = Callable[[str], Awaitable[str | None]]


async def unknown_in_workspace(
    catalog: Catalog, *, user_missing: Lookup, email_missing: Lookup, known_groups: Callable[[], Awaitable[set[str]]]
) -> list[tuple[int | None, str]]:
    """(line, "field: message") for every person or group of the catalog Slack does not know."""
    groups = await known_groups()
    answers: dict[str, str | None] = {}

    async def missing(reference: str) -> str | None:
        if reference not in answers:
            answers[reference] = await (email_missing if "@" in reference else user_missing)(reference)
        return answers[reference]

    problems: list[tuple[int | None, str]] = []
    for name, service in catalog.services.items():
        base: Location = ("services", catalog.indexes.get(name, 0))
        people: list[tuple[Location, str | None]] = [(("owners", i), owner) for i, owner in enumerate(service.owners)]
        people += [(("escalation",), service.escalation), (("private_escalation",), service.private_escalation)]
        for field, person in people:
            if person and (reason := await missing(person)):
                kind = "e-mail" if "@" in person else "user"
                problems.append(
                    (line_for(catalog.lines, base + field), f"{name}.{field[0]}: no {kind} {person} in this workspace ({reason})")
                )
        for group_field, group in (("oncall_group", service.oncall_group), ("escalation_group", service.escalation_group)):
            if group and group.lstrip("@") not in groups:
                problems.append(
                    (line_for(catalog.lines, base + (group_field,)), f"{name}.{group_field}: no user group {group} in this workspace")
                )
    return problems
