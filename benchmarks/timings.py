"""The durations the tests no longer assert, each against a baseline measured in the same run.

A test must hold on a machine whose CPUs are busy with other work, so the suite waits on
conditions and asserts no duration (tests/waiting.py). What those durations promise is measured
here instead, by hand, and printed as ratios, so a slow machine shows up in the baseline too:

- ``rate_limit_pause``: a 429 with ``Retry-After: 1`` is retried no sooner than a second later
  (was tests/test_faults.py and tests/test_fake_slack.py). Baseline: one plain call.
- ``fake_latency``: the fake Slack's ``latency`` is added to each call (was tests/test_fake_slack.py).
  Baseline: one plain call.
- ``detectable_change``: the weekly power estimate on 120 restores takes under a second (was
  tests/test_stats.py). Baseline: a fixed amount of pure-Python work.
- ``event_loop_lag``: a 0.3 s stall is one sample above 0.25 s, quiet samples stay under 25 ms,
  and the stall leaves the recent window (was tests/test_observability.py). Baseline: how late
  a plain ``asyncio.sleep(0.02)`` wakes up.
- ``outage_answer``: during a database outage every request is answered within Slack's 3 s (was
  tests/test_database_outage.py). Baseline: the same request with the database up. Needs
  PostgreSQL (local binaries or ``TEST_POSTGRES_URL``); skipped without it.
- ``open_first_wave``: after ``conversations.create`` the control message, invites and topic
  go to Slack together, not one after another, and the pin follows the posted message (was
  tests/test_open_incident.py). With the fake adding 200 ms to each call; baseline: one call.
- ``serve_stop``: ``incident-bot serve`` exits within 5 s of SIGTERM (was tests/test_cli.py and
  tests/test_socket_mode.py). Baseline: the same process's start-up until /healthz answers.

    .venv/bin/python -m benchmarks.timings                  # all of them, about half a minute
    .venv/bin/python -m benchmarks.timings --only event_loop_lag detectable_change

Exit code 0 when every check ran; targets missed do not change it (read the table).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import random
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "xoxb-1234-5678-benchtoken"
REPEATS = 5  # baselines are the median of this many runs


@dataclass(frozen=True)
class Row:
    name: str
    measured: float  # seconds
    baseline: float  # seconds
    target: str
    met: bool

    def line(self) -> str:
        ratio = self.measured / self.baseline if self.baseline > 0 else math.inf
        return (
            f"{self.name:<34} {self.measured * 1000:>10.1f} {self.baseline * 1000:>10.1f} "
            f"{ratio:>9.2f}  {self.target:<32} {'yes' if self.met else 'NO'}"
        )


async def timed(call: Callable[[], Awaitable[object]]) -> float:
    began = time.perf_counter()
    await call()
    return time.perf_counter() - began


async def median_of(call: Callable[[], Awaitable[object]], repeats: int = REPEATS) -> float:
    return statistics.median([await timed(call) for _ in range(repeats)])


# ---- the fake Slack's pauses -------------------------------------------------------------------


async def rate_limit_pause() -> list[Row]:
    from tests.fake_slack import FakeSlack

    async with FakeSlack() as fake:
        client = AsyncWebClient(token=TOKEN, base_url=fake.base_url, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)])
        plain = await median_of(client.auth_test)
        fake.fail_next("auth.test", status=429, retry_after=1)
        whole = await timed(client.auth_test)
        limited, retried = fake.calls_to("auth.test")[-2:]
        pause = retried.at - limited.at
    return [
        Row("429 Retry-After 1: retry's pause", pause, plain, ">= 1000 ms", pause >= 1.0),
        Row("429 Retry-After 1: whole call", whole, plain, ">= 1000 ms", whole >= 1.0),
    ]


async def fake_latency() -> list[Row]:
    from tests.fake_slack import FakeSlack

    async with FakeSlack() as fake:
        client = AsyncWebClient(token=TOKEN, base_url=fake.base_url)
        plain = await median_of(client.auth_test)
        fake.latency = 0.2
        slowed = await median_of(client.auth_test)
    return [Row("fake latency 200 ms: one call", slowed, plain, ">= 200 ms", slowed >= 0.2)]


# ---- statistics ----------------------------------------------------------------------------------


def _cpu_unit() -> None:
    """A fixed amount of pure-Python work: what the machine gives this process right now."""
    total = 0
    for n in range(200_000):
        total += n * n % 7


async def detectable_change_speed() -> list[Row]:
    from bot.analytics.stats import detectable_change

    rng = random.Random(11)
    data = [1800 * math.exp(rng.gauss(0, 0.8)) for _ in range(120)]  # as the test had it

    async def estimate() -> None:
        detectable_change(data, per_week=10)

    async def unit() -> None:
        _cpu_unit()

    baseline = await median_of(unit)
    measured = await median_of(estimate)
    return [Row("detectable_change, 120 restores", measured, baseline, "< 1000 ms", measured < 1.0)]


# ---- event-loop lag ------------------------------------------------------------------------------


async def event_loop_lag() -> list[Row]:
    from bot.background import EventLoopLag

    loop = asyncio.get_running_loop()

    async def oversleep() -> float:
        began = loop.time()
        await asyncio.sleep(0.02)
        return loop.time() - began - 0.02

    baseline = statistics.median([await oversleep() for _ in range(10)])
    lag = EventLoopLag()
    samples: list[float] = []
    record = lag.record

    def keep(value: float) -> None:
        samples.append(value)
        record(value)

    lag.record = keep  # type: ignore[method-assign]
    stop = asyncio.Event()
    watcher = asyncio.create_task(lag.watch(stop, every=0.02))
    await asyncio.sleep(0.1)
    before_stall = len(samples)
    time.sleep(0.3)  # noqa: ASYNC251 blocks the loop on purpose: a callback that never yields, as a CPU-heavy request would
    await asyncio.sleep(0.1)
    stop.set()
    await watcher
    quiet = samples[:before_stall] or [0.0]
    stalled = samples[before_stall] if len(samples) > before_stall else 0.0
    slow = sum(1 for s in samples if s > 0.25)
    return [
        Row("lag: worst quiet sample", max(quiet), baseline, "< 25 ms", max(quiet) < 0.025 and len(quiet) >= 3),
        Row("lag: the sample after a 0.3 s stall", stalled, baseline, "> 250 ms, exactly one", stalled > 0.25 and slow == 1),
        Row("lag: recent, 0.1 s after the stall", lag.recent, baseline, "< 250 ms (stall forgotten)", lag.recent < 0.25),
    ]


# ---- a database outage ---------------------------------------------------------------------------


async def outage_answer() -> list[Row]:
    from sqlalchemy.engine import make_url

    from bot.slack import messages
    from tests.conftest import _fresh_postgres_database, fake_slack_settings, manifest_bot_scopes, start_bot
    from tests.fake_slack import FakeSlack
    from tests.postgres_server import PostgresMissing, admin_postgres
    from tests.tcp_proxy import TcpProxy

    try:
        admin_url, server = admin_postgres()
    except PostgresMissing as missing:
        print(f"outage_answer: skipped, {missing}")
        return []
    try:
        url = make_url(await _fresh_postgres_database(admin_url))
        proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
        await proxy.start()
        async with FakeSlack(bot_scopes=manifest_bot_scopes()) as fake:
            fake.add_user("U_ALICE", "alice")
            announce = fake.add_channel("incidents", members={"U_ALICE"})
            settings = fake_slack_settings(fake, url.set(port=proxy.port).render_as_string(hide_password=False), announce)
            bot = await start_bot(settings, fake)
            try:
                await bot.slack.command("open Checkout returns 500s sev:P1")
                await bot.settle()
                incident = await bot.incident(1)

                async def answered(send: Callable[[], Awaitable[object]]) -> tuple[float, str]:
                    seen = len(fake.responses)
                    began = time.perf_counter()
                    await send()
                    answer = await fake.wait_for_response(lambda r: fake.responses.index(r) >= seen)
                    return time.perf_counter() - began, answer["text"]

                requests = {
                    "click": lambda: bot.slack.block_action(
                        "stamp_phase_mitigated", "1", user="U_ALICE", channel=incident.channel_id, message_ts=incident.control_message_ts
                    ),
                    "open": lambda: bot.slack.command("open Second incident sev:P2"),
                    "status": lambda: bot.slack.command("status INC-1", channel=incident.channel_id),
                }
                baseline = statistics.median([(await answered(requests["status"]))[0] for _ in range(REPEATS)])
                await proxy.cut()
                rows = []
                for name, send in requests.items():
                    took, text = await answered(send)
                    told = text == messages.database_unavailable()
                    rows.append(Row(f"outage: {name} answered", took, baseline, "< 3000 ms, says so", took < 3.0 and told))
                await bot.settle()
                return rows
            finally:
                await bot.stop()
                await proxy.stop()
    finally:
        if server is not None:
            server.stop()


# ---- the open flow's concurrent Slack calls -----------------------------------------------------


async def open_first_wave() -> list[Row]:
    from tests.conftest import fake_slack_settings, manifest_bot_scopes, seed_catalog_people, start_bot
    from tests.fake_slack import FakeSlack

    async with FakeSlack(bot_scopes=manifest_bot_scopes()) as fake:
        fake.add_user("U_ALICE", "alice")
        seed_catalog_people(fake)
        announce = fake.add_channel("incidents", members={"U_ALICE"})
        with tempfile.TemporaryDirectory(prefix="incident-bot-timings-") as workdir:
            settings = fake_slack_settings(fake, f"sqlite:///{workdir}/incidents.db", announce)
            bot = await start_bot(settings, fake)
            try:
                fake.latency = 0.2
                client = AsyncWebClient(token=TOKEN, base_url=fake.base_url)
                baseline = await median_of(client.auth_test)
                await bot.slack.command("open Slow search")
                await bot.settle()
            finally:
                await bot.stop()
    calls = [c for c in fake.calls if c.method != "auth.test"]
    wave = [c for c in calls[1:] if c.method in ("chat.postMessage", "conversations.invite", "conversations.setTopic")]
    first = {}
    for call in wave:
        first.setdefault(call.method, call.at)
    spread = max(first.values()) - min(first.values())
    pin = next(c for c in calls if c.method == "pins.add").at - min(first.values())
    return [
        Row("open: first wave's spread", spread, baseline, "< 200 ms (together)", spread < 0.2 and len(first) == 3),
        Row("open: pin after the first wave", pin, baseline, ">= 200 ms (after the post)", pin >= 0.2),
    ]


# ---- serve's shutdown ----------------------------------------------------------------------------


async def serve_stop() -> list[Row]:
    from tests.conftest import SIGNING_SECRET, manifest_bot_scopes
    from tests.fake_slack import FakeSlack
    from tests.serve_process import ServeProcess

    async with FakeSlack(bot_scopes=manifest_bot_scopes()) as fake:
        with tempfile.TemporaryDirectory(prefix="incident-bot-timings-") as workdir:
            env = {
                "SLACK_BOT_TOKEN": TOKEN,
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "SLACK_API_URL": fake.base_url,
                "DATABASE_URL": f"sqlite:///{workdir}/serve.db",
            }
            process = ServeProcess(env, Path(workdir), response_url_factory=fake.response_url)
            began = time.perf_counter()
            await process.start()
            started = time.perf_counter() - began
            await process.slack.command("help")
            assert process.process is not None
            began = time.perf_counter()
            process.process.send_signal(signal.SIGTERM)
            code = await process.wait()
            stopped = time.perf_counter() - began
    return [Row("serve: SIGTERM to exit", stopped, started, "< 5000 ms, exit 0", stopped < 5.0 and code == 0)]


CHECKS: dict[str, Callable[[], Awaitable[list[Row]]]] = {
    "rate_limit_pause": rate_limit_pause,
    "fake_latency": fake_latency,
    "detectable_change": detectable_change_speed,
    "event_loop_lag": event_loop_lag,
    "outage_answer": outage_answer,
    "open_first_wave": open_first_wave,
    "serve_stop": serve_stop,
}


async def run(names: Sequence[str]) -> int:
    rows: list[Row] = []
    for name in names:
        rows.extend(await CHECKS[name]())
    print(f"{'check':<34} {'ms':>10} {'base ms':>10} {'ratio':>9}  {'target':<32} met")
    for row in rows:
        print(row.line())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.timings", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only",
        nargs="+",
        choices=sorted(CHECKS),
        default=list(CHECKS),
        metavar="CHECK",
        help=f"run only these checks: {', '.join(CHECKS)}",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.CRITICAL)  # the outage check makes the bot log its expected errors
    return asyncio.run(run(args.only))


if __name__ == "__main__":
    sys.exit(main())
