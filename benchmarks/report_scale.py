"""How the MTTR report and the weekly digest scale with history, against a naive baseline measured
in the same run.

For each size N (default 1,000, 10,000 and 100,000 incidents) a seeded history from
``benchmarks.history`` goes into a SQLite file in a temporary directory, once. Then, each in a
fresh Python process of its own (so its peak RSS is its own, and no cache survives from another
contender):

- report: ``Reports.window_and_trend(now - 365 d, now)``: the window report and the 12-week trend
  from one read, what ``incident-bot report`` does (its table and JSON formats)
- digest: ``DigestPublisher(...).compose(DigestChannel(channel="C0BENCH01"))`` with slack=None:
  the last complete week's digest, its 12-week trend, the detectable change and the PNG chart
  (drawn by a drawing process, bot/analytics/drawing.py, as ``serve`` draws it, remembering no
  chart; the process is started by the untimed first call)
- naive: ``select(Incident)`` + ``.scalars().all()`` (every incident as an ORM object), then mean
  and median time to restore and each phase's median with ``statistics``: "load everything into
  Python". It computes far fewer figures than the report, so report/naive above 1 means the report
  costs more than merely loading the table.

Each contender is timed best of ``--repeats`` (default 3; fewer runs when one run is slow, said in
the table), with ``bot.analytics.stats.median_ranks``' cache cleared before every run: ``incident-bot
report`` is a fresh process each time, and in the long-running bot the counts change as incidents
arrive. Memory is measured separately, after the timed runs: the RSS delta (``ru_maxrss`` after
the timed runs minus before the first, which is meaningful because the process is fresh) and the
``tracemalloc`` peak of one more run (Python allocations only, not SQLite's or Agg's C buffers;
tracemalloc slows that run down, so it is never timed).

The whole run is bounded by ``--budget`` seconds (default 180): a size whose predicted cost
(extrapolated from the smaller sizes measured in this run) would overrun the budget is skipped,
and the run says so.

    .venv/bin/python -m benchmarks.report_scale                 # 1,000 / 10,000 / 100,000
    .venv/bin/python -m benchmarks.report_scale --sizes 1000,10000 --repeats 5
    .venv/bin/python -m benchmarks.report_scale --sizes 100000 --profile report
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import math
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.analytics.drawing import ChartDrawing

UTC = UTC
ROOT = Path(__file__).resolve().parent.parent
TEAM_CONFIG = ROOT / "runbooks" / "config.yml"
CATALOG = ROOT / "runbooks" / "catalog.yml"
# Fixed, so a seed gives the same history and the same digest week on every day it is run.
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday: the digest covers 2026-W47
WINDOW = timedelta(days=365)
SIZES = (1_000, 10_000, 100_000)
# report, digest: as above; report-keys: the report with DORA's four keys, detection coverage, restore
# time by hour and weekday and the monthly trend beside it (incident-bot report now); digest-text: the digest without its chart (matplotlib's fixed cost, the
# same at every size, is timed apart); stats, home: `/incident stats 365d` and App Home as Slack
# asks for them, a signed request to the bot's endpoint until its answer reaches the fake Slack.
CONTENDERS = ("report", "report-keys", "digest", "digest-text", "stats", "home", "naive")
DIGEST_CHANNEL = "C0BENCH01"
REPORT_TARGET_SECONDS = 0.3  # issue 17: the report and the digest each under 0.3 s at 100,000 incidents
SPEEDUP_TARGET = 15.0  # ... and at least 15x faster than loading every incident
SLACK_ANSWER_SECONDS = 3.0  # /incident stats and App Home answer within Slack's 3 s
# The bot's clock moves this much before each stats and home call: past FRESH_FOR, so none reuses
# the figures of the call before.
READOUT_STEP = timedelta(minutes=2)
FLAT_MEMORY_LIMIT = 2.0  # peak at 100k / peak at 10k: 10x the incidents; "flat" allows 2x at most
TARGET_SIZE, FLAT_BASE = 100_000, 10_000
# A tracemalloc run takes about this many times an untraced one, until this run measured it.
TRACED_FACTOR = 5.0


# --------------------------------------------------------------------------------------------
# Worker: one contender, one database, a fresh process
# --------------------------------------------------------------------------------------------


def maxrss_bytes() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024  # macOS: bytes; Linux: KiB


@dataclass
class Contender:
    call: Callable[[], Awaitable[Any]]  # what is timed
    close: Callable[[], Awaitable[None]]
    prepare: Callable[[], Awaitable[str]] | None = None  # untimed, after the RSS baseline; returns a note


async def contender(kind: str, database_url: str) -> Contender:
    from slack_sdk.errors import SlackObjectFormationError

    from bot.analytics.digest import digest_week, iso_week_label
    from bot.analytics.digest_publisher import DigestPublisher
    from bot.analytics.digest_schedule import DigestChannel
    from bot.analytics.reports import Reports
    from bot.catalog.services import load_catalog
    from bot.team_config import load_team_config
    from storage.db import Database

    db = Database(database_url)
    await db.ping()  # open the connection outside the timings
    team = load_team_config(TEAM_CONFIG, required=True)
    catalog = load_catalog(CATALOG, required=True)
    teams = {name: service.team for name, service in catalog.services.items()}
    reports = Reports(db, lambda: NOW, tiers=team.tiers, settings=team.reports, teams=teams)

    if kind == "report":

        async def report() -> Any:
            window, _, trend = await reports.window_and_trend(NOW - WINDOW, NOW)
            return window.count, len(trend.weeks)

        return Contender(report, db.dispose)

    if kind == "report-keys":

        async def report_with_keys() -> Any:
            window, _, trend, delivery = await reports.window_trend_and_delivery(NOW - WINDOW, NOW)
            return window.count, len(trend.weeks), delivery.dora.overall.change_failure_rate.deploys

        return Contender(report_with_keys, db.dispose)

    if kind == "naive":
        return Contender(lambda: naive_figures(db), db.dispose)

    if kind in ("stats", "home"):
        await db.dispose()
        return await slack_readout(kind, database_url)

    # The digest's picture is drawn by a drawing process, as `serve` draws it, but one that
    # remembers no chart: every timed run has the same figures, and a weekly digest's are new.
    # digest-text draws none (matplotlib takes the same time at every size).
    drawing = NoPicture() if kind == "digest-text" else ChartDrawing()
    publisher = DigestPublisher(db, lambda: NOW, reports, slack=None, drawing=drawing)  # type: ignore[arg-type]
    channel = DigestChannel(channel=DIGEST_CHANNEL)
    week: str | None = None  # the last complete week, as the scheduler asks

    async def digest() -> Any:
        composed = await publisher.compose(channel, week)
        return composed.digest.week, len(composed.chart_png)

    async def choose_week() -> str:
        """bot/analytics/digest.py _incident_sections can build a section over Slack's 3,000 characters
        (its "…and N more" line is added with no room kept for it) and compose then raises.
        Say so, and time the closest earlier week that composes instead."""
        nonlocal week
        start, _ = digest_week(None, NOW)
        failed: list[str] = []
        for back in range(9):
            week = iso_week_label(start - timedelta(weeks=back))
            try:
                await digest()
            except SlackObjectFormationError:
                failed.append(week)
                continue
            if not failed:
                week = None
                return ""
            return (
                f"compose FAILED for {', '.join(failed)} (SlackObjectFormationError: a section over 3000 characters); timed {week} instead"
            )
        raise RuntimeError(f"no week from {failed[0]} back to {failed[-1]} composes")

    async def close() -> None:
        await db.dispose()
        await asyncio.to_thread(drawing.close)

    return Contender(digest, close, choose_week)


class NoPicture(ChartDrawing):
    """A drawing process that draws nothing: the digest without its chart."""

    def submit(self, draw: Callable[..., bytes], /, *args: Any) -> asyncio.Future[bytes]:
        nothing = asyncio.get_running_loop().create_future()
        nothing.set_result(b"")
        return nothing


async def slack_readout(kind: str, database_url: str) -> Contender:
    """The bot wired as ``serve`` wires it (clock at NOW) against the fake Slack, on this history:
    a call sends one signed request (``/incident stats 365d``, or an ``app_home_opened`` event) to
    its HTTP endpoint and returns when the answer (the ephemeral reply to the response_url, or
    ``views.publish``) reaches the fake Slack."""
    from benchmarks.open_latency import manifest_bot_scopes
    from bot.runtime import Runtime
    from handlers.app import build_bolt_app
    from handlers.web import start_http
    from tests.conftest import SIGNING_SECRET, fake_slack_settings
    from tests.fake_slack import FakeSlack
    from tests.slack_requests import SignedSlack

    fake = FakeSlack(bot_scopes=manifest_bot_scopes(), latency=0.0)
    await fake.start()
    fake.add_user("U_ALICE", "alice")
    announce = fake.add_channel("incidents", members={"U_ALICE"})
    settings = fake_slack_settings(fake, database_url, announce, INCIDENT_CONFIG=str(TEAM_CONFIG))
    # Each call two minutes after the one before: the figures of the last minute are reused while
    # the data is unchanged (bot/analytics/fresh_reads.py), so at a fixed clock every call after
    # the first timed that reuse instead of the read and the figures Slack's 3 s must hold.
    moments = [NOW - READOUT_STEP]
    runtime = Runtime.from_settings(settings, clock=lambda: moments[-1])
    runner, port = await start_http(runtime, build_bolt_app(runtime), host="127.0.0.1", port=0)
    slack = SignedSlack(f"http://127.0.0.1:{port}/slack/events", SIGNING_SECRET, response_url_factory=fake.response_url)
    answered: asyncio.Queue[str] = asyncio.Queue()
    answer = "response_url" if kind == "stats" else "views.publish"
    fake.listeners.append(lambda method, _: answered.put_nowait(method) if method == answer else None)

    async def ask() -> Any:
        moments.append(moments[-1] + READOUT_STEP)
        response = await (slack.command("stats 365d") if kind == "stats" else slack.app_home_opened("U_ALICE"))
        if response.status != 200:
            raise RuntimeError(f"{kind}: the bot answered HTTP {response.status}")
        return await asyncio.wait_for(answered.get(), 60)

    async def close() -> None:
        await runner.cleanup()
        await runtime.close()
        await fake.stop()
        if fake.violations:
            raise RuntimeError(f"{kind}: {len(fake.violations)} Slack API contract violations, e.g. {fake.violations[:2]}")

    return Contender(ask, close)


async def naive_figures(db: Any) -> dict[str, float]:
    """Every incident as an ORM object, then the headline figures with ``statistics``."""
    from sqlalchemy import select

    from storage.models import Incident

    if db.dialect == "postgresql":
        from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

        # One statement that loads everything outlasts the bot's 10 s command timeout on a busy host.
        engine = create_async_engine(db.url, connect_args={"command_timeout": 600})
        try:
            async with AsyncSession(engine) as session:
                incidents = (await session.execute(select(Incident))).scalars().all()
        finally:
            await engine.dispose()
    else:
        async with db.sessions() as session:
            incidents = (await session.execute(select(Incident))).scalars().all()
    restores: list[float] = []
    phases: list[list[float]] = [[], [], [], []]
    for incident in incidents:
        if incident.verified_at is None:
            continue
        restores.append((incident.verified_at - incident.started_at).total_seconds())
        # A missing stamp takes the next present one's time (implied), as the buttons do.
        mitigated = incident.mitigated_at or incident.verified_at
        diagnosed = incident.diagnosed_at or mitigated
        stamps = (incident.started_at, incident.detected_at, diagnosed, mitigated, incident.verified_at)
        for k in range(4):
            phases[k].append((stamps[k + 1] - stamps[k]).total_seconds())
    figures = {"n": len(incidents), "mean": statistics.mean(restores), "median": statistics.median(restores)}
    for name, values in zip(("detect", "diagnose", "mitigate", "verify"), phases, strict=True):
        figures[f"median_{name}"] = statistics.median(values)
    return figures


async def measure(kind: str, database_url: str, repeats: int, allowance: float, traced_factor: float) -> dict[str, Any]:
    """Timed runs (at least one, at most ``repeats``), then one tracemalloc run, all within
    ``allowance`` seconds: a further timed run when the last one would fit again, the traced run
    when ``traced_factor`` times the best run fits in what is left (tracemalloc slows every
    allocation down: 4-5x here). The traced run is skipped rather than overrun."""
    import bot.analytics.stats

    subject = await contender(kind, database_url)
    call, note = subject.call, ""
    times: list[float] = []
    traced_peak: int | None = None
    traced_seconds = 0.0
    try:
        gc.collect()
        rss_before = maxrss_bytes()
        t0 = time.perf_counter()
        if subject.prepare:  # an untimed first run: its RSS counts, as any run's would
            note = await subject.prepare()
        prepare_seconds = time.perf_counter() - t0
        spent = prepare_seconds
        while len(times) < repeats:
            bot.analytics.stats.median_ranks.cache_clear()  # a cold cache, as a fresh `incident-bot report` has
            t0 = time.perf_counter()
            await call()
            times.append(time.perf_counter() - t0)
            spent += times[-1]
            if spent + times[-1] > allowance:
                break
        rss_delta = maxrss_bytes() - rss_before
        if spent + traced_factor * min(times) <= allowance:
            gc.collect()
            bot.analytics.stats.median_ranks.cache_clear()
            t0 = time.perf_counter()
            tracemalloc.start()
            await call()
            _, traced_peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            traced_seconds = time.perf_counter() - t0
    finally:
        await subject.close()
    return {
        "kind": kind,
        "best": min(times),
        "runs": len(times),
        "times": times,
        "traced_peak": traced_peak,
        "rss_delta": rss_delta,
        "note": note,
        "prepare_seconds": prepare_seconds,
        "traced_seconds": traced_seconds,
    }


async def profile(kind: str, database_url: str, top: int) -> str:
    import bot.analytics.stats

    subject = await contender(kind, database_url)
    try:
        if subject.prepare:
            await subject.prepare()
        bot.analytics.stats.median_ranks.cache_clear()
        profiler = cProfile.Profile()
        profiler.enable()
        await subject.call()
        profiler.disable()
    finally:
        await subject.close()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def worker_main(args: argparse.Namespace) -> int:
    if args.profile:
        print(asyncio.run(profile(args.worker, args.database, args.top)))
        return 0
    result = asyncio.run(measure(args.worker, args.database, args.repeats, args.max_seconds, args.traced_factor))
    print(json.dumps(result))
    return 0


# --------------------------------------------------------------------------------------------
# Driver: generate each size once, run every contender in its own process, print the table
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    best: float
    runs: int
    traced_peak: int | None  # None: the tracemalloc run did not fit in the budget
    rss_delta: int
    note: str
    prepare_seconds: float  # the digest's untimed week probe
    traced_seconds: float  # the tracemalloc run
    wall: float  # the worker process, start to exit
    times: tuple[float, ...]  # every timed run

    def fixed_seconds(self) -> float:
        """What the process spends besides the calls: start-up, imports, opening the database."""
        return max(self.wall - self.prepare_seconds - self.traced_seconds - sum(self.times), 0.0)

    def traced_factor(self) -> float | None:
        return self.traced_seconds / self.best if self.traced_peak is not None else None


@dataclass
class SizeResult:
    size: int
    generate: float  # seconds to generate and insert
    took: float  # seconds for the whole size, generation included
    results: dict[str, Measured]
    dialect: str = "sqlite"


class BudgetExceeded(Exception):
    pass


def run_worker(kind: str, database_url: str, *, repeats: int, allowance: float, traced_factor: float, timeout: float) -> Measured:
    command = [
        sys.executable,
        "-m",
        "benchmarks.report_scale",
        "--worker",
        kind,
        "--database",
        database_url,
        "--repeats",
        str(repeats),
        "--max-seconds",
        f"{allowance:.1f}",
        "--traced-factor",
        f"{traced_factor:.2f}",
    ]
    t0 = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise BudgetExceeded(f"{kind} did not finish within {timeout:.0f} s") from None
    if done.returncode != 0:
        raise RuntimeError(f"{kind} worker failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    data = json.loads(done.stdout.strip().splitlines()[-1])
    return Measured(
        best=data["best"],
        runs=data["runs"],
        traced_peak=data["traced_peak"],
        rss_delta=data["rss_delta"],
        note=data["note"],
        prepare_seconds=data["prepare_seconds"],
        traced_seconds=data["traced_seconds"],
        wall=time.perf_counter() - t0,
        times=tuple(data["times"]),
    )


def generate(size: int, database_url: str, seed: int) -> float:
    from sqlalchemy import text

    from benchmarks.history import insert_deploys, insert_history
    from storage.db import Database

    async def go() -> None:
        db = Database(database_url)
        try:
            await insert_history(db, size, seed=seed, now=NOW, days=WINDOW.days)
            await insert_deploys(db, seed=seed)
            if db.dialect == "postgresql":
                # Statistics, as autovacuum would have gathered by the time anyone asks for a report.
                async with db.engine.begin() as connection:
                    await connection.execute(text("ANALYZE incidents"))
                    await connection.execute(text("ANALYZE deploys"))
                    await connection.execute(text("ANALYZE incident_deploys"))
        finally:
            await db.dispose()

    t0 = time.perf_counter()
    asyncio.run(go())
    return time.perf_counter() - t0


class Databases:
    """Where each size's history goes: a SQLite file in a temporary directory, or a fresh database
    on a PostgreSQL server started from the machine's binaries for this run (tests/postgres_server.py)."""

    def __init__(self, tmp: Path) -> None:
        self._tmp = tmp
        self._server: Any = None

    def url(self, dialect: str, size: int) -> str:
        if dialect == "sqlite":
            return f"sqlite:///{self._tmp / f'history-{size}.db'}"
        if self._server is None:
            from tests.postgres_server import PostgresMissing, admin_postgres

            try:
                self._admin, self._server = admin_postgres()
            except PostgresMissing as missing:
                raise RuntimeError(f"{missing}; or run with --dialects sqlite") from None
        name = f"history_{size}_{int(time.time() * 1000) % 10**9}"

        async def create() -> None:
            import asyncpg

            connection = await asyncpg.connect(self._admin)
            try:
                await connection.execute(f'CREATE DATABASE "{name}"')
            finally:
                await connection.close()

        asyncio.run(create())
        return self._admin.rsplit("/", 1)[0] + f"/{name}"

    def close(self) -> None:
        if self._server is not None:
            self._server.stop()


@dataclass(frozen=True)
class Forecast:
    call: float  # seconds for one timed call
    least: float  # the least the contender's process takes: start-up, the digest's probe, one call
    traced_factor: float  # a tracemalloc run / an untraced one


def forecast(kind: str, size: int, done: Sequence[SizeResult]) -> Forecast | None:
    """Extrapolated from the sizes already measured in this run: a call's time as t ∝ N^k, k from
    the last two sizes (between 1 and 2), or 1.2 from a single one; the digest's probe is one more
    call. None before any measurement."""
    measured = [(row.size, row.results[kind]) for row in done if kind in row.results]
    if not measured:
        return None
    last_size, m = measured[-1]
    k = 1.2
    if len(measured) >= 2:
        before_size, before = measured[-2]
        k = min(max(math.log(m.best / before.best) / math.log(last_size / before_size), 1.0), 2.0)
    call = m.best * (size / last_size) ** k
    probe = call if m.prepare_seconds > 0.1 * m.best else 0.0
    factors = [r.traced_factor() for _, r in measured if r.traced_factor() is not None]
    return Forecast(call, m.fixed_seconds() + probe + call, factors[-1] if factors else TRACED_FACTOR)


def predict(size: int, done: Sequence[SizeResult]) -> float | None:
    """The least size N costs (generation, then each contender's ``least``): repeats and the
    tracemalloc runs shrink to fit the budget, this cannot. None before any size was measured."""
    if not done:
        return None
    last = done[-1]
    forecasts = [forecast(kind, size, done) for kind in CONTENDERS]
    return last.generate * size / last.size + sum(f.least for f in forecasts if f)


def allowance_for(kind: str, size: int, done: Sequence[SizeResult], left: float) -> float:
    """Seconds ``kind``'s calls may take (probe, timed runs, tracemalloc run): what is left of the
    budget, less the least each later contender needs and this one's start-up. Before any size was
    measured: an even share of what is left."""
    position = CONTENDERS.index(kind)
    later = [forecast(k, size, done) for k in CONTENDERS[position + 1 :]]
    own = forecast(kind, size, done)
    if own is None or any(f is None for f in later):
        return max(left, 0) / (len(CONTENDERS) - position)
    fixed = own.least - own.call  # start-up (and the probe, which the allowance counts itself)
    return left - sum(f.least for f in later if f) - fixed - 5.0


def mb(value: int) -> str:
    return f"{value / 1e6:.1f} MB"


def traced(m: Measured) -> str:
    return mb(m.traced_peak) if m.traced_peak is not None else "not measured (over budget)"


def secs(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def timing(m: Measured | None, repeats: int) -> str:
    if m is None:
        return "-"
    return secs(m.best) + ("*" if m.note else "") + ("" if m.runs >= repeats else f" ({m.runs} run{'s' if m.runs > 1 else ''})")


def print_table(rows: Sequence[SizeResult], repeats: int) -> None:
    print(
        f"\nsummary: time = best of {repeats} runs unless marked (fewer when the budget was short);"
        " xN = naive / that contender, measured in the same run; memory = tracemalloc peak of one more run / RSS delta"
    )
    header = f"{'database':10} {'N':>9} " + " ".join(f"{kind:>18}" for kind in CONTENDERS)
    print(header)
    print("-" * len(header))
    for row in rows:
        naive = row.results.get("naive")
        cells = []
        for kind in CONTENDERS:
            m = row.results.get(kind)
            speedup = f" x{naive.best / m.best:.1f}" if m and naive and kind != "naive" else ""
            cells.append(f"{timing(m, repeats) + speedup:>18}")
        print(f"{row.dialect:10} {row.size:>9,} " + " ".join(cells))
    print(f"{'memory':10} {'':>9} " + " ".join(f"{'':>18}" for _ in CONTENDERS))
    for row in rows:
        cells = []
        for kind in CONTENDERS:
            m = row.results.get(kind)
            cells.append(f"{(mb(m.traced_peak) if m and m.traced_peak is not None else '-') + ' / ' + (mb(m.rss_delta) if m else '-'):>18}")
        print(f"{row.dialect:10} {row.size:>9,} " + " ".join(cells))
    for row in rows:
        plain, keys = row.results.get("report"), row.results.get("report-keys")
        if plain and keys:
            print(
                f"  {row.dialect}, N = {row.size:,}: the report with DORA's keys and coverage / the report alone = "
                f"{keys.best / plain.best:.2f}x ({secs(keys.best)} / {secs(plain.best)}, same run)"
            )
    for row in rows:
        for kind, m in row.results.items():
            if m.note:
                print(f"  * {row.dialect}, N = {row.size:,}, {kind}: {m.note}")


@dataclass(frozen=True)
class IssueFigure:
    """One figure of issue 17's "reports over the whole history", as ``figures()`` returns it."""

    name: str  # e.g. "report at 100,000 incidents, sqlite"
    seconds: float | None  # None: not measured in this run
    baseline: str  # what it is compared with, measured in the same run
    ratio: float | None  # baseline / seconds: how many times faster (None without a baseline)
    target: str
    met: bool | None  # None: not measured

    def line(self) -> str:
        shown = secs(self.seconds) if self.seconds is not None else ("measured" if self.met is not None else "not measured")
        against = f", {self.ratio:.1f}x faster than {self.baseline}" if self.ratio is not None else ""
        verdict = "-" if self.met is None else ("met" if self.met else "MISSED")
        return f"{self.name}: {shown}{against}; target {self.target} -> {verdict}"


def issue_figures(rows: Sequence[SizeResult]) -> list[IssueFigure]:
    """At TARGET_SIZE on each database: report and digest under REPORT_TARGET_SECONDS and
    SPEEDUP_TARGET times faster than naive; stats and App Home within Slack's 3 s; report memory
    flat between FLAT_BASE and TARGET_SIZE."""
    out: list[IssueFigure] = []
    for dialect in sorted({row.dialect for row in rows}):
        by_size = {row.size: row.results for row in rows if row.dialect == dialect}
        at = by_size.get(TARGET_SIZE, {})
        naive = at.get("naive")
        for kind in ("report", "digest", "digest-text"):
            m = at.get(kind)
            ratio = naive.best / m.best if m and naive else None
            out.append(
                IssueFigure(
                    f"{kind} at {TARGET_SIZE:,} incidents, {dialect}",
                    m.best if m else None,
                    "loading every incident as an ORM object",
                    ratio,
                    f"< {REPORT_TARGET_SECONDS} s and >= {SPEEDUP_TARGET:.0f}x",
                    None if m is None or ratio is None else m.best < REPORT_TARGET_SECONDS and ratio >= SPEEDUP_TARGET,
                )
            )
        for kind, label in (("stats", "/incident stats 365d answered"), ("home", "App Home published")):
            m = at.get(kind)
            out.append(
                IssueFigure(
                    f"{label} at {TARGET_SIZE:,} incidents, {dialect}",
                    m.best if m else None,
                    "",
                    None,
                    f"< {SLACK_ANSWER_SECONDS:.0f} s",
                    None if m is None else m.best < SLACK_ANSWER_SECONDS,
                )
            )
        big, base = at.get("report"), by_size.get(FLAT_BASE, {}).get("report")
        if big and base and big.traced_peak and base.traced_peak:
            ratio = big.traced_peak / base.traced_peak
            out.append(
                IssueFigure(
                    f"report memory, tracemalloc peak at {TARGET_SIZE:,} / at {FLAT_BASE:,}, {dialect}",
                    None,
                    "",
                    None,
                    f"<= {FLAT_MEMORY_LIMIT:.0f}x (flat): {ratio:.1f}x ({mb(big.traced_peak)} / {mb(base.traced_peak)})",
                    ratio <= FLAT_MEMORY_LIMIT,
                )
            )
    return out


def print_verdicts(rows: Sequence[SizeResult]) -> None:
    print("\ntargets")
    for line in issue_figures(rows):
        print("  " + line.line())


def run_sizes(args: argparse.Namespace) -> list[SizeResult]:
    started = time.perf_counter()
    sizes = sorted(set(args.sizes))
    done: list[SizeResult] = []
    skipped: list[str] = []
    print(
        f"report_scale: {', '.join(args.dialects)}; sizes {', '.join(f'{s:,}' for s in sizes)}; budget {args.budget:.0f} s;"
        f" best of {args.repeats}; now = {NOW:%Y-%m-%d %H:%M} UTC; window {WINDOW.days} days; seed {args.seed}"
    )
    with tempfile.TemporaryDirectory(prefix="incident-bot-scale-") as tmp:
        databases = Databases(Path(tmp))
        try:
            for dialect in args.dialects:
                measured = [row for row in done if row.dialect == dialect]  # forecasts per database
                for size in sizes:
                    elapsed = time.perf_counter() - started
                    expected = predict(size, measured)
                    if expected is not None and elapsed + expected > args.budget:
                        skipped.append(f"{dialect} {size:,}: predicted {expected:.0f} s, {args.budget - elapsed:.0f} s of the budget left")
                        continue
                    url = databases.url(dialect, size)
                    t0 = time.perf_counter()
                    gen = generate(size, url, args.seed)
                    print(f"\n{dialect}, N = {size:,}: history generated and inserted in {gen:.1f} s ({size / gen:,.0f} incidents/s)")
                    results: dict[str, Measured] = {}
                    try:
                        for kind in CONTENDERS:
                            left = args.budget - (time.perf_counter() - started)
                            own = forecast(kind, size, measured)
                            m = run_worker(
                                kind,
                                url,
                                repeats=args.repeats,
                                allowance=allowance_for(kind, size, measured, left),
                                traced_factor=own.traced_factor if own else TRACED_FACTOR,
                                timeout=max(left, 30) + 60,
                            )
                            results[kind] = m
                            print(
                                f"  {kind:11} best {secs(m.best):>9} of {m.runs} run(s); tracemalloc peak {traced(m)}"
                                f" (that run took {m.traced_seconds:.1f} s); RSS delta {mb(m.rss_delta)}"
                            )
                            if m.note:
                                print(f"         {m.note}")
                    except BudgetExceeded as error:
                        skipped.append(f"{dialect} {size:,}: {error}")
                    row = SizeResult(size, gen, time.perf_counter() - t0, results, dialect)
                    done.append(row)
                    measured.append(row)
                    if results.get("report") and results.get("naive"):
                        print(f"  naive/report {results['naive'].best / results['report'].best:.1f}x")
                    print(f"  N = {size:,} took {row.took:.0f} s in all")
                    if args.profile and size == sizes[-1] and args.profile in CONTENDERS:
                        command = [sys.executable, "-m", "benchmarks.report_scale", "--worker", args.profile, "--database", url]
                        command += ["--profile", "--top", str(args.top)]
                        print(
                            f"\ncProfile of one {args.profile} call, {dialect}, N = {size:,} (cold median_ranks cache; not in the budget):"
                        )
                        print(subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True).stdout)
        finally:
            databases.close()
    print_table(done, args.repeats)
    print_verdicts(done)
    for line in skipped:
        print(f"skipped {line}; raise --budget to measure it")
    print(f"\ntotal {time.perf_counter() - started:.0f} s (budget {args.budget:.0f} s)")
    return done


def driver_main(args: argparse.Namespace) -> int:
    run_sizes(args)
    return 0


def figures(argv: Sequence[str] | None = None) -> list[IssueFigure]:
    """Every figure of issue 17's "reports over the whole history", measured in one run (on SQLite
    and PostgreSQL, 10,000 and 100,000 incidents unless ``argv`` says otherwise, e.g.
    ``["--dialects", "sqlite"]``): for the one command that prints all of the issue's figures.
    Prints the run as ``python -m benchmarks.report_scale`` does; returns the figures."""
    defaults = ["--sizes", f"{FLAT_BASE},{TARGET_SIZE}", "--dialects", "sqlite,postgresql", "--budget", "900"]
    return issue_figures(run_sizes(parse_args([*defaults, *(argv or [])])))


def sizes_arg(text: str) -> list[int]:
    try:
        sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("a comma-separated list of counts, e.g. 1000,10000") from None
    if not sizes or any(not 100 <= s <= 1_000_000 for s in sizes):
        raise argparse.ArgumentTypeError("each size must be between 100 and 1,000,000")
    return sizes


def dialects_arg(text: str) -> list[str]:
    dialects = [part.strip() for part in text.split(",") if part.strip()]
    if not dialects or any(d not in ("sqlite", "postgresql") for d in dialects):
        raise argparse.ArgumentTypeError("a comma-separated list of sqlite and postgresql")
    return dialects


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.report_scale",
        description="MTTR report and weekly digest time and memory at 1k/10k/100k incidents, against a naive baseline.",
    )
    parser.add_argument("--sizes", type=sizes_arg, default=list(SIZES), help="comma-separated incident counts (default 1000,10000,100000)")
    parser.add_argument(
        "--repeats", type=int, choices=range(1, 11), default=3, metavar="1-10", help="timed runs per contender, best kept (default 3)"
    )
    parser.add_argument(
        "--budget", type=float, default=180.0, help="seconds for the whole run; sizes predicted to overrun are skipped (default 180)"
    )
    parser.add_argument(
        "--dialects", type=dialects_arg, default=["sqlite"], help="sqlite, postgresql or both, comma-separated (default sqlite)"
    )
    parser.add_argument("--seed", type=int, default=7, help="history seed (default 7)")
    parser.add_argument(
        "--profile",
        choices=CONTENDERS,
        nargs="?",
        const="report",
        default=None,
        help="also print a cProfile of one run of this contender (default report) at the largest size",
    )
    parser.add_argument("--top", type=int, default=25, help="functions shown by --profile (default 25)")
    # Internal: one contender in a fresh process.
    parser.add_argument("--worker", choices=CONTENDERS, help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    parser.add_argument("--max-seconds", type=float, default=60.0, help=argparse.SUPPRESS)
    parser.add_argument("--traced-factor", type=float, default=TRACED_FACTOR, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not 10 <= args.budget <= 3600:
        parser.error("--budget must be between 10 and 3600 seconds")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return worker_main(args)
    return driver_main(args)


if __name__ == "__main__":
    raise SystemExit(main())
