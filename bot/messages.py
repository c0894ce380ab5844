"""Every sentence the bot says to a person, in one place (as Bolt keeps its own in logger/messages)."""

from __future__ import annotations

from bot.command_text import OPEN_USAGE

HELP = "\n".join(
    [
        "*`/incident` commands*",
        "• `/incident open` — open a war room with a form",
        f"• `{OPEN_USAGE}` — open one straight away; tokens may stand anywhere, the rest is the title",
        "• `/incident status [INC-42]` — state and phase times of this war room's incident (or the one named)",
        "• `/incident note <text>` — add a note to the timeline of this war room's incident",
        "• `/incident runbook [name]` — attach another runbook to this war room; with no name, list the candidates",
        "• `/incident deploy SERVICE VERSION` — record a deploy (pipelines use `POST /hooks/deploys` or `incident-bot deploy`)",
        "• `/incident deploys [service] [2h]` — recent deploys",
        "• `/incident stats [30d|90d] [service:NAME] [sev:P1]` — time to restore and its phases, only for you",
        "• `/incident repair INC-42` — redo the Slack steps of opening that did not happen (channel, pin, invites, topic, announcement)",
        "• `/incident help` — this list",
        "Phase buttons on the pinned control message stamp who and when. "
        "The message shortcut *Add to incident timeline* adds any war-room message to the timeline.",
    ]
)


def unknown_subcommand(word: str) -> str:
    shown = word if len(word) <= 40 else word[:40] + "…"  # an echo, not a copy of whatever was typed
    return f"I don't know `/incident {shown}`.\n\n{HELP}"


OPENING = "Opening the incident…"
NOT_IN_WAR_ROOM = (
    "This channel is not an incident war room. Run the command inside a war room, or name the incident: "
    "`/incident status INC-42`."
)
INCIDENT_REFERENCE_FORM = "Name the incident as `INC-42` (or just `42`)."


def unknown_incident(reference: str) -> str:
    return f"There is no incident {reference}. {INCIDENT_REFERENCE_FORM}"


def bad_reference(text: str) -> str:
    return f"`{text}` is not an incident reference. {INCIDENT_REFERENCE_FORM}"


def already_opened(reference: str, channel_id: str | None) -> str:
    where = f" in <#{channel_id}>" if channel_id else ""
    return f"This request already opened {reference}{where}; nothing new was created."


def opened(reference: str, channel_id: str) -> str:
    return f"*{reference}* is open. War room: <#{channel_id}>"


def opened_with_failures(reference: str, channel_id: str | None, failures: list[str]) -> str:
    where = f" War room: <#{channel_id}>." if channel_id else " Its war-room channel could not be created."
    lines = "\n".join(f"• {failure}" for failure in failures)
    return (
        f"*{reference}* is recorded.{where} Some Slack steps did not happen:\n{lines}\n"
        f"Run `/incident repair {reference}` (or `incident-bot repair {reference}`) to redo just those steps."
    )


def repaired(reference: str, done: list[str]) -> str:
    if not done:
        return (
            f"{reference}: every Slack step of its war room was already in place; nothing to repair "
            "(invites, the topic and the control message were brought up to date)."
        )
    return f"{reference}: redid " + ", ".join(done) + "."


def database_unavailable() -> str:
    return "The incident database is not answering right now, so nothing was recorded. Try again in a moment."


def unexpected_error() -> str:
    return (
        "Something went wrong on the bot's side; the error is in the bot's log. "
        "Check `/incident status` before trying again."
    )


def stamped_line(user: str, stamp: str, at_token: str, since_detection: str, restore: str | None) -> str:
    tail = f", time to restore {restore}" if restore else f", {since_detection} after detection"
    return f"<@{user}> marked *{stamp}* at {at_token}{tail}"


def already_stamped(stamp: str, by: str | None, at_token: str, implied: bool) -> str:
    who = f" by <@{by}>" if by else ""
    how = " (implied by a later phase)" if implied else ""
    return f"*{stamp.capitalize()}* was already marked{who} at {at_token}{how}; nothing changed."


def stamp_refused(stamp: str, reason: str) -> str:
    return f"Could not mark *{stamp}*: {reason}."


def slack_update_failed(failures: list[str], reference: str) -> str:
    lines = "\n".join(f"• {failure}" for failure in failures)
    return f"The stamp is recorded, but Slack is not fully up to date:\n{lines}\nRun `/incident repair {reference}` to finish."


NOTE_USAGE = "Write the note after the command: `/incident note Rolled back payments-api to v1.42`."
NOT_IN_WAR_ROOM_FOR_NOTE = (
    "This channel is not an incident war room, so there is no timeline to add to. "
    "Use it inside the incident's war-room channel."
)


def noted(reference: str) -> str:
    return f"Added to the {reference} timeline."


def already_noted(reference: str) -> str:
    return f"That message is already on the {reference} timeline."


RUNBOOK_GONE = "That runbook is no longer in the runbooks folder, so the tick was not recorded."

DEPLOY_CHOICE_GONE = (
    "The deploy chosen as the impact start is gone or lies after detection, so nothing was opened. "
    "Run `/incident open` again and pick the start time."
)
NOT_IN_WAR_ROOM_FOR_RUNBOOK = "Runbooks attach to a war room: run `/incident runbook` inside the incident's channel."


def runbook_list(service: str | None, candidates: list[str], every: list[str]) -> str:
    if not every:
        return "There are no runbooks yet: add Markdown files to the runbooks folder (see runbooks/README.md)."
    lines = []
    if candidates:
        lines.append(f"Runbooks for *{service}*, best match first: " + ", ".join(f"`{n}`" for n in candidates))
    lines.append("All runbooks: " + ", ".join(f"`{n}`" for n in every))
    lines.append("Attach one with `/incident runbook <name>`.")
    return "\n".join(lines)


def unknown_runbook(name: str, every: list[str]) -> str:
    known = ", ".join(f"`{n}`" for n in every) or "none yet"
    return f"There is no runbook `{name}`. Runbooks: {known}."


def runbook_already_posted(name: str, reference: str) -> str:
    return f"The runbook `{name}` is already in the {reference} war room (see its message above)."


def deploy_recorded(deploy_id: int, line: str, created: bool) -> str:
    return f"Recorded deploy #{deploy_id}: {line}" if created else f"Already recorded as deploy #{deploy_id}: {line}"


def deploy_list(service: str | None, within: str, lines: list[str]) -> str:
    scope = f"to *{service}*" if service else ""
    if not lines:
        return f"No deploys {scope} in the last {within}.".replace("  ", " ")
    head = f"Deploys {scope} in the last {within}, newest first:".replace("  ", " ")
    return "\n".join([head, *(f"• {line}" for line in lines[:30])])
