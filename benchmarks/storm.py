"""An alert storm within Slack's rate limits: 30 alerts for 30 services within seconds, two bot
processes on one database, against the fake Slack enforcing Slack's published tiers.

Prints the time from the first alert to the last whole war room against the least time the tiers
allow for the calls made (target: within 1.2x), the 429s met (target: a handful, at most 3), and
the order of the control messages by severity (most severe first applies to calls that
wait: tests/test_rate_limits.py checks it with the window used up when the storm hits).

The tiers run ``--speed`` times faster in the fake Slack and in the bots' pacers alike
(SLACK_RATE_SPEED): at the default 4 a Tier 2 minute lasts 15 s; ``--speed 1`` is Slack's own
rates (the storm then takes a little over a minute). The two "processes" are two Runtimes on one
database in this process (as tests/test_rate_limits.py runs them), each with its own HTTP port,
pacer and background work; they share only the database and the fake Slack, as two processes do,
but also this process's event loop and CPU. ``--processes`` runs two real ``incident-bot serve``
processes instead (tests/serve_process.py), the fake Slack and the alerts staying here.

    .venv/bin/python -m benchmarks.storm                 # SQLite, speed 4
    .venv/bin/python -m benchmarks.storm --speed 1       # Slack's real rates
    .venv/bin/python -m benchmarks.storm --postgresql    # PostgreSQL from local binaries
    .venv/bin/python -m benchmarks.storm --processes     # two real serve processes

For the lead's one command: ``figures(parse_args([...]))`` returns the rows printed here.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from bot.core.command_text import SEVERITIES
from bot.settings import Settings
from storage.db import Database
from storage.models import Incident
from tests.conftest import BOT_TOKEN, SIGNING_SECRET, fake_slack_settings, seed_catalog_people, start_bot
from tests.fake_slack import FakeSlack
from tests.serve_process import ServeProcess, serve_env
from tests.storm import ALERT_SECRET, alert, control_messages, rate_limited, seed_people, send_alerts, tier_minimum, write_catalog
from tests.waiting import eventually

HANDFUL = 3
TIME_TARGET = 1.2


@dataclass(frozen=True)
class Figure:
    """One printed figure: ``measured`` against ``limit`` (the same unit), and whether it meets its target."""

    name: str
    measured: float
    limit: float
    target: str
    met: bool

    @property
    def ratio(self) -> float:
        return self.measured / self.limit if self.limit else float("nan")


def storm_severities(count: int) -> list[str]:
    """Least severe first, so that arriving first would not put them first."""
    return [SEVERITIES[-1 - (n % len(SEVERITIES))] for n in range(count)]


async def whole_rooms(db: Database) -> list[Incident]:
    async with db.reading() as session:
        rows = list((await session.scalars(select(Incident))).all())
    return [row for row in rows if row.control_pinned_at and row.announcement_ts and row.bookmarked_at]


async def storm(args: argparse.Namespace, database_url: str, tmp: Path) -> list[Figure]:
    fake = FakeSlack()
    await fake.start()
    for user_id, name in (("U_ALICE", "alice"), ("U_BOB", "bob")):
        fake.add_user(user_id, name)
    seed_catalog_people(fake)
    seed_people(fake, args.alerts)
    announce = fake.add_channel("incidents", members={"U_ALICE"})
    fake.enforce_rate_limits(speed=args.speed)
    settings = {
        "SERVICE_CATALOG": str(write_catalog(tmp / "catalog.yml", args.alerts)),
        "ALERT_WEBHOOK_SECRET": ALERT_SECRET,
        "SLACK_RATE_SPEED": str(args.speed),
        "SLACK_RATE_LIMITS_SHARED": "true",
    }
    try:
        if args.processes:
            elapsed, arrivals, rooms = await _in_processes(args, fake, database_url, announce, settings, tmp)
        else:
            elapsed, arrivals, rooms = await _in_this_process(args, fake, fake_slack_settings(fake, database_url, announce, **settings))
    finally:
        await fake.stop()
    minimum = tier_minimum(fake, arrivals)
    severity = {row.id: row.severity for row in rooms}
    shown = [severity[number] for number in control_messages(fake)]
    refused = len(rate_limited(fake))
    spread = args.spread / args.speed
    where = "two serve processes" if args.processes else "two processes (Runtimes in this one)"
    print(f"{args.alerts} alerts over {spread:.1f} s to {where}, tiers x{args.speed:g} (a Tier 2 minute = {60 / args.speed:.1f} s)")
    print(f"  every war room whole after {elapsed:.2f} s; the tiers allow no less than {minimum.seconds:.2f} s")
    print(
        f"  ({minimum.calls} calls of {minimum.method}, the first of the last window not before its alert at {minimum.waited_for:.2f} s); "
        f"429s met: {refused}; control messages by severity: {' '.join(shown)}"
    )
    if fake.violations:
        print(f"  {len(fake.violations)} Slack API contract violations, e.g. {fake.violations[:2]}", file=sys.stderr)
    return [
        Figure(
            "storm: all war rooms whole vs tier-limited minimum (s)",
            elapsed,
            minimum.seconds,
            f"<= {TIME_TARGET}x",
            elapsed <= TIME_TARGET * minimum.seconds,
        ),
        Figure("storm: 429s met", refused, HANDFUL, f"<= {HANDFUL}", refused <= HANDFUL),
    ]


async def _in_this_process(args: argparse.Namespace, fake: FakeSlack, settings: Settings) -> tuple[float, list[float], list[Incident]]:
    """Two Runtimes on one database in this process, each with its own HTTP port, pacer and
    background work, sharing this process's event loop with the fake Slack."""
    first = await start_bot(settings, fake)
    second = await start_bot(settings, fake)
    try:
        elapsed, arrivals = await _send_storm(args, [first.port, second.port], first.runtime.db)
        await first.settle()
        await second.settle()
        return elapsed, arrivals, await whole_rooms(first.runtime.db)
    finally:
        await second.stop()
        await first.stop()


async def _in_processes(
    args: argparse.Namespace, fake: FakeSlack, database_url: str, announce: str, settings: dict[str, str], tmp: Path
) -> tuple[float, list[float], list[Incident]]:
    """Two real ``incident-bot serve`` processes (tests/serve_process.py), the fake Slack and the
    alerts in this one: as the issue's two processes, each with an interpreter and a CPU's worth of
    its own."""
    env = serve_env(fake.base_url, database_url, announce, secrets=(BOT_TOKEN, SIGNING_SECRET), LOG_FORMAT="json", **settings)
    processes = [ServeProcess(env, tmp, response_url_factory=fake.response_url, name=name) for name in ("first", "second")]
    db = Database(database_url)
    try:
        await asyncio.gather(*(process.start() for process in processes))  # both migrate, one after the other (storage/migrate.py)
        elapsed, arrivals = await _send_storm(args, [process.port for process in processes], db)
        return elapsed, arrivals, await whole_rooms(db)
    finally:
        await asyncio.gather(*(process.stop() for process in processes))
        await db.dispose()


async def _send_storm(args: argparse.Namespace, ports: list[int], db: Database) -> tuple[float, list[float]]:
    """The alerts, spread over ``args.spread`` (at Slack's rates) and over the ports in turn; the
    seconds until every war room was whole, and when each alert was sent, from the storm's start."""
    bodies = [alert(n, severity) for n, severity in enumerate(storm_severities(args.alerts))]
    spread = args.spread / args.speed
    arrivals = [spread * n / len(bodies) for n in range(len(bodies))]
    started = time.monotonic()
    await asyncio.gather(
        *(_send_at(started + at, ports[n % len(ports)], body) for n, (at, body) in enumerate(zip(arrivals, bodies, strict=True)))
    )
    await eventually(lambda: _all_whole(db, args.alerts), what="every war room")
    return time.monotonic() - started, arrivals


async def _all_whole(db: Database, count: int) -> bool:
    return len(await whole_rooms(db)) >= count


async def _send_at(when: float, port: int, body: dict) -> None:
    await asyncio.sleep(max(0.0, when - time.monotonic()))
    await send_alerts([port], [body])


async def run(args: argparse.Namespace) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="incident-bot-storm-") as name:
        tmp = Path(name)
        if not args.postgresql:
            return await storm(args, f"sqlite:///{tmp / 'incidents.db'}", tmp)
        from tests.conftest import _fresh_postgres_database
        from tests.postgres_server import admin_postgres

        admin, server = admin_postgres()
        try:
            return await storm(args, await _fresh_postgres_database(admin), tmp)
        finally:
            if server is not None:
                server.stop()


def figures(args: argparse.Namespace) -> list[Figure]:
    """Run the storm once and return its figures (for a command that prints every issue-17 figure)."""
    return asyncio.run(run(args))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.storm", description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=30, help="alerts, one per service (default 30)")
    parser.add_argument("--speed", type=float, default=4.0, help="how many times faster than Slack's tiers (default 4; 1 = real)")
    parser.add_argument("--spread", type=float, default=10.0, help="seconds (at real rates) over which the alerts arrive (default 10)")
    parser.add_argument("--postgresql", action="store_true", help="PostgreSQL from local binaries instead of SQLite")
    parser.add_argument(
        "--processes", action="store_true", help="two real incident-bot serve processes instead of two Runtimes in this process"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    rows = figures(parse_args(argv))
    print(f"\n{'figure':<58} {'measured':>9} {'limit':>9} {'ratio':>7} {'target':>8}  result")
    for row in rows:
        print(f"{row.name:<58} {row.measured:>9.2f} {row.limit:>9.2f} {row.ratio:>6.2f}x {row.target:>8}  {'met' if row.met else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
