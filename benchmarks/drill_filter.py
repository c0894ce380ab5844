"""What leaving drills out of every figure costs: the report reads (``storage/reports.py``, ``_scoped``)
with their ``is_drill`` predicate against the same reads without it, on the same history, in the
same process, alternately, best of ``--repeats`` each. The history (benchmarks.history) holds no
drill, so both give the same figures: only the predicate's cost differs.

    .venv/bin/python -m benchmarks.drill_filter                     # SQLite, 10,000 and 100,000 incidents
    .venv/bin/python -m benchmarks.drill_filter --sizes 10000 --dialects sqlite,postgresql
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.report_scale import Databases

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
TEAM_CONFIG = Path(__file__).resolve().parent.parent / "runbooks" / "config.yml"
# What incident-bot report computes (365 days and the trend), and what App Home and /incident stats read (30 days).
WINDOWS = {"report 365 d": timedelta(days=365), "home 30 d": timedelta(days=30)}


async def _best(call: Callable[[], Awaitable[Any]], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        await call()
        best = min(best, time.perf_counter() - t0)
    return best


async def _measure(database_url: str, size: int, repeats: int) -> list[str]:
    from sqlalchemy import text

    import storage.reports
    from benchmarks.history import insert_history
    from bot.analytics.reports import Reports
    from bot.team_config import load_team_config
    from storage.db import Database
    from storage.migrate import upgrade_to_head
    from storage.models import Incident

    db = Database(database_url)
    try:
        await upgrade_to_head(db)
        await insert_history(db, size, now=NOW, days=365)
        if db.dialect == "postgresql":
            async with db.engine.begin() as connection:
                await connection.execute(text("ANALYZE incidents"))
        team = load_team_config(TEAM_CONFIG, required=True)
        reports = Reports(db, lambda: NOW, tiers=team.tiers, settings=team.reports)
        with_filter = storage.reports._scoped

        def unfiltered(query: Any, services: Any, severities: Any, drills: bool = False) -> Any:
            """The scoping before drills: services and severities only."""
            if services:
                query = query.where(Incident.service.in_(list(services)))
            if severities:
                query = query.where(Incident.severity.in_(list(severities)))
            return query

        lines = []
        for name, window in WINDOWS.items():

            async def call(window: timedelta = window) -> Any:
                report, _, trend = await reports.window_and_trend(NOW - window, NOW)
                return report.count, len(trend.weeks)

            timings: dict[str, float] = {"with": float("inf"), "without": float("inf")}
            counts = {}
            for _ in range(repeats):  # alternately, so that the machine's load falls on both alike
                for label, scoped in (("without", unfiltered), ("with", with_filter)):
                    storage.reports._scoped = scoped  # type: ignore[assignment]  # the benchmark's two variants
                    counts[label] = await call()
                    timings[label] = min(timings[label], await _best(call, 1))
            storage.reports._scoped = with_filter  # type: ignore[assignment]  # restored
            assert counts["with"] == counts["without"], counts
            lines.append(
                f"  {db.dialect:<10} N={size:>7,} {name:<13} without {timings['without'] * 1000:8.0f} ms  "
                f"with {timings['with'] * 1000:8.0f} ms  with/without {timings['with'] / timings['without']:.2f}"
            )
        return lines
    finally:
        await db.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.drill_filter", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated incident counts (default 10000,100000)")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each variant, alternating, best kept (default 5)")
    parser.add_argument("--dialects", default="sqlite", help="sqlite, postgresql or both, comma-separated (default sqlite)")
    args = parser.parse_args(argv)
    print(f"drill_filter: best of {args.repeats}, alternating; now = {NOW:%Y-%m-%d %H:%M} UTC")
    with tempfile.TemporaryDirectory() as folder:
        databases = Databases(Path(folder))  # SQLite files, or a PostgreSQL server from the machine's binaries
        try:
            for dialect in args.dialects.split(","):
                for size in (int(s) for s in args.sizes.split(",")):
                    print("\n".join(asyncio.run(_measure(databases.url(dialect, size), size, args.repeats))), flush=True)
        finally:
            databases.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
