"""The one runner of Slack steps: what the war-room set-up, the resolution and the weekly digest
each do in Slack goes through here, so the exactly-once rules live in one place.

- **Adopt before create.** A step that creates something (a channel, a message, a file) is claimed
  in the database, and the database is read again under the claim; before creating, the step looks
  in Slack for what an interrupted attempt may already have made and records that instead. A
  process killed between Slack's answer and the database write leaves something in Slack the
  database does not know about; the look-up is what keeps the next attempt from making a second one.
- **Retry only what is missing.** A post made of several steps records each one as soon as Slack
  confirms it; the next attempt skips what is recorded (``create_once`` with ``recorded``).
- **One way to run a step under its claim.** ``SlackSteps.once`` takes the step's claim in
  whichever form the caller has it (``StepClaim``): none yet (claimed now, and the database read
  under it), taken in the transaction that made the step due (``Taken``), or taken together with
  other steps and held by the caller (``HeldWithOthers``).
- **A failed step is told, not raised.** ``run_steps`` runs independent steps concurrently and
  turns a Slack failure, a step another process holds, or (where the caller says so) a database
  that stopped answering into a ``StepFailure`` for the person who acted; anything else is a bug
  and is raised.

The claims themselves (one process per step, leases, heartbeats) are bot.warroom.step_claims. The
digest is claimed per (channel, week) by bot.analytics.digest_schedule, with its own retry count,
not per step of an incident: it runs ``create_once`` under that claim.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, Literal, Protocol, TypeAlias, TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.records import IncidentRecord
from bot.slack.blocks import drill_blocks, drill_text
from bot.slack.gateway import SlackError, SlackGateway, step_metadata

T = TypeVar("T")

# What an interrupted attempt made is looked for from a little before the incident was recorded
# (the clocks of Slack and of the bot's host differ by a little).
ADOPT_MARGIN = timedelta(minutes=2)


def adopt_since(incident: IncidentRecord) -> float:
    """The Slack timestamp from which a step looks for what an interrupted attempt made."""
    return (incident.created_at - ADOPT_MARGIN).timestamp()


class StepBusy(Exception):
    """Another process is doing this step right now."""


StillNeeded = Callable[[AsyncSession, int], Awaitable[bool]]


def still_empty(read: Callable[[AsyncSession, int], Awaitable[object | None]], column: str) -> StillNeeded:
    """A check, run under a step's claim, that the row ``read`` finds for the incident exists and
    its ``column`` (where the step records what it made) is still empty."""

    async def still_needed(session: AsyncSession, incident_id: int) -> bool:
        row = await read(session, incident_id)
        return row is not None and getattr(row, column) is None

    return still_needed


@dataclass(frozen=True)
class StepOutcome(Generic[T]):
    """``made``: created now; ``adopted``: an interrupted attempt had made it, now recorded;
    ``recorded``: the database already showed it done."""

    how: Literal["made", "adopted", "recorded"]
    value: T | None = None

    def tell(self, done: list[str], already: list[str], *, made: str, adopted: str, recorded: str | None) -> None:
        """Put the words for what happened in ``done`` (made or adopted now) or ``already``."""
        if self.how == "made":
            done.append(made)
        elif self.how == "adopted":
            done.append(adopted)
        elif recorded:
            already.append(recorded)


async def create_once(
    *,
    recorded: T | None,
    create: Callable[[], Awaitable[T]],
    record: Callable[[T], Awaitable[None]],
    find: Callable[[], Awaitable[T | None]] | None = None,
) -> StepOutcome[T]:
    """One step of a post: skipped when the database shows it ``recorded``; else adopted when
    ``find`` finds it in Slack (None: nothing can be there, e.g. a first attempt), else created;
    either way recorded the moment Slack confirmed it."""
    if recorded is not None:
        return StepOutcome("recorded", recorded)
    found = await find() if find is not None else None
    if found is not None:
        await record(found)
        return StepOutcome("adopted", found)
    made = await create()
    await record(made)
    return StepOutcome("made", made)


@dataclass(frozen=True)
class Taken:
    """The step's claim, taken in the transaction that made the step due (by its token): that
    transaction has just seen the step undone, so nothing is read under it; the runner holds it
    (renewed, then given back) while the step works."""

    token: str


@dataclass(frozen=True)
class HeldWithOthers:
    """The step's claim, taken together with other steps and held by the caller until they are all
    done (a new war room's steps, claimed with its channel); ``needed``: what was read under it."""

    needed: bool


# How the caller holds the step's claim; None: not at all yet, the runner claims it.
StepClaim: TypeAlias = Taken | HeldWithOthers | None


class Claims(Protocol):
    def claim(self, incident_id: int, step: str, still_needed: StillNeeded) -> AbstractAsyncContextManager[bool]:
        """True under the claim when the step is still needed; raises StepBusy when another holds it."""
        ...

    def hold(self, incident_id: int, step: str, token: str) -> AbstractAsyncContextManager[None]:
        """A claim taken already (``Taken``): renewed while the step works, given back after."""
        ...


class SlackSteps:
    """Runs one Slack step of an incident that creates something, so that it exists exactly once
    whatever was interrupted before: under its claim, with the database read again under it unless
    the claim's taker read it, adopt before create (see the module docstring)."""

    def __init__(self, claims: Claims, slack: SlackGateway) -> None:
        self.claims = claims
        self._slack = slack

    @asynccontextmanager
    async def claimed(self, incident_id: int, step: str, claim: StepClaim, still_needed: StillNeeded) -> AsyncIterator[bool]:
        """Under the step's claim, in whichever form the caller has it: True when the step is still
        to do, False when it is done already. Raises StepBusy when another process holds it."""
        if isinstance(claim, HeldWithOthers):
            yield claim.needed
        elif isinstance(claim, Taken):
            async with self.claims.hold(incident_id, step, claim.token):
                yield True
        else:
            async with self.claims.claim(incident_id, step, still_needed) as needed:
                yield needed

    async def once(
        self,
        incident_id: int,
        step: str,
        claim: StepClaim = None,
        *,
        still_needed: StillNeeded,
        create: Callable[[], Awaitable[T]],
        record: Callable[[T], Awaitable[None]],
        find: Callable[[], Awaitable[T | None]] | None = None,
    ) -> StepOutcome[T]:
        """The step done once under its claim (``claimed``). ``find`` looks in Slack for what an
        earlier attempt made (None on a first attempt, when nothing can be there). Raises StepBusy
        when another process holds the step."""
        async with self.claimed(incident_id, step, claim, still_needed) as needed:
            if not needed:
                return StepOutcome("recorded")
            return await create_once(recorded=None, find=find, create=create, record=record)

    async def find_message(self, channel: str, incident: IncidentRecord, step: str) -> str | None:
        """The bot's own message posted as ``step`` of the incident (by its metadata), if any."""
        return await self._slack.chat.find_step_message(channel, incident.id, step, since=adopt_since(incident))

    def post(
        self, channel: str, incident: IncidentRecord, step: str, text: str, blocks: list[dict[str, Any]] | None = None
    ) -> Callable[[], Awaitable[str]]:
        """A ``create`` that posts a message carrying the step's metadata (and a drill's banner); returns its ts."""
        shown = drill_text(incident.is_drill, text)

        async def create() -> str:
            return (
                await self._slack.chat.post(
                    channel, shown, blocks=drill_blocks(incident.is_drill, blocks), metadata=step_metadata(incident.id, step)
                )
            ).ts

        return create


def is_database_error(error: BaseException) -> bool:
    """The database could not be reached or stopped answering (as opposed to a bug)."""
    return isinstance(error, (OperationalError, InterfaceError, OSError, TimeoutError)) or (
        isinstance(error, DBAPIError) and error.connection_invalidated
    )


@dataclass(frozen=True)
class StepFailure:
    """A step that did not happen: ``what`` are the caller's words for the step."""

    what: str
    error: Exception

    @property
    def slack_error(self) -> SlackError | None:
        return self.error if isinstance(self.error, SlackError) else None

    @property
    def busy(self) -> bool:
        return isinstance(self.error, StepBusy)


@dataclass(frozen=True)
class StepsRun:
    """What each step returned, in order (None for a failed step), and the failures in step order."""

    values: list[object]
    failures: list[StepFailure]


async def run_steps(
    steps: Sequence[tuple[str, Awaitable[object]]],
    *,
    note: Callable[[str, SlackError], Awaitable[None]],
    database_errors: bool = False,
) -> StepsRun:
    """Run independent steps concurrently; each failure is kept with the step's words. ``note``
    is awaited for each Slack failure, in step order (the caller puts it in the timeline). With
    ``database_errors``, a database that stopped answering fails only the step it stopped; without,
    it is raised like any other error."""
    results = await asyncio.gather(*(work for _, work in steps), return_exceptions=True)
    values: list[object] = []
    failures: list[StepFailure] = []
    for (what, _), result in zip(steps, results, strict=True):
        if not isinstance(result, BaseException):
            values.append(result)
            continue
        values.append(None)
        if isinstance(result, SlackError):
            await note(what, result)
        elif not isinstance(result, StepBusy) and not (database_errors and isinstance(result, Exception) and is_database_error(result)):
            raise result
        failures.append(StepFailure(what, result))
    return StepsRun(values, failures)
