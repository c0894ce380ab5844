"""A Slack call that failed, in words a person can act on."""

from __future__ import annotations

# What a person can do about each Slack error; codes not listed fall back to Slack's own word.
_ERROR_MEANINGS = {
    "name_taken": "a channel with that name already exists",
    "channel_not_found": "the channel does not exist or the bot cannot see it",
    "not_in_channel": "the bot is not in that channel (invite it with `/invite @incident-bot`)",
    "is_archived": "the channel is archived",
    "missing_scope": "the Slack app lacks a permission it needs (reinstall it from manifest.yml)",
    "ratelimited": "Slack is rate-limiting the bot",
    "invalid_auth": "the bot token is not valid (check SLACK_BOT_TOKEN)",
    "token_revoked": "the bot token was revoked (reinstall the app and update SLACK_BOT_TOKEN)",
    "account_inactive": "the bot's account is deactivated (reinstall the app)",
    "restricted_action": "a workspace setting prevents the bot from doing this",
    "expired_trigger_id": "the form could not open in time; run the command again",
    "exchanged_trigger_id": "the form was already opened for this command; run the command again",
    "user_not_found": "that user does not exist",
    "cant_invite": "Slack would not let the bot invite that person",
    "too_many_pins": "the channel has too many pinned items",
    "message_not_found": "the message no longer exists",
    "internal_error": "Slack had an internal error",
    "fatal_error": "Slack had an internal error",
    "service_unavailable": "Slack is unavailable",
    "request_timeout": "Slack did not answer in time",
    "timeout": "Slack did not answer in time",
    "http_error": "Slack answered with a server error",
    "connection_error": "the bot could not reach Slack",
}


class SlackError(Exception):
    """A Slack call failed. ``code`` is Slack's error code; ``str()`` is a sentence for people."""

    def __init__(self, method: str, code: str, detail: str | None = None) -> None:
        self.method = method
        self.code = code
        meaning = _ERROR_MEANINGS.get(code, f"Slack said `{code}`")
        super().__init__(f"{meaning}{f' ({detail})' if detail else ''}")
