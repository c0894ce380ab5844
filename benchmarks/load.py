"""Load: N concurrent responders clicking phase buttons, adding notes and opening incidents
against two ``incident-bot serve`` processes sharing one PostgreSQL, over loopback.

Requests go round-robin to the two processes, as a load balancer would send them. The same
requests, in the same order and concurrency, then go to a bare Bolt app (``benchmarks.bare_bolt``:
every listener only acks) in its own process: the ack-latency baseline of the same run. Printed:
throughput, p50/p99 ack latency of both and their ratio, errors, and the correctness checks
(no stamp lost, none duplicated, one channel line per stamp, every note and incident stored once).

Each responder sends its next request as soon as the last one is acknowledged, with no pause:
the run is as fast as the machine allows, far beyond a real incident (twenty people do not click
ten times a second), so the latencies are those of a saturated machine, and by Little's law the
p50 rises with -n. On one machine the bots also share the CPUs with PostgreSQL, the fake Slack
and the load client; the client's own event-loop lag is printed so that it can be ruled out,
beside the bots' own (from their /metrics) and the database connections they opened (from
PostgreSQL's count), which show a process short of CPU and a pool that keeps reconnecting.

    .venv/bin/python -m benchmarks.load [-n 20] [-k 10] [-m 10] [--latency-ms 20]

PostgreSQL: TEST_POSTGRES_URL, or a throwaway server started from the machine's binaries.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlencode

import aiohttp
from sqlalchemy import func, select, text

from benchmarks.open_latency import Summary, manifest_bot_scopes, ms
from storage.db import Database
from storage.models import Incident, TimelineEvent
from tests.conftest import _fresh_postgres_database
from tests.fake_slack import FakeSlack
from tests.ports import free_port
from tests.postgres_server import PostgresMissing, admin_postgres
from tests.scrape import scrape
from tests.serve_process import ROOT, ServeProcess, serve_env, wait_healthy
from tests.slack_requests import SignedSlack, sign

SIGNING_SECRET = "8f742231b10e8888abcd99aaabbb85a5"
BOT_TOKEN = "xoxb-1234-5678-loadbenchtoken"
ACK_TARGET = 0.100  # Slack's 3 s divided by 30
REFUSED_PREFIX = "Could not mark *"  # bot.slack.messages.stamp_refused
PHASES = ("diagnosed", "mitigated", "verified")
MIX = (("click", 0.5), ("note", 0.3), ("open", 0.2))


@dataclass(frozen=True)
class Op:
    kind: str
    body: str  # the signed form body, identical for the bot and the bare app
    incident: int = 0
    phase: str = ""


@dataclass
class Phase:
    label: str
    latencies: list[float] = field(default_factory=list)
    by_kind: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    acked: Counter = field(default_factory=Counter)
    wall: float = 0.0
    slowest: list[tuple[float, str, float]] = field(default_factory=list)  # (latency, kind, sent after the start)


def plan(responders: int, ops: int, incidents: list[tuple[int, str, str]], fake: FakeSlack, seed: int) -> list[list[Op]]:
    """Each responder's requests, decided up front (seeded) so both targets get the same ones."""
    rng = random.Random(seed)
    slack = SignedSlack("http://unused", SIGNING_SECRET, response_url_factory=fake.response_url)
    kinds, weights = zip(*MIX, strict=True)
    plans = []
    for r in range(responders):
        user = f"U_LOAD{r:03d}"
        mine = []
        for i in range(ops):
            kind = rng.choices(kinds, weights)[0]
            number, channel, control_ts = rng.choice(incidents)
            if kind == "click":
                phase = rng.choice(PHASES)
                # Verifying resolves the incident: the commander (U_ALICE opened them) does it, as the
                # default permissions say; the responders mark the other phases.
                clicker = "U_ALICE" if phase == "verified" else user
                payload = slack.block_action_payload(
                    f"stamp_phase_{phase}", str(number), user=clicker, channel=channel, message_ts=control_ts
                )
                mine.append(Op("click", urlencode({"payload": json.dumps(payload)}), number, phase))
            elif kind == "note":
                payload = slack.command_payload(f"note responder {r} step {i}: checked dashboards", user=user, channel=channel)
                mine.append(Op("note", urlencode(payload), number))
            else:
                payload = slack.command_payload(f"open Load incident r{r} i{i} sev:P3", user=user, channel="C_GENERAL")
                mine.append(Op("open", urlencode(payload)))
        plans.append(mine)
    return plans


async def post(session: aiohttp.ClientSession, url: str, body: str) -> int:
    ts = str(int(time.time()))
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": sign(SIGNING_SECRET, ts, body),
    }
    async with session.post(url, data=body.encode(), headers=headers) as response:
        await response.read()
        return response.status


async def run_phase(label: str, urls: list[str], plans: list[list[Op]], deadline: float) -> Phase:
    result = Phase(label)
    counter = 0
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as session:

        async def responder(ops: list[Op]) -> None:
            nonlocal counter
            for op in ops:
                if time.monotonic() > deadline:
                    result.errors.append("time limit reached")
                    return
                url = urls[counter % len(urls)]  # round-robin, as a load balancer
                counter += 1
                started = time.perf_counter()
                try:
                    status = await post(session, url, op.body)
                except (TimeoutError, aiohttp.ClientError) as error:
                    result.errors.append(f"{op.kind}: {type(error).__name__}")
                    continue
                result.latencies.append(time.perf_counter() - started)
                result.slowest.append((result.latencies[-1], op.kind, started - run_started))
                result.by_kind.setdefault(op.kind, []).append(result.latencies[-1])
                if status == 200:
                    result.acked[op.kind] += 1
                else:
                    result.errors.append(f"{op.kind}: HTTP {status}")

        run_started = time.perf_counter()
        await asyncio.gather(*(responder(ops) for ops in plans))
        result.wall = time.perf_counter() - run_started
        result.slowest = sorted(result.slowest, reverse=True)[:3]
    return result


async def loop_lag(every: float = 0.005) -> list[float]:
    """How late this process's own event loop wakes up while it measures. It sends the requests
    and also serves the fake Slack; a large lag would mean the client, not the bot, adds to the
    latencies it reports."""
    lags: list[float] = []
    try:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(every)
            lags.append(time.perf_counter() - started - every)
    except asyncio.CancelledError:
        return lags


async def bots_loop_lag(processes: list[ServeProcess]) -> dict[float, float]:
    """The bots' event-loop lag histogram, summed over the processes: upper bound -> samples at or below."""
    total: Counter[float] = Counter()
    for process in processes:
        for (name, labels), value in (await scrape(process.port)).items():
            if name == "incident_bot_event_loop_lag_seconds_bucket":
                total[float(dict(labels)["le"])] += value
    return dict(total)


def bucket_difference(after: dict[float, float], before: dict[float, float]) -> dict[float, float]:
    return {bound: count - before.get(bound, 0.0) for bound, count in after.items()}


def bucket_quantile(cumulative: dict[float, float], q: float) -> float:
    """The smallest bucket bound with at least ``q`` of the samples at or below it."""
    total = cumulative[float("inf")]
    return next(bound for bound in sorted(cumulative) if cumulative[bound] >= q * total)


async def database_sessions(db: Database) -> int:
    """Connections ever made to the benchmark's database (PostgreSQL counts them): each one costs
    the server a new backend process, so a pool that keeps reconnecting shows here."""
    async with db.lookup() as session:
        return int(await session.scalar(text("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")))


async def settle(fake: FakeSlack, db: Database, quiet: float = 1.5, limit: float = 120) -> float:
    """Wait until the bots' after-ack work has finished: no new Slack call for ``quiet`` seconds."""
    started = time.monotonic()
    last, since = len(fake.calls), time.monotonic()
    while time.monotonic() - started < limit:
        await asyncio.sleep(0.1)
        if len(fake.calls) != last:
            last, since = len(fake.calls), time.monotonic()
        elif time.monotonic() - since >= quiet:
            return since - started
    raise RuntimeError("the bots were still calling Slack after the time limit")


async def warm_up(urls: list[str], fake: FakeSlack, each: int = 20) -> None:
    """Untimed: every server's connections (HTTP, database pool) opened before the measurement."""
    slack = SignedSlack("x", SIGNING_SECRET, response_url_factory=fake.response_url)
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(post(session, url, urlencode(slack.command_payload("status INC-1"))) for url in urls for _ in range(each)))


async def open_incidents(bot: ServeProcess, fake: FakeSlack, db: Database, count: int) -> list[tuple[int, str, str]]:
    async with aiohttp.ClientSession() as session:
        for n in range(count):
            payload = SignedSlack("x", SIGNING_SECRET, response_url_factory=fake.response_url).command_payload(
                f"open Load base incident {n} sev:P2 started:-30m detected:-20m"
            )
            assert await post(session, f"{bot.url}/slack/events", urlencode(payload)) == 200
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        async with db.transaction() as session:
            ready = (
                await session.execute(
                    select(Incident.id, Incident.channel_id, Incident.control_message_ts).where(Incident.control_message_ts.is_not(None))
                )
            ).all()
        if len(ready) == count:
            return sorted((r.id, r.channel_id, r.control_message_ts) for r in ready)
        await asyncio.sleep(0.1)
    raise RuntimeError("the base incidents' war rooms were not ready in time")


async def check(fake: FakeSlack, db: Database, plans: list[list[Op]], bot: Phase, base: int) -> dict[str, object]:
    clicked = {(op.incident, op.phase) for ops in plans for op in ops if op.kind == "click"}
    async with db.transaction() as session:
        incidents = {i.id: i for i in (await session.scalars(select(Incident))).all()}
        stamp_events = Counter(
            (e.incident_id, (e.data or {}).get("stamp"))
            for e in (await session.scalars(select(TimelineEvent).where(TimelineEvent.kind == "phase_stamped"))).all()
        )
        notes = await session.scalar(select(func.count()).select_from(TimelineEvent).where(TimelineEvent.kind == "note"))
    # A click refused by the phase rules (verified before the mitigation it follows, when clicks
    # arrive out of order) is answered with the reason; only an unanswered missing stamp is lost.
    by_url = {json.loads(parse_qs(op.body)["payload"][0])["response_url"]: op for ops in plans for op in ops if op.kind == "click"}
    refused = {
        (by_url[r["_url"]].incident, by_url[r["_url"]].phase)
        for r in fake.responses
        if r.get("_url") in by_url and r.get("text", "").startswith(REFUSED_PREFIX)
    }
    missing = [(n, p) for n, p in clicked if getattr(incidents[n], f"{p}_at") is None]
    lost = sorted(f"INC-{n} {p}" for n, p in missing if (n, p) not in refused)
    duplicated = sorted(f"INC-{n} {p}" for (n, p), c in stamp_events.items() if c > 1)
    lines = Counter()
    for number, incident in incidents.items():
        if incident.channel_id and incident.channel_id in fake.channels:
            for message in fake.channels[incident.channel_id].messages:
                if match := re.search(r"marked \*(\w+)\*", message.get("text", "")):
                    lines[(number, match.group(1))] += 1
    double_lines = sorted(f"INC-{n} {p}" for (n, p), c in lines.items() if c > 1)
    missing_lines = sorted(f"INC-{n} {p}" for (n, p) in stamp_events if lines[(n, p)] == 0)
    told_wrong = [r["text"][:80] for r in fake.responses if "went wrong" in r.get("text", "") or "not answering" in r.get("text", "")]
    opened = len(incidents) - base
    unfinished = sorted(f"INC-{n}" for n, i in incidents.items() if i.control_message_ts is None)
    return {
        "phases clicked (incident, phase)": len(clicked),
        "clicks refused by the phase rules (told)": len(missing) - len(lost),
        "stamps lost": lost,
        "stamps duplicated": duplicated,
        "channel lines duplicated": double_lines,
        "stamps without a channel line": missing_lines,
        "notes stored / acked": f"{notes} / {bot.acked['note']}",
        "incidents opened / acked": f"{opened} / {bot.acked['open']}",
        "war rooms unfinished": unfinished,
        "people told of a failure": told_wrong,
        "Slack contract violations": fake.violations,
    }


async def main(args: argparse.Namespace) -> int:
    deadline = time.monotonic() + args.time_limit
    try:
        admin_url, server = admin_postgres()
    except PostgresMissing as missing:
        print(missing, file=sys.stderr)
        return 2
    fake = FakeSlack(bot_scopes=manifest_bot_scopes(), latency=args.latency_ms / 1000)
    await fake.start()
    processes: list[ServeProcess] = []
    bare = None
    workdir = Path(tempfile.mkdtemp(prefix="incident-bot-load-"))
    try:
        for user in ("U_ALICE", *(f"U_LOAD{r:03d}" for r in range(args.responders))):
            fake.add_user(user, user.lower())
        announce = fake.add_channel("incidents", members={"U_ALICE"})
        database_url = await _fresh_postgres_database(admin_url)
        db = Database(database_url)
        env = serve_env(fake.base_url, database_url, announce, secrets=(BOT_TOKEN, SIGNING_SECRET), LOG_LEVEL="WARNING")
        processes = [ServeProcess(env, workdir, name=f"serve{i}") for i in range(2)]
        await asyncio.gather(*(p.start() for p in processes))
        bare_port = free_port()
        bare = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.bare_bolt",
            str(bare_port),
            SIGNING_SECRET,
            fake.base_url,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        await wait_healthy("the bare Bolt app", f"http://127.0.0.1:{bare_port}", lambda: bare.returncode, timeout=60)

        incidents = await open_incidents(processes[0], fake, db, args.incidents)
        await settle(fake, db)
        for _, channel, _ in incidents:
            fake.channels[channel].members.update(f"U_LOAD{r:03d}" for r in range(args.responders))
        await warm_up([f"{p.url}/slack/events" for p in processes] + [f"http://127.0.0.1:{bare_port}/slack/events"], fake)
        await settle(fake, db)
        plans = plan(args.responders, args.ops, incidents, fake, args.seed)
        total = sum(len(p) for p in plans)
        print(
            f"load: {args.responders} responders x {args.ops} requests = {total} "
            f"({', '.join(f'{k} {int(w * 100)}%' for k, w in MIX)}) on {args.incidents} incidents; "
            f"fake Slack latency {args.latency_ms} ms; 2 serve processes, PostgreSQL on loopback"
        )

        sessions_before = await database_sessions(db)
        bot_lag_before = await bots_loop_lag(processes)
        lag = asyncio.ensure_future(loop_lag())
        bot = await run_phase("bot (2 processes)", [f"{p.url}/slack/events" for p in processes], plans, deadline)
        lag.cancel()
        client_lag = await lag
        bot_lag = bucket_difference(await bots_loop_lag(processes), bot_lag_before)
        drained = await settle(fake, db)
        connections_opened = await database_sessions(db) - sessions_before
        baseline = await run_phase("bare Bolt app", [f"http://127.0.0.1:{bare_port}/slack/events"], plans, deadline)
        results = await check(fake, db, plans, bot, base=args.incidents)
        await db.dispose()
    finally:
        await asyncio.gather(*(p.stop() for p in processes))
        if bare is not None and bare.returncode is None:
            bare.terminate()
            await bare.wait()
        await fake.stop()
        if server is not None:
            server.stop()

    print()
    print(f"{'':22}{'requests':>9}{'errors':>8}{'req/s':>9}{'p50':>10}{'p99':>10}{'max':>10}")
    summaries = {}
    for phase in (bot, baseline):
        s = Summary.of(phase.latencies) if phase.latencies else None
        summaries[phase.label] = s
        print(
            f"{phase.label:22}{len(phase.latencies):>9}{len(phase.errors):>8}{len(phase.latencies) / phase.wall:>9.0f}"
            + (f"{ms(s.p50):>10}{ms(s.p99):>10}{ms(s.max):>10}" if s else "")
        )
    for phase in (bot, baseline):
        print(
            f"  {phase.label}: "
            + ", ".join(f"{kind} p50 {ms(Summary.of(v).p50)} p99 {ms(Summary.of(v).p99)}" for kind, v in sorted(phase.by_kind.items()))
        )
    # Where the tail is: requests sent in the first milliseconds meet processes that have not
    # yet seen the burst coming.
    print("  slowest bot acks: " + ", ".join(f"{kind} {ms(latency)} sent at +{ms(at)}" for latency, kind, at in bot.slowest))
    b, a = summaries[bot.label], summaries[baseline.label]
    if b and a:
        print(f"\nratio bot/bare: p50 {b.p50 / a.p50:.2f}x, p99 {b.p99 / a.p99:.2f}x")
        print(
            f"target: p99 ack under {ms(ACK_TARGET)} (Slack's 3 s / 30): bot p99 {ms(b.p99)} -> "
            f"{'met' if b.p99 < ACK_TARGET else 'MISSED'}; 3 s / p99 = {3 / b.p99:.0f}x"
        )
    if client_lag:
        lag = Summary.of(client_lag)
        print(
            f"the load client's own event-loop lag during the bot run (it also serves the fake Slack): p50 {ms(lag.p50)}, p99 {ms(lag.p99)}"
        )
    print(f"after the last ack the bots finished their Slack work in {drained:.1f} s")
    if bot_lag:
        print(
            f"the bots' own event-loop lag during the run (from /metrics, bucket bounds): "
            f"p50 under {ms(bucket_quantile(bot_lag, 0.5))}, p99 under {ms(bucket_quantile(bot_lag, 0.99))}"
        )
    print(f"database connections the bots opened during the run and its after-ack work: {connections_opened}")
    if bot.errors:
        print("errors:", Counter(bot.errors).most_common(5))
    print()
    ok = not bot.errors
    for name, value in results.items():
        bad = isinstance(value, list) and bool(value)
        ok &= not bad
        shown = value if not isinstance(value, list) else (f"{len(value)}: {value[:5]}" if value else "none")
        print(f"  {name:36} {shown}")
    print("\ncorrectness:", "every check passed" if ok else "FAILED")
    return 0 if ok else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--responders", type=int, default=20, choices=range(1, 201), metavar="1-200")
    parser.add_argument("-k", "--ops", type=int, default=10, choices=range(1, 101), metavar="1-100", help="requests per responder")
    parser.add_argument(
        "-m", "--incidents", type=int, default=10, choices=range(1, 101), metavar="1-100", help="open incidents to click and note on"
    )
    parser.add_argument("--latency-ms", type=int, default=20, help="latency the fake Slack adds to each Web API call")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--time-limit", type=float, default=300)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
