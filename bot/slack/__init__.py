"""The Slack gateway: the only code that calls the Slack Web API."""

from bot.slack.gateway import Channel, PostedMessage, SlackError, SlackGateway, SlackUser

__all__ = ["Channel", "PostedMessage", "SlackError", "SlackGateway", "SlackUser"]
