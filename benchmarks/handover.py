"""How long a handover of command takes to reach the new commander: from the signed
``/incident handover @bob <note>`` to the fake Slack receiving the DM with Accept / Decline, with
the fake Slack adding ``--latency-ms`` to every Web API call.

Baseline, in the same run and alternated with the handovers: the fewest Slack calls a handover
must wait for before its DM, made one after the other through an ``AsyncWebClient``: for a public
incident ``users.info`` (is @bob a person?) then ``chat.postMessage``; for a private one also
``conversations.invite`` between them (nothing naming the incident may reach @bob before he is in
its war room). Each incident is opened with latency 0 and the bot drained before the timed
handover; the timed section ends when the DM *arrives* at the fake (``RecordedCall.at``), so one
latency is added to both sides for the answer.

    .venv/bin/python -m benchmarks.handover                 # -n 10 --latency-ms 100
    .venv/bin/python -m benchmarks.handover -n 4 --latency-ms 50
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from slack_sdk.web.async_client import AsyncWebClient

from benchmarks.open_latency import start_bot, start_fake_slack
from tests.conftest import BOT_TOKEN
from tests.fake_slack import FakeSlack

DRAIN_TIMEOUT = 60.0


def dm_arrival(fake: FakeSlack, reference: str, since: int) -> float | None:
    for call in fake.calls[since:]:
        if call.method == "chat.postMessage" and f"handed you command of *{reference}*" in str(call.args.get("text", "")):
            return call.at
    return None


async def handover_once(fake: FakeSlack, runtime, bot, *, private: bool, latency: float, number: int) -> float:
    fake.latency = 0.0
    opened = await bot.slack.command(f"open Handover probe {number} sev:P3{' private' if private else ''}", user="U_ALICE")
    assert opened.status == 200
    await runtime.background.drain(DRAIN_TIMEOUT)
    incident = await runtime.incidents.get(number)
    assert incident is not None and incident.channel_id
    fake.channels[incident.channel_id].members.discard("U_BOB")  # he is invited by the handover
    fake.latency = latency
    since = len(fake.calls)
    sent = time.monotonic()
    response = await bot.slack.command(
        "handover <@U_BOB|bob> suspect the PSP; rolled back; watch p99", user="U_ALICE", channel=incident.channel_id
    )
    assert response.status == 200
    await runtime.background.drain(DRAIN_TIMEOUT)
    arrived = dm_arrival(fake, incident.reference, since)
    assert arrived is not None, "the DM never reached Slack"
    fake.latency = 0.0
    return arrived - sent + latency


async def minimum_once(fake: FakeSlack, client: AsyncWebClient, channel: str, *, private: bool, latency: float) -> float:
    fake.latency = latency
    started = time.monotonic()
    await client.users_info(user="U_BOB")
    if private:
        fake.channels[channel].members.discard("U_BOB")
        await client.conversations_invite(channel=channel, users="U_BOB")
    await client.chat_postMessage(channel="U_BOB", text="baseline")
    fake.latency = 0.0
    return time.monotonic() - started


async def run(args: argparse.Namespace) -> int:
    latency = args.latency_ms / 1000
    fake, announce = await start_fake_slack()
    client = AsyncWebClient(token=BOT_TOKEN, base_url=fake.base_url)
    baseline_room = fake.add_channel("baseline-room", members={"U_ALICE"})
    with tempfile.TemporaryDirectory() as directory:
        runtime, bot = await start_bot(fake, announce, Path(directory) / "incidents.db")
        try:
            number = 0
            for private in (False, True):
                bot_times, minimum = [], []
                for _ in range(args.handovers):
                    number += 1
                    bot_times.append(await handover_once(fake, runtime, bot, private=private, latency=latency, number=number))
                    minimum.append(await minimum_once(fake, client, baseline_room, private=private, latency=latency))
                kind = "private" if private else "public"
                bot_p50, base_p50 = statistics.median(bot_times), statistics.median(minimum)
                print(f"{kind}: handover to DM answered p50 {bot_p50 * 1000:.0f} ms (max {max(bot_times) * 1000:.0f} ms); ", end="")
                print(f"minimum chain p50 {base_p50 * 1000:.0f} ms; ratio {bot_p50 / base_p50:.2f}x; = {bot_p50 / latency:.1f} x latency")
        finally:
            await bot.runner.cleanup()
            await runtime.close()
            await fake.stop()
    return 0 if not fake.violations else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.handover", description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--handovers", type=int, default=10, help="handovers timed per kind of incident (default 10)")
    parser.add_argument("--latency-ms", type=float, default=100.0, help="latency the fake Slack adds to every Web API call (default 100)")
    return asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
