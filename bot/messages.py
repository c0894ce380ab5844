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
        "• `/incident role commander|rollback|comms|scribe @person` — assign a role in this war room",
        "• `/incident severity P1` — change the severity",
        "• `/incident update <text>` — post a status update to the war room and the announcement channel",
        "• `/incident breakglass <reason>` — record emergency access (who, when, why) and announce it",
        "• `/incident action <text> [@owner] [due:2026-12-15]` — add a follow-up action item",
        "• `/incident actions [mine|open|overdue]` — list action items",
        "• `/incident ack [INC-42]` — acknowledge: you are on it (stops the unacknowledged escalation)",
        "• `/incident reopen [INC-42]` — reopen a verified incident while it is still monitoring",
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


def not_recorded_in_time() -> str:
    return (
        "The incident database did not answer within 2.5 seconds, so this was not recorded, and it will not be "
        "recorded later. Try again in a moment."
    )


def recorded_after_all() -> str:
    return "Correction: the incident database answered late, and what you just did was recorded after all."


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


# ---- Roles, severity, updates, break-glass, corrections, action items (issue 7) ---------------

NOT_IN_WAR_ROOM_FOR_COMMAND = (
    "This channel is not an incident war room. Run the command inside the incident's war-room channel."
)
SEVERITY_USAGE = "Give the new severity: `/incident severity P1` (P1–P4)."
UPDATE_USAGE = "Write the update after the command: `/incident update Rolled back; error rate falling`."
BREAKGLASS_USAGE = "Say why emergency access is needed: `/incident breakglass prod DB write access to run the fix`."
PRIVATE_INCIDENT = "That incident is private: only the people in its war room can see it."


def role_assigned_line(by: str, user: str, label: str, reference: str) -> str:
    return f"<@{by}> made <@{user}> the *{label.lower()}* of {reference}"


def role_dm(label: str, reference: str, channel_id: str | None, title: str) -> str:
    where = f" in <#{channel_id}>" if channel_id else ""
    return f"You are now the *{label.lower()}* of *{reference}*{where}: {title}"


def role_unchanged(user: str, label: str, reference: str) -> str:
    return f"<@{user}> already is the {label.lower()} of {reference}; nothing changed."


def severity_line(by: str, before: str, after: str) -> str:
    return f"<@{by}> changed the severity from *{before}* to *{after}*"


def severity_unchanged(reference: str, severity: str) -> str:
    return f"{reference} already is {severity}; nothing changed."


def update_in_war_room(by: str, text: str) -> str:
    return f"📣 *Status update* from <@{by}>: {text}"


def update_announcement(reference: str, severity: str, title: str, channel_id: str | None, by: str, text: str) -> str:
    room = f" · war room <#{channel_id}>" if channel_id else ""
    return f"📣 *{reference}* ({severity}) {title} — update from <@{by}>: {text}{room}"


def breakglass_in_war_room(by: str, reason: str) -> str:
    return f"🚨 <@{by}> used *break-glass* emergency access: {reason}. It is recorded for the postmortem and the audit trail."


def breakglass_announcement(reference: str, by: str, reason: str, private: bool) -> str:
    if private:
        return f"🚨 Break-glass emergency access was used in a private incident by <@{by}>."
    return f"🚨 Break-glass emergency access in *{reference}* by <@{by}>: {reason}"


def breakglass_recorded(reference: str) -> str:
    return f"Break-glass access recorded on {reference} (who, when, why) and announced."


def told_with_failures(what: str, failures: list[str], reference: str) -> str:
    lines = "\n".join(f"• {failure}" for failure in failures)
    return f"{what} is recorded, but Slack is not fully up to date:\n{lines}\nRun `/incident repair {reference}` to finish."


def corrected_line(by: str, described: str, reason: str) -> str:
    return f"✏️ <@{by}> corrected {described}. Reason: {reason}"


CORRECTION_CONFLICT = (
    "The times changed since this form was opened (a stamp or another correction), so nothing changed. "
    "Close it and click *Edit times* again."
)


def action_added(item_id: int, reference: str, owner: str | None) -> str:
    told = f" <@{owner}> got it by direct message." if owner else " It has no owner yet."
    return f"Added action item #{item_id} to {reference}.{told}"


def action_owner_heading(reference: str, channel_id: str | None) -> str:
    where = f" (<#{channel_id}>)" if channel_id else ""
    return f"📌 You own an action item from *{reference}*{where}:"


def action_done(item_id: int) -> str:
    return f"Action item #{item_id} is done."


def action_already_done(item_id: int, by: str | None) -> str:
    who = f" by <@{by}>" if by else ""
    return f"Action item #{item_id} was already marked done{who}; nothing changed."


def action_done_refused(item_id: int, owner: str | None, who: str) -> str:
    owner_text = f"its owner (<@{owner}>), " if owner else ""
    return f"Only {owner_text}{who} may mark action item #{item_id} done. Nothing changed."


UNKNOWN_ACTION_ITEM = "That action item does not exist any more."


def action_list(which: str, scope: str, lines: list[str]) -> str:
    if not lines:
        return f"No {which} action items {scope}."
    return "\n".join([f"*{which.capitalize()} action items {scope}:*", *lines[:40]]) + (
        f"\n…and {len(lines) - 40} more" if len(lines) > 40 else ""
    )


# --------------------------------------------------------------------------- acknowledgement


def acknowledged_line(user: str, at_token: str, after: str) -> str:
    return f"<@{user}> acknowledged at {at_token}, {after} after detection."


def already_acknowledged(reference: str, by: str | None, at_token: str) -> str:
    who = f" by <@{by}>" if by else ""
    return f"{reference} was already acknowledged{who} at {at_token}; nothing changed."


def not_open_to_acknowledge(reference: str) -> str:
    return f"{reference} is already verified; there is nothing left to acknowledge."


# --------------------------------------------------------------------------- monitoring and reopening


def reopened_line(user: str, earlier_by: str | None, earlier_token: str) -> str:
    who = f" by <@{earlier_by}>" if earlier_by else ""
    return (
        f"🔁 <@{user}> *reopened* the incident. The verification at {earlier_token}{who} is cleared "
        "(kept on the timeline); mark *verified* again once the service is healthy."
    )


def not_verified_to_reopen(reference: str) -> str:
    return f"{reference} is still open, so there is nothing to reopen."


def closed_cannot_reopen(reference: str, closed_token: str) -> str:
    return (
        f"{reference} was closed at {closed_token} when its monitoring window ended, so it cannot be reopened. "
        "If the problem is back, open a new incident with `/incident open`."
    )


def monitoring_line(ends_token: str) -> str:
    return f"👀 Monitoring until {ends_token}: if the problem comes back before then, click *Reopen* or run `/incident reopen`."


def closed_line(reference: str, window: str) -> str:
    return (
        f"🔒 {reference} is *closed*: {window} of monitoring after verification passed without a reopen. "
        "A new problem needs a new incident (`/incident open`)."
    )


# --------------------------------------------------------------------------- alerts


def alert_resolved_line(name: str, at_token: str, still_open: bool, group_resolved: bool = True) -> str:
    if not group_resolved:
        tail = " Other alerts of its group are still firing."
    elif still_open:
        tail = " If the service looks healthy, click *Mark verified*."
    else:
        tail = ""
    return f"✅ Alert *{name}* resolved at {at_token}.{tail}"


def alert_refiring_line(name: str) -> str:
    return (
        f"🔥 Alert *{name}* is firing again while this incident is monitoring. "
        "If the problem is back, click *Reopen* or run `/incident reopen`."
    )


# --------------------------------------------------------------------------- escalation and reminders


def ack_escalation_line(reference: str, after: str, targets: str) -> str:
    return f"🚨 {reference} has not been acknowledged after {after}. Paging {targets}. Click *Acknowledge* on the pinned message or run `/incident ack`."


def mitigation_escalation_line(reference: str, severity: str, after: str, targets: str) -> str:
    return f"⏱️ {reference} ({severity}) is not mitigated after {after}. Escalating to {targets}."


def escalation_dm(reference: str, severity: str, title: str, why: str, channel_id: str | None) -> str:
    where = f" War room: <#{channel_id}>." if channel_id else ""
    return f"🚨 You are paged for *{reference}* ({severity}) {title}: {why}.{where}"


def escalation_announcement(reference: str, severity: str, title: str, after: str, channel_id: str | None, targets: str) -> str:
    where = f" War room <#{channel_id}>." if channel_id else ""
    return f"⏱️ *{reference}* ({severity}) {title} is not mitigated after {after}; {targets} notified.{where}"


NO_ESCALATION_CONTACT = "nobody: the incident's service has no escalation contact or on-call group in the catalog (add `escalation:` to it)"


def reminder_line(reference: str, quiet: str) -> str:
    return (
        f"⏰ Nothing on the {reference} timeline for {quiet}. Post a status update with `/incident note <what is happening>`, "
        "or mark the next phase on the pinned message."
    )
