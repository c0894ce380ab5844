"""The Slack gateway: the only code that calls the Slack Web API."""

from bot.slack.gateway import (
    STEP_EVENT,
    Bookmark,
    Channel,
    ListedChannel,
    PastMessage,
    PostedMessage,
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
    "SlackUser",
    "step_metadata",
]
