"""The display names a postmortem shows, on file in the database for every process of the bot.

The draft's upload cannot start before its text is made, and the text shows each person's
display name: a name asked of Slack then (``users.info``) holds the whole postmortem a round
trip. So the names are learned while the incident runs (after an Acknowledge and after each
phase stamp before the verification, as background work of their own) and put on file, and the
resolution takes the names this process remembers (bot/slack/directory.py), then those on file,
and asks Slack only for the rest, which it puts on file in turn. A name on file is used for
NAMES_ON_FILE after Slack gave it, and deleted after that when names are next put on file; a
person who renamed themselves shows under the new name in drafts made after that.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import SQLAlchemyError

from bot.background import BackgroundWork
from bot.core.clock import Clock
from bot.slack import SlackError, SlackGateway
from storage import display_names as name_rows
from storage.db import Database

log = logging.getLogger(__name__)

# Long enough to span a long incident and the next day's, short enough that a renamed person's
# drafts show the new name from the next day on.
NAMES_ON_FILE = timedelta(hours=24)


@dataclass(frozen=True, eq=False)
class PeopleNames:
    """Owns the people's display names: remembered by this process, on file, or asked of Slack."""

    db: Database
    slack: SlackGateway
    clock: Clock
    background: BackgroundWork

    async def names(self, user_ids: Collection[str], asking: asyncio.Event | None = None) -> dict[str, str]:
        """Each person's display name, by user ID; a person Slack could not name is left out.
        ``asking`` is set when some name must be asked of Slack (a round trip); the names Slack
        gave are put on file beside the caller's work, not before it goes on."""
        found = {user_id: name for user_id in user_ids if (name := self.slack.people.remembered_name(user_id)) is not None}
        if missing := set(user_ids) - found.keys():
            try:
                found |= await self._on_file(missing)
            except (SQLAlchemyError, OSError) as error:
                log.warning("could not read the display names on file, asking Slack: %s", error)
            missing -= found.keys()
        if missing:
            if asking is not None:
                asking.set()
            asked = await self._ask(missing)
            found |= asked
            if asked:
                self.background.spawn(self._keep(asked), name="display names kept")
        return found

    def learn_later(self, whose: Callable[[], Awaitable[set[str]]], *, name: str) -> None:
        """Put on file the names of the people ``whose`` reads that are not on file yet: what the
        resolution will need, asked as background work of its own, so that nothing waits for it.
        A failure is logged, nothing more: what is not learned now is asked at the resolution."""
        self.background.spawn(self._learn(whose), name=name)

    async def _learn(self, whose: Callable[[], Awaitable[set[str]]]) -> None:
        try:
            user_ids = await whose()
            missing = user_ids - (await self._on_file(user_ids)).keys()
        except (LookupError, SQLAlchemyError, OSError) as error:
            log.warning("could not learn the display names: %s", error)
            return
        await self._keep(await self._ask(missing))

    async def _on_file(self, user_ids: set[str]) -> dict[str, str]:
        async with self.db.lookup() as session:
            return await name_rows.learned_since(session, user_ids, self.clock() - NAMES_ON_FILE)

    async def _ask(self, user_ids: set[str]) -> dict[str, str]:
        async def one(user_id: str) -> tuple[str, str | None]:
            try:
                return user_id, await self.slack.people.display_name(user_id)
            except SlackError:
                return user_id, None

        pairs = await asyncio.gather(*(one(user_id) for user_id in sorted(user_ids)))
        return {user_id: name for user_id, name in pairs if name}

    async def _keep(self, names: dict[str, str]) -> None:
        if not names:
            return
        now = self.clock()
        try:
            async with self.db.bookkeeping() as session:
                await name_rows.keep(session, names, now)
                # A name is used for a day at most: kept no longer.
                await name_rows.forget_learned_before(session, now - NAMES_ON_FILE)
        except (SQLAlchemyError, OSError) as error:
            log.warning("could not put display names on file: %s", error)
