"""A real ``incident-bot serve`` killed with SIGKILL at each Slack step of a war room's set-up and
of the resolution, then ``incident-bot repair``: exactly one of everything.

The steps are not listed here: a clean open and resolution (the probe, INC-1) is watched, and every
Slack call it makes that creates or changes something is a crash point, so a step added to the code
is covered without touching this file. At each point the fake Slack holds the call open and the
process is killed either while the call is in flight (Slack never did it) or right after Slack did it
(the process never heard the answer, so the database does not know). The repair must then leave
exactly what the probe has: one channel, one pinned control message, one announcement, every
invite, bookmark and runbook post, one summary in each channel, one postmortem draft and one
action-items message.

The full sweep runs on PostgreSQL; SQLite runs a representative subset (SQLITE_POINTS).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from storage import incidents as rows
from storage.db import Database
from tests.conftest import BOT_TOKEN, ROOT, SIGNING_SECRET
from tests.fake_slack import FakeSlack
from tests.serve_process import ServeProcess, run_cli
from tests.waiting import HANG_SECONDS, eventually

pytestmark = pytest.mark.processes

# Web API methods that create or change something in Slack (the rest only read).
WRITES = {
    "conversations.create",
    "conversations.invite",
    "conversations.setTopic",
    "chat.postMessage",
    "pins.add",
    "bookmarks.add",
    "files.getUploadURLExternal",
    "files.completeUploadExternal",
}
SQLITE_POINTS = {"conversations.create", "chat.postMessage control_message", "files.completeUploadExternal"}
WAIT = HANG_SECONDS  # a hang, never a slow machine (tests/waiting.py)


def point(method: str, args: dict) -> str | None:
    """A crash point's name: the method, and which of its calls (the same for every incident)."""
    if method not in WRITES:
        return None
    if method == "chat.postMessage":
        step = ((args.get("metadata") or {}).get("event_payload") or {}).get("step")
        return f"{method} {step}" if step else None  # a line in the room (a stamp) is not a step
    if method == "conversations.invite":
        return f"{method} {args.get('users')}"
    if method == "bookmarks.add":
        return f"{method} {args.get('title')}"
    return method


def points_of(calls: list) -> list[str]:
    seen: list[str] = []
    for call in calls:
        name = point(call.method, call.args)
        if name and name not in seen:
            seen.append(name)
    return seen


@dataclass(frozen=True)
class Artefacts:
    """What Slack shows for one incident, counted by what people see (not by the bot's metadata)."""

    channels: int
    control_messages: int
    pinned_control: bool
    announcements: int
    runbook_posts: int
    bookmarks: tuple[tuple[str, str], ...]
    members: frozenset[str]
    topic_set: bool
    summaries: int
    announced_summaries: int
    drafts: int
    action_messages: int


def artefacts(fake: FakeSlack, announce_channel: str, number: int, channel_id: str | None, control_ts: str | None) -> Artefacts:
    ref = f"INC-{number}"
    rooms = [c for c in fake.channels.values() if c.name == f"inc-{number}" or c.name.startswith(f"inc-{number}-")]
    room = fake.channels.get(channel_id or "")
    messages = room.messages if room else []
    announced = fake.channels[announce_channel].messages
    return Artefacts(
        channels=len(rooms),
        control_messages=sum(bool(m.get("blocks")) and m["text"].startswith(f"{ref} (") for m in messages),
        pinned_control=room is not None and room.pins == [control_ts],
        announcements=sum(f"{ref} (" in m.get("text", "") and "war room <#" in m.get("text", "") for m in announced),
        runbook_posts=sum(m.get("text", "").startswith("Runbook:") for m in messages),
        bookmarks=tuple(sorted((b["title"], b["link"]) for b in room.bookmarks)) if room else (),
        members=frozenset(room.members) if room else frozenset(),
        topic_set=bool(room and room.topic),
        summaries=sum(m.get("text", "").startswith(f"{ref} resolved") for m in messages),
        announced_summaries=sum(m.get("text", "").startswith(f"{ref} resolved") for m in announced),
        drafts=sum(any(f.get("title") == f"{ref} postmortem draft" for f in m.get("files") or []) for m in messages),
        action_messages=sum(m.get("text") == f"Action items for {ref}" for m in messages),
    )


class Scene:
    def __init__(self, env: dict[str, str], db: Database, fake: FakeSlack, announce_channel: str, workdir) -> None:
        self.env, self.db, self.fake, self.announce_channel, self.workdir = env, db, fake, announce_channel, workdir
        self.number = 0

    def serve(self, name: str) -> ServeProcess:
        return ServeProcess(self.env, self.workdir, response_url_factory=self.fake.response_url, name=name)

    async def row(self, number: int):
        async with self.db.transaction() as session:
            return await rows.get(session, number)

    async def open(self, process: ServeProcess, *, wait: bool = True) -> int:
        self.number += 1
        number = self.number
        response = await process.slack.command(f"open Card payments failing {number} sev:P1 service:payments-api")
        assert response.status == 200
        if wait:
            await self.fake.wait_for_response(lambda r: r.get("text", "").startswith(f"*INC-{number}* is open"), timeout=WAIT)
        return number

    async def resolve(self, process: ServeProcess, number: int) -> None:
        row = await self.row(number)
        response = await process.slack.block_action(
            "stamp_phase_verified", str(number), user="U_ALICE", channel=row.channel_id, message_ts=row.control_message_ts
        )
        assert response.status == 200

    async def resolved(self, number: int) -> None:
        async def done():
            async with self.db.transaction() as session:
                row = await rows.get(session, number)
                draft = await rows.postmortem(session, number)
            return row.summary_ts and row.summary_announcement_ts and draft and draft.actions_message_ts

        await eventually(done, what=f"INC-{number}'s resolution")

    async def seen(self, number: int) -> Artefacts:
        row = await self.row(number)
        return artefacts(self.fake, self.announce_channel, number, row.channel_id, row.control_message_ts)


@pytest.fixture
async def scene(database_url, fake_slack, announce_channel, tmp_path):
    db = Database(database_url)
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake_slack.base_url,
        "DATABASE_URL": database_url.replace("+asyncpg", ""),
        "INCIDENT_ANNOUNCE_CHANNEL": announce_channel,
        "RUNBOOKS_DIR": str(ROOT / "runbooks"),
        "INCIDENT_CONFIG": str(ROOT / "runbooks" / "config.yml"),
        "LOG_FORMAT": "json",
    }
    yield Scene(env, db, fake_slack, announce_channel, tmp_path)
    await db.dispose()


async def crash_and_repair(scene: Scene, flow: str, moment: str, where: str, probe: Artefacts, *, repair_twice: bool) -> None:
    process = await scene.serve(f"doomed-{scene.number + 1}").start()
    try:
        if flow == "resolution":
            number = await scene.open(process)
        hold = scene.fake.hold(where.split(" ")[0], lambda args: point(where.split(" ")[0], args) == where, answered=moment == "answered")
        if flow == "open":
            number = await scene.open(process, wait=False)
        else:
            await scene.resolve(process, number)
        try:
            await asyncio.wait_for(hold.arrived.wait(), WAIT)
        except TimeoutError:
            raise AssertionError(f"INC-{number}: the {flow} never reached {where}") from None
        process.kill()
        assert await process.wait() == -9
    finally:
        await process.stop()
    hold.release()  # the dead process's request: answered into nothing

    code, out = await run_cli(scene.env, scene.workdir, "repair", f"INC-{number}")
    assert code == 0, f"{flow}, killed at {where} ({moment}): repair exited {code}:\n{out}"
    # It says what it did, or (killed at an idempotent last step Slack had done) that nothing was missing.
    assert "done: " in out or f"INC-{number}: nothing to repair" in out, out
    got = await scene.seen(number)
    assert got == probe, f"{flow}, killed at {where} ({moment}):\n got {got}\nwant {probe}\nrepair said:\n{out}"

    if not repair_twice:  # each CLI run costs seconds on a busy machine: once per sweep is enough
        return
    code, out = await run_cli(scene.env, scene.workdir, "repair", f"INC-{number}")
    assert code == 0 and "nothing to repair" in out and "done: " not in out, out
    assert await scene.seen(number) == probe


@pytest.mark.parametrize("moment", ["in flight", "answered"])
@pytest.mark.parametrize("flow", ["open", "resolution"])
@pytest.mark.parametrize("database_url", ["postgresql", "sqlite"], indirect=True)
async def test_killed_at_each_slack_step_then_repair_leaves_exactly_one_of_everything(scene, database_url, flow, moment):
    fake = scene.fake
    process = await scene.serve("probe").start()
    try:
        before = len(fake.calls)
        number = await scene.open(process)
        opened = len(fake.calls)
        await scene.resolve(process, number)
        await scene.resolved(number)
    finally:
        await process.stop()
    points = points_of(fake.calls[before:opened] if flow == "open" else fake.calls[opened:])
    probe = await scene.seen(number)
    if flow == "open":  # an incident killed while opening is not resolved: compare it with the probe as opened
        probe = Artefacts(**{**probe.__dict__, "summaries": 0, "announced_summaries": 0, "drafts": 0, "action_messages": 0})
    assert probe.channels == probe.control_messages == probe.announcements == probe.runbook_posts == 1, probe
    assert probe.pinned_control and probe.topic_set and probe.bookmarks and len(probe.members) >= 4, probe
    if flow == "resolution":
        assert probe.summaries == probe.announced_summaries == probe.drafts == probe.action_messages == 1, probe
    # Every kind of step is a crash point (a step the code gains is one more).
    assert {"conversations.create", "chat.postMessage control_message", "pins.add"} <= set(points) or flow == "resolution", points
    assert flow == "open" or {"chat.postMessage summary_ts", "files.completeUploadExternal"} <= set(points), points
    if database_url.startswith("sqlite"):
        points = [p for p in points if p in SQLITE_POINTS]
    for n, where in enumerate(points):
        await crash_and_repair(scene, flow, moment, where, probe, repair_twice=n == 0)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_repair_command_says_what_it_did_what_was_there_and_what_is_still_missing(scene, bot, fake_slack):
    fake_slack.fail_next("chat.postMessage", status=500, times=6)  # the control message and the announcement
    await bot.slack.command("open Checkout returns 500s sev:P1")
    await bot.settle()

    fake_slack.fail_next("chat.postMessage", status=500, times=6)  # Slack still failing
    code, out = await run_cli(scene.env, scene.workdir, "repair", "INC-1")
    assert code == 1, out
    assert "still missing: post and pin the control message" in out and "the repair could not finish" in out, out
    assert "already there: in the war room: <@U_ALICE>" in out, out
    fake_slack.clear_faults()

    code, out = await run_cli(scene.env, scene.workdir, "repair", "INC-1")
    assert code == 0, out
    assert "done: posted the control message" in out and "done: pinned the control message" in out, out
    assert "done: announced in" in out and "still missing" not in out, out

    code, out = await run_cli(scene.env, scene.workdir, "repair", "INC-1")
    assert code == 0 and "INC-1: nothing to repair" in out and "done: " not in out, out
    assert "already there: the control message" in out, out
