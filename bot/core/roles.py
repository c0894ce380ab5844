"""Incident roles: who runs the response, who rolls back, who talks to stakeholders, who writes."""

from __future__ import annotations

import re

# Column on the incident -> what people call it. The commander defaults to the opener.
ROLES = {
    "commander": "Commander",
    "rollback_owner": "Rollback owner",
    "comms_lead": "Communications lead",
    "scribe": "Scribe",
}
# What people may type after /incident role.
ROLE_WORDS = {
    "commander": "commander",
    "ic": "commander",
    "rollback": "rollback_owner",
    "rollback_owner": "rollback_owner",
    "rollback-owner": "rollback_owner",
    "comms": "comms_lead",
    "communications": "comms_lead",
    "comms_lead": "comms_lead",
    "comms-lead": "comms_lead",
    "scribe": "scribe",
}
ROLE_USAGE = "`/incident role commander|rollback|comms|scribe @person`"
_MENTION = re.compile(r"^<@([UW][A-Z0-9_]+)(?:\|[^>]*)?>$")
_USER_ID = re.compile(r"^[UW][A-Z0-9_]{2,}$")
_PLAIN_MENTION = re.compile(r"^@[\w.-]+$")
UNESCAPED_MENTION = (
    "Slack sent `{word}` as plain text, not as a person: the app's /incident command needs "
    "`should_escape: true` (reinstall it from manifest.yml). The role pickers on the control message work meanwhile."
)


def plain_mention(word: str) -> bool:
    """``@bob`` as typed, which Slack sends only when the command does not escape mentions."""
    return bool(_PLAIN_MENTION.match(word))


class RoleTextError(ValueError):
    """Shown to the person as it is."""


def parse_user(word: str) -> str | None:
    """``<@U123|alice>`` (how Slack escapes a mention) or a bare ``U123`` -> ``U123``."""
    word = word.strip()
    if match := _MENTION.match(word):
        return match.group(1)
    return word if _USER_ID.match(word) else None


def person_named(word: str, error: type[ValueError], not_a_person: str) -> str:
    """The user ID ``word`` mentions; else ``error`` saying ``not_a_person``, or, for an ``@bob``
    Slack left unescaped, how to make the command escape mentions."""
    user = parse_user(word)
    if user is not None:
        return user
    raise error(UNESCAPED_MENTION.format(word=word) if plain_mention(word) else not_a_person)


def parse_role_text(text: str) -> tuple[str, str]:
    """``commander <@U123|alice>`` -> ("commander", "U123")."""
    words = text.split()
    if len(words) != 2:
        raise RoleTextError(f"Name a role and a person: {ROLE_USAGE}.")
    role = ROLE_WORDS.get(words[0].lower())
    if role is None:
        raise RoleTextError(f"`{words[0]}` is not a role. Roles: commander, rollback, comms, scribe. {ROLE_USAGE}.")
    return role, person_named(words[1], RoleTextError, f"`{words[1]}` is not a person; mention them with @. {ROLE_USAGE}.")
