"""The Slack gateway: the only code that calls the Slack Web API; the Block Kit builders; and the
runner of Slack steps (bot.slack.steps), where the exactly-once rules live."""

from bot.slack.gateway import (
    STEP_EVENT,
    Bookmark,
    Channel,
    ListedChannel,
    PastMessage,
    PostedMessage,
    SignedInUser,
    SlackError,
    SlackGateway,
    SlackUser,
    step_metadata,
)

__all__ = [
    "STEP_EVENT",
    "Bookmark",
    "Channel",
    "ListedChannel",
    "PastMessage",
    "PostedMessage",
    "SlackError",
    "SlackGateway",
    "SignedInUser",
    "SlackUser",
    "step_metadata",
]
