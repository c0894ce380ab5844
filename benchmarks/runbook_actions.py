"""Runbook action clicks against a bare ack and against a phase click, in the same run.

A runbook action's click is acknowledged once its run is claimed (one INSERT committed); the
request to the action's endpoint and the result message follow after the ack. This measures that
ack: the real bot and the bare Bolt app of ``benchmarks.clicks`` get the same signed action clicks,
alternately (ABBA), and the bot also gets phase clicks on the same incidents (the durable click
every responder makes) as a second baseline. The action's endpoint is the tests' local recorder
(tests/action_endpoint.py) answering at once; the fake Slack answers at once; after-ack work is
drained between batches, outside the timed section.

    .venv/bin/python -m benchmarks.runbook_actions                      # SQLite, -n 60
    .venv/bin/python -m benchmarks.runbook_actions --databases sqlite postgresql -n 120
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlencode

from sqlalchemy import select

from benchmarks.clicks import TARGET, Bench, Figure, Samples, database_url, measure, print_figures, requests_for, send_commands, start
from benchmarks.open_latency import Summary
from storage.models import Incident, RunbookPost
from tests.action_endpoint import TOKEN, TOKEN_VARIABLE, ActionEndpoint, runbooks_with_actions

# The phase clicks here are the action's second baseline: nobody reads the bare app plus one commit's
# samples of them, so it is not sent them (an action is no kind it is sent: clicks.WRITES).
BOT_AND_BARE = ("bot", "bare")


async def open_with_runbook(bench: Bench, count: int) -> list[tuple[int, str, str, int]]:
    """``count`` incidents on payments-api, each with its runbook (and its actions) posted:
    (number, channel, control message ts, runbook post)."""
    await send_commands(bench, [f"open Action bench {n} sev:P2 service:payments-api" for n in range(count)])
    async with bench.runtime.db.lookup() as session:
        rows = (
            await session.execute(
                select(Incident.id, Incident.channel_id, Incident.control_message_ts, RunbookPost.id.label("post"))
                .join(RunbookPost, RunbookPost.incident_id == Incident.id)
                .where(RunbookPost.message_ts.is_not(None))
                .order_by(Incident.id)
            )
        ).all()
    if len(rows) != count:
        raise RuntimeError(f"{count - len(rows)} of {count} runbook posts were not ready")
    return [(row.id, row.channel_id, row.control_message_ts, row.post) for row in rows]


def action_clicks(bench: Bench, incidents: list[tuple[int, str, str, int]]) -> list[str]:
    """One Roll back click per incident: each claims a run no click claimed before."""
    bodies = []
    for _, channel, ts, post in incidents:
        payload = bench.signed.block_action_payload("runbook_action_rollback", f"{post}:1", user="U_ALICE", channel=channel, message_ts=ts)
        payload["actions"][0]["block_id"] = f"runbook_actions:{post}"
        bodies.append(urlencode({"payload": json.dumps(payload)}))
    return bodies


async def run_database(label: str, url: str, count: int, folder: Path, endpoint: ActionEndpoint) -> list[Figure]:
    bench = await start(url, runbooks_dir=folder)
    try:
        incidents = await open_with_runbook(bench, 2 * count + 4)
        warm, incidents = incidents[:4], incidents[4:]
        await measure(bench, "action", action_clicks(bench, warm), 4, Samples())  # untimed: pools and caches
        figures: list[Figure] = []
        for concurrency, mine in ((1, incidents[:count]), (8, incidents[count:])):
            samples = Samples()
            triples = [(number, channel, ts) for number, channel, ts, _ in mine]
            await measure(bench, "action", action_clicks(bench, mine), concurrency, samples)
            # Phase clicks on the same incidents, after their actions: the durable click to compare with.
            await measure(bench, "click", requests_for(bench, "click", triples, count), concurrency, samples, contenders=BOT_AND_BARE)
            at = "one at a time" if concurrency == 1 else f"{concurrency} at a time"
            action, bare, click = (
                Summary.of(samples.by["bot"]["action"]),
                Summary.of(samples.by["bare"]["action"]),
                Summary.of(samples.by["bot"]["click"]),
            )
            figures += [
                Figure(f"action ack p99, {label}, {at}", action.p99, bare.p99, TARGET),
                Figure(f"action ack p50, {label}, {at}", action.p50, bare.p50, None),
                Figure(f"action/phase click p50, {label}, {at}", action.p50, click.p50, None),
            ]
        sent = len(endpoint.to("/rollback"))
        if sent != 2 * count + 4:
            raise RuntimeError(f"the endpoint received {sent} rollbacks for {2 * count + 4} clicks")
        return figures
    finally:
        await bench.close()


async def collect(args: argparse.Namespace) -> list[Figure]:
    os.environ[TOKEN_VARIABLE] = TOKEN
    figures = []
    for dialect in args.databases:
        workdir = Path(tempfile.mkdtemp(prefix="incident-bot-actions-"))
        endpoint = ActionEndpoint()
        await endpoint.start()
        url, server = await database_url(dialect, workdir)
        try:
            folder = runbooks_with_actions(workdir / "runbooks", endpoint)
            figures += await run_database(dialect, url, args.requests, folder, endpoint)
        finally:
            await endpoint.stop()
            if server is not None:
                server.stop()
    return figures


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.runbook_actions", description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--requests", type=int, default=60, choices=range(8, 1001), metavar="8-1000", help="clicks of each kind")
    parser.add_argument("--databases", nargs="+", choices=("sqlite", "postgresql"), default=["sqlite"])
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    print_figures(asyncio.run(collect(parse_args(argv))), baseline="baseline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
