"""A seeded generator of realistic incident history, inserted fast into a migrated database.

What one incident looks like (every draw from ``random.Random(seed)``, so a seed is a history):

- severity          P1 5%, P2 20%, P3 50%, P4 25%
- time to restore   log-normal: median per severity (P1 25 min, P2 35 min, P3 50 min, P4 60 min,
                    about 45 min pooled), sigma 0.8 for P1 and 1.0 otherwise; at least 3 minutes
- phases            detect / diagnose / mitigate / verify as shares of the time to restore, drawn
                    Dirichlet-like (independent gamma draws, normalised). Diagnosis is usually the
                    biggest share; customer-reported incidents are noticed late (bigger detect).
                    8% were mitigated before the cause was known (a rollback: diagnosed implied at
                    the mitigated stamp), 3% verified straight after diagnosis (mitigated implied)
- service           one of 8-12 services (how many is drawn from the seed), a few popular ones;
                    3% have no service
- detection method  alert 60%, customer_report 15%, engineer 20%, synthetic 5%
- started_at        over the last ``days`` days before ``now``; two in three in business hours
                    (weekdays 09:00-18:00 UTC); a restored incident never ends after ``now``
- still open        2%: stamped up to detected, diagnosed or mitigated, never verified
- deploy_found      None without a service and for 40% of the others (not checked), else
                    False (about 45% of all) or True (about 15%)

Rows go in with SQLAlchemy Core ``insert`` and a list of parameter dicts per statement
(executemany), ``--batch`` rows at a time (default 5000), never ORM objects: 100,000 incidents
take seconds, not minutes. Every NOT NULL column is set. They are drawn in no order of time and
numbered in the order they were opened, as a bot's own table is (``insert_history``).

    .venv/bin/python -m benchmarks.history --count 10000 --database sqlite:///x.db [--seed 7] [--days 365]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Column, MetaData, Table, func, insert, select

from storage.db import Database, DatabaseURLError
from storage.migrate import upgrade_to_head
from storage.models import Deploy, Incident, IncidentDeploy

UTC = UTC

SEVERITY_WEIGHTS = {"P1": 0.05, "P2": 0.20, "P3": 0.50, "P4": 0.25}
# Median time to restore (minutes) and log-normal sigma per severity. P1s get all hands: shorter.
RESTORE_MEDIAN_MIN = {"P1": 25.0, "P2": 35.0, "P3": 50.0, "P4": 60.0}
RESTORE_SIGMA = {"P1": 0.8, "P2": 1.0, "P3": 1.0, "P4": 1.0}
MIN_RESTORE = 3 * 60  # seconds
DAY = 86400
DETECTION_WEIGHTS = {"alert": 0.60, "customer_report": 0.15, "engineer": 0.20, "synthetic": 0.05}
# Dirichlet-like concentration of each phase's share: detect, diagnose, mitigate, verify.
PHASE_ALPHA = (1.5, 4.0, 3.0, 1.5)
PHASE_ALPHA_CUSTOMER = (4.0, 4.0, 3.0, 1.5)  # customers tell you late
OPEN_SHARE = 0.02
ROLLBACK_SHARE = 0.08  # mitigated before diagnosed: diagnosed implied
VERIFY_SKIPS_MITIGATE = 0.03  # verified with no mitigated stamp: mitigated implied
NO_SERVICE_SHARE = 0.03
DEPLOY_UNCHECKED = 0.40  # of incidents with a service: deploy_found None
DEPLOY_FOUND = 0.25  # of the checked ones: True (the rest False)
BUSINESS_HOURS_SHARE = 2 / 3
BATCH = 5000

SERVICE_NAMES = (
    "payments-api",
    "checkout-web",
    "search",
    "auth",
    "notifications",
    "ledger",
    "inventory",
    "shipping",
    "recommendations",
    "mobile-gateway",
    "billing-worker",
    "media-cdn",
)
SYMPTOMS = (
    "elevated 5xx",
    "latency spike",
    "timeouts",
    "error rate above SLO",
    "queue backlog",
    "failed logins",
    "stale data",
    "partial outage",
    "degraded performance",
    "certificate expiry",
)
USERS = tuple(f"UBENCH{k:04d}" for k in range(60))


@dataclass(frozen=True)
class HistoryShape:
    """What the seed decided beyond the per-incident draws."""

    services: tuple[str, ...]
    service_weights: tuple[float, ...]


def shape(rng: random.Random) -> HistoryShape:
    count = rng.randint(8, 12)
    services = tuple(SERVICE_NAMES[:count])
    # A few services have most incidents (Zipf-like), as in real teams.
    weights = tuple(1 / (rank + 1) ** 0.8 for rank in range(count))
    return HistoryShape(services, weights)


def _cumulative(weights: Sequence[float]) -> tuple[float, ...]:
    total, out = 0.0, []
    for weight in weights:
        total += weight
        out.append(total)
    return tuple(out)


def _shares(rng: random.Random, alpha: Sequence[float]) -> list[float]:
    """A Dirichlet(alpha) draw: independent gamma draws, normalised to add up to 1."""
    draws = [rng.gammavariate(a, 1.0) for a in alpha]
    total = sum(draws)
    return [d / total for d in draws]


def _start(rng: random.Random, now: int, days: int) -> int:
    """Epoch seconds, uniform over the last ``days`` days; two in three moved into weekday
    business hours (09:00-18:00 UTC) of the day they fell on (or the Friday before)."""
    at = now - int(rng.random() * days * DAY)
    if rng.random() < BUSINESS_HOURS_SHARE:
        day = at - at % DAY
        weekday = (day // DAY + 3) % 7  # 1970-01-01 was a Thursday (3)
        if weekday >= 5:
            day -= (weekday - 4) * DAY
        at = day + 9 * 3600 + int(rng.random() * 9 * 3600)
        if at > now:  # today's business hours have not come yet
            at -= 7 * DAY
    return at


def incident_rows(count: int, *, seed: int = 7, now: datetime, days: int = 365) -> Iterator[dict[str, Any]]:
    """``count`` incidents as parameter dicts for ``insert(Incident.__table__)``, all with the same keys.

    Times are worked out in whole epoch seconds and turned into aware datetimes once, at the end.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    rng = random.Random(seed)
    history = shape(rng)
    severities, severity_cum = tuple(SEVERITY_WEIGHTS), _cumulative(SEVERITY_WEIGHTS.values())
    methods, method_cum = tuple(DETECTION_WEIGHTS), _cumulative(DETECTION_WEIGHTS.values())
    service_cum = _cumulative(history.service_weights)
    medians = {s: RESTORE_MEDIAN_MIN[s] * 60 for s in severities}
    end = int(now.timestamp())
    stamp = lambda seconds: datetime.fromtimestamp(seconds, UTC)  # noqa: E731
    for number in range(1, count + 1):
        severity = rng.choices(severities, cum_weights=severity_cum)[0]
        method = rng.choices(methods, cum_weights=method_cum)[0]
        service = None if rng.random() < NO_SERVICE_SHARE else rng.choices(history.services, cum_weights=service_cum)[0]
        restore = max(int(medians[severity] * math.exp(rng.gauss(0.0, RESTORE_SIGMA[severity]))), MIN_RESTORE)
        shares = _shares(rng, PHASE_ALPHA_CUSTOMER if method == "customer_report" else PHASE_ALPHA)
        started = _start(rng, end, days)
        if started + restore > end:  # restored (or its stamps so far) by now: it began earlier
            started = end - restore - 60 - int(rng.random() * 7200)
        # Stamps: each phase ends at the previous stamp plus its share of the restore time.
        detected = started + round(shares[0] * restore)
        diagnosed = detected + round(shares[1] * restore)
        mitigated = diagnosed + round(shares[2] * restore)
        verified = started + restore
        mitigated = min(mitigated, verified)
        diagnosed_implied = mitigated_implied = False
        roll = rng.random()
        if roll < ROLLBACK_SHARE:  # rolled back before the cause was known
            diagnosed, diagnosed_implied = mitigated, True
        elif roll < ROLLBACK_SHARE + VERIFY_SKIPS_MITIGATE:  # verified right after diagnosis
            mitigated, mitigated_implied = verified, True

        stamps: list[int | None] = [diagnosed, mitigated, verified]
        if rng.random() < OPEN_SHARE:
            reached = rng.randrange(3)  # stamps present: none, diagnosed, diagnosed + mitigated
            stamps = [s if k < reached else None for k, s in enumerate(stamps)]
            # An implied stamp needs the later stamp it was implied from.
            diagnosed_implied = diagnosed_implied and reached == 2
            mitigated_implied = False
        diagnosed_s, mitigated_s, verified_s = stamps

        if service is None or rng.random() < DEPLOY_UNCHECKED:
            deploy_found = None
        else:
            deploy_found = rng.random() < DEPLOY_FOUND

        opener = rng.choice(USERS)
        commander = opener if rng.random() < 0.5 else rng.choice(USERS)
        responder = rng.choice(USERS)
        last = verified_s or mitigated_s or diagnosed_s or detected
        title = f"{service or 'platform'} {rng.choice(SYMPTOMS)}"
        detected_at = stamp(detected)
        yield {
            "title": title,
            "severity": severity,
            "service": service,
            "status": "open" if verified_s is None else "resolved",
            "detection_method": method,
            "opened_by": opener,
            "commander": commander,
            "origin_channel_id": "CBENCHORIG",
            "channel_id": f"CB{seed % 1000:03d}{number:08d}",
            "channel_name": f"inc-{number}-{title.replace(' ', '-')}"[:80],
            "control_message_ts": f"{detected}.000100",
            "control_pinned_at": detected_at,
            "announcement_ts": f"{detected}.000200",
            "summary_ts": None if verified_s is None else f"{verified_s}.000300",
            "deploy_found": deploy_found,
            "bookmarked_at": detected_at if service else None,
            "started_at": stamp(started),
            "detected_at": detected_at,
            "diagnosed_at": None if diagnosed_s is None else stamp(diagnosed_s),
            "diagnosed_by": None if diagnosed_s is None else (commander if diagnosed_implied else responder),
            "diagnosed_implied": diagnosed_implied,
            "mitigated_at": None if mitigated_s is None else stamp(mitigated_s),
            "mitigated_by": None if mitigated_s is None else responder,
            "mitigated_implied": mitigated_implied,
            "verified_at": None if verified_s is None else stamp(verified_s),
            "verified_by": None if verified_s is None else commander,
            "created_at": detected_at,
            "updated_at": stamp(last),
        }


@dataclass
class Tally:
    """What went in, counted as the rows pass by (so the summary costs no second generation)."""

    count: int = 0
    open: int = 0
    restores: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in SEVERITY_WEIGHTS})
    methods: Counter[str] = field(default_factory=Counter)
    deploys: Counter[str] = field(default_factory=Counter)
    services: set[str] = field(default_factory=set)
    first: datetime | None = None
    last: datetime | None = None

    def add(self, row: dict[str, Any]) -> None:
        self.count += 1
        self.methods[row["detection_method"]] += 1
        self.deploys[repr(row["deploy_found"])] += 1
        if row["service"]:
            self.services.add(row["service"])
        started = row["started_at"]
        self.first = started if self.first is None or started < self.first else self.first
        self.last = started if self.last is None or started > self.last else self.last
        if row["verified_at"] is None:
            self.open += 1
        else:
            self.restores[row["severity"]].append((row["verified_at"] - started).total_seconds() / 60)

    def describe(self) -> str:
        if not self.count:
            return "no incidents"
        pooled = [v for values in self.restores.values() for v in values]
        return "\n".join(
            [
                f"{self.count} incidents started {self.first:%Y-%m-%d} to {self.last:%Y-%m-%d %H:%M} UTC: "
                f"{len(self.services)} services, {self.open} still open ({self.open / self.count:.1%})",
                f"  median time to restore {statistics.median(pooled):.0f} min pooled; "
                + ", ".join(f"{s} {statistics.median(v):.0f} min (n={len(v)})" for s, v in self.restores.items() if v),
                "  detection: " + ", ".join(f"{m} {c / self.count:.0%}" for m, c in self.methods.most_common()),
                "  deploy_found: " + ", ".join(f"{d} {c / self.count:.0%}" for d, c in self.deploys.most_common()),
            ]
        )


async def insert_history(db: Database, count: int, *, seed: int = 7, now: datetime, days: int = 365, batch: int = BATCH) -> Tally:
    """Migrate ``db`` and insert ``count`` generated incidents in one transaction, ``batch`` rows
    per Core ``insert`` executemany. Returns what went in.

    The incidents get their ids in the order they were opened (``created_at``), as a bot's own
    table grows: the rows are drawn in no order of time, so they go through a temporary table and
    are copied from it sorted, by the database (a million rows never sit in Python's memory)."""
    await upgrade_to_head(db)
    table = Incident.__table__
    tally = Tally()
    rows = incident_rows(count, seed=seed, now=now, days=days)
    first = list(itertools.islice(rows, batch))
    if not first:
        return tally
    # The columns the rows set; the rest take their defaults as the rows are copied.
    names = list(first[0])
    staging = Table("incidents_drawn", MetaData(), *(Column(name, table.c[name].type) for name in names), prefixes=["TEMPORARY"])
    async with db.engine.begin() as connection:  # a half-written history is no history
        await connection.run_sync(staging.create)
        chunk = first
        while chunk:
            for row in chunk:
                tally.add(row)
            await connection.execute(insert(staging), chunk)
            chunk = list(itertools.islice(rows, batch))
        drawn = select(*(staging.c[name] for name in names)).order_by(staging.c.created_at, staging.c.started_at)
        await connection.execute(insert(table).from_select(names, drawn))
        await connection.run_sync(staging.drop)
    return tally


async def stored(db: Database) -> int:
    """How many incidents the (migrated) database holds."""
    async with db.engine.connect() as connection:
        return (await connection.execute(select(func.count()).select_from(Incident.__table__))).scalar_one()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.history",
        description="Insert a seeded, realistic incident history into a (migrated) database.",
    )
    parser.add_argument("--count", type=int, default=10_000, help="incidents to insert (1-2,000,000; default 10000)")
    parser.add_argument("--database", required=True, help="sqlite:///path.db or postgresql://…")
    parser.add_argument("--seed", type=int, default=7, help="the same seed gives the same history (default 7)")
    parser.add_argument("--days", type=int, default=365, help="spread start times over this many days (default 365)")
    parser.add_argument(
        "--now", type=datetime.fromisoformat, default=None, help="the history ends here (ISO 8601 with a zone; default: now)"
    )
    parser.add_argument("--batch", type=int, default=BATCH, help=f"rows per executemany (default {BATCH})")
    parser.add_argument("--append", action="store_true", help="insert even if the table already has incidents")
    args = parser.parse_args(argv)
    if not 1 <= args.count <= 2_000_000:
        parser.error("--count must be between 1 and 2000000")
    if not 1 <= args.days <= 3650 or not 1 <= args.batch <= 50_000:
        parser.error("--days must be 1-3650 and --batch 1-50000")
    now = (args.now or datetime.now(UTC)).replace(microsecond=0)
    if now.tzinfo is None:
        parser.error("--now needs a time zone, e.g. 2026-11-23T09:00Z")
    try:
        db = Database(args.database)
    except DatabaseURLError as error:
        parser.error(f"--database: {error}")

    async def run() -> int:
        try:
            await upgrade_to_head(db)
            before = await stored(db)
            if before and not args.append:
                print(f"the database already holds {before} incidents; pass --append to add more", file=sys.stderr)
                return 1
            t0 = time.perf_counter()
            tally = await insert_history(db, args.count, seed=args.seed, now=now, days=args.days, batch=args.batch)
            took = time.perf_counter() - t0
            total = await stored(db)
        finally:
            await db.dispose()
        print(f"inserted {args.count} incidents in {took:.2f} s ({args.count / took:,.0f}/s); the table holds {total}")
        print(tally.describe())
        return 0

    return asyncio.run(run())


if __name__ == "__main__":
    raise SystemExit(main())


# Deploys per incident with deploy data: the pipelines deploy far more often than things break.
DEPLOYS_PER_CHECKED_INCIDENT = 4
COMMIT_TIME_SHARE = 0.7  # of deploys: the pipeline reports the first commit's time


async def insert_deploys(db: Database, *, seed: int = 7) -> int:
    """Deploys for the stored history, for DORA's keys: each incident linked to a deploy
    (deploy_found true) gets one to its service 30 minutes before its impact, linked to it; then
    DEPLOYS_PER_CHECKED_INCIDENT unlinked deploys per incident with deploy data, at seeded times
    between its impact and a week before, most with a commit time up to two days earlier.
    Returns how many deploys went in."""
    rng = random.Random(seed)
    async with db.engine.begin() as connection:
        incidents = (
            await connection.execute(
                select(Incident.id, Incident.service, Incident.started_at, Incident.deploy_found)
                .where(Incident.deploy_found.is_not(None))
                .order_by(Incident.id)
            )
        ).all()
        deploys: list[dict[str, Any]] = []
        links: list[tuple[int, int]] = []
        for incident_id, service, started_at, found in incidents:
            started = started_at if started_at.tzinfo else started_at.replace(tzinfo=UTC)
            if found:
                links.append((incident_id, len(deploys)))
                deploys.append(_deploy(rng, service, started - timedelta(minutes=30), f"r{incident_id}"))
            for k in range(DEPLOYS_PER_CHECKED_INCIDENT):
                deploys.append(_deploy(rng, service, started - timedelta(seconds=rng.randrange(7 * 86400)), f"v{incident_id}.{k}"))
        ids: list[int] = []
        for start in range(0, len(deploys), BATCH):
            result = await connection.execute(insert(Deploy.__table__).returning(Deploy.__table__.c.id), deploys[start : start + BATCH])
            ids += list(result.scalars())
        rows = [{"incident_id": incident_id, "deploy_id": ids[index]} for incident_id, index in links]
        for start in range(0, len(rows), BATCH):
            await connection.execute(insert(IncidentDeploy.__table__), rows[start : start + BATCH])
    return len(deploys)


def _deploy(rng: random.Random, service: str, at: datetime, version: str) -> dict[str, Any]:
    commit = at - timedelta(seconds=rng.randrange(2 * 86400)) if rng.random() < COMMIT_TIME_SHARE else None
    return {
        "service": service,
        "version": version,
        "environment": "production",
        "deployed_at": at,
        "commit_time": commit,
        "author": None,
        "url": None,
        "description": None,
        "source": "webhook",
        "recorded_at": at,
    }
