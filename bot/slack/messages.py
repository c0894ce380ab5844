"""Every sentence the bot says to a person, in one place (as Bolt keeps its own in logger/messages)."""

from __future__ import annotations

from collections.abc import Sequence

from bot.core.command_text import OPEN_USAGE, unescape_slack
from bot.core.text_input import escape, person

# Every parameter that carries text a person or a sender supplied (a title, a note, a reason, an
# alert or runbook name...) is escaped here, at render time, once; callers pass it as stored.

# escape: the usage lines' placeholders (<text>, <title>) are text, not Slack markup.
HELP = escape(
    "\n".join(
        [
            "*`/incident` commands*",
            "• `/incident open` — open a war room with a form",
            f"• `{OPEN_USAGE}` — open one straight away; tokens may stand anywhere, the rest is the title; "
            "`drill` opens a rehearsal, paged apart and counted in no figure",
            "• `/incident status [INC-42]` — state and phase times of this war room's incident (or the one named)",
            "• `/incident note <text>` — add a note to the timeline of this war room's incident",
            "• `/incident runbook [name]` — attach another runbook to this war room; with no name, list the candidates",
            "• `/incident deploy SERVICE VERSION` — record a deploy (pipelines use `POST /hooks/deploys` or `incident-bot deploy`)",
            "• `/incident deploys [service] [2h]` — recent deploys",
            "• `/incident stats [30d|90d] [service:NAME] [sev:P1]` — time to restore and its phases, only for you (drills never count)",
            "• `/incident stats drills [30d|90d] [service:NAME]` — the drills' own times to restore, apart",
            "• `/incident role commander|rollback|comms|scribe @person` — assign a role in this war room",
            "• `/incident handover [INC-42] @person <note>` — hand over command with a note; they can accept or decline",
            "• `/incident severity P1` — change the severity",
            "• `/incident update <text>` — post a status update to the war room and the announcement channel",
            "• `/incident breakglass <reason>` — record emergency access (who, when, why) and announce it",
            "• `/incident action <text> [@owner] [due:2026-12-15]` — add a follow-up action item",
            "• `/incident actions [mine|open|overdue]` — list action items",
            "• `/incident ack [INC-42]` — acknowledge: you are on it (stops the unacknowledged escalation)",
            "• `/incident reopen [INC-42]` — reopen a verified incident while it is still monitoring",
            "• `/incident catchup [INC-42]` — where this war room's incident stands (or the one named), only for you",
            "• `/incident question <text>` — ask an open question on the timeline (a note ending with ? is one too)",
            "• `/incident answer <number> <text>` — answer open question Q<number>",
            "• `/incident repair INC-42` — redo the Slack steps of opening that did not happen (channel, pin, invites, topic, announcement)",
            "• `/incident help` — this list",
            "Phase buttons on the pinned control message stamp who and when. "
            "The message shortcut *Add to incident timeline* adds any war-room message to the timeline.",
        ]
    )
)


def unknown_subcommand(word: str) -> str:
    shown = word if len(word) <= 40 else word[:40] + "…"  # an echo, not a copy of whatever was typed
    return f"I don't know `/incident {escape(shown)}`.\n\n{HELP}"


def typed_text_refused(error: Exception) -> str:
    """Why a command's text was refused. It quotes the words it could not read as Slack sent them
    (a typed @channel arrives as ``<!channel>``, a typed ``<`` as ``&lt;``): shown as typed, never
    rendered as a mention or a link."""
    return escape(unescape_slack(str(error)))


OPENING = "Opening the incident…"
NOT_IN_WAR_ROOM = (
    "This channel is not an incident war room. Run the command inside a war room, or name the incident: `/incident status INC-42`."
)
INCIDENT_REFERENCE_FORM = "Name the incident as `INC-42` (or just `42`)."


def unknown_incident(reference: str) -> str:
    return f"There is no incident {reference}. {INCIDENT_REFERENCE_FORM}"


def bad_reference(text: str) -> str:
    return f"`{escape(text)}` is not an incident reference. {INCIDENT_REFERENCE_FORM}"


def already_opened(reference: str, channel_id: str | None) -> str:
    where = f" in <#{channel_id}>" if channel_id else ""
    return f"This request already opened {reference}{where}; nothing new was created."


def opened(reference: str, channel_id: str) -> str:
    return f"*{reference}* is open. War room: <#{channel_id}>"


def opened_with_failures(reference: str, channel_id: str | None, failures: list[str]) -> str:
    where = f" War room: <#{channel_id}>." if channel_id else " Its war-room channel is not set up."
    lines = "\n".join(f"• {failure}" for failure in failures)
    return (
        f"*{reference}* is recorded.{where} Some Slack steps did not happen:\n{lines}\n"
        f"Run `/incident repair {reference}` (or `incident-bot repair {reference}`) to redo just those steps."
    )


def repaired(reference: str, done: list[str], already: Sequence[str] = ()) -> str:
    there = f"\nAlready in place: {', '.join(already)}." if already else ""
    if not done:
        return (
            f"{reference}: every Slack step of its war room was already in place; nothing to repair "
            f"(the topic and the control message were brought up to date).{there}"
        )
    return f"{reference}: redid " + ", ".join(done) + "." + there


def repair_unfinished(reference: str, channel_id: str | None, done: list[str], failures: list[str]) -> str:
    did = f"It did: {', '.join(done)}.\n" if done else ""
    lines = "\n".join(f"• {failure}" for failure in failures)
    where = f" (war room <#{channel_id}>)" if channel_id else ""
    return (
        f"*{reference}*{where}: the repair could not finish. {did}Still missing:\n{lines}\n"
        f"Run `/incident repair {reference}` (or `incident-bot repair {reference}`) again once that is fixed."
    )


def recorded_but_set_up_stopped(reference: str, error: BaseException) -> str:
    return (
        f"*{reference}* is recorded, but setting up its war room stopped ({type(error).__name__}; "
        "the details are in the bot's log), so its channel, control message, invites or announcement may be missing. "
        f"Do not open it again: run `/incident repair {reference}` (or `incident-bot repair {reference}`) to finish it."
    )


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
    return "Something went wrong on the bot's side; the error is in the bot's log. Check `/incident status` before trying again."


def stamped_line(user: str, stamp: str, at_token: str, since_detection: str, restore: str | None) -> str:
    tail = f", time to restore {restore}" if restore else f", {since_detection} after detection"
    return f"<@{user}> marked *{stamp}* at {at_token}{tail}"


def already_stamped(stamp: str, by: str | None, at_token: str, implied: bool) -> str:
    who = f" by <@{by}>" if by else ""
    how = " (implied by a later phase)" if implied else ""
    return f"*{stamp.capitalize()}* was already marked{who} at {at_token}{how}; nothing changed."


def stamp_refused(stamp: str, reason: str) -> str:
    return f"Could not mark *{stamp}*: {escape(reason)}."


def slack_update_failed(failures: list[str], reference: str) -> str:
    lines = "\n".join(f"• {failure}" for failure in failures)
    return f"The stamp is recorded, but Slack is not fully up to date:\n{lines}\nRun `/incident repair {reference}` to finish."


NOTE_USAGE = "Write the note after the command: `/incident note Rolled back payments-api to v1.42`."
NOT_IN_WAR_ROOM_FOR_NOTE = (
    "This channel is not an incident war room, so there is no timeline to add to. Use it inside the incident's war-room channel."
)


QUESTION_USAGE = "Write the question after the command: `/incident question Who owns the payments-api rollback?`."
ANSWER_USAGE = "Name the question and write the answer: `/incident answer 2 Yes, rolled back at 14:05`."


def question_noted(reference: str, number: int) -> str:
    return f"Added to the {reference} timeline as open question Q{number}. Answer it with `/incident answer {number} <answer>`."


def question_answered(reference: str, number: int) -> str:
    return f"Q{number} of {reference} is answered: it no longer shows as an open question."


def question_already_answered(reference: str, number: int, by: str | None) -> str:
    who = f" by <@{by}>" if by else ""
    return f"Q{number} of {reference} was already answered{who}; nothing was added."


def no_such_question(reference: str, number: int, count: int) -> str:
    asked = f"Q1 to Q{count}" if count > 1 else ("only Q1" if count == 1 else "no questions yet")
    return f"{reference} has no question Q{number} ({asked}). {ANSWER_USAGE}"


def noted(reference: str) -> str:
    return f"Added to the {reference} timeline."


def already_noted(reference: str) -> str:
    return f"That message is already on the {reference} timeline."


RUNBOOK_GONE = "That runbook is no longer in the runbooks folder, so the tick was not recorded."
CHECKLIST_NOT_HERE = (
    "That checklist does not belong to the incident of this channel, so the tick was not recorded. "
    "Tick it in the runbook message inside the incident's war room."
)

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
        lines.append(f"Runbooks for *{escape(service or '')}*, best match first: " + ", ".join(f"`{escape(n)}`" for n in candidates))
    lines.append("All runbooks: " + ", ".join(f"`{escape(n)}`" for n in every))
    lines.append("Attach one with `/incident runbook <name>`.")
    return "\n".join(lines)


def unknown_runbook(name: str, every: list[str]) -> str:
    known = ", ".join(f"`{escape(n)}`" for n in every) or "none yet"
    return f"There is no runbook `{escape(name)}`. Runbooks: {known}."


ACTION_NOT_HERE = (
    "That action button does not belong to the incident of this channel, so nothing was run. "
    "Run it from the runbook message inside the incident's war room."
)


def action_gone(runbook: str, action: str) -> str:
    return (
        f"The action `{escape(action)}` is no longer in the runbook `{escape(runbook)}` (the runbooks changed since "
        "this message was posted), so nothing was run."
    )


def action_variables_unset(label: str, variables: list[str]) -> str:
    names = ", ".join(f"`{escape(name)}`" for name in variables)
    return (
        f"“{escape(label)}” was not run: {names} {'is' if len(variables) == 1 else 'are'} not set where the bot runs, so its "
        "request cannot carry its credentials. Nothing was sent. Ask whoever runs the bot to set it "
        "(`incident-bot runbooks check` lists what is missing)."
    )


def action_already_run(label: str, by: str, status: str, reason: str | None, attempt: int) -> str:
    if status in ("claimed", "sending"):
        return f"“{escape(label)}” is being run right now (<@{by}> clicked it); it runs once. Its result will appear in the war room."
    again = f" (run {attempt})" if attempt > 1 else ""
    return (
        f"“{escape(label)}”{again} was already run by <@{by}>: {escape(reason or status)}. It runs once; "
        "to run it again, use *Run again* on its result message."
    )


def action_not_finished(label: str) -> str:
    return f"“{escape(label)}” is still running, so it cannot be run again yet; wait for its result in the war room."


def action_ran_but_not_shown(label: str, reason: str, failures: list[str]) -> str:
    return f"“{escape(label)}” ran: {escape(reason)}. But " + "; ".join(failures) + "."


def runbook_already_posted(name: str, reference: str) -> str:
    return f"The runbook `{escape(name)}` is already in the {reference} war room (see its message above)."


def deploy_recorded(deploy_id: int, line: str, created: bool) -> str:
    return f"Recorded deploy #{deploy_id}: {line}" if created else f"Already recorded as deploy #{deploy_id}: {line}"


def deploy_list(service: str | None, within: str, lines: list[str]) -> str:
    scope = f"to *{escape(service)}*" if service else ""
    if not lines:
        return f"No deploys {scope} in the last {within}.".replace("  ", " ")
    head = f"Deploys {scope} in the last {within}, newest first:".replace("  ", " ")
    return "\n".join([head, *(f"• {line}" for line in lines[:30])])


# ---- Roles, severity, updates, break-glass, corrections, action items (issue 7) ---------------

NOT_IN_WAR_ROOM_FOR_COMMAND = "This channel is not an incident war room. Run the command inside the incident's war-room channel."
SEVERITY_USAGE = "Give the new severity: `/incident severity P1` (P1–P4)."
UPDATE_USAGE = "Write the update after the command: `/incident update Rolled back; error rate falling`."
BREAKGLASS_USAGE = (
    "Say why emergency access is needed: `/incident breakglass prod DB write access to run the fix` in the war room, "
    "or `/incident breakglass INC-42 &lt;reason&gt;` from anywhere (admins use it to enter a private incident)."
)
PRIVATE_INCIDENT = "That incident is private: only the people in its war room can see it."


def role_target_refused(user: str, label: str, reference: str, reason: str) -> str:
    return f"<@{user}> cannot be the *{label.lower()}* of {reference}: {escape(reason)}. Nothing changed; pick a person who can act on it."


def role_assigned_line(by: str, user: str, label: str, reference: str) -> str:
    return f"<@{by}> made <@{user}> the *{label.lower()}* of {reference}"


def role_dm(label: str, reference: str, channel_id: str | None, title: str) -> str:
    where = f" in <#{channel_id}>" if channel_id else ""
    return f"You are now the *{label.lower()}* of *{reference}*{where}: {escape(title)}"


def role_unchanged(user: str, label: str, reference: str) -> str:
    return f"<@{user}> already is the {label.lower()} of {reference}; nothing changed."


def severity_line(by: str, before: str, after: str) -> str:
    return f"<@{by}> changed the severity from *{before}* to *{after}*"


def severity_unchanged(reference: str, severity: str) -> str:
    return f"{reference} already is {severity}; nothing changed."


def update_in_war_room(by: str, text: str) -> str:
    return f"📣 *Status update* from <@{by}>: {escape(text)}"


def update_announcement(reference: str, severity: str, title: str, channel_id: str | None, by: str, text: str) -> str:
    room = f" · war room <#{channel_id}>" if channel_id else ""
    return f"📣 *{reference}* ({severity}) {escape(title)} — update from <@{by}>: {escape(text)}{room}"


def breakglass_in_war_room(by: str, reason: str) -> str:
    return f"🚨 <@{by}> used *break-glass* emergency access: {escape(reason)}. It is recorded for the postmortem and the audit trail."


def breakglass_announcement(reference: str, by: str, reason: str, private: bool) -> str:
    if private:  # the war room gets who and why; outside it, only that it happened and the number
        return f"🚨 Break-glass emergency access was used in a private incident, {reference}."
    return f"🚨 Break-glass emergency access in *{reference}* by <@{by}>: {escape(reason)}"


def breakglass_recorded(reference: str) -> str:
    return f"Break-glass access recorded on {reference} (who, when, why) and announced."


def told_with_failures(what: str, failures: list[str], reference: str) -> str:
    lines = "\n".join(f"• {failure}" for failure in failures)
    return f"{what} is recorded, but Slack is not fully up to date:\n{lines}\nRun `/incident repair {reference}` to finish."


def corrected_line(by: str, described: str, reason: str) -> str:
    return f"✏️ <@{by}> corrected {described}. Reason: {escape(reason)}"


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


def acknowledged_in_pagerduty_line(who: str, at_token: str, after: str) -> str:
    return f"{person(who)} acknowledged in PagerDuty at {at_token}, {after} after detection."


def resolved_in_pagerduty_line(reference: str, who: str | None) -> str:
    by = f" by {escape(who)}" if who else ""
    return (
        f"PagerDuty says {reference} was resolved{by}. If the service is restored, click *Mark verified* "
        "(PagerDuty resolving does not verify it here)."
    )


def already_acknowledged(reference: str, by: str | None, at_token: str) -> str:
    who = f" by {person(by)}" if by else ""
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
    return f"✅ Alert *{escape(name)}* resolved at {at_token}.{tail}"


def alert_refiring_line(name: str) -> str:
    return (
        f"🔥 Alert *{escape(name)}* is firing again while this incident is monitoring. "
        "If the problem is back, click *Reopen* or run `/incident reopen`."
    )


# --------------------------------------------------------------------------- escalation and reminders


def ack_escalation_line(reference: str, after: str, targets: str) -> str:
    return f"🚨 {reference} has not been acknowledged after {after}. Paging {targets}. Click *Acknowledge* on the pinned message or run `/incident ack`."


def mitigation_escalation_line(reference: str, severity: str, after: str, targets: str) -> str:
    return f"⏱️ {reference} ({severity}) is not mitigated after {after}. Escalating to {targets}."


def escalation_dm(reference: str, severity: str, title: str, why: str, channel_id: str | None) -> str:
    where = f" War room: <#{channel_id}>." if channel_id else ""
    return f"🚨 You are paged for *{reference}* ({severity}) {escape(title)}: {why}.{where}"


def private_escalation_page(reference: str, severity: str, why: str, commander: str) -> str:
    """The page for a private incident to someone outside its war room: that it exists, its
    number and severity, and whom to ask; never its title, people or channel."""
    return f"🚨 You are paged: a private {severity} incident, {reference}, {why}. Ask <@{commander}> to add you to its war room."


def private_escalation_announcement(reference: str, after: str) -> str:
    return f"⏱️ *{reference}*, a private incident, is not mitigated after {after}; its escalation contact is paged."


def escalation_announcement(reference: str, severity: str, title: str, after: str, channel_id: str | None, targets: str) -> str:
    where = f" War room <#{channel_id}>." if channel_id else ""
    return f"⏱️ *{reference}* ({severity}) {escape(title)} is not mitigated after {after}; {targets} notified.{where}"


def page_level_line(reference: str, level: int, after: str | None, who: str) -> str:
    """``after`` None: the level pages at once, when the incident opens."""
    waited = f"has not been acknowledged after {after}" if after else "is open and not acknowledged"
    return f"📟 {reference} {waited}. Escalation level {level}: paging {who}."


def private_page_note(invited: str) -> str:
    """After a private incident's level line in its war room: why those paged are not all in it.
    ``invited``: the mention of its private-escalation contact, or empty."""
    who = f"only {invited} is invited and told the title" if invited else "nobody is invited"
    return f"(A private incident: {who}; the others paged are told only its number and whom to ask.)"


NOBODY_AT_LEVEL = "nobody: this level's targets name no one for this service (see the escalation chain in the team config)"


def chain_exhausted_line(reference: str, after: str) -> str:
    return (
        f"📟 Every level of {reference}'s escalation chain has been paged and nobody acknowledged it in {after}. "
        "The announcement channel is told; click Acknowledge once someone has it."
    )


def chain_exhausted_announcement(reference: str, severity: str, title: str, after: str, channel_id: str | None) -> str:
    where = f" War room <#{channel_id}>." if channel_id else ""
    return f"📟 *{reference}* ({severity}) {escape(title)}: every level of its escalation chain was paged and nobody acknowledged it in {after}.{where}"


def private_chain_exhausted_announcement(reference: str, severity: str, after: str) -> str:
    return f"📟 *{reference}*, a private {severity} incident: every level of its escalation chain was paged and nobody acknowledged it in {after}."


NO_ESCALATION_CONTACT = "nobody: the incident's service has no escalation contact or on-call group in the catalog (add `escalation:` to it)"


def reminder_line(reference: str, quiet: str) -> str:
    return (
        f"⏰ Nothing on the {reference} timeline for {quiet}. Post a status update with `/incident note <what is happening>`, "
        "or mark the next phase on the pinned message."
    )


# ---- Handing over command (issue 19) -----------------------------------------------------------

NOT_IN_WAR_ROOM_FOR_HANDOVER = (
    "This channel is not an incident war room. Hand over inside the war room, or name the incident: "
    "`/incident handover INC-42 @person &lt;note&gt;`."
)
NO_SUCH_HANDOVER = "That handover is not on record; nothing changed."


def handover_to_commander(user: str, reference: str) -> str:
    return f"<@{user}> already is the commander of {reference}; nothing changed. Hand over to someone else."


def handover_to_oneself(reference: str) -> str:
    return f"You cannot hand command of {reference} to yourself; nothing changed. To take command, use `/incident role commander @you`."


def handover_already_recorded(reference: str) -> str:
    return f"This handover of {reference} is already recorded; nothing new was done."


def handover_commander_changed(commander: str, reference: str) -> str:
    return f"The commander of {reference} changed meanwhile (it is <@{commander}> now), so nothing changed. Try again if still needed."


def handed_over(user: str, reference: str) -> str:
    return f"<@{user}> is now the commander of {reference}; the war room and <@{user}> have the handover note."


def handover_not_theirs(user: str) -> str:
    return f"Only <@{user}>, to whom command was handed, can answer this handover; nothing changed."


def handover_already_answered(answer: str, reference: str) -> str:
    return f"This handover of {reference} was already {answer}; nothing changed."


def handover_overtaken(commander: str, reference: str, *, accept: bool) -> str:
    what = "accepting" if accept else "declining"
    return f"<@{commander}> is the commander of {reference} now (it changed since this handover), so {what} it changes nothing."
