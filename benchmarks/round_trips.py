"""The war room and the resolution in round trips (RT): how close each is to the least Slack allows.

The fake Slack adds ``--latency-ms`` to every Web API call and upload, so one RT is that latency.
Each figure is the bot's time, from the moment the signed request leaves the client until Slack
answers the call that ends the flow, divided by one RT, and set against issue 17's limit:

- control message after ``/incident open`` (the post Slack answers): <= 2.1 RT (create, then post);
- whole war room (the last of its calls answered): <= 3.1 RT (create, post, pin), for a service
  whose catalog entry names user IDs and a group ID (payments-api) and one naming an owner e-mail
  and a group handle (checkout-web), the directory memory emptied before each open (the first
  incident of the day: every e-mail and handle asked of Slack);
- MTTR summary after the *verified* click (the war-room summary answered): <= 1.2 RT;
- whole resolution (summaries, postmortem upload, action-items message): <= the upload's own three
  steps (timed in the same run through the same gateway) + 0.2 RT, with the postmortem's display
  names asked of Slack (neither remembered nor on file), on file (the process's memory emptied,
  as in another process or an hour after the names were learned) and remembered.

    .venv/bin/python -m benchmarks.round_trips [--latency-ms 100] [-m 5] [--fake-process] [--floor]

``--fake-process`` runs the fake Slack in a process of its own (benchmarks/fake_slack_process.py),
as Slack is to the bot: its handling of each call, and what the bot does on a worker thread while
the fake reads a call, no longer count as the bot's time. ``--floor`` also times the same flows
done by a bare Bolt app and a plain AsyncWebClient (``_Floor``): the war room's longest chain hop by
hop, its control message and whole war room (create, post, pin) and a summary posted after a click,
in RT, each printed beside the bot's (the bare app's resolution is the upload alone, timed anyway).

``figures(args)`` is what a single command printing every figure of issue 17 calls: it runs this
benchmark and returns one ``Figure`` per measure (the worst of ``-m`` runs, so "met" means met by
every run).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from benchmarks import bare_bolt
from benchmarks.fake_slack_process import RemoteFakeSlack
from benchmarks.open_latency import (
    BOT_TOKEN,
    SIGNING_SECRET,
    BenchmarkError,
    Server,
    bounded,
    drain,
    is_control_message,
    percentile,
    start_bot,
    start_fake_slack,
)
from bot.runtime import Runtime
from storage import display_names
from tests.fake_slack import FakeSlack, RecordedCall, causal_rounds
from tests.slack_requests import SignedSlack

# Catalog shapes of the shipped example catalog (runbooks/catalog.yml).
SHAPES = (("user IDs + group ID", "payments-api"), ("owner e-mail + group handle", "checkout-web"))
RESOLUTION_STEPS = {"summary_ts", "summary_announcement_ts", "actions_message"}
# The postmortem's display names: asked of Slack (one RT before the upload can start: people not
# seen for a day), on file (learned at an earlier click of the incident, or by another process:
# bot/warroom/people_names.py), or remembered by the process from the last minutes
# (bot/slack/directory.py).
COLD, ON_FILE, WARM = "names asked", "names on file", "names remembered"
NAMES = (COLD, ON_FILE, WARM)


class InProcess:
    """The fake Slack on the benchmark's own event loop, with RemoteFakeSlack's face."""

    def __init__(self, fake: FakeSlack) -> None:
        self.fake = fake
        self.base_url, self.response_url = fake.base_url, fake.response_url
        self.calls, self.uploads, self.violations = fake.calls, fake.uploads, fake.violations

    @property
    def latency(self) -> float:
        return self.fake.latency

    async def set_latency(self, latency: float) -> None:
        self.fake.latency = latency

    async def refresh(self) -> None:
        """Nothing to fetch: the lists are the fake's own."""

    async def stop(self) -> None:
        await self.fake.stop()


Fake = InProcess | RemoteFakeSlack


@dataclass(frozen=True)
class Figure:
    """One measure in round trips against its limit (both in RT)."""

    name: str
    value: float  # the worst of the runs
    typical: float  # their median
    limit: float
    bare: float | None = None  # the median of the same flow done by a bare app (_Floor), where timed

    @property
    def ratio(self) -> float:
        return self.value / self.limit

    @property
    def met(self) -> bool:
        return self.value <= self.limit

    def line(self) -> str:
        verdict = "met" if self.met else "MISSED"
        line = f"{self.name:<72} {self.typical:>6.2f} {self.value:>6.2f} {self.limit:>6.2f} {self.ratio:>7.2f}x  {verdict}"
        if self.bare is None:
            return line
        return f"{line:<104}  bare app {self.bare:.2f} RT, bot p50 {self.typical / self.bare:.2f}x"


def _step(call: RecordedCall) -> str | None:
    step: str | None = ((call.args.get("metadata") or {}).get("event_payload") or {}).get("step")
    return step


def _answered(call: RecordedCall, latency: float) -> float:
    """When Slack answered the call: it arrived at ``at`` and was held one latency."""
    return call.at + latency


@dataclass
class _Hops:
    """The war room's longest chain, hop by hop, in ms: send -> conversations.create arrives (HTTP,
    Bolt, and for the bot recording the incident, deploys, the claims), create answered -> the
    control post arrives, control post answered -> pins.add arrives."""

    before_create: list[float] = field(default_factory=list)
    create_to_post: list[float] = field(default_factory=list)
    post_to_pin: list[float] = field(default_factory=list)

    def add(self, sent: float, create: RecordedCall, post: RecordedCall, pin: RecordedCall, latency: float) -> None:
        self.before_create.append((create.at - sent) * 1000)
        self.create_to_post.append((post.at - _answered(create, latency)) * 1000)
        self.post_to_pin.append((pin.at - _answered(post, latency)) * 1000)

    def line(self) -> str:
        """p50 / max of each hop."""
        hops = (
            ("send -> conversations.create arrives", self.before_create),
            ("create answered -> control post arrives", self.create_to_post),
            ("control post answered -> pin arrives", self.post_to_pin),
        )
        return "; ".join(f"{what} {percentile(values, 0.5):.1f} / {max(values):.1f} ms" for what, values in hops)


@dataclass
class _Runs:
    control: dict[str, list[float]]
    war_room: dict[str, list[float]]
    summary: list[float]
    resolution: dict[str, list[float]]
    upload: list[float]
    # Where the war room's time goes (_Hops), and the resolution's local time before its longest
    # chain (click sent -> files.getUploadURLExternal arrives, names remembered), in ms.
    hops: _Hops = field(default_factory=_Hops)
    click_to_upload: list[float] = field(default_factory=list)
    # Rounds of dependent round trips, from the fake's causal record (no clock): the most seen.
    rounds: dict[str, int] = field(default_factory=dict)

    def count(self, what: str, rounds: int) -> None:
        self.rounds[what] = max(self.rounds.get(what, 0), rounds)


class _Floor:
    """The war room's longest chain with nothing of the bot in it, against the same fake in the same
    run: a Bolt app that only verifies, dispatches and acks the signed command (as the bot's, with
    ``process_before_response``), then a plain AsyncWebClient on a kept-alive session that creates a
    channel, posts the control message the bot posted (same blocks) and pins it. Its hops are what
    the client, Bolt, slack_sdk, aiohttp and the fake cost; the bot's hops above them are its own."""

    def __init__(self, fake: Fake, control: RecordedCall) -> None:
        self._fake = fake
        self._text, self._blocks = control.args["text"], control.args["blocks"]
        self._client = AsyncWebClient(base_url=fake.base_url, token=BOT_TOKEN)
        self._names = itertools.count()
        self._rooms: list[asyncio.Task[None]] = []
        self._channel = ""
        self.hops = _Hops()
        # The same flows in RT, as the bot's: control message and whole war room (create, post,
        # pin), and a summary posted after a click (ack, then one post).
        self.control: list[float] = []
        self.war_room: list[float] = []
        self.summary: list[float] = []
        self._runner: Any = None
        self._slack: SignedSlack | None = None

    async def start(self) -> None:
        self._client.session = aiohttp.ClientSession()
        app = bare_bolt.build(
            SIGNING_SECRET,
            self._fake.base_url,
            after_command=lambda: self._rooms.append(asyncio.create_task(self._war_room())),
            after_action=lambda: self._rooms.append(asyncio.create_task(self._summary())),
        )
        self._runner, port = await bare_bolt.serve(app)
        self._slack = SignedSlack(f"http://127.0.0.1:{port}/slack/events", SIGNING_SECRET, response_url_factory=self._fake.response_url)
        await self._once()  # Bolt's auth.test, the session's first connection

    async def _war_room(self) -> None:
        channel = (await self._client.conversations_create(name=f"floor-{next(self._names)}"))["channel"]["id"]
        ts = (await self._client.chat_postMessage(channel=channel, text=self._text, blocks=self._blocks))["ts"]
        await self._client.pins_add(channel=channel, timestamp=ts)
        self._channel = channel

    async def _summary(self) -> None:
        await self._client.chat_postMessage(channel=self._channel, text=self._text, blocks=self._blocks)

    async def _once(self, *, click: bool = False) -> tuple[float, list[RecordedCall]]:
        assert self._slack is not None
        await self._fake.refresh()
        start = len(self._fake.calls)
        sent = time.monotonic()
        if click:
            response = await self._slack.block_action("stamp_phase_verified", "1", channel=self._channel, message_ts="1.000001")
        else:
            response = await self._slack.command("open floor")
        if response.status != 200:
            raise BenchmarkError(f"the bare app answered HTTP {response.status}")
        await asyncio.gather(*self._rooms)
        self._rooms.clear()
        await self._fake.refresh()
        return sent, self._fake.calls[start:]

    async def measure(self) -> None:
        sent, calls = await self._once()
        latency = self._fake.latency
        create, post, pin = _first_calls(calls, "conversations.create", "chat.postMessage", "pins.add")
        self.hops.add(sent, create, post, pin, latency)
        self.control.append((_answered(post, latency) - sent) / latency)
        self.war_room.append((_answered(pin, latency) - sent) / latency)
        sent, calls = await self._once(click=True)
        (summary,) = _first_calls(calls, "chat.postMessage")
        self.summary.append((_answered(summary, latency) - sent) / latency)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._client.session is not None:
            await self._client.session.close()


async def open_and_record(fake: Fake, runtime: Runtime, bot: Server, title: str, service: str) -> tuple[float, list[RecordedCall]]:
    """``/incident open`` of ``title`` for ``service``, once its after-ack work is done: when the
    command was sent, and every call Slack got since."""
    await fake.refresh()
    start = len(fake.calls)
    sent = time.monotonic()
    response = await bot.slack.command(f"open {title} sev:P2 service:{service}")
    if response.status != 200:
        raise BenchmarkError(f"the open answered HTTP {response.status}")
    await drain(runtime)
    await fake.refresh()
    return sent, fake.calls[start:]


async def _war_room(fake: Fake, runtime: Runtime, bot: Server, runs: _Runs, shape: str, service: str, n: int) -> None:
    latency = fake.latency
    forget = getattr(runtime.slack.people, "forget_directory", None)
    if forget is not None:
        forget()  # cold: every e-mail and handle asked of Slack, as for the first incident of the day
    sent, calls = await open_and_record(fake, runtime, bot, f"Round trips {shape} {n}", service)
    control = next((c for c in calls if is_control_message(c)), None)
    if control is None or not control.ok or any(not c.ok for c in calls):
        raise BenchmarkError(f"the war room of {service} was not set up cleanly: {[(c.method, c.error) for c in calls if not c.ok]}")
    runs.control[shape].append((_answered(control, latency) - sent) / latency)
    rounds = causal_rounds(c for c in calls if c.method != "auth.test")
    runs.count(f"control message, {shape}", rounds[control.seq])
    runs.count(f"whole war room, {shape}", max(rounds.values()))
    create, pin = _first_calls(calls, "conversations.create", "pins.add")
    runs.hops.add(sent, create, control, pin, latency)
    runs.war_room[shape].append((max(_answered(c, latency) for c in calls) - sent) / latency)


async def _resolution(fake: Fake, runtime: Runtime, bot: Server, runs: _Runs, n: int, names: str) -> None:
    latency = fake.latency
    _sent, calls = await open_and_record(fake, runtime, bot, f"Round trips resolution {n}", "payments-api")
    number = max(int(p["incident"]) for c in calls if (p := (c.args.get("metadata") or {}).get("event_payload") or {}).get("incident"))
    incident = await runtime.incidents.get(number)
    if incident is None or incident.channel_id is None or incident.control_message_ts is None:
        raise BenchmarkError(f"INC-{number} has no war room to resolve")
    forget = getattr(runtime.slack.people, "forget_directory", None)
    if forget is not None and names != WARM:
        forget()  # not remembered by this process, as for people not seen in the last minutes
    if names == COLD:
        async with runtime.db.bookkeeping() as session:  # nor on file: not seen for a day
            await display_names.forget_learned_before(session, runtime.clock() + timedelta(days=1))
    start, uploads = len(fake.calls), len(fake.uploads)
    sent = time.monotonic()
    response = await bot.slack.block_action(
        "stamp_phase_verified", str(number), user="U_ALICE", channel=incident.channel_id, message_ts=incident.control_message_ts
    )
    if response.status != 200:
        raise BenchmarkError(f"the verified click answered HTTP {response.status}")
    await drain(runtime)
    await fake.refresh()
    calls = fake.calls[start:]
    ends = [c for c in calls if _step(c) in RESOLUTION_STEPS or c.method == "files.completeUploadExternal"]
    summary = next((c for c in ends if _step(c) == "summary_ts"), None)
    if summary is None or len(ends) != 4 or any(not c.ok for c in calls):
        raise BenchmarkError(f"INC-{number} was not resolved cleanly: {[(c.method, _step(c), c.error) for c in calls]}")
    runs.summary.append((_answered(summary, latency) - sent) / latency)
    runs.resolution[names].append((max(_answered(c, latency) for c in ends) - sent) / latency)
    if names == WARM:
        upload_url = next(c for c in calls if c.method == "files.getUploadURLExternal")
        runs.click_to_upload.append((upload_url.at - sent) * 1000)
    rounds = causal_rounds([*calls, *fake.uploads[uploads:]])
    runs.count("MTTR summary after the click", rounds[summary.seq])
    runs.count(f"whole resolution, {names}", max(rounds[c.seq] for c in ends))
    # The floor of the whole resolution: the postmortem's upload alone, through the same gateway.
    started = time.monotonic()
    await runtime.slack.files.upload(incident.channel_id, b"x" * 2000, filename="floor.md", title=f"upload floor {n}")
    runs.upload.append((time.monotonic() - started) / latency)


def _first_calls(calls: Sequence[RecordedCall], *methods: str) -> list[RecordedCall]:
    """The first call of each method, in the order asked."""
    return [next(c for c in calls if c.method == method) for method in methods]


def _figure(name: str, samples: Sequence[float], limit: float, bare: float | None = None) -> Figure:
    return Figure(name, max(samples), percentile(samples, 0.5), limit, bare)


async def measure(*, latency: float, runs_each: int, fake_process: bool = False, floor: bool = False) -> list[Figure]:
    fake: Fake
    if fake_process:
        fake = await RemoteFakeSlack.start()
    else:
        in_process, announce = await start_fake_slack()
        fake = InProcess(in_process)
    runs = _Runs({shape: [] for shape, _ in SHAPES}, {shape: [] for shape, _ in SHAPES}, [], {names: [] for names in NAMES}, [])
    with tempfile.TemporaryDirectory(prefix="incident-bot-round-trips-") as tmp:
        if isinstance(fake, RemoteFakeSlack):
            runtime, bot = await start_bot(fake, fake.announce, Path(tmp) / "incidents.db", seed=False)
        else:
            runtime, bot = await start_bot(fake.fake, announce, Path(tmp) / "incidents.db")
        bare: _Floor | None = None
        try:
            # Warm-up at latency 0: imports, the first connections, Bolt's auth.test.
            for shape, service in SHAPES:
                _sent, calls = await open_and_record(fake, runtime, bot, f"Warm-up {shape}", service)
            if floor:
                bare = _Floor(fake, next(c for c in calls if is_control_message(c)))
                await bare.start()
            await fake.set_latency(latency)
            for n in range(runs_each):
                for shape, service in SHAPES:
                    await _war_room(fake, runtime, bot, runs, shape, service, n)
                    if bare is not None:
                        await bare.measure()
                for names in NAMES:
                    await _resolution(fake, runtime, bot, runs, n, names)
        finally:
            await fake.set_latency(0.0)
            if bare is not None:
                await bare.stop()
            await bot.runner.cleanup()
            await asyncio.wait_for(runtime.close(), 35)
            await fake.refresh()
            await fake.stop()
    if fake.violations:
        raise BenchmarkError(f"{len(fake.violations)} Slack API contract violations, e.g. {fake.violations[:3]}")
    figures: list[Figure] = []

    def bare_p50(samples: Callable[[_Floor], list[float]]) -> float | None:
        return percentile(samples(bare), 0.5) if bare is not None else None

    for shape, _service in SHAPES:
        control, room = f"control message after /incident open, {shape} (RT)", f"whole war room, {shape} (RT)"
        figures.append(_figure(control, runs.control[shape], 2.1, bare_p50(lambda floor: floor.control)))
        figures.append(_figure(room, runs.war_room[shape], 3.1, bare_p50(lambda floor: floor.war_room)))
    figures.append(_figure("MTTR summary after the verified click (RT)", runs.summary, 1.2, bare_p50(lambda floor: floor.summary)))
    upload = percentile(runs.upload, 0.5)
    for names in NAMES:
        # The bare app's resolution is the upload alone (its three steps), timed in every run.
        name = f"whole resolution, {names} (limit: upload {upload:.2f} RT + 0.2)"
        figures.append(_figure(name, runs.resolution[names], upload + 0.2, upload if bare is not None else None))
    print(f"control message, where the time goes (p50 / max): {runs.hops.line()}")
    if bare is not None:
        print(f"the same hops, bare Bolt app + AsyncWebClient (p50 / max): {bare.hops.line()}")
    print(
        f"resolution, names remembered (p50 / max): click sent -> files.getUploadURLExternal arrives "
        f"{percentile(runs.click_to_upload, 0.5):.1f} / {max(runs.click_to_upload):.1f} ms"
    )
    # The same flows as chains of round trips in the fake's causal record (tests/test_round_trips.py
    # counts them the same way): a stall of the bot longer than one latency shows as one more.
    print("longest chains of round trips (most seen): " + "; ".join(f"{what} {n}" for what, n in runs.rounds.items()))
    return figures


def figures(args: argparse.Namespace) -> list[Figure]:
    """Every figure of this benchmark, from ``args.latency_ms`` and ``args.incidents`` (the number
    of runs of each measure); for a command that prints all of issue 17's figures."""
    return asyncio.run(
        measure(
            latency=args.latency_ms / 1000,
            runs_each=args.incidents,
            fake_process=getattr(args, "fake_process", False),
            floor=getattr(args, "floor", False),
        )
    )


def print_figures(figures: Sequence[Figure], latency_ms: float, runs_each: int) -> None:
    print(f"\nwar room and resolution in round trips (1 RT = {latency_ms:.0f} ms of fake Slack latency), {runs_each} runs each")
    header = f"{'measure':<72} {'p50':>6} {'worst':>6} {'limit':>6} {'ratio':>8}  result"
    print(header)
    print("-" * len(header))
    for figure in figures:
        print(figure.line())


def parser() -> argparse.ArgumentParser:
    parse = argparse.ArgumentParser(prog="python -m benchmarks.round_trips", description=__doc__.split("\n\n")[0])
    parse.add_argument("--latency-ms", type=bounded(20, 2000, float), default=100.0, help="fake Slack latency, one RT (default 100)")
    parse.add_argument("-m", "--incidents", type=bounded(1, 50), default=5, help="runs of each measure (default 5)")
    parse.add_argument(
        "--fake-process", action="store_true", help="run the fake Slack in a process of its own, not on the bot's event loop"
    )
    parse.add_argument("--floor", action="store_true", help="also time the same hops done by a bare Bolt app and a plain AsyncWebClient")
    return parse


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        found = figures(args)
    except BenchmarkError as error:
        print(f"no figures: {error}", file=sys.stderr)
        return 1
    print_figures(found, args.latency_ms, args.incidents)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
