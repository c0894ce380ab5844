"""The MTTR presentation layer: bot.analytics.stats_view (Block Kit, CLI text, CSV, JSON, App Home),
bot.analytics.digest (the weekly digest and ISO weeks) and bot.analytics.chart (the digest's PNG)."""

import csv
import dataclasses
import io
import json
import math
import random
import re
from datetime import UTC, datetime, timedelta

import pytest

from bot.analytics.chart import chart_alt_text, render_digest_chart
from bot.analytics.digest import FOOTNOTE, MAX_TITLE_IN_DIGEST, build_digest, digest_incident, digest_week, incidents_per_week
from bot.analytics.stats import IncidentFacts, ReportSettings, build_report, detectable_change, weekly_trend
from bot.analytics.stats_view import GROUPINGS, home_view, report_blocks, report_csv, report_json, report_table
from bot.core.phases import Phase
from bot.core.tiers import TierTables
from bot.slack.blocks import MAX_FIELD_TEXT, MAX_HEADER, MAX_SECTION_TEXT, within_message_limits
from tests.incident_facts import facts_maker, figures_digest, stamp_times
from tests.stored_incidents import incident_row

UTC = UTC
TIERS = TierTables.default()
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # Tuesday of 2026-W48
LAST_WEEK = datetime(2026, 11, 16, tzinfo=UTC)  # Monday of 2026-W47
SERVICES = ("payments-api", "checkout", "identity", "search", None)
USER_ID = re.compile(r"<@|<!subteam|\b[UW]0[A-Z0-9]{6,}\b")


incident = facts_maker(minutes=(2, 10, 5, 3), service="payments-api", stamps_when_open=1)  # an open one is only detected


def history(seed: int = 7, per_week: int = 8, weeks: int = 12) -> list[IncidentFacts]:
    """Lognormal restore times (median ~50 min) over ``weeks`` weeks up to NOW, a few still open."""
    rng = random.Random(seed)
    first = LAST_WEEK - timedelta(weeks=weeks - 1)
    out: list[IncidentFacts] = []
    for week in range(weeks + 1):
        for _ in range(per_week if week != 3 else 3):  # one thin week
            start = first + timedelta(weeks=week, seconds=rng.uniform(0, 7 * 86400))
            if start >= NOW:
                continue
            total = rng.lognormvariate(math.log(50), 1.0)
            weights = [rng.random() * 0.3, rng.random(), rng.random() * 0.6, rng.random() * 0.3]
            parts = tuple(total * w / sum(weights) for w in weights)
            out.append(
                incident(
                    len(out) + 1,
                    start,
                    parts,  # type: ignore[arg-type]
                    severity=rng.choice(["P1", "P2", "P3", "P3", "P4"]),
                    service=rng.choice(SERVICES),
                    method=rng.choice(["alert", "alert", "customer_report", "engineer", "synthetic"]),
                    deploy=rng.choice([True, False, None]),
                    restored=not (start > NOW - timedelta(days=2) and rng.random() < 0.5),
                )
            )
    return out


def window(incidents, since=None, until=None, **settings):
    since = since or NOW - timedelta(days=30)
    return build_report(incidents, since=since, until=until or NOW, now=NOW, tiers=TIERS, settings=ReportSettings(**settings))


def texts(blocks) -> list[str]:
    """Every piece of text in a list of blocks."""
    out = []
    for block in blocks:
        if "text" in block:
            out.append(block["text"]["text"])
        out += [field["text"] for field in block.get("fields", [])]
        out += [element["text"] for element in block.get("elements", []) if "text" in element]
    return out


def lines(chunks) -> list[str]:
    return [line for chunk in chunks for line in chunk.splitlines()]


def check_limits(blocks, max_blocks=50):
    assert len(blocks) <= max_blocks
    for block in blocks:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= MAX_HEADER
        if block["type"] == "section":
            if "text" in block:
                assert len(block["text"]["text"]) <= MAX_SECTION_TEXT
            assert all(len(f["text"]) <= MAX_FIELD_TEXT for f in block.get("fields", []))
    within_message_limits(blocks[:50])


@pytest.fixture(scope="module")
def facts():
    return history()


@pytest.fixture(scope="module")
def trend(facts):
    return weekly_trend(facts, now=NOW)


@pytest.fixture(scope="module")
def month(facts):
    return window(facts)


@pytest.fixture(scope="module")
def digest(facts, trend):
    start, end = digest_week(None, NOW)
    report = window(facts, since=start, until=end)
    restores = [f.time_to_restore.total_seconds() for f in facts if f.restored and f.started_at >= trend.since]
    per_week = incidents_per_week(trend)
    last_week = [
        digest_incident(f, title=f"Checkout <b>500s</b> & @here {f.id}", tiers=TIERS) for f in facts if start <= f.started_at < end
    ]
    return build_digest(
        channel_label="payments",
        week_start=start,
        last_week_incidents=last_week,
        report=report,
        trend=trend,
        detectable=detectable_change(restores, per_week=per_week),
        open_incidents=report.open_incidents,
        war_rooms={f.id: f"C0{f.id:05d}X" for f in facts[::2]},
    )


def every_output(facts, month, trend, digest) -> list[str]:
    """All the text this layer produces for one data set."""
    chunks = texts(report_blocks(month, trend, title="MTTR, last 30 days"))
    chunks += texts(home_view(month.open_incidents, month, war_rooms={1: "C0123456"}, trend=trend)["blocks"])
    chunks.append(report_table(month, trend=trend))
    chunks += [report_table(month, by=by) for by in GROUPINGS]
    chunks += [digest.text, digest.fallback, *texts(digest.blocks)]
    return chunks


# ---------------------------------------------------------------------------------------------
# Block Kit: sizes and limits


def test_report_blocks_fit_slack(month, trend):
    blocks = report_blocks(month, trend, title="MTTR, last 30 days")
    check_limits(blocks)
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text", "text": "MTTR, last 30 days", "emoji": True}}
    joined = "\n".join(texts(blocks))
    for needle in (
        "*Time to restore*",
        "95% interval",
        "p90",
        "p95",
        "*Phases*",
        "of restore time",
        "*Slowest phase*",
        "Slowest phase by severity",
        "*Customer-reported*",
        "Customer-reported P1s",
        "*Longest incident*",
        "DORA bands (2023 report)",
        "*Severity targets*",
        "*Failed deployment recovery*",
        "*By severity*",
        "*By service*",
        "*Last 12 weeks*",
    ):
        assert needle in joined, needle


def test_recovery_figures_side_by_side(month):
    blocks = report_blocks(month, title="t")
    fields = next(b["fields"] for b in blocks if "fields" in b)
    assert [f["text"].splitlines()[0] for f in fields] == ["*Time to restore*", "*Failed deployment recovery*"]
    no_deploys = window([incident(i, NOW - timedelta(days=3, hours=i)) for i in range(1, 8)])
    fields = next(b["fields"] for b in report_blocks(no_deploys, title="t") if "fields" in b)
    assert fields[1]["text"] == "*Failed deployment recovery*\nno deploy data yet"


def test_huge_inputs_still_fit():
    """300 services and 200 open incidents: lists stop with "…and N more" inside the limits."""
    many = [incident(i, NOW - timedelta(days=20, minutes=i), service=f"service-{i:03d}-{'x' * 60}") for i in range(1, 301)]
    many += [incident(1000 + i, NOW - timedelta(days=2, minutes=i), restored=False) for i in range(200)]
    report = window(many)
    blocks = report_blocks(report, title="x" * 400, war_rooms={1000 + i: f"C{i:08d}" for i in range(200)})
    check_limits(blocks)
    joined = "\n".join(texts(blocks))
    assert "more services" in joined and "more open incidents" in joined
    view = home_view(report.open_incidents, report, war_rooms={1000: "C0000001"})
    check_limits(view["blocks"], max_blocks=100)


def test_home_view_lists_open_incidents_with_phase_age_and_war_room(month):
    assert month.open_incidents, "the fixture should have open incidents"
    first = month.open_incidents[0]
    view = home_view(month.open_incidents, month, war_rooms={first.id: "C0WARROOM1"})
    assert view["type"] == "home"
    check_limits(view["blocks"], max_blocks=100)
    joined = "\n".join(texts(view["blocks"]))
    assert f"<#C0WARROOM1|INC-{first.id}>" in joined
    assert first.current_phase.doing in joined and "open " in joined
    assert "last 30 days" in joined
    empty = home_view([], month)
    assert "No open incidents." in "\n".join(texts(empty["blocks"]))


# ---------------------------------------------------------------------------------------------
# The rules: too few, median beside mean, n everywhere, never by person


def test_too_few_incidents_shows_no_numbers():
    few = window([incident(i, NOW - timedelta(days=5, hours=i), (1, 2, 3, 4 * i)) for i in range(1, 4)], min_count=5)
    blocks = report_blocks(few, title="t")
    restore = next(t for t in texts(blocks) if t.startswith("*Time to restore*\n"))
    assert restore == "*Time to restore*\ntoo few incidents (n=3, need 5)"
    joined = "\n".join(texts(blocks))
    assert "*Detect*: too few incidents (n=3, need 5)" in joined
    assert "*Slowest phase*: too few incidents (n=3, need 5)" in joined
    assert "mean" not in joined  # no figure is read out
    table = report_table(few)
    assert "all  3  too few incidents (n=3, need 5)" in table
    assert re.search(r"\d+ min", table.split("Slowest phase")[0]) is None
    # The programs' formats keep the numbers and say they are not enough.
    data = report_json(few)
    assert data["overall"]["time_to_restore"]["enough"] is False
    assert data["overall"]["time_to_restore"]["count"] == 3
    assert data["overall"]["time_to_restore"]["median"] == 14 * 60  # 10, 14 and 18 minutes
    row = list(csv.DictReader(io.StringIO(report_csv(few))))[0]
    assert (row["count"], row["enough"]) == ("3", "false")


def test_enough_incidents_but_no_interval_says_so():
    five = window([incident(i, NOW - timedelta(days=5, hours=i)) for i in range(1, 6)], min_count=5)
    joined = "\n".join(texts(report_blocks(five, title="t")))
    assert "no 95% interval below 6 incidents" in joined and "n=5" in joined


def test_median_stands_beside_every_mean(facts, month, trend, digest):
    checked = 0
    for line in lines(every_output(facts, month, trend, digest)):
        if "mean" in line:
            checked += 1
            assert "median" in line, line
            assert line.index("median") < line.index("mean"), line
    assert checked > 20


def test_every_figure_carries_its_count(facts, month, trend, digest):
    chunks = texts(report_blocks(month, trend, title="t")) + [digest.text, *texts(digest.blocks)]
    for line in lines(chunks):
        if re.search(r"median \d|\d+% \(|\d+% of restore time", line):
            assert re.search(r"\bn=\d+", line), line


def test_no_user_ids_and_no_grouping_by_person(facts, month, trend, digest):
    for chunk in every_output(facts, month, trend, digest) + [report_csv(month, by) for by in GROUPINGS]:
        assert not USER_ID.search(chunk), chunk
    assert not USER_ID.search(json.dumps(report_json(month, trend)))
    for person in ("commander", "user", "responder", "opened_by"):
        with pytest.raises(ValueError, match="cannot group by"):
            report_table(month, by=person)
        with pytest.raises(ValueError):
            report_csv(month, person)


def test_p1_customer_warning_is_shown():
    p1s = [
        incident(i, NOW - timedelta(days=4, hours=i), severity="P1", method="customer_report" if i <= 2 else "alert") for i in range(1, 7)
    ]
    report = window(p1s)
    joined = "\n".join(texts(report_blocks(report, title="t")))
    assert "*Customer-reported P1s*: 33% (2 of 6 P1s, n=6)" in joined
    assert "⚠️ 2 of 6 P1s were reported by customers: more than 20%" in joined
    assert "WARNING: 2 of 6 P1s" in report_table(report)


def test_week_over_week_verdict_is_explained():
    slow = [incident(i, LAST_WEEK - timedelta(days=6, hours=-i), (0, 0, 0, 100 + i)) for i in range(8)]
    fast = [incident(100 + i, LAST_WEEK + timedelta(hours=i), (0, 0, 0, 20 + i)) for i in range(8)]
    trend = weekly_trend(slow + fast, now=NOW)
    joined = "\n".join(texts(report_blocks(window(slow + fast), trend, title="t")))
    assert "2026-W47 against 2026-W46: *better*" in joined
    assert "lies wholly below" in joined


# ---------------------------------------------------------------------------------------------
# CLI text, CSV, JSON


def test_table_by_each_grouping(month):
    for by in GROUPINGS:
        table = report_table(month, by=by)
        header = next(line for line in table.splitlines() if " median " in line)
        assert re.search(r"\bn  +median  +95% interval  +mean  +p90  +p95  +slowest phase$", header), header
        assert table.rstrip().splitlines()[-1].startswith("all ")
    assert "P1" in report_table(month, by="severity") and "(no service)" in report_table(month, by="service")
    assert "business hours" in report_table(month, by="hours") and "Customer report" in report_table(month, by="detection")


def test_csv_rows_and_columns(month):
    rows = list(csv.DictReader(io.StringIO(report_csv(month, "severity"))))
    assert [r["group"] for r in rows] == ["P1", "P2", "P3", "P4", "all"]
    assert int(rows[-1]["count"]) == month.count
    assert float(rows[-1]["median_s"]) == pytest.approx(month.time_to_restore.distribution.median, abs=0.001)
    assert sum(float(rows[-1][f"{p.value}_share"]) for p in Phase) == pytest.approx(1, abs=0.001)


def test_json_is_serialisable_with_counts_everywhere(month, trend):
    data = report_json(month, trend)
    text = json.dumps(data, allow_nan=False)
    assert json.loads(text) == data
    assert data["overall"]["time_to_restore"]["median"] == month.time_to_restore.distribution.median  # seconds
    assert data["recovery"]["no_deploy_data"] is False

    def figures(node):
        if isinstance(node, dict):
            if "median" in node:
                yield node
            for value in node.values():
                yield from figures(value)
        elif isinstance(node, list):
            for value in node:
                yield from figures(value)

    found = list(figures(data))
    assert len(found) > 50
    for figure in found:
        assert isinstance(figure["count"], int) and isinstance(figure["enough"], bool), figure
    assert json.dumps(report_json(window([])), allow_nan=False)


# ---------------------------------------------------------------------------------------------
# The digest


def test_digest_blocks_and_text(digest, facts):
    check_limits(digest.blocks)
    assert digest.week == "2026-W47"
    joined = "\n".join(texts(digest.blocks))
    linked = next(f for f in facts[::2] if LAST_WEEK <= f.started_at < LAST_WEEK + timedelta(weeks=1))
    assert f"<#C0{linked.id:05d}X|INC-{linked.id}>" in joined
    assert "Checkout &lt;b&gt;500s&lt;/b&gt; &amp; @here" in joined  # title escaped
    assert "<b>" not in joined
    for needle in (
        "Time to restore in 2026-W47",
        "2026-W47 against 2026-W46",
        "*Last 12 weeks*",
        "*Time to acknowledge*: no restored incident in the window was acknowledged",
        "*Slowest phase*",
        "*Customer-reported*",
        "Open incidents",
        "restored in",
        "for the P",
    ):
        assert needle in joined, needle
    assert digest.text.startswith("Incident digest 2026-W47 (Mon 16 Nov – Sun 22 Nov 2026, UTC) · payments")
    assert "<#" not in digest.text and "*" not in digest.text  # plain text, no mrkdwn
    assert digest.fallback.startswith("Incident digest 2026-W47 (payments): ")
    assert "median time to restore" in digest.fallback


def test_digest_opens_with_its_week_and_closes_with_how_to_read_it(digest):
    header, dates, *_, footnote = digest.blocks
    assert header["type"] == "header" and header["text"]["text"] == "📊 Incident digest 2026-W47 · payments"
    assert dates["type"] == "context" and dates["elements"][0]["text"] == "Mon 16 Nov – Sun 22 Nov 2026 (UTC weeks)"
    assert footnote["type"] == "context" and footnote["elements"][0]["text"] == FOOTNOTE


def test_digest_shows_time_to_acknowledge_apart_from_the_phases():
    start = LAST_WEEK
    week = [incident(i, start + timedelta(hours=3 * i)) for i in range(1, 8)]
    # acknowledged 1, 2, … 7 minutes after detection: median 4 min
    acked = [IncidentFacts(**{**f.__dict__, "acknowledged_at": f.detected_at + timedelta(minutes=f.id)}) for f in week]
    report = window(acked, since=start, until=start + timedelta(weeks=1))
    digest = figures_digest(report, acked, week_start=start, now=NOW)
    line = next(line for line in digest.text.splitlines() if line.startswith("Time to acknowledge"))
    assert "median 4 min" in line and "7 of 7 restored incidents were acknowledged" in line


def test_digest_states_the_smallest_visible_change():
    incidents = [
        incident(w * 100 + k, LAST_WEEK - timedelta(weeks=w, hours=-k * 5), (0, 0, 0, 40 + 3 * k)) for w in range(12) for k in range(12)
    ]
    trend = weekly_trend(incidents, now=NOW)
    start, end = digest_week("2026-W47", NOW)
    report = window(incidents, since=start, until=end)
    common = dict(
        channel_label="all", week_start=start, last_week_incidents=[], report=report, trend=trend, open_incidents=[], war_rooms={}
    )
    digest = build_digest(detectable=0.45, per_week=8, **common)
    assert "With ~8 incidents a week, a change smaller than 45% in the median would not show" in digest.text
    assert "No incidents in 2026-W47." in digest.text
    assert "cannot be judged" in build_digest(detectable=None, per_week=3, **common).text
    assert "even a 90% drop" in build_digest(detectable=None, per_week=12, **common).text


def test_digest_with_hundreds_of_incidents_fits():
    start = LAST_WEEK
    many = [incident(i, start + timedelta(minutes=20 * i)) for i in range(1, 400)]
    trend = weekly_trend(many, now=NOW)
    report = window(many, since=start, until=start + timedelta(weeks=1))
    digest = build_digest(
        channel_label="x" * 200,
        week_start=start,
        last_week_incidents=[digest_incident(f, title="T" * 150, tiers=TIERS) for f in many],
        report=report,
        trend=trend,
        detectable=None,
        open_incidents=report.open_incidents,
        war_rooms={},
    )
    check_limits(digest.blocks)
    assert "more (`incident-bot report` lists them all)" in "\n".join(texts(digest.blocks))
    assert digest.text.count("\n- INC-") == len(many)  # the dry run lists every one


@pytest.mark.slow
def test_incident_list_leaves_room_for_its_and_n_more_line_at_any_title_length():
    """The benchmark's 10,000-incident history once gave a section of 3,008 characters: the list
    filled a section to its margin, then "…and 9,873 more" went on top. Every title length here
    fills the sections to a different point. A title longer than MAX_TITLE_IN_DIGEST is clipped to
    it, so every longer one fills them exactly as one character over it does."""
    start = LAST_WEEK
    many = [incident(i, start + timedelta(minutes=i)) for i in range(1, 2500)]
    report = window(many, since=start, until=start + timedelta(weeks=1))
    trend = weekly_trend(many, now=NOW)
    tiered = [digest_incident(f, title="", tiers=TIERS) for f in many]  # the tiers do not depend on the title
    for title_length in range(40, MAX_TITLE_IN_DIGEST + 2):
        digest = build_digest(
            channel_label="payments",
            week_start=start,
            last_week_incidents=[dataclasses.replace(i, title="T" * title_length) for i in tiered],
            report=report,
            trend=trend,
            detectable=None,
            open_incidents=(),
            war_rooms={},
        )
        check_limits(digest.blocks)
        assert "more (`incident-bot report` lists them all)" in "\n".join(texts(digest.blocks))


# ---------------------------------------------------------------------------------------------
# ISO weeks


@pytest.mark.parametrize(
    ("week", "start"),
    [
        ("2026-W47", datetime(2026, 11, 16, tzinfo=UTC)),
        ("2026w47", datetime(2026, 11, 16, tzinfo=UTC)),
        (" 2026-W01 ", datetime(2025, 12, 29, tzinfo=UTC)),  # W01 starts in the year before
        ("2021-W01", datetime(2021, 1, 4, tzinfo=UTC)),
        ("2020-W53", datetime(2020, 12, 28, tzinfo=UTC)),  # 2020 has 53 weeks
        ("2026-W53", datetime(2026, 12, 28, tzinfo=UTC)),  # so does 2026
    ],
)
def test_iso_week(week, start):
    assert digest_week(week, datetime(2027, 6, 1, tzinfo=UTC)) == (start, start + timedelta(weeks=1))


def test_last_complete_week_across_new_year():
    friday = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)  # in 2026-W01, which began 2025-12-29
    assert digest_week(None, friday) == (datetime(2025, 12, 22, tzinfo=UTC), datetime(2025, 12, 29, tzinfo=UTC))
    monday = datetime(2025, 12, 29, 0, 0, tzinfo=UTC)
    assert digest_week(None, monday)[1] == monday
    assert digest_week("2025-W52", monday)[1] == monday  # a week that ended right now is complete


@pytest.mark.parametrize(
    ("week", "message"),
    [
        ("2026-47", "not an ISO week"),
        ("2026-W", "not an ISO week"),
        ("W47", "not an ISO week"),
        ("2026-W47-1", "not an ISO week"),
        ("26-W47", "not an ISO week"),
        ("", "not an ISO week"),
        ("2026-W00", "2026 has ISO weeks W01 to W53"),
        ("2021-W53", "2021 has ISO weeks W01 to W52"),
        ("2026-W54", "W01 to W53"),
        ("0000-W01", "no year 0"),
        ("2026-W48", "2026-W48 has not ended yet"),
        ("2027-W01", "has not ended yet"),
    ],
)
def test_malformed_or_unfinished_weeks_are_refused(week, message):
    with pytest.raises(ValueError, match=message):
        digest_week(week, NOW)


def test_week_needs_an_aware_now():
    with pytest.raises(ValueError, match="timezone-aware"):
        digest_week(None, datetime(2026, 11, 24))


# ---------------------------------------------------------------------------------------------
# The chart


@pytest.mark.slow
def test_chart_is_a_png_of_the_expected_size_and_deterministic(facts, trend):
    from matplotlib.image import imread

    start, end = digest_week(None, NOW)
    report = window(facts, since=start, until=end)
    restores = [f.time_to_restore.total_seconds() for f in facts if f.restored and f.started_at >= trend.since]
    png = render_digest_chart(trend, report, restores)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert imread(io.BytesIO(png), format="png").shape[:2] == (1000, 800)
    assert png == render_digest_chart(trend, report, list(restores))
    assert b"Software" not in png and b"matplotlib" not in png.lower()
    assert render_digest_chart(trend, report, restores[:-1]) != png
    assert "Weekly median time to restore over 12 weeks" in chart_alt_text(trend, report)


@pytest.mark.parametrize("count, seed", [(1, 1), (7, 2), (500, 3), (20_000, 4)])
def test_the_distribution_counts_every_restore_time_once(count, seed):
    # Its bars are one collection of rectangles (bot.analytics.chart._bars), not ax.hist's patches:
    # every restore time falls in exactly one bar, the bars tile the axis, and the top leaves the
    # room ax.hist's autoscaling left for the median and p90 labels.
    import numpy as np
    from matplotlib.collections import PolyCollection
    from matplotlib.figure import Figure

    from bot.analytics.chart import _distribution_panel

    rng = random.Random(seed)
    restores = [rng.lognormvariate(8, 1.5) for _ in range(count)]
    ax = Figure().add_subplot()
    _distribution_panel(ax, restores, 12)
    [bars] = [c for c in ax.collections if isinstance(c, PolyCollection)]
    corners = [path.vertices for path in bars.get_paths()]
    heights = [float(c[:, 1].max() - c[:, 1].min()) for c in corners]
    assert sum(heights) == count
    lefts, rights = [float(c[:, 0].min()) for c in corners], [float(c[:, 0].max()) for c in corners]
    assert lefts[0] == pytest.approx(ax.get_xlim()[0]) and rights[-1] == pytest.approx(ax.get_xlim()[1])
    assert all(right == pytest.approx(left) for right, left in zip(rights, lefts[1:], strict=False))
    assert ax.get_ylim() == (0, pytest.approx(max(heights) * 1.05 * 1.25))
    assert not any(np.isnan(c).any() for c in corners)


def test_chart_without_data():
    from matplotlib.image import imread

    start, end = digest_week(None, NOW)
    png = render_digest_chart(weekly_trend([], now=NOW), window([], since=start, until=end), [])
    assert imread(io.BytesIO(png), format="png").shape[:2] == (1000, 800)
    with pytest.raises(ValueError):
        render_digest_chart(weekly_trend([], now=NOW), window([], since=start, until=end), [float("nan")])


# --------------------------------------------------------------------------- the chart says what the words say


async def store_weekly_history(db, *, digest_week_start: datetime, weeks: int, per_week: int, seed: int) -> None:
    """``per_week`` restored incidents in each of the ``weeks`` weeks up to the digest's own week."""

    rng = random.Random(seed)
    async with db.transaction() as session:
        for back in range(weeks):
            monday = digest_week_start - timedelta(weeks=back)
            for n in range(per_week):
                start = monday + timedelta(minutes=rng.randrange(0, 7 * 24 * 60 - 24 * 60))
                stamps = stamp_times(start, [rng.uniform(1, 90) for _ in range(4)])
                session.add(incident_row(f"Past {back}-{n}", start, severity=rng.choice(["P1", "P2", "P3"]), **stamps))


@pytest.mark.slow
@pytest.mark.both_databases
@pytest.mark.parametrize("weeks, per_week, seed", [(2, 7, 1), (5, 7, 2), (12, 7, 3), (3, 12, 4), (6, 5, 5), (4, 3, 6)])
async def test_the_chart_draws_the_numbers_the_digest_states(db, weeks, per_week, seed):
    from bot.analytics.chart import headline_seconds, trend_points
    from bot.analytics.digest_publisher import DigestPublisher
    from bot.analytics.digest_schedule import DigestChannel
    from bot.analytics.reports import Reports
    from bot.core.timefmt import human_duration
    from tests.clocks import FakeClock

    await store_weekly_history(db, digest_week_start=LAST_WEEK, weeks=weeks, per_week=per_week, seed=seed)
    clock = FakeClock(NOW)
    settings = ReportSettings()
    reports = Reports(db, clock, tiers=TIERS, settings=settings)
    composed = await DigestPublisher(db, clock, reports, slack=None).compose(DigestChannel(channel="C0PAYMENTS"))  # type: ignore[arg-type]
    text, points = composed.digest.text, trend_points(composed.trend)

    assert points[-1].week == composed.digest.week == "2026-W47"
    shown = points[-weeks:]
    assert [p.count for p in shown] == [per_week] * weeks and all(p.count == 0 for p in points[:-weeks])
    enough = per_week >= settings.min_count
    # every week that had enough incidents is a solid point, the digest's own week included
    assert [p.readable for p in shown] == [enough] * weeks
    assert f"With ~{per_week} incidents a week" in text
    [figure] = [line for line in text.splitlines() if line.startswith("Time to restore in 2026-W47: ")]
    assert f"n={per_week}" in figure
    if enough:
        assert headline_seconds(points) == points[-1].median
        assert f"median {human_duration(timedelta(seconds=points[-1].median))}" in figure
    else:
        assert headline_seconds(points) is None and points[-1].note == f"n={per_week}"


async def test_the_chart_is_handed_to_the_drawing_process_before_the_words_are_written(db, monkeypatch):
    """The chart goes to the drawing process before the words are written, not when compose next
    waits on the event loop: the detectable change, the first of the words, finds it handed over."""
    import bot.analytics.digest_publisher
    from bot.analytics.chart import draw_digest_chart
    from bot.analytics.digest_publisher import DigestPublisher
    from bot.analytics.digest_schedule import DigestChannel
    from bot.analytics.drawing import CHART_DRAWING, ChartDrawing
    from bot.analytics.reports import Reports
    from tests.clocks import FakeClock

    handed_over: list[object] = []

    class Watched(ChartDrawing):
        def submit(self, draw, /, *args):
            handed_over.append(draw)
            return CHART_DRAWING.submit(draw, *args)

    words = bot.analytics.digest_publisher.detectable_change

    def written(*args, **kwargs):
        assert handed_over == [draw_digest_chart], "the chart was not handed over before the words were written"
        return words(*args, **kwargs)

    monkeypatch.setattr(bot.analytics.digest_publisher, "detectable_change", written)
    await store_weekly_history(db, digest_week_start=LAST_WEEK, weeks=3, per_week=7, seed=9)
    clock = FakeClock(NOW)
    reports = Reports(db, clock, tiers=TIERS, settings=ReportSettings())
    publisher = DigestPublisher(db, clock, reports, slack=None, drawing=Watched())  # type: ignore[arg-type]
    composed = await publisher.compose(DigestChannel(channel="C0PAYMENTS"))
    assert composed.chart_png.startswith(b"\x89PNG") and "With ~7 incidents a week" in composed.digest.text


@pytest.mark.both_databases
@pytest.mark.parametrize("weeks, seed", [(26, 7), (14, 8)])
async def test_a_digest_with_the_four_keys_states_the_figures_of_one_without_and_the_keys_of_their_own_read(db, weeks, seed):
    """The digest reads its incidents once, back to the four keys' first month: its own figures,
    trend and chart stay those of its twelve weeks, and its four keys those of ``DeliveryFigures.delivery``."""
    from bot.analytics.delivery_view import delivery_table
    from bot.analytics.digest_publisher import DELIVERY_SPAN, DigestPublisher
    from bot.analytics.digest_schedule import DigestChannel
    from bot.analytics.reports import Reports
    from tests.clocks import FakeClock

    await store_weekly_history(db, digest_week_start=LAST_WEEK, weeks=weeks, per_week=9, seed=seed)
    clock = FakeClock(NOW)
    reports = Reports(db, clock, tiers=TIERS, settings=ReportSettings())
    channel = DigestChannel(channel="C0PAYMENTS")
    plain = await DigestPublisher(db, clock, reports, slack=None).compose(channel)  # type: ignore[arg-type]
    keyed = await DigestPublisher(db, clock, reports, slack=None, delivery_span=DELIVERY_SPAN).compose(channel)  # type: ignore[arg-type]

    assert keyed.trend == plain.trend
    assert keyed.chart_png == plain.chart_png  # drawn from the twelve weeks' restore times alone
    end = LAST_WEEK + timedelta(weeks=1)
    delivery = await reports.delivery_figures.delivery(end - DELIVERY_SPAN, end)
    assert keyed.digest.text == plain.digest.text + "\n" + f"The last {DELIVERY_SPAN.days // 7} weeks:\n" + delivery_table(delivery)
    assert keyed.digest.blocks[: len(plain.digest.blocks)] == plain.digest.blocks


@pytest.mark.parametrize("seed", range(6))
def test_a_list_given_its_first_lines_and_its_count_reads_as_the_whole_list(seed):
    """App Home, /incident stats and the digest write only the open incidents a section can show."""
    from bot.analytics.stats_view import fit_lines

    rng = random.Random(seed)
    for _ in range(40):
        lines = ["x" * rng.choice([5, 40, 200, 4000]) for _ in range(rng.randrange(0, 90))]
        max_lines = rng.choice([1, 3, 25, 40])
        whole = fit_lines(lines, max_lines=max_lines, more="more open incidents")
        for first in {max_lines, max_lines + 1, len(lines)}:
            if first <= len(lines):
                assert fit_lines(lines[:first], max_lines=max_lines, more="more open incidents", count=len(lines)) == whole
        if len(lines) > max_lines > 1:  # fewer lines than a section shows: the rest are counted, never lost
            fewer = fit_lines(lines[: max_lines - 1], max_lines=max_lines, more="more open incidents", count=len(lines))
            assert fewer.endswith(f" {len(lines) - (fewer.count(chr(10)))} more open incidents")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_weeks_incidents_from_columns_are_those_of_each_incidents_facts(seed):
    from bot.analytics.digest import ListedIncident, digest_incidents
    from bot.analytics.stats import RestoredIncidents

    rng = random.Random(seed)
    restored = [f for f in history(seed, per_week=30) if f.restored]
    private = {f.id for f in restored if rng.random() < 0.2}
    # Restore times across every band of every table: a few seconds up to weeks.
    restored += [incident(1000 + k, LAST_WEEK, (0.01, rng.uniform(0, 10**k), 0, 0.02)) for k in range(6)]
    titles = {f.id: f"Checkout <b>500s</b> {f.id}" for f in restored}
    listed = {
        f.id: ListedIncident(
            title="Private incident" if f.id in private else titles[f.id], service=f.service, private=f.id in private, war_room=None
        )
        for f in restored
    }
    expected = [
        dataclasses.replace(digest_incident(f, title=listed[f.id].title, tiers=TIERS), private=f.id in private)
        for f in sorted(restored, key=lambda f: (f.started_at, f.id))
    ]
    assert digest_incidents(RestoredIncidents.from_facts(restored), listed, tiers=TIERS) == expected
    assert {i.dora_tier for i in expected} == {band.name for band in TIERS.dora.bands}
