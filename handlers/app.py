"""The Bolt app: which listener each Slack request reaches.

Slash commands -> handlers/commands.py · buttons -> handlers/actions.py · modals -> handlers/views.py
· message shortcuts -> handlers/shortcuts.py · App Home and other events -> handlers/events.py
"""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncApp
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped

from bot.runtime import Runtime
from handlers import actions, commands, events, shortcuts, views


class _NoUnusedTokenNotice(logging.Filter):
    """Bolt warns that the token "will be unused" whenever SLACK_BOT_TOKEN is in the environment
    beside the client it is given, on every start; the client is made from that very token."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


BOLT_LOG = logging.getLogger("incident_bot.bolt")
BOLT_LOG.addFilter(_NoUnusedTokenNotice())


def build_bolt_app(runtime: Runtime) -> AsyncApp:
    app = AsyncApp(
        name="incident-bot",
        client=runtime.slack.client,
        signing_secret=runtime.settings.slack_signing_secret,
        logger=BOLT_LOG,
        # Answer Slack as soon as the listener returns: listeners ack and hand their work to
        # run_after_ack, so nothing slow runs before the response. Bolt's default instead polls
        # every 10 ms for the ack, which under load adds a busy loop's lag to every answer.
        process_before_response=True,
    )
    commands.register(app, runtime)
    actions.register(app, runtime)
    views.register(app, runtime)
    shortcuts.register(app, runtime)
    events.register(app, runtime)
    return app
