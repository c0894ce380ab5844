"""How fast `/incident open <title>` is, against baselines measured in the same run.

(a) Ack latency: the real bot (Runtime + build_bolt_app + start_http) versus a bare slack_bolt
    AsyncApp whose only listener is ``await ack()``, served by the very same ``start_http`` /
    ``build_web_app`` code path. Signed slash commands go to both, alternately, one at a time;
    each HTTP round trip is timed by the client. Two variants: the bot's background work drained
    between its requests (outside the timed section), and not drained (closer to production,
    where war-room work for earlier commands competes with the next ack).
(b) Time to the control message with the fake Slack adding ``--latency-ms`` to every Web API
    call, versus the two-call minimum (conversations.create then chat.postMessage through an
    AsyncWebClient) measured against the same fake.

Everything runs on loopback in one process: the fake Slack, the bot's HTTP server and the client
share one event loop, so absolute numbers include that contention for every contender alike.

    .venv/bin/python -m benchmarks.open_latency [-n 200] [-m 10] [--latency-ms 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from aiohttp import web
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.runtime import Runtime
from handlers.app import build_bolt_app
from handlers.web import start_http
from storage.migrate import upgrade_to_head
from tests.conftest import fake_slack_settings, seed_catalog_people
from tests.fake_slack import FakeSlack, RecordedCall
from tests.slack_requests import SignedSlack

ROOT = Path(__file__).resolve().parent.parent
SIGNING_SECRET = "8f742231b10e8888abcd99aaabbb85a5"
BOT_TOKEN = "xoxb-1234-5678-benchtoken"

ACK_TARGET = 1.5  # the bot's ack within 1.5x of the bare app's
CONTROL_TARGET = 1.5  # control message within 1.5x the two-call minimum, i.e. under 3 round trips
DRAIN_TIMEOUT = 30.0  # seconds one drain of the bot's background work may take before we give up
CALL_TIMEOUT = 15.0  # seconds to wait for the control message to reach the fake


class BenchmarkError(RuntimeError):
    """The run cannot produce meaningful numbers (a request failed, work never finished, ...)."""


# --------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------


def percentile(samples: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), q in [0, 1]."""
    ordered = sorted(samples)
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class Summary:
    p50: float
    p90: float
    p99: float
    max: float
    count: int

    @classmethod
    def of(cls, samples: Sequence[float]) -> Summary:
        if not samples:
            raise BenchmarkError("no samples")
        return cls(
            p50=percentile(samples, 0.50),
            p90=percentile(samples, 0.90),
            p99=percentile(samples, 0.99),
            max=max(samples),
            count=len(samples),
        )


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def verdict(ratio: float, target: float) -> str:
    return "met" if ratio <= target else "MISSED"


# --------------------------------------------------------------------------------------------
# The servers under test
# --------------------------------------------------------------------------------------------


def manifest_bot_scopes() -> set[str]:
    # The fake answers missing_scope like Slack would, so it must know what the app may do.
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    return set(manifest["oauth_config"]["scopes"]["bot"])


async def start_fake_slack() -> tuple[FakeSlack, str]:
    """The fake Slack with the same people and announcement channel as the tests use."""
    fake = FakeSlack(bot_scopes=manifest_bot_scopes(), latency=0.0)
    await fake.start()
    for user_id, name, tz in (
        ("U_ALICE", "alice", "Europe/Berlin"),
        ("U_BOB", "bob", "America/New_York"),
    ):
        fake.add_user(user_id, name, tz=tz)
    # An announcement channel makes the bot do all of its production work on open.
    announce = fake.add_channel("incidents", members={"U_ALICE", "U_BOB"})
    return fake, announce


@dataclass
class Server:
    """One HTTP endpoint under test and the signed-request client that talks to it."""

    label: str
    runner: web.AppRunner
    slack: SignedSlack


async def start_bot(fake: FakeSlack, announce: str, database: Path, *, seed: bool = True, **more: str) -> tuple[Runtime, Server]:
    """The real bot, wired exactly as ``incident-bot serve`` wires it (minus the CLI and its
    periodic tasks). ``seed``: False for a fake in another process (benchmarks/fake_slack_process.py),
    which seeds itself. ``more``: settings, as environment variables."""
    settings = fake_slack_settings(fake, f"sqlite:///{database}", announce, **more)
    if seed:
        # The shipped example catalog's owners and on-call groups, so the war room's invites succeed.
        seed_catalog_people(fake)
    runtime = Runtime.from_settings(settings)
    await upgrade_to_head(runtime.db)
    runner, port = await start_http(runtime, build_bolt_app(runtime), host="127.0.0.1", port=0)
    slack = SignedSlack(f"http://127.0.0.1:{port}/slack/events", SIGNING_SECRET, response_url_factory=fake.response_url)
    return runtime, Server("bot", runner, slack)


async def start_bare(fake: FakeSlack, runtime: Runtime) -> Server:
    """The floor: Bolt's request verification and dispatch plus ``ack()``, nothing else.

    Served through handlers.web.start_http, so aiohttp, to_bolt_request, async_dispatch and
    to_aiohttp_response are the same code as the bot's. The runtime is only what start_http
    needs for /healthz, which this benchmark never calls.
    """
    app = AsyncApp(
        signing_secret=SIGNING_SECRET,
        client=AsyncWebClient(base_url=fake.base_url, token=BOT_TOKEN),
        # Acks the way the bot does (handlers/app.py): Bolt's default polls for the ack every
        # 10 ms, a floor that made the bare app look slower than the bot.
        process_before_response=True,
    )

    @app.command("/incident")
    async def ack_only(ack: AsyncAck) -> None:
        await ack()

    runner, port = await start_http(runtime, app, host="127.0.0.1", port=0)
    # Same response_url factory so both receive byte-for-byte the same shape of payload.
    slack = SignedSlack(f"http://127.0.0.1:{port}/slack/events", SIGNING_SECRET, response_url_factory=fake.response_url)
    return Server("bare", runner, slack)


async def timed_command(server: Server, text: str) -> float:
    """Client-side round trip of one signed slash command, in seconds."""
    start = time.perf_counter()
    response = await server.slack.command(text)
    elapsed = time.perf_counter() - start
    if response.status != 200:
        raise BenchmarkError(f"{server.label} answered HTTP {response.status}: {response.text[:200]!r}")
    return elapsed


async def drain(runtime: Runtime) -> float:
    """Wait for the bot's after-ack work; returns how long that took."""
    start = time.perf_counter()
    await runtime.background.drain(timeout=DRAIN_TIMEOUT)
    if runtime.background.pending:
        raise BenchmarkError(f"{runtime.background.pending} background tasks still running after {DRAIN_TIMEOUT}s")
    return time.perf_counter() - start


# --------------------------------------------------------------------------------------------
# (a) Ack latency
# --------------------------------------------------------------------------------------------


@dataclass
class AckRun:
    label: str
    bot: list[float] = field(default_factory=list)
    bare: list[float] = field(default_factory=list)
    drains: list[float] = field(default_factory=list)  # only when drained
    peak_pending: int = 0  # most background tasks in flight right after a bot ack


class Opener:
    """Unique titles, so every command opens a new incident with a distinct war room."""

    def __init__(self) -> None:
        self.count = 0

    def text(self) -> str:
        self.count += 1
        return f"open Latency probe {self.count} sev:P2 service:checkout-web"


async def ack_round(run: AckRun | None, runtime: Runtime, bot: Server, bare: Server, opener: Opener, *, count: int, drained: bool) -> None:
    """``count`` requests to each server, alternating which goes first (ABBA) so drift, GC and
    connection-setup noise fall on both alike. ``run`` None means warm-up: nothing is kept."""
    for i in range(count):
        order = (bot, bare) if i % 2 == 0 else (bare, bot)
        for server in order:
            # The bare app gets the same text so both parse bodies of the same size.
            elapsed = await timed_command(server, opener.text())
            if server is bot:
                pending = runtime.background.pending
                # Outside the timed section: queued war-room work would otherwise pile up and
                # slow later acks (that pile-up is what the undrained variant measures).
                drain_time = await drain(runtime) if drained else 0.0
                if run is not None:
                    run.bot.append(elapsed)
                    run.peak_pending = max(run.peak_pending, pending)
                    if drained:
                        run.drains.append(drain_time)
            elif run is not None:
                run.bare.append(elapsed)


def print_ack_run(run: AckRun, quiet_bare: Summary | None = None) -> tuple[Summary, Summary]:
    bot, bare = Summary.of(run.bot), Summary.of(run.bare)
    print(f"\n(a) ack latency, {run.label}: {bot.count} requests each, client-side HTTP round trip")
    print(f"    {'':6} {'p50':>10} {'p90':>10} {'p99':>10} {'max':>10}")
    for label, s in (("bot", bot), ("bare", bare)):
        print(f"    {label:6} {ms(s.p50):>10} {ms(s.p90):>10} {ms(s.p99):>10} {ms(s.max):>10}")
    r50, r99 = bot.p50 / bare.p50, bot.p99 / bare.p99
    print(
        f"    ratio bot/bare: p50 {r50:.2f}x, p99 {r99:.2f}x   "
        f"target: ack within {ACK_TARGET}x of the bare app -> p50 {verdict(r50, ACK_TARGET)}, p99 {verdict(r99, ACK_TARGET)}"
    )
    if quiet_bare is not None:
        # The bare app shares the event loop with the bot's backlog, so the interleaved ratio
        # hides what the backlog costs; a bare app in a quiet process is the fairer floor.
        q50, q99 = bot.p50 / quiet_bare.p50, bot.p99 / quiet_bare.p99
        print(
            f"    ratio bot/quiet bare (bare app of the drained run, no backlog in the process): p50 {q50:.2f}x, p99 {q99:.2f}x"
            f" -> p50 {verdict(q50, ACK_TARGET)}, p99 {verdict(q99, ACK_TARGET)}"
        )
    if run.drains:
        d = Summary.of(run.drains)
        print(f"    after-ack work per open (drain time, Slack latency 0): p50 {ms(d.p50)}, p99 {ms(d.p99)}")
    print(f"    background tasks in flight right after a bot ack: peak {run.peak_pending}")
    return bot, bare


# --------------------------------------------------------------------------------------------
# (b) Time to the control message
# --------------------------------------------------------------------------------------------


@dataclass
class ControlRun:
    latency: float
    reach: list[float] = field(default_factory=list)  # send -> control chat.postMessage reaches the fake
    to_create: list[float] = field(default_factory=list)  # send -> conversations.create reaches the fake
    between: list[float] = field(default_factory=list)  # create answered -> control post reaches the fake
    acks: list[float] = field(default_factory=list)  # the slash command's own round trip
    minimum: list[float] = field(default_factory=list)  # two sequential calls, client-side
    minimum_reach: list[float] = field(default_factory=list)  # two-call baseline: send -> post reaches the fake


def is_control_message(call: RecordedCall) -> bool:
    payload = (call.args.get("metadata") or {}).get("event_payload") or {}
    return call.method == "chat.postMessage" and payload.get("step") == "control_message"


def first_call(fake: FakeSlack, method: str, since: float, match: Callable[[RecordedCall], bool] = lambda _: True) -> RecordedCall:
    call = next((c for c in fake.calls if c.method == method and c.at >= since and match(c)), None)
    if call is None:
        raise BenchmarkError(f"no {method} call recorded since the request was sent")
    return call


async def open_and_wait_for_control(fake: FakeSlack, runtime: Runtime, bot: Server, opener: Opener, run: ControlRun) -> None:
    known = set(fake.channels)  # the war room is whatever channel appears after this
    t0 = time.monotonic()  # RecordedCall.at is time.monotonic() too
    response = await bot.slack.command(opener.text())
    run.acks.append(time.monotonic() - t0)
    if response.status != 200:
        raise BenchmarkError(f"bot answered HTTP {response.status}: {response.text[:200]!r}")
    # The control message is the post into the new channel whose metadata names it (the runbook
    # or another post may reach the room first).
    control = await fake.wait_for_call(
        "chat.postMessage", lambda c: c.at >= t0 and c.args.get("channel") not in known and is_control_message(c), timeout=CALL_TIMEOUT
    )
    if not control.ok or "stamp_phase" not in json.dumps(control.args.get("blocks")):
        raise BenchmarkError(f"the war room's control message was not posted: {control}")
    create = first_call(fake, "conversations.create", t0, lambda c: c.ok)
    run.reach.append(control.at - t0)
    run.to_create.append(create.at - t0)
    run.between.append(control.at - (create.at + run.latency))
    await drain(runtime)  # outside the measurement: start each incident from a quiet bot


async def two_call_minimum(fake: FakeSlack, client: AsyncWebClient, index: int, run: ControlRun) -> None:
    """The least any bot can do: create the channel, then post into it, back to back."""
    t0 = time.monotonic()
    created = await client.conversations_create(name=f"bench-minimum-{index}")
    channel = created["channel"]["id"]
    await client.chat_postMessage(channel=channel, text="control message stand-in")
    run.minimum.append(time.monotonic() - t0)
    post = first_call(fake, "chat.postMessage", t0, lambda c: c.args.get("channel") == channel)
    run.minimum_reach.append(post.at - t0)


async def control_round(fake: FakeSlack, runtime: Runtime, bot: Server, opener: Opener, *, incidents: int, latency: float) -> ControlRun:
    run = ControlRun(latency)
    # Configured like the bot's gateway (timeout); retries do not matter when nothing fails.
    client = AsyncWebClient(base_url=fake.base_url, token=BOT_TOKEN, timeout=10)
    fake.latency = latency
    try:
        for i in range(incidents):
            # Alternate which goes first so neither always runs right after the other's drain.
            if i % 2 == 0:
                await open_and_wait_for_control(fake, runtime, bot, opener, run)
                await two_call_minimum(fake, client, i, run)
            else:
                await two_call_minimum(fake, client, i, run)
                await open_and_wait_for_control(fake, runtime, bot, opener, run)
    finally:
        fake.latency = 0.0
    return run


@dataclass(frozen=True)
class ControlResult:
    minimum: float  # the two-call minimum (median over the run)
    reach: Summary
    answered_p50: float
    answered_max: float


def print_control_run(run: ControlRun, incidents: int) -> ControlResult:
    lat = run.latency
    minimum = Summary.of(run.minimum)
    minimum_reach = Summary.of(run.minimum_reach)
    reach = Summary.of(run.reach)
    # chat.postMessage is answered one latency after it reaches the fake: that is when Slack
    # has the message and the bot hears so, the same end point the two-call minimum is timed to.
    answered_p50, answered_max = reach.p50 + lat, reach.max + lat
    to_create, between, acks = Summary.of(run.to_create), Summary.of(run.between), Summary.of(run.acks)
    base = minimum.p50
    print(f"\n(b) time to the control message, fake Slack latency {ms(lat)} per Web API call, {incidents} incidents")
    print(
        f"    two-call minimum (create + post, client round trip):  p50 {ms(base)}  max {ms(minimum.max)}  (= {base / lat:.2f} x latency)"
    )
    print(f"    two-call minimum, post reaches fake:                  p50 {ms(minimum_reach.p50)}  max {ms(minimum_reach.max)}")
    print(
        f"    bot: send -> control postMessage reaches fake:        p50 {ms(reach.p50)}  max {ms(reach.max)}"
        f"  ratio to minimum p50 {reach.p50 / base:.2f}x  max {reach.max / base:.2f}x"
    )
    print(
        f"    bot: ... + its latency (control message answered):   p50 {ms(answered_p50)}  max {ms(answered_max)}"
        f"  ratio to minimum p50 {answered_p50 / base:.2f}x  max {answered_max / base:.2f}x"
    )
    print(f"    like for like on arrival (bot reach / minimum reach): p50 {reach.p50 / minimum_reach.p50:.2f}x")
    print(
        f"    target: within 3 round trips (<= {CONTROL_TARGET}x the two-call minimum, < {ms(3 * lat)}):"
        f" arrival p50 {verdict(reach.p50 / base, CONTROL_TARGET)} max {verdict(reach.max / base, CONTROL_TARGET)};"
        f" answered p50 {verdict(answered_p50 / base, CONTROL_TARGET)} max {verdict(answered_max / base, CONTROL_TARGET)}"
    )
    print("    where the bot's time goes (p50 / max):")
    print(f"      send -> conversations.create reaches fake (HTTP, Bolt, DB record): {ms(to_create.p50)} / {ms(to_create.max)}")
    print(f"      conversations.create round trip (fake latency):                   {ms(lat)}")
    print(f"      create answered -> control postMessage reaches fake (DB, build):  {ms(between.p50)} / {ms(between.max)}")
    print(f"      slash command ack round trip (in parallel with the above):        {ms(acks.p50)} / {ms(acks.max)}")
    return ControlResult(base, reach, answered_p50, answered_max)


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    name: str
    value: float  # the bot's p50, seconds
    baseline: float  # the baseline's p50, seconds
    tail_value: float  # the bot's p99 ((a)) or max ((b))
    tail_baseline: float  # what the tail is divided by
    target: float

    def result(self) -> str:
        p50_ok = self.value / self.baseline <= self.target
        tail_ok = self.tail_value / self.tail_baseline <= self.target
        return "met" if p50_ok and tail_ok else ("p50 met, tail MISSED" if p50_ok else "MISSED")


def print_table(drained: tuple[Summary, Summary], busy: tuple[Summary, Summary], control: ControlResult) -> None:
    (bot_d, bare_d), (bot_b, bare_b) = drained, busy
    rows = [
        Row("(a) ack, bot drained between requests", bot_d.p50, bare_d.p50, bot_d.p99, bare_d.p99, ACK_TARGET),
        Row("(a) ack, NOT drained, vs interleaved bare", bot_b.p50, bare_b.p50, bot_b.p99, bare_b.p99, ACK_TARGET),
        Row("(a) ack, NOT drained, vs quiet bare", bot_b.p50, bare_d.p50, bot_b.p99, bare_d.p99, ACK_TARGET),
        # (b)'s baseline is one number, the two-call minimum (its p50); the tail is the bot's max.
        Row("(b) control post reaches Slack", control.reach.p50, control.minimum, control.reach.max, control.minimum, CONTROL_TARGET),
        Row(
            "(b) control post answered (reach + latency)",
            control.answered_p50,
            control.minimum,
            control.answered_max,
            control.minimum,
            CONTROL_TARGET,
        ),
    ]
    print("\nsummary (ratios against baselines measured in this run; tail = p99 for (a), max for (b))")
    header = f"{'measure':<45} {'bot p50':>11} {'baseline':>11} {'p50 ratio':>10} {'tail ratio':>11} {'target':>8}  result"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row.name:<45} {ms(row.value):>11} {ms(row.baseline):>11} {row.value / row.baseline:>9.2f}x"
            f" {row.tail_value / row.tail_baseline:>10.2f}x {'<= ' + str(row.target) + 'x':>8}  {row.result()}"
        )


async def run(args: argparse.Namespace) -> int:
    fake, announce = await start_fake_slack()
    with tempfile.TemporaryDirectory(prefix="incident-bot-bench-") as tmp:
        runtime, bot = await start_bot(fake, announce, Path(tmp) / "incidents.db")
        bare = await start_bare(fake, runtime)
        try:
            async with asyncio.timeout(args.time_limit):
                opener = Opener()
                # Warm-up: Bolt's first request calls auth.test, SQLite/aiosqlite and aiohttp
                # settle, code paths get imported. Nothing from it is kept.
                await ack_round(None, runtime, bot, bare, opener, count=args.warmup, drained=True)

                drained = AckRun("bot's background work drained between requests (outside the timing)")
                await ack_round(drained, runtime, bot, bare, opener, count=args.requests, drained=True)
                drained_summaries = print_ack_run(drained)

                busy = AckRun("NOT drained: war-room work of earlier opens runs during later acks (production-like)")
                await ack_round(busy, runtime, bot, bare, opener, count=args.requests, drained=False)
                busy_summaries = print_ack_run(busy, quiet_bare=drained_summaries[1])
                backlog = await drain(runtime)
                print(f"    backlog left after the last request took {ms(backlog)} to finish")

                control = await control_round(fake, runtime, bot, opener, incidents=args.incidents, latency=args.latency_ms / 1000)
                control_result = print_control_run(control, args.incidents)

                print_table(drained_summaries, busy_summaries, control_result)
        except TimeoutError:
            print(f"gave up: the run took longer than --time-limit {args.time_limit:.0f}s", file=sys.stderr)
            return 1
        finally:
            await bot.runner.cleanup()
            await bare.runner.cleanup()
            await asyncio.wait_for(runtime.close(), DRAIN_TIMEOUT + 5)
            await fake.stop()
    if fake.violations:
        # Slack would have refused these; numbers from such a run are not trustworthy.
        print(f"\n{len(fake.violations)} Slack API contract violations, e.g. {fake.violations[:3]}", file=sys.stderr)
        return 1
    print(f"\nfake Slack: {len(fake.calls)} Web API calls, 0 contract violations")
    return 0


def bounded(low: float, high: float, kind: type = int) -> Callable[[str], float]:
    """An argparse type that keeps the run bounded in count and time."""

    def parse(text: str) -> float:
        value = kind(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}")
        return value

    return parse


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.open_latency",
        description="Ack latency and time-to-control-message of /incident open, against same-run baselines.",
    )
    parser.add_argument(
        "-n", "--requests", type=bounded(1, 5000), default=200, help="timed slash commands per server in each (a) variant (default 200)"
    )
    parser.add_argument("--warmup", type=bounded(1, 1000), default=20, help="untimed slash commands per server before (a) (default 20)")
    parser.add_argument("-m", "--incidents", type=bounded(1, 200), default=10, help="incidents opened in (b) (default 10)")
    parser.add_argument(
        "--latency-ms",
        type=bounded(1, 2000, float),
        default=100.0,
        help="latency the fake Slack adds to every Web API call in (b) (default 100)",
    )
    parser.add_argument(
        "--time-limit", type=bounded(10, 3600, float), default=600.0, help="seconds after which the whole run gives up (default 600)"
    )
    args = parser.parse_args(argv)
    # Warnings (a failed background step, Bolt complaints) must show: they invalidate numbers.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return asyncio.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
