"""Every figure the report, /incident stats, App Home and the weekly digest show comes out the same
from the fast path (storage.reports: columns aggregated by the database, in batches) as from the
straightforward computation over every incident loaded as an ORM object, for random histories:
corrected and reopened incidents, private ones, missing and implied stamps, stamps at the edge of
a microsecond, names that hold the fast path's separators, and (SQLite) a stamp stored in another
text form than SQLAlchemy writes. With batches of a few incidents as well as the default, so every
way a window is cut into batches is crossed."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import random
import threading
from dataclasses import asdict
from datetime import UTC, datetime, time, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text

import storage.reports
from bot.analytics.digest import build_digest, digest_incident, digest_trend, digest_week, incidents_per_week
from bot.analytics.digest_publisher import DigestPublisher
from bot.analytics.digest_schedule import DigestChannel
from bot.analytics.incident_reads import IncidentReads
from bot.analytics.reports import TREND_WEEKS, Reports
from bot.analytics.stats import (
    BUSINESS_HOURS,
    NO_SERVICE,
    OUT_OF_HOURS,
    IncidentFacts,
    ReportSettings,
    RestoredIncidents,
    WindowReport,
    build_report,
    detectable_change,
    figure,
    in_business_hours,
    measures,
    weekly_trend,
)
from bot.core.tiers import TierTables
from storage.db import Database
from storage.models import Incident
from storage.reports import PRIVATE_TITLE
from tests.stored_incidents import incident_row, random_incident_row
from tests.waiting import HANG_SECONDS

pytestmark = pytest.mark.both_databases

UTC = UTC
NOW = datetime(2026, 11, 25, 15, 30, tzinfo=UTC)  # a Wednesday: the digest covers 2026-W47
SEEDS = range(6)
# "a,b" and "x\x1fy" hold the separators the aggregated read joins values with.
SERVICES = ["payments-api", "checkout", None, "search", "a,b", "x\x1fy"]
SETTINGS = ReportSettings(min_count=3)


async def random_history(db: Database, seed: int, count: int = 140) -> None:
    rng = random.Random(seed)
    services = SERVICES if seed % 2 else SERVICES[:4]  # half the histories take the row-by-row way out
    async with db.transaction() as session:
        session.add_all(
            random_incident_row(rng, n, now=NOW, services=services, days=140, private_share=0.15, war_room_share=0.8) for n in range(count)
        )
    async with db.transaction() as session:
        incidents = (await session.execute(select(Incident).order_by(Incident.id))).scalars().all()
        for incident in rng.sample(list(incidents), k=count // 5):
            change = rng.random()
            if change < 0.25:  # a correction of the facts
                incident.severity = rng.choice(["P1", "P2", "P3", "P4"])
                incident.service = rng.choice(services)
                incident.is_private = not incident.is_private
            elif change < 0.5 and incident.verified_at is not None:  # a corrected stamp, later
                incident.verified_at = min(incident.verified_at + timedelta(minutes=rng.uniform(1, 600)), NOW)
            elif change < 0.75 and incident.verified_at is not None:  # reopened, still open
                incident.verified_at = None
                incident.status = "open"
            elif incident.verified_at is not None:  # reopened and restored again
                incident.verified_at = min(incident.verified_at + timedelta(hours=rng.uniform(1, 48)), NOW)
    if db.dialect == "sqlite" and seed % 3 == 0:
        # Written by hand, not by SQLAlchemy: a stamp without its fraction of a second.
        async with db.transaction() as session:
            first = (await session.execute(select(Incident.id, Incident.started_at).order_by(Incident.id).limit(1))).one()
            await session.execute(
                text("UPDATE incidents SET started_at = :started WHERE id = :id"),
                {"started": first.started_at.strftime("%Y-%m-%d %H:%M:%S"), "id": first.id},
            )


async def every_incident(db: Database) -> list[IncidentFacts]:
    """The straightforward way: every incident as an ORM object, then its facts."""
    async with db.reading() as session:
        incidents = (await session.execute(select(Incident).order_by(Incident.id))).scalars().all()
    return [
        IncidentFacts(
            id=i.id,
            severity=i.severity,
            service=i.service,
            detection_method=i.detection_method,
            started_at=i.started_at,
            detected_at=i.detected_at,
            diagnosed_at=i.diagnosed_at,
            mitigated_at=i.mitigated_at,
            verified_at=i.verified_at,
            deploy_linked=i.deploy_found,
            acknowledged_at=i.acknowledged_at,
            private=bool(i.is_private),
        )
        for i in incidents
    ]


def scoped(facts: list[IncidentFacts], services: list[str] | None) -> list[IncidentFacts]:
    return [f for f in facts if not services or f.service in services]


def expected_report(facts: list[IncidentFacts], since: datetime, until: datetime, tiers: TierTables) -> WindowReport:
    report = build_report([f for f in facts if f.started_at < until], since=since, until=until, now=NOW, tiers=tiers, settings=SETTINGS)
    private = {f.id for f in facts if f.private}
    if report.longest and report.longest.id in private:
        report = dataclasses.replace(report, longest=dataclasses.replace(report.longest, private=True))
    return report


def assert_each_group_as_computed_on_its_own(report: WindowReport, facts: list[IncidentFacts]) -> None:
    """Each segment's figures against ``measures`` of that segment's incidents alone (a sort of
    its own per group and duration), and the deploy-linked recovery against ``figure``: the report
    sorts each duration once and masks it per group."""
    restored = [f for f in facts if f.restored and report.since <= f.started_at < report.until]
    assert asdict(report.overall) == asdict(measures(restored, SETTINGS))
    groups = {
        "severity": lambda f: f.severity,
        "service": lambda f: f.service or NO_SERVICE,
        "detection_method": lambda f: f.detection_method,
        "business_hours": lambda f: BUSINESS_HOURS if in_business_hours(f.started_at, SETTINGS) else OUT_OF_HOURS,
    }
    for name, key_of in groups.items():
        for key, shown in getattr(report.segments, name).items():
            assert asdict(shown) == asdict(measures([f for f in restored if key_of(f) == key], SETTINGS)), (name, key)
    linked = [f.time_to_restore.total_seconds() for f in restored if f.deploy_linked and f.time_to_restore is not None]
    if report.recovery.failed_deployment_recovery is not None:
        assert report.recovery.failed_deployment_recovery == figure(linked, SETTINGS.min_count, SETTINGS.confidence)


@pytest.fixture(params=["default batches", "batches of 16"])
def batch_rows(request, monkeypatch) -> int:
    if request.param == "batches of 16":
        monkeypatch.setattr(storage.reports, "AGGREGATED_ROWS", 16)
    return storage.reports.AGGREGATED_ROWS


@pytest.mark.parametrize("seed", SEEDS)
async def test_report_figures_equal_the_figures_over_every_incident(db, seed, batch_rows):
    await random_history(db, seed)
    tiers = TierTables.default()
    reports = Reports(db, lambda: NOW, tiers=tiers, settings=SETTINGS)
    facts = await every_incident(db)
    assert any(f.private for f in facts) and any(not f.restored for f in facts)
    assert any(f.restored and f.diagnosed_at is None for f in facts)

    # incident-bot report (365 days: most of the table), /incident stats (scoped or not) and App
    # Home (30 days), each with its trend.
    for days, services in ((365, None), (30, None), (7, None), (90, ["checkout"]), (120, ["a,b", "x\x1fy", "search"])):
        since = NOW - timedelta(days=days)
        report, war_rooms, trend = await reports.window_and_trend(since, NOW, services=services)
        in_scope = scoped(facts, services)
        expected = expected_report(in_scope, since, NOW, tiers)
        assert asdict(report) == asdict(expected), (days, services)
        assert_each_group_as_computed_on_its_own(report, in_scope)
        assert asdict(trend) == asdict(weekly_trend(in_scope, now=NOW, settings=SETTINGS)), (days, services)
        named = {i.id for i in report.open_incidents} | ({report.longest.id} if report.longest else set())
        private = {f.id for f in facts if f.private}
        assert set(war_rooms) <= named - private


@pytest.mark.parametrize("seed", SEEDS)
async def test_digest_equals_the_digest_over_every_incident(db, seed, batch_rows):
    await random_history(db, seed)
    tiers = TierTables.default()
    reports = Reports(db, lambda: NOW, tiers=tiers, settings=SETTINGS)
    publisher = DigestPublisher(db, lambda: NOW, reports, slack=None)  # type: ignore[arg-type]  # compose never posts
    facts = await every_incident(db)
    async with db.reading() as session:
        rows = (await session.execute(select(Incident.id, Incident.title, Incident.channel_id))).all()
    titles = {row.id: row.title for row in rows}
    channels = {row.id: row.channel_id for row in rows if row.channel_id}

    for services in ([], ["checkout", "x\x1fy"]):
        composed = await publisher.compose(DigestChannel(channel="C0DIGEST1", services=services))
        start, end = digest_week(None, NOW)
        in_scope = [f for f in scoped(facts, services) if f.started_at < end]
        history = [f for f in in_scope if f.restored and start - timedelta(weeks=TREND_WEEKS - 1) <= f.started_at < end]
        still_open = [f for f in in_scope if not f.restored]
        report = expected_report(in_scope, start, end, tiers)
        restored = RestoredIncidents.from_facts(history)
        trend = digest_trend(restored, [f.started_at for f in still_open], week_end=end, weeks=TREND_WEEKS, settings=SETTINGS)
        per_week = incidents_per_week(trend)
        in_week = [f for f in in_scope if f.restored and start <= f.started_at < end]
        expected = build_digest(
            channel_label=", ".join(services) if services else "all services",
            week_start=start,
            last_week_incidents=[digest_incident(f, title=PRIVATE_TITLE if f.private else titles[f.id], tiers=tiers) for f in in_week],
            report=report,
            trend=trend,
            detectable=detectable_change((restored.restore_us / 1_000_000).tolist(), per_week=per_week, settings=SETTINGS),
            open_incidents=report.open_incidents,
            war_rooms={f.id: channels[f.id] for f in in_week + still_open if f.id in channels and not f.private},
            per_week=per_week,
        )
        assert in_week or services  # the whole team had incidents that week
        assert composed.digest == expected, services
        assert asdict(composed.trend) == asdict(trend)


async def test_a_weeks_incident_the_listing_read_missed_is_named_by_a_read_of_its_own(db, monkeypatch):
    """The digest reads what it names its week's incidents by alongside the columns: one restored
    between the two reads is in the columns and not in that listing, and is named by its id."""
    await random_history(db, 0)
    reports = Reports(db, lambda: NOW, tiers=TierTables.default(), settings=SETTINGS)
    publisher = DigestPublisher(db, lambda: NOW, reports, slack=None)  # type: ignore[arg-type]  # compose never posts
    channel = DigestChannel(channel="C0DIGEST1")
    expected = await publisher.compose(channel)
    listing = IncidentReads.listing
    asked: list[object] = []

    async def listing_without_the_first(self, since, until, **scope):
        listed = await listing(self, since, until, **scope)
        asked.append(scope.get("ids"))
        if scope.get("ids") is None:
            del listed[min(listed)]
        return listed

    monkeypatch.setattr(IncidentReads, "listing", listing_without_the_first)
    composed = await publisher.compose(channel)
    assert composed.digest == expected.digest
    assert asked[0] is None and len(asked[1]) == 1


class Refused(Exception):
    pass


async def read_whole_window(db: Database, since: datetime) -> tuple[list[int], list[int], int]:
    """The restored incidents' ids a read hands over, those still open, and how many batches."""
    ids: list[int] = []
    batches: list[int] = []
    still_open: list[int] = []

    def add(batch: storage.reports.RestoredBatch) -> None:
        ids.extend(batch.ids)
        batches.append(len(batch.ids))

    def found_open(rows) -> None:
        still_open.extend(row.id for row in rows)

    await asyncio.wait_for(storage.reports.incident_columns(db, since=since, until=NOW, add=add, found_open=found_open), HANG_SECONDS)
    return sorted(ids), still_open, len(batches)


# Seed 2: every part aggregated; seed 1: names holding the separator, so parts are read row by row too.
@pytest.mark.parametrize("seed", [2, 1])
@pytest.mark.parametrize("refused", ["second", "last"])
async def test_a_refused_batch_stops_the_read_and_the_next_read_sees_everything(db, monkeypatch, seed, refused):
    """A batch the caller refuses ends the read there, with the caller's error (on SQLite the
    reading thread stops, wherever it was, and gives its connection back); the next read, on the
    same database, hands over every restored incident of the window once, as before."""
    await random_history(db, seed)
    monkeypatch.setattr(storage.reports, "AGGREGATED_ROWS", 16)
    since = NOW - timedelta(days=400)
    whole = await read_whole_window(db, since)
    facts = await every_incident(db)
    assert whole[:2] == ([f.id for f in facts if f.restored], [f.id for f in facts if not f.restored])
    refused_at = 2 if refused == "second" else whole[2]
    added: list[int] = []

    def refuse(batch: storage.reports.RestoredBatch) -> None:
        added.append(len(batch.ids))
        if len(added) == refused_at:
            raise Refused

    with pytest.raises(Refused):
        await asyncio.wait_for(
            storage.reports.incident_columns(db, since=since, until=NOW, add=refuse, found_open=lambda _rows: None), HANG_SECONDS
        )
    assert len(added) == refused_at
    assert nothing_left_reading(db)
    assert await read_whole_window(db, since) == whole


def nothing_left_reading(db) -> bool:
    """No connection of the reads out of their pool and, on SQLite, no reading thread alive."""
    if db._sqlite_reads is None:
        return db.engine.pool.checkedout() == 0
    alive = [thread for thread in threading.enumerate() if thread.name == "sqlite-read" and thread.is_alive()]
    return alive == [] and db._sqlite_reads.pool.checkedout() == 0


@pytest.mark.parametrize("seed", [2, 1])
async def test_a_read_cancelled_with_its_reader_leaves_no_thread_and_no_connection(db, seed):
    """As when the loop shuts down during a digest: the caller and the task reading in its thread
    are cancelled together, after the first batch; the thread has stopped and given its
    connection back by the time the caller's cancellation is over."""
    await random_history(db, seed)
    since = NOW - timedelta(days=400)
    caller: list[asyncio.Task] = []

    def cancel_everything(_batch: storage.reports.RestoredBatch) -> None:
        for task in asyncio.all_tasks():
            if task is caller[0] or task.get_coro().__qualname__ == "Database.read_in_thread":
                task.cancel()

    caller.append(
        asyncio.ensure_future(
            storage.reports.incident_columns(db, since=since, until=NOW, add=cancel_everything, found_open=lambda _rows: None)
        )
    )
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(caller[0], HANG_SECONDS)
    assert nothing_left_reading(db)


async def test_a_read_that_fails_raises_its_error(db, monkeypatch):
    await random_history(db, 2)

    def no_plan(*_args, **_kwargs):
        raise RuntimeError("the plan failed")

    monkeypatch.setattr(storage.reports, "_chunks", no_plan)
    with pytest.raises(RuntimeError, match="the plan failed"):
        await asyncio.wait_for(
            storage.reports.incident_columns(db, since=NOW - timedelta(days=400), until=NOW, add=print, found_open=lambda _rows: None),
            HANG_SECONDS,
        )
    assert nothing_left_reading(db)


async def test_open_incidents_refused_end_the_read_with_nothing_left_reading(db):
    """The caller refusing the open incidents (on SQLite handed over first, while the reader goes
    on to the aggregates) ends the read with its error, and no thread or connection is left."""
    await random_history(db, 2)

    def refuse(_rows) -> None:
        raise Refused

    with pytest.raises(Refused):
        await asyncio.wait_for(
            storage.reports.incident_columns(db, since=NOW - timedelta(days=400), until=NOW, add=lambda _batch: None, found_open=refuse),
            HANG_SECONDS,
        )
    assert nothing_left_reading(db)


# A business hour that holds a change of the zone's UTC offset, and starts a microsecond either side
# of the change and of the hour's ends: Berlin's clocks went back at 01:00 UTC on 2026-10-25 (02:00
# to 03:00 local came twice), Auckland's forward at 14:00 UTC on 2026-09-26 (02:00 local never came).
OFFSET_CHANGES = {
    "Europe/Berlin": (
        time(2, 0),
        datetime(2026, 10, 25, 1, 0, tzinfo=UTC),
        ("-01:00:00.000001", "-01:00", "-00:30", "+00:00", "+00:30", "+00:59:59.999999", "+01:00"),
    ),
    "Pacific/Auckland": (
        time(3, 0),
        datetime(2026, 9, 26, 14, 0, tzinfo=UTC),
        ("-01:00", "-00:00:00.000001", "+00:00", "+00:30", "+00:59:59.999999", "+01:00"),
    ),
}


def _moment(change: datetime, offset: str) -> datetime:
    sign = -1 if offset[0] == "-" else 1
    hours, minutes, seconds = (offset[1:].split(":") + ["0"])[:3]
    return change + sign * timedelta(hours=int(hours), minutes=int(minutes), seconds=float(seconds))


@pytest.mark.parametrize("zone", sorted(OFFSET_CHANGES))
async def test_business_hours_across_a_change_of_the_utc_offset_equal_the_figures_over_every_incident(db, zone, batch_rows):
    """The fast path reads each start's local time from the offset at the start of its day and hour;
    the straightforward one converts each start on its own."""
    start, change, offsets = OFFSET_CHANGES[zone]
    await random_history(db, 0)
    async with db.transaction() as session:
        for k, offset in enumerate(offsets * 3):
            started = _moment(change, offset)
            session.add(
                incident_row(
                    f"Across the change {k}",
                    started,
                    detected_at=started + timedelta(minutes=1 + k),
                    verified_at=started + timedelta(minutes=30 + 7 * k),
                    severity=("P1", "P2", "P3")[k % 3],
                )
            )
    end = (datetime.combine(datetime(2026, 1, 1), start) + timedelta(hours=1)).time()
    settings = ReportSettings(
        min_count=3, time_zone=ZoneInfo(zone), business_days=frozenset(range(7)), business_start=start, business_end=end
    )
    tiers = TierTables.default()
    reports = Reports(db, lambda: NOW, tiers=tiers, settings=settings)
    facts = await every_incident(db)
    since = NOW - timedelta(days=120)

    report, _, _ = await reports.window_and_trend(since, NOW)

    expected = build_report(facts, since=since, until=NOW, now=NOW, tiers=tiers, settings=settings)
    private = {f.id for f in facts if f.private}
    if expected.longest and expected.longest.id in private:
        expected = dataclasses.replace(expected, longest=dataclasses.replace(expected.longest, private=True))
    in_hours = [f for f in facts if f.restored and since <= f.started_at < NOW and in_business_hours(f.started_at, settings)]
    assert len(in_hours) >= 3 * 3  # three times: the change, a microsecond before the hour ends, and between
    assert report.segments.business_hours[BUSINESS_HOURS].count == len(in_hours)
    assert asdict(report) == asdict(expected)


def resampled_the_long_way(
    restore_seconds: list[float], *, per_week: int, seed: int, trials: int, power: float, settings: ReportSettings
) -> float | None:
    """detectable_change as its docstring defines it, pick by pick with ``random.Random(seed)``."""
    from bot.analytics.stats import EFFECT_GRID, MIN_RESAMPLE, Verdict, judge, median_ranks

    if per_week < settings.min_count or len(restore_seconds) < MIN_RESAMPLE:
        return None
    ranks = median_ranks(per_week, settings.confidence)
    if ranks is None:
        return None
    low, high = ranks[0] - 1, per_week - ranks[0]
    rng = random.Random(seed)
    pairs = []
    for _ in range(trials):
        first, second = sorted(rng.choices(restore_seconds, k=per_week)), sorted(rng.choices(restore_seconds, k=per_week))
        pairs.append(((first[low], first[high]), (second[low], second[high])))
    for effect in EFFECT_GRID:
        detected = sum(judge(a, (b[0] * (1 - effect), b[1] * (1 - effect))) is Verdict.BETTER for a, b in pairs)
        if detected >= math.ceil(Fraction(str(power)) * trials):
            return effect
    return None


@pytest.mark.parametrize("case", range(40))
def test_detectable_change_draws_what_random_choices_draws(case):
    """NumPy draws the resampling: the same picks as ``random.Random(seed).choices``, hence the same effect."""
    rng = random.Random(case)
    values = [
        rng.lognormvariate(7, 1.5) if rng.random() < 0.9 else rng.choice([0.0, 60.0, 1e6]) for _ in range(rng.choice([6, 9, 60, 700]))
    ]
    per_week = rng.choice([3, 6, 7, 12, 40, 250])
    seed = rng.choice([1234, 0, rng.randrange(2**40)])
    trials = rng.choice([1, 25, 400])
    power = rng.choice([0.5, 0.8, 1.0])
    expected = resampled_the_long_way(values, per_week=per_week, seed=seed, trials=trials, power=power, settings=SETTINGS)
    assert detectable_change(values, per_week=per_week, seed=seed, trials=trials, power=power, settings=SETTINGS) == expected
