"""The first war room after a quiet spell, with and without a connection to Slack kept warm.

Incidents come after quiet hours. aiohttp closes a connection left idle for 15 s, so unless the bot
keeps one warm (SLACK_KEEP_WARM_SECONDS, bot.slack.transport.SlackTransport.keep_warm) the first war
room of the night opens a new connection to slack.com before its channel can even be asked for:
TCP's handshake and TLS's, two round trips with TLS 1.3. The fake Slack adds those two round trips
to the first call of every new connection (``FakeSlack.connection_setup``). Each run opens a war
room, leaves the bot idle for ``--idle`` seconds (longer than an idle connection is kept without
keeping warm), then opens another and takes its control message and whole war room in round trips,
once with keeping warm off and once with it on (every 5 s), in turn. A third open in each run, with
keeping warm off and no handshakes at all, is the baseline: what the quiet spell costs on this
machine by itself (a VM may page a process out, or slow its CPU, while it sleeps: here a loop that
takes 1.3 ms took 107 ms after 16 s asleep).

    .venv/bin/python -m benchmarks.idle_war_room [-m 3] [--idle 16] [--latency-ms 100]

Only one connection is kept warm: the channel's create and then the control message and its pin
(the longest chain) go over it, while the calls sent beside the control message (invites, topic,
bookmarks, announcement, runbook) each open a connection of their own, so the whole war room still
pays one connection's set-up after a quiet spell. The runs take ``--idle`` seconds each.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarks.open_latency import BenchmarkError, bounded, is_control_message, start_bot, start_fake_slack
from benchmarks.round_trips import InProcess, open_and_record
from bot.slack.transport import IDLE_CONNECTION_KEPT
from tests.fake_slack import FakeSlack

KEEP_WARM_EVERY = 5.0  # seconds, when on
HANDSHAKE_ROUND_TRIPS = 2  # TCP, then TLS 1.3
# Each mode: whether a connection is kept warm (every so many seconds), and its new connections' handshakes in RT.
MODES = {
    "no handshakes (baseline)": (0.0, 0),
    "off": (0.0, HANDSHAKE_ROUND_TRIPS),
    f"on (every {KEEP_WARM_EVERY:.0f} s)": (KEEP_WARM_EVERY, HANDSHAKE_ROUND_TRIPS),
}


async def _quiet_then_open(fake: FakeSlack, keep_warm: float, idle: float, latency: float, database: Path) -> tuple[float, float]:
    """The control message and the whole war room, in RT, of a war room opened after ``idle`` seconds
    of quiet (the answer of the last call of the war room: the same calls in every mode)."""
    announce = next(c.id for c in fake.channels.values() if c.name == "incidents")
    runtime, bot = await start_bot(fake, announce, database, SLACK_KEEP_WARM_SECONDS=str(keep_warm))
    stop = asyncio.Event()
    warm = asyncio.create_task(runtime.slack.keep_warm(stop))  # as `serve` starts it
    try:
        name = database.stem  # the channels of each bot's incidents must not clash: each numbers from 1
        recorded = InProcess(fake)
        await open_and_record(recorded, runtime, bot, f"Before the quiet {name}", "payments-api")
        await asyncio.sleep(idle)  # the quiet spell itself
        sent, calls = await open_and_record(recorded, runtime, bot, f"After the quiet {name}", "payments-api")
        calls = [c for c in calls if c.method != "auth.test"]
        control = next((c for c in calls if is_control_message(c)), None)
        if control is None or any(not c.ok for c in calls):
            raise BenchmarkError(f"the war room was not set up cleanly: {[(c.method, c.error) for c in calls if not c.ok]}")
        whole = max(c.at for c in calls) + latency
        return (control.at + latency - sent) / latency, (whole - sent) / latency
    finally:
        stop.set()
        await warm
        await bot.runner.cleanup()
        await runtime.close()


async def measure(runs: int, idle: float, latency: float) -> dict[str, list[tuple[float, float]]]:
    fake, _announce = await start_fake_slack()
    fake.latency = latency
    results: dict[str, list[tuple[float, float]]] = {mode: [] for mode in MODES}
    try:
        with tempfile.TemporaryDirectory() as folder:
            for run in range(runs):
                for n, (mode, (every, handshakes)) in enumerate(MODES.items()):
                    fake.connection_setup = handshakes * latency
                    results[mode].append(await _quiet_then_open(fake, every, idle, latency, Path(folder) / f"{run}-{n}.db"))
                    print(f"  run {run + 1}, keeping warm {mode}: control message {results[mode][-1][0]:.2f} RT", flush=True)
    finally:
        await fake.stop()
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parse = argparse.ArgumentParser(prog="python -m benchmarks.idle_war_room", description=__doc__.split("\n\n")[0])
    parse.add_argument("-m", "--runs", type=bounded(1, 20), default=3, help="runs of each (default 3)")
    parse.add_argument(
        "--idle", type=bounded(IDLE_CONNECTION_KEPT + 1, 120, float), default=IDLE_CONNECTION_KEPT + 1, help="seconds of quiet (default 16)"
    )
    parse.add_argument("--latency-ms", type=bounded(20, 2000, float), default=100.0, help="fake Slack latency, one RT (default 100)")
    args = parse.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        results = asyncio.run(measure(args.runs, args.idle, args.latency_ms / 1000))
    except BenchmarkError as error:
        print(f"no figures: {error}", file=sys.stderr)
        return 1
    print(
        f"\nthe first war room after {args.idle:.0f} s of quiet, a new connection costing {HANDSHAKE_ROUND_TRIPS} RT of handshakes "
        f"(1 RT = {args.latency_ms:.0f} ms), {args.runs} runs each; limit: 2 RT for the control message, 3 for the whole war room"
    )
    print(f"{'keeping a connection warm':<28} {'control p50':>12} {'worst':>7} {'whole p50':>10} {'worst':>7}")
    for mode, found in results.items():
        control = [c for c, _ in found]
        whole = [w for _, w in found]
        print(f"{mode:<28} {statistics.median(control):>12.2f} {max(control):>7.2f} {statistics.median(whole):>10.2f} {max(whole):>7.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
