"""Durable clicks against a bare ack: phase clicks, notes and acknowledgements (each acked only
once its write is committed), opens and status, on SQLite and on PostgreSQL, one at a time and
eight at a time.

The real bot (``Runtime`` + ``build_bolt_app`` + ``start_http``) and a bare slack_bolt ``AsyncApp``
that acks the same way (``process_before_response=True``, every listener only ``await ack()``),
served on the same aiohttp stack (``bare_bolt``, not behind the bot's web app, whose replay guard
would record each request in the bot's database), get the same signed requests in the same run,
taking turns at going first, over one keep-alive connection pool each. A third app, the bare one
that first commits one row (``OneCommit``: the same database, driver and way of committing as the
bot's acked writes, one INSERT and its COMMIT per request), shows how much of the bot's time is the durable write itself:
the issue's physical limit, "about 1x plus one commit". Its ratios are context, not targets. The bot's after-ack work (Slack updates) is
drained between rounds, outside the timed section: this measures the ack, not the backlog. The
fake Slack answers at once (latency 0); PostgreSQL is a throwaway server from the machine's
binaries (or TEST_POSTGRES_URL), on loopback.

    .venv/bin/python -m benchmarks.clicks                      # both databases, -n 120
    .venv/bin/python -m benchmarks.clicks --databases sqlite -n 40
    .venv/bin/python -m benchmarks.clicks --profile sqlite     # cProfile of phase clicks, top functions
    .venv/bin/python -m benchmarks.clicks --steps sqlite       # each step of a phase click, median µs

``figures(args)`` returns every ratio as ``Figure`` rows, for a command that prints all of the
issue's figures together.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import cProfile
import gc
import io
import json
import pstats
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock
from urllib.parse import urlencode

import aiohttp
import asyncpg
from aiohttp import web
from slack_bolt.async_app import AsyncAck, AsyncApp
from sqlalchemy import event, func, select

import handlers.after_ack
import handlers.web
from benchmarks import bare_bolt
from benchmarks.open_latency import SIGNING_SECRET, Summary, manifest_bot_scopes, ms
from bot.runtime import Runtime
from bot.slack.blocks import ACKNOWLEDGE_ACTION, STAMP_ACTION_PREFIX
from handlers.app import build_bolt_app
from handlers.payloads import BlockAction
from handlers.server import exempt_startup_objects_from_gc
from handlers.slack_door import SlackDoor
from handlers.web import start_http
from storage.db import POSTGRES_POOL_SIZE, Database
from storage.migrate import upgrade_to_head
from storage.models import Incident
from tests.conftest import _fresh_postgres_database, fake_slack_settings
from tests.fake_slack import FakeSlack
from tests.postgres_server import PostgresServer, admin_postgres
from tests.slack_requests import SignedSlack, sign

TARGET = 1.5  # p99 ack within 1.5x of the bare app's
KINDS = ("click", "note", "ack", "open", "status")
CONCURRENCIES = (1, 8)
PHASES = ("diagnosed", "mitigated", "verified")
DRAIN_TIMEOUT = 60.0


@dataclass(frozen=True)
class Figure:
    """One measured comparison: ``value`` against ``baseline``, both in seconds, same run."""

    name: str
    value: float
    baseline: float
    target: float | None  # a ratio to stay within; None: shown for context only

    @property
    def ratio(self) -> float:
        return self.value / self.baseline

    @property
    def met(self) -> bool:
        return self.target is None or self.ratio <= self.target

    def line(self) -> str:
        verdict = "" if self.target is None else f"<= {self.target:.1f}x  {'met' if self.met else 'MISSED'}"
        return f"{self.name:52} {ms(self.value):>10} {ms(self.baseline):>10} {self.ratio:>6.2f}x  {verdict}"


def print_figures(figures: Sequence[Figure], *, baseline: str) -> None:
    """The figures as a table, under a header naming what each was measured against."""
    print(f"\n{'figure':52} {'bot':>10} {baseline:>10} {'ratio':>7}  target")
    for figure in figures:
        print(figure.line())


CONTENDERS = ("bot", "bare", "committed")
# Kinds that write before their ack; a status only reads, so the bare app plus a commit says nothing of it.
WRITES = ("click", "note", "ack", "open")


@dataclass
class Samples:
    """Latencies by contender (``CONTENDERS``), then by kind."""

    by: dict[str, dict[str, list[float]]] = field(default_factory=lambda: {c: {} for c in CONTENDERS})


class OneCommit:
    """One row inserted and committed per call, done as the bot does the write an ack waits for, so
    that the only difference left is the bot's own work: on SQLite through the plain driver on the
    event loop's thread, BEGIN IMMEDIATE, WAL with SQLite's default ``synchronous`` (a file of its
    own beside the bot's), and the writes that arrive together (in one turn of the loop) sharing
    one COMMIT, as the bot's do (storage/db.py ``_CommitsTogether``); on PostgreSQL through asyncpg
    in the bot's database (a table of its own), a pool of the bot's size, each write committing
    at once on a connection of its own. The least an app that acks only what it has recorded must
    wait for."""

    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._sqlite: sqlite3.Connection | None = None
        self._postgres: asyncpg.Pool | None = None
        self._waiting: list[asyncio.Future[None]] = []

    async def open(self) -> None:
        if self._url.startswith("sqlite"):
            path = Path(self._url.split("///", 1)[1]).with_name("bare-commit.db")
            self._sqlite = sqlite3.connect(path, isolation_level=None)
            self._sqlite.execute("PRAGMA journal_mode=WAL")
            self._sqlite.execute("CREATE TABLE IF NOT EXISTS bare_acks (id INTEGER PRIMARY KEY, at REAL NOT NULL)")
        else:
            size = POSTGRES_POOL_SIZE
            self._postgres = await asyncpg.create_pool(self._url.replace("+asyncpg", ""), min_size=size, max_size=size)
            await self._postgres.execute("CREATE TABLE IF NOT EXISTS bare_acks (id bigserial PRIMARY KEY, at double precision NOT NULL)")

    async def write(self) -> None:
        if self._postgres is not None:
            await self._postgres.execute("INSERT INTO bare_acks (at) VALUES ($1)", time.time())
            return
        committed = asyncio.get_running_loop().create_future()
        self._waiting.append(committed)
        if len(self._waiting) == 1:  # the first of its turn: the commit of all of them is queued
            asyncio.get_running_loop().call_soon(self._commit_waiting)
        await committed

    def _commit_waiting(self) -> None:
        assert self._sqlite is not None
        together, self._waiting = self._waiting, []
        self._sqlite.execute("BEGIN IMMEDIATE")
        for _ in together:
            self._sqlite.execute("INSERT INTO bare_acks (at) VALUES (?)", (time.time(),))
        self._sqlite.execute("COMMIT")
        for committed in together:
            committed.set_result(None)

    async def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
        if self._postgres is not None:
            await self._postgres.close()


class Target:
    """One HTTP endpoint and a keep-alive client for it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=10))

    async def send(self, body: str) -> float:
        ts = str(int(time.time()))
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": sign(SIGNING_SECRET, ts, body),
        }
        started = time.perf_counter()
        async with self.session.post(self.url, data=body.encode(), headers=headers) as response:
            await response.read()
            elapsed = time.perf_counter() - started
            if response.status != 200:
                raise RuntimeError(f"{self.url} answered HTTP {response.status}")
        return elapsed

    async def close(self) -> None:
        await self.session.close()


@dataclass
class Bench:
    runtime: Runtime
    fake: FakeSlack
    bot: Target
    bare: Target
    committed: Target
    signed: SignedSlack
    close: Callable[[], object]

    async def drain(self) -> None:
        await self.runtime.background.drain(timeout=DRAIN_TIMEOUT)
        if self.runtime.background.pending:
            raise RuntimeError(f"{self.runtime.background.pending} background tasks still running after {DRAIN_TIMEOUT}s")


async def start(database_url: str, *, runbooks_dir: Path | None = None) -> Bench:
    """``runbooks_dir``: another runbooks folder than the shipped one (benchmarks/runbook_actions.py)."""
    fake = FakeSlack(bot_scopes=manifest_bot_scopes(), latency=0.0)
    await fake.start()
    fake.add_user("U_ALICE", "alice")
    announce = fake.add_channel("incidents", members={"U_ALICE"})
    settings = fake_slack_settings(fake, database_url, announce)
    if runbooks_dir is not None:
        settings = settings.model_copy(update={"runbooks_dir": runbooks_dir})
    runtime = Runtime.from_settings(settings)
    await upgrade_to_head(runtime.db)
    await runtime.db.warm_up()  # as serve does: eight clicks at once do not open connections on PostgreSQL
    bot_runner, bot_port = await start_http(runtime, build_bolt_app(runtime), host="127.0.0.1", port=0)
    one_commit = OneCommit(database_url)
    await one_commit.open()
    # The bare apps on the same aiohttp stack, but not behind the bot's web app: that one would also
    # record each request in the bot's database (the replay guard).
    bare_runner, bare = await serve_bare(fake)
    committed_runner, committed = await serve_bare(fake, before_ack=one_commit.write)
    bot = Target(f"http://127.0.0.1:{bot_port}/slack/events")

    async def close() -> None:
        for target in (bot, bare, committed):
            await target.close()
        for runner in (bot_runner, bare_runner, committed_runner):
            await runner.cleanup()
        await one_commit.close()
        await runtime.close()
        await fake.stop()

    return Bench(runtime, fake, bot, bare, committed, SignedSlack("x", SIGNING_SECRET, response_url_factory=fake.response_url), close)


async def serve_bare(fake: FakeSlack, *, before_ack: Callable[[], Awaitable[None]] | None = None) -> tuple[web.AppRunner, Target]:
    runner, port = await bare_bolt.serve(bare_bolt.build(SIGNING_SECRET, fake.base_url, before_ack=before_ack))
    return runner, Target(f"http://127.0.0.1:{port}/slack/events")


async def send_commands(bench: Bench, commands: Sequence[str]) -> None:
    """``/incident <command>`` for each, eight at a time with the bot's work drained in between, so
    that opening many incidents does not become a storm; drained again at the end."""
    for n, command in enumerate(commands):
        await bench.bot.send(urlencode(bench.signed.command_payload(command)))
        if n % 8 == 7:
            await bench.drain()
    await bench.drain()


async def open_incidents(bench: Bench, count: int) -> list[tuple[int, str, str]]:
    """``count`` more incidents with their war rooms ready: (number, channel, control message ts)."""
    async with bench.runtime.db.lookup() as session:
        before = int(await session.scalar(select(func.max(Incident.id))) or 0)
    await send_commands(bench, [f"open Click bench {n} sev:P2 started:-30m detected:-20m" for n in range(count)])
    async with bench.runtime.db.lookup() as session:
        query = select(Incident.id, Incident.channel_id, Incident.control_message_ts).where(Incident.id > before)
        rows = (await session.execute(query.order_by(Incident.id))).all()
    ready = [(row.id, row.channel_id, row.control_message_ts) for row in rows if row.control_message_ts]
    if len(ready) != count:
        raise RuntimeError(f"{count - len(ready)} of {count} war rooms were not ready")
    return ready


def requests_for(bench: Bench, kind: str, incidents: list[tuple[int, str, str]], count: int) -> list[str]:
    """``count`` signed bodies of one kind, each of which writes (or reads) what a real one would:
    every click stamps a phase not yet stamped, every acknowledgement a fresh incident."""
    bodies = []
    slack = bench.signed
    for i in range(count):
        if kind == "click":
            number, channel, ts = incidents[i // len(PHASES)]
            action = f"{STAMP_ACTION_PREFIX}{PHASES[i % len(PHASES)]}"
            payload = slack.block_action_payload(action, str(number), user="U_ALICE", channel=channel, message_ts=ts)
            bodies.append(urlencode({"payload": json.dumps(payload)}))
        elif kind == "ack":
            number, channel, ts = incidents[i]
            payload = slack.block_action_payload(ACKNOWLEDGE_ACTION, str(number), user="U_ALICE", channel=channel, message_ts=ts)
            bodies.append(urlencode({"payload": json.dumps(payload)}))
        elif kind == "note":
            number, channel, _ = incidents[i % len(incidents)]
            bodies.append(urlencode(slack.command_payload(f"note step {i}: checked the dashboards", channel=channel)))
        elif kind == "status":
            number, channel, _ = incidents[i % len(incidents)]
            bodies.append(urlencode(slack.command_payload("status", channel=channel)))
        else:
            bodies.append(urlencode(slack.command_payload(f"open Bench open {i} sev:P3")))
    return bodies


async def measure(
    bench: Bench, kind: str, bodies: list[str], concurrency: int, samples: Samples, *, contenders: Sequence[str] = CONTENDERS
) -> None:
    """The bodies in batches of ``concurrency``, sent at once to each contender in turn, who goes
    first rotating from batch to batch. The bare apps get the very same bodies; the one that commits
    first only those of kinds that write."""
    targets = {"bot": bench.bot, "bare": bench.bare, "committed": bench.committed}
    chosen = tuple(c for c in contenders if c != "committed" or kind in WRITES)
    for index, start_at in enumerate(range(0, len(bodies), concurrency)):
        batch = bodies[start_at : start_at + concurrency]
        turn = index % len(chosen)
        for which in chosen[turn:] + chosen[:turn]:
            latencies = await asyncio.gather(*(targets[which].send(body) for body in batch))
            samples.by[which].setdefault(kind, []).extend(latencies)
            if which == "bot":
                await bench.drain()


async def run_database(label: str, database_url: str, count: int) -> list[Figure]:
    bench = await start(database_url)
    try:
        need = count // len(PHASES) + 1 + count  # clicks take a third of an incident each; acks one
        incidents = await open_incidents(bench, need * len(CONCURRENCIES) + 8)
        # Untimed warm-up: connections, pools and caches as a running bot has them.
        warm = incidents[:4]
        for kind in ("status", "note"):
            await measure(bench, kind, requests_for(bench, kind, warm, 8), 4, Samples())
        incidents = incidents[4:]
        # What serve does once it is up: the objects start-up made are kept out of every later
        # collection, so that a full one does not walk them all while a request waits.
        exempt_startup_objects_from_gc()
        figures: list[Figure] = []
        pauses: list[float] = []
        for concurrency in CONCURRENCIES:
            mine, incidents = incidents[:need], incidents[need:]
            samples = Samples()
            for kind in KINDS:
                pool = mine if kind != "ack" else mine[count // len(PHASES) + 1 :]
                # What the benchmark itself keeps (the fake Slack's record of every call, the war
                # rooms' messages, the samples) grows with each section, which a serve process has
                # no counterpart for: frozen too, so that a full collection inside the timed section
                # walks only what was made since, not the benchmark's history (33-68 ms otherwise).
                gc.freeze()
                with full_collections_counted(pauses):
                    await measure(bench, kind, requests_for(bench, kind, pool, count), concurrency, samples)
            at = "one at a time" if concurrency == 1 else f"{concurrency} at a time"
            for kind in KINDS:
                bot, bare = Summary.of(samples.by["bot"][kind]), Summary.of(samples.by["bare"][kind])
                figures.append(Figure(f"{kind} ack p99, {label}, {at}", bot.p99, bare.p99, TARGET))
                figures.append(Figure(f"{kind} ack p50, {label}, {at}", bot.p50, bare.p50, None))
            for kind in WRITES:
                bot, committed = Summary.of(samples.by["bot"][kind]), Summary.of(samples.by["committed"][kind])
                figures.append(Figure(f"{kind} p99 vs bare + 1 commit, {label}, {at}", bot.p99, committed.p99, None))
                figures.append(Figure(f"{kind} p50 vs bare + 1 commit, {label}, {at}", bot.p50, committed.p50, None))
        longest = f", longest {ms(max(pauses))}" if pauses else ""
        print(f"{label}: {len(pauses)} full garbage collections while measuring{longest}")
        return figures
    finally:
        await bench.close()


async def postgres_url() -> tuple[str, PostgresServer | None]:
    admin, server = admin_postgres()
    return await _fresh_postgres_database(admin), server


async def database_url(dialect: str, workdir: Path) -> tuple[str, PostgresServer | None]:
    if dialect == "sqlite":
        return f"sqlite:///{workdir / 'incidents.db'}", None
    return await postgres_url()


async def collect(args: argparse.Namespace) -> list[Figure]:
    figures = []
    for dialect in args.databases:
        url, server = await database_url(dialect, Path(tempfile.mkdtemp(prefix="incident-bot-clicks-")))
        try:
            figures += await run_database(dialect, url, args.requests)
        finally:
            if server is not None:
                server.stop()
    return figures


def figures(args: argparse.Namespace | None = None) -> list[Figure]:
    """Every figure of this benchmark (defaults unless ``args`` says otherwise), each a ratio
    against the bare app measured in the same run."""
    return asyncio.run(collect(args or parse_args([])))


@contextlib.contextmanager
def full_collections_counted(into: list[float]) -> Iterator[None]:
    """The length of each full (generation 2) garbage collection meanwhile, into ``into``: with the
    start-up objects frozen, as ``serve`` has them, these should be few and short."""
    started: list[float] = []

    def watch(phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            started.append(time.perf_counter())
        elif started:
            into.append(time.perf_counter() - started.pop())

    gc.callbacks.append(watch)
    try:
        yield
    finally:
        gc.callbacks.remove(watch)


@contextlib.contextmanager
def statements_watched(runtime: Runtime, into: list[str]) -> Iterator[None]:
    """Every statement sent to the database meanwhile, on every engine, its first words into
    ``into``, and each COMMIT (on PostgreSQL a round trip of its own; a lone statement on the
    autocommit engine has none)."""

    def sent(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        into.append(" ".join(statement.split()[:4])[:60])

    def committed(_conn: object) -> None:
        into.append("COMMIT")

    engines = runtime.db.sync_engines
    for engine in engines:
        event.listen(engine, "before_cursor_execute", sent)
        event.listen(engine, "commit", committed)
    try:
        yield
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", sent)
            event.remove(engine, "commit", committed)


@contextlib.asynccontextmanager
async def phase_clicks(dialect: str, count: int) -> AsyncIterator[tuple[Bench, list[str]]]:
    """The bot on a fresh database, warmed up, with ``count`` signed phase clicks to send one at a
    time (``--profile``, ``--steps``); stopped at the end."""
    url, server = await database_url(dialect, Path(tempfile.mkdtemp(prefix="incident-bot-clicks-")))
    try:
        bench = await start(url)
        try:
            incidents = await open_incidents(bench, count // len(PHASES) + 2)
            await measure(bench, "status", requests_for(bench, "status", incidents, 8), 1, Samples())
            yield bench, requests_for(bench, "click", incidents, count)
        finally:
            await bench.close()
    finally:
        if server is not None:
            server.stop()


async def profile(dialect: str, count: int) -> None:
    """cProfile over ``count`` phase clicks sent one at a time (the bot's side only, after-ack work
    drained outside the profile), then the functions with the most cumulative time."""
    async with phase_clicks(dialect, count) as (bench, bodies):
        profiler = cProfile.Profile()
        spent = 0.0
        statements: list[str] = []
        for body in bodies:
            with statements_watched(bench.runtime, statements):
                profiler.enable()
                spent += await bench.bot.send(body)
                profiler.disable()
            await bench.drain()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(45)
        print(out.getvalue())
        print(f"{count} clicks, mean ack {ms(spent / count)} (profiled: cProfile slows every call alike)")
        # Until the ack is back: the after-ack work starts a moment after the ack leaves, so a
        # statement of it now and then slips in.
        print(f"{len(statements) / count:.1f} statements per click before its ack (each a round trip on PostgreSQL):")
        for statement, times in collections.Counter(statements).most_common():
            print(f"  {times / count:5.2f}  {statement}")


class StepMarks:
    """Moments in the handling of one request, each named for what starts or ends there: the
    request's arrival, the door, Bolt's dispatch, the listener, the work's transaction and each
    statement, the commit, the ack and the response. Wrapped around the bot's own functions
    (``mock.patch.object``) and the engines' statement events, for ``--steps`` only."""

    def __init__(self) -> None:
        self.marks: list[tuple[str, int]] | None = None

    def mark(self, label: str) -> None:
        if self.marks is not None:
            self.marks.append((label, time.perf_counter_ns()))

    def around(self, owner: object, name: str, label: str) -> contextlib.AbstractContextManager[object]:
        original = getattr(owner, name)
        marks = self

        if asyncio.iscoroutinefunction(original):

            async def timed(*args: object, **kwargs: object) -> object:
                marks.mark(f"{label} >")
                try:
                    return await original(*args, **kwargs)
                finally:
                    marks.mark(f"{label} <")
        else:

            def timed(*args: object, **kwargs: object) -> object:
                marks.mark(f"{label} >")
                try:
                    return original(*args, **kwargs)
                finally:
                    marks.mark(f"{label} <")

        return mock.patch.object(owner, name, timed)

    @contextlib.contextmanager
    def watching(self, runtime: Runtime) -> Iterator[None]:
        def sent(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
            self.mark("SQL " + " ".join(statement.split()[:3])[:40] + " >")

        def done(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
            self.mark("SQL " + " ".join(statement.split()[:3])[:40] + " <")

        def committed(_conn: object) -> None:
            self.mark("COMMIT >")

        validate = BlockAction.model_validate.__func__  # the classmethod's function, called with the class

        def validated(cls: type[BlockAction], *args: object, **kwargs: object) -> BlockAction:
            self.mark("listener: payload validated >")
            try:
                return validate(cls, *args, **kwargs)
            finally:
                self.mark("listener: payload validated <")

        with contextlib.ExitStack() as stack:
            original_arrival = handlers.web.mark_arrival

            def arrived() -> None:
                self.mark("arrived (aiohttp parsed the request)")
                original_arrival()

            stack.enter_context(mock.patch.object(handlers.web, "mark_arrival", arrived))
            stack.enter_context(mock.patch.object(BlockAction, "model_validate", classmethod(validated)))
            for owner, name, label in (
                (SlackDoor, "admit", "door"),
                (AsyncApp, "async_dispatch", "Bolt dispatch"),
                (handlers.after_ack, "start_recording", "work started"),
                (handlers.after_ack, "recorded_in_time", "listener waits for the commit"),
                (Database, "run_transaction", "run_transaction"),
                (AsyncAck, "__call__", "ack()"),
                (handlers.web, "to_aiohttp_response", "aiohttp response"),
            ):
                stack.enter_context(self.around(owner, name, label))
            for engine in runtime.db.sync_engines:
                for name, listener in (("before_cursor_execute", sent), ("after_cursor_execute", done), ("commit", committed)):
                    event.listen(engine, name, listener)
                    stack.callback(event.remove, engine, name, listener)
            yield


async def steps(dialect: str, count: int) -> None:
    """``count`` phase clicks sent one at a time (after-ack work drained between them), each step's
    median in µs: the time from one mark to the next, in the order they first came."""
    async with phase_clicks(dialect, count) as (bench, bodies):
        exempt_startup_objects_from_gc()
        marks = StepMarks()
        segments: dict[str, list[float]] = {}
        totals = []
        with marks.watching(bench.runtime):
            for body in bodies:
                marks.marks = [("client sends", time.perf_counter_ns())]
                totals.append(await bench.bot.send(body))
                marks.mark("client has the ack")
                taken, marks.marks = marks.marks, None
                for (before, started), (after, ended) in zip(taken, taken[1:], strict=False):
                    segments.setdefault(f"{before}  ->  {after}", []).append((ended - started) / 1000)
                await bench.drain()
        print(f"{count} phase clicks on {dialect}, one at a time: ack p50 {ms(statistics.median(totals))}")
        print("median µs  per click  from -> to")
        for segment, spans in segments.items():
            print(f"{statistics.median(spans):9.1f}  {len(spans) / count:9.2f}  {segment}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.clicks", description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--requests", type=int, default=120, choices=range(8, 1001), metavar="8-1000", help="requests of each kind")
    parser.add_argument("--databases", nargs="+", choices=("sqlite", "postgresql"), default=["sqlite", "postgresql"])
    parser.add_argument("--profile", choices=("sqlite", "postgresql"), help="profile phase clicks instead of comparing")
    parser.add_argument("--steps", choices=("sqlite", "postgresql"), help="time each step of phase clicks instead of comparing")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.profile:
        asyncio.run(profile(args.profile, args.requests))
        return 0
    if args.steps:
        asyncio.run(steps(args.steps, args.requests))
        return 0
    print_figures(figures(args), baseline="bare")
    return 0


if __name__ == "__main__":
    sys.exit(main())
