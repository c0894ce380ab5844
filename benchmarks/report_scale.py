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

UTC = UTC
ROOT = Path(__file__).resolve().parent.parent
TEAM_CONFIG = ROOT / "runbooks" / "config.yml"
# Fixed, so a seed gives the same history and the same digest week on every day it is run.
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday: the digest covers 2026-W47
WINDOW = timedelta(days=365)
SIZES = (1_000, 10_000, 100_000)
CONTENDERS = ("report", "digest", "naive")
DIGEST_CHANNEL = "C0BENCH01"
REPORT_TARGET_SECONDS = 1.0  # "100,000 incidents in under a second of report time"
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
    from bot.team_config import load_team_config
    from storage.db import Database

    db = Database(database_url)
    await db.ping()  # open the connection outside the timings
    team = load_team_config(TEAM_CONFIG, required=True)
    reports = Reports(db, lambda: NOW, tiers=team.tiers, settings=team.reports)

    if kind == "report":

        async def report() -> Any:
            window, _, trend = await reports.window_and_trend(NOW - WINDOW, NOW)
            return window.count, len(trend.weeks)

        return Contender(report, db.dispose)

    if kind == "naive":
        return Contender(lambda: naive_figures(db), db.dispose)

    publisher = DigestPublisher(db, lambda: NOW, reports, slack=None)  # type: ignore[arg-type]
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

    return Contender(digest, db.dispose, choose_week)


async def naive_figures(db: Any) -> dict[str, float]:
    """Every incident as an ORM object, then the headline figures with ``statistics``."""
    from sqlalchemy import select

    from storage.models import Incident

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


def generate(size: int, path: Path, seed: int) -> float:
    from benchmarks.history import insert_history
    from storage.db import Database

    async def go() -> None:
        db = Database(f"sqlite:///{path}")
        try:
            await insert_history(db, size, seed=seed, now=NOW, days=WINDOW.days)
        finally:
            await db.dispose()

    t0 = time.perf_counter()
    asyncio.run(go())
    return time.perf_counter() - t0


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
        " memory = tracemalloc peak of one more run / RSS delta of the timed runs"
    )
    header = (
        f"{'N':>9} {'report':>15} {'digest':>15} {'naive':>15} {'report/naive':>13} {'report mem':>21} {'digest mem':>21} {'naive mem':>21}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        r, d, n = (row.results.get(k) for k in CONTENDERS)
        ratio = f"{r.best / n.best:.2f}x" if r and n else "-"
        mem = [f"{mb(m.traced_peak) if m.traced_peak is not None else '-'} / {mb(m.rss_delta)}" if m else "-" for m in (r, d, n)]
        print(
            f"{row.size:>9,} {timing(r, repeats):>15} {timing(d, repeats):>15} {timing(n, repeats):>15} {ratio:>13}"
            f" {mem[0]:>21} {mem[1]:>21} {mem[2]:>21}"
        )
    for row in rows:
        for kind, m in row.results.items():
            if m.note:
                print(f"  * N = {row.size:,}, {kind}: {m.note}")


def print_verdicts(rows: Sequence[SizeResult]) -> None:
    by_size = {row.size: row.results for row in rows}
    print("\ntargets")
    target = by_size.get(TARGET_SIZE, {}).get("report")
    if target is None:
        print(f"  report time at {TARGET_SIZE:,} incidents < {REPORT_TARGET_SECONDS:.0f} s: not measured in this run")
    else:
        ok = target.best < REPORT_TARGET_SECONDS
        print(
            f"  report time at {TARGET_SIZE:,} incidents < {REPORT_TARGET_SECONDS:.0f} s: {secs(target.best)}"
            f" ({target.best / REPORT_TARGET_SECONDS:.1f}x the target) -> {'met' if ok else 'MISSED'}"
        )
    base = by_size.get(FLAT_BASE, {}).get("report")
    if target is None or base is None:
        print(f"  flat memory (report peak at {TARGET_SIZE:,} / at {FLAT_BASE:,}): not measured in this run")
        return
    # tracemalloc when both runs were traced; otherwise RSS delta (each worker is a fresh process,
    # so its ru_maxrss rise is the call's own peak, C buffers included).
    ratios = []
    if target.traced_peak is not None and base.traced_peak is not None:
        ratios.append(
            ("tracemalloc", target.traced_peak / base.traced_peak, (target.traced_peak - base.traced_peak) / (TARGET_SIZE - FLAT_BASE))
        )
    if base.rss_delta > 0:
        ratios.append(("RSS delta", target.rss_delta / base.rss_delta, (target.rss_delta - base.rss_delta) / (TARGET_SIZE - FLAT_BASE)))
    if not ratios:
        print("  flat memory: no comparable measurement (RSS did not rise at 10,000)")
        return
    name, ratio, _ = ratios[0]
    verdict = "met" if ratio <= FLAT_MEMORY_LIMIT else "MISSED: memory grows with N"
    shown = ", ".join(f"{n} {r:.1f}x" for n, r, _ in ratios)
    print(
        f"  flat memory (report peak at {TARGET_SIZE:,} / at {FLAT_BASE:,}, 10x the incidents;"
        f" flat means <= {FLAT_MEMORY_LIMIT:.0f}x): {shown} -> {verdict} (judged on {name})"
    )
    print("    marginal report memory per extra incident: " + ", ".join(f"{n} {per:,.0f} bytes" for n, _, per in ratios))


def driver_main(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    sizes = sorted(set(args.sizes))
    done: list[SizeResult] = []
    skipped: list[str] = []
    print(
        f"report_scale: sizes {', '.join(f'{s:,}' for s in sizes)}; budget {args.budget:.0f} s; best of {args.repeats};"
        f" now = {NOW:%Y-%m-%d %H:%M} UTC; window {WINDOW.days} days; seed {args.seed}"
    )
    with tempfile.TemporaryDirectory(prefix="incident-bot-scale-") as tmp:
        for size in sizes:
            elapsed = time.perf_counter() - started
            expected = predict(size, done)
            if expected is not None and elapsed + expected > args.budget:
                skipped.append(f"{size:,}: predicted {expected:.0f} s, {args.budget - elapsed:.0f} s of the budget left")
                continue
            path = Path(tmp) / f"history-{size}.db"
            t0 = time.perf_counter()
            gen = generate(size, path, args.seed)
            print(f"\nN = {size:,}: history generated and inserted in {gen:.1f} s ({size / gen:,.0f} incidents/s)")
            results: dict[str, Measured] = {}
            try:
                for kind in CONTENDERS:
                    left = args.budget - (time.perf_counter() - started)
                    own = forecast(kind, size, done)
                    m = run_worker(
                        kind,
                        f"sqlite:///{path}",
                        repeats=args.repeats,
                        allowance=allowance_for(kind, size, done, left),
                        traced_factor=own.traced_factor if own else TRACED_FACTOR,
                        timeout=max(left, 30) + 60,
                    )
                    results[kind] = m
                    print(
                        f"  {kind:6} best {secs(m.best):>9} of {m.runs} run(s); tracemalloc peak {traced(m)}"
                        f" (that run took {m.traced_seconds:.1f} s); RSS delta {mb(m.rss_delta)}"
                    )
                    if m.note:
                        print(f"         {m.note}")
            except BudgetExceeded as error:
                skipped.append(f"{size:,}: {error}")
            done.append(SizeResult(size, gen, time.perf_counter() - t0, results))
            if results.get("report") and results.get("naive"):
                print(f"  report/naive {results['report'].best / results['naive'].best:.2f}x")
            print(f"  N = {size:,} took {done[-1].took:.0f} s in all")
        if args.profile and done:
            size = done[-1].size
            command = [
                sys.executable,
                "-m",
                "benchmarks.report_scale",
                "--worker",
                args.profile,
                "--database",
                f"sqlite:///{Path(tmp) / f'history-{size}.db'}",
                "--profile",
                "--top",
                str(args.top),
            ]
            print(f"\ncProfile of one {args.profile} call at N = {size:,} (cold median_ranks cache; not in the budget):")
            print(subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True).stdout)
    print_table(done, args.repeats)
    print_verdicts(done)
    for line in skipped:
        print(f"skipped N = {line}; raise --budget to measure it")
    print(f"\ntotal {time.perf_counter() - started:.0f} s (budget {args.budget:.0f} s)")
    return 0


def sizes_arg(text: str) -> list[int]:
    try:
        sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("a comma-separated list of counts, e.g. 1000,10000") from None
    if not sizes or any(not 100 <= s <= 1_000_000 for s in sizes):
        raise argparse.ArgumentTypeError("each size must be between 100 and 1,000,000")
    return sizes


def main(argv: Sequence[str] | None = None) -> int:
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
    if args.worker:
        return worker_main(args)
    return driver_main(args)


if __name__ == "__main__":
    raise SystemExit(main())
