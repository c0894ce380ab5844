"""DORA's four keys, detection coverage, restore time by the clock and the monthly trend, as text
(``incident-bot report``, the digest's dry run), Slack mrkdwn (``/incident stats``, the digest) and
JSON. Every number comes from bot.analytics.delivery_figures.DeliveryReport: the dashboard reads the same."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import DividerBlock, MarkdownTextObject, SectionBlock

from bot.analytics.coverage import Bucket, Coverage, CoverageReport, MonthlyTrend, RestoreClock
from bot.analytics.delivery_figures import DeliveryReport
from bot.analytics.dora import BandCall, ChangeFailureRate, DeployFrequency, DoraKeys, DoraReport, Spread
from bot.analytics.key_trends import NAMES as KEY_TREND_NAMES
from bot.analytics.stats import DETECTION_METHODS, Verdict
from bot.analytics.stats_view import (
    MRKDWN,
    PLAIN,
    TextStyle,
    confidence_label,
    duration_text,
    fit_lines,
    interval_text,
    render_table,
)
from bot.core.command_text import DETECTION_LABELS
from bot.core.text_input import clip
from bot.slack.blocks import MAX_SECTION_TEXT

# The four keys' names (and failed deployment recovery time's), as every surface prints them.
KEY_NAMES = {key: name for key, name in KEY_TREND_NAMES.items() if key != "time_to_acknowledge"}
SHORT_METHODS = {"alert": "alert", "customer_report": "customer", "engineer": "engineer", "synthetic": "synthetic"}


def _pct(fraction: float | None, digits: int = 1) -> str:
    return "—" if fraction is None else f"{fraction * 100:.{digits}f}%"


def _band_text(band: BandCall) -> str:
    return f"band: {band.level}" if band.level else f"no band ({band.reason})"


def _frequency_text(key: DeployFrequency) -> str:
    return f"{key.per_week:.2f} deploys/week (n={key.deploys} deploys over {key.window_days:g} days) · {_band_text(key.band)}"


def _rate_text(key: ChangeFailureRate, confidence: float) -> str:
    if key.rate is None:
        return f"no deploys (n=0) · {_band_text(key.band)}"
    interval = f"; {confidence_label(confidence)} interval {_pct(key.interval[0])} – {_pct(key.interval[1])}" if key.interval else ""
    return f"{_pct(key.rate)} ({key.failed} of {key.deploys} deploys{interval}) · {_band_text(key.band)}"


def _spread_text(key: Spread, confidence: float) -> str:
    dist = key.figure.distribution
    if dist is None:
        return f"n=0 · {_band_text(key.band)}"
    parts = [f"median {duration_text(dist.median)}"]
    if dist.median_ci is not None:
        parts[0] += f" ({confidence_label(confidence)} interval {interval_text(*dist.median_ci)})"
    parts.append(f"mean {duration_text(dist.mean)}")
    parts += [
        f"{name} {duration_text(value)}" for name, value in (("p90", key.p90), ("p95", key.p95), ("p99", key.p99)) if value is not None
    ]
    parts.append(f"n={key.count}")
    return " · ".join(parts) + f" · {_band_text(key.band)}"


def key_lines(keys: DoraKeys, confidence: float) -> list[tuple[str, str]]:
    return [
        (KEY_NAMES["deployment_frequency"], _frequency_text(keys.deployment_frequency)),
        (KEY_NAMES["change_failure_rate"], _rate_text(keys.change_failure_rate, confidence)),
        (KEY_NAMES["lead_time"], _spread_text(keys.lead_time, confidence)),
        (KEY_NAMES["failed_recovery"], _spread_text(keys.failed_recovery, confidence)),
        (KEY_NAMES["time_to_restore"], _spread_text(keys.time_to_restore, confidence)),
    ]


def _median_cell(key: Spread) -> str:
    dist = key.figure.distribution
    return "—" if dist is None else f"{duration_text(dist.median)} (n={key.count})"


def _level(band: BandCall) -> str:
    return band.level or "—"


def _segment_rows(segments: Mapping[str, DoraKeys]) -> list[list[str]]:
    rows = []
    for name, keys in segments.items():
        frequency, rate = keys.deployment_frequency, keys.change_failure_rate
        rows.append(
            [
                name,
                f"{frequency.per_week:.2f} ({frequency.deploys})",
                _level(frequency.band),
                f"{_pct(rate.rate)} ({rate.failed}/{rate.deploys})" if rate.rate is not None else "— (0)",
                _level(rate.band),
                _median_cell(keys.lead_time),
                _level(keys.lead_time.band),
                _median_cell(keys.failed_recovery),
                _level(keys.failed_recovery.band),
                _median_cell(keys.time_to_restore),
                _level(keys.time_to_restore.band),
            ]
        )
    return rows


SEGMENT_HEADERS = (
    "deploys/week (n)",
    "band",
    "change failure rate",
    "band",
    "lead time median",
    "band",
    "failed deploy recovery median",
    "band",
    "time to restore median",
    "band",
)


def _rules_text(dora: DoraReport) -> str:
    rules = dora.rules
    return (
        f"Bands: {dora.label}, read from the median of each duration. A band needs n ≥ {rules.min_count} values, "
        f"{rules.min_deploys} deploys for a change failure rate, a window of {rules.min_window.days} days and a deploy "
        f'for a deployment frequency; otherwise "no band" with the reason. p90 needs n ≥ 10, p95 n ≥ 20, p99 n ≥ 100.'
    )


def _coverage_text(coverage: Coverage) -> str:
    if not coverage.incidents:
        return "no incidents (n=0)"
    shares = [f"{SHORT_METHODS.get(m, m)} {_pct(coverage.share(m), 0)}" for m in coverage.by_method]
    p1 = f"P1s customer-reported {coverage.p1_customer} of {coverage.p1s}" + (
        f" ({_pct(coverage.p1_customer_share, 0)})" if coverage.p1s else ""
    )
    flag = " · FLAGGED: more than 20% of P1s customer-reported" if coverage.flagged else ""
    return f"n={coverage.incidents} · " + " · ".join(shares) + f" · {p1}{flag}"


def _coverage_rows(segments: Mapping[str, Coverage]) -> list[list[str]]:
    rows = []
    for name, coverage in segments.items():
        rows.append(
            [
                name,
                str(coverage.incidents),
                *(f"{_pct(coverage.share(m), 0)} ({coverage.by_method.get(m, 0)})" for m in DETECTION_METHODS),
                f"{coverage.p1_customer}/{coverage.p1s}",
                "FLAGGED" if coverage.flagged else "",
            ]
        )
    return rows


COVERAGE_HEADERS = ("n", *(DETECTION_LABELS[m] for m in DETECTION_METHODS), "P1 customer/P1s", ">20% P1s by customers")


def _flag_lines(coverage: CoverageReport, style: TextStyle) -> list[str]:
    """One warning per service and team with more than 20% of P1s customer-reported."""
    lines = []
    for kind, segments in (("service", coverage.by_service), ("team", coverage.by_team)):
        for name, group in segments.items():
            if group.flagged:
                lines.append(
                    f"{style.bold('WARNING')}: {kind} {style.user_text(name)}: {group.p1_customer} of {group.p1s} P1s "
                    f"({_pct(group.p1_customer_share, 0)}) customer-reported, more than 20%"
                )
    return lines


def _bucket_row(bucket: Bucket) -> list[str]:
    def cell(value: float | None) -> str:
        return duration_text(value) if value is not None else "—"

    return [bucket.label, str(bucket.count), cell(bucket.median), cell(bucket.p90), cell(bucket.p95), cell(bucket.p99)]


def _clock_tables(clock: RestoreClock) -> list[str]:
    headers = ("n", "median", "p90", "p95", "p99")
    return [
        f"Time to restore by hour of impact start ({clock.time_zone}):",
        "",
        render_table(["hour", *headers], [_bucket_row(b) for b in clock.by_hour]),
        "",
        f"Time to restore by weekday of impact start ({clock.time_zone}):",
        "",
        render_table(["weekday", *headers], [_bucket_row(b) for b in clock.by_weekday]),
    ]


def _month_lines(months: MonthlyTrend, confidence: float, style: TextStyle) -> list[str]:
    lines = [style.bold("Monthly trend of time to restore (calendar months, UTC)")]
    for month in months.months:
        dist = month.figure.distribution
        if dist is None:
            text = "n=0"
        else:
            ci = f" ({confidence_label(confidence)} interval {interval_text(*dist.median_ci)})" if dist.median_ci else ""
            text = f"median {duration_text(dist.median)}{ci} · n={month.figure.count}"
        lines.append(f"{month.label}{'' if month.complete else ' (so far)'}: {text}")
    for change in months.changes[-1:]:
        verdict = change.verdict.value if change.verdict is not Verdict.NO_CLEAR_CHANGE else f"no clear change ({change.reason.value})"
        lines.append(f"{change.current} against {change.previous}: {verdict}")
    return lines


@dataclass(frozen=True)
class DeliveryTable:
    title: str  # "By service"
    headers: Sequence[str]
    rows: Sequence[Sequence[str]]


@dataclass(frozen=True)
class DeliverySections:
    """The keys and coverage in the words of ``incident-bot report``, before they are laid out:
    the report prints them as text, the dashboard as HTML, so both show the same to the digit."""

    keys_title: str
    keys: Sequence[tuple[str, str]]  # (key, its figures and band)
    keys_notes: Sequence[str]
    keys_tables: Sequence[DeliveryTable]
    coverage_title: str
    coverage_tables: Sequence[DeliveryTable]
    flags: Sequence[str]


def delivery_sections(report: DeliveryReport) -> DeliverySections:
    dora, coverage = report.dora, report.coverage
    window = f"{dora.since:%Y-%m-%d %H:%M} – {dora.until:%Y-%m-%d %H:%M} UTC"
    notes = []
    if dora.deploys_without_commit_time:
        notes.append(f"({dora.deploys_without_commit_time} deploys without commit_time are not in the lead time)")
    notes.append(_rules_text(dora))
    flags = _flag_lines(coverage, PLAIN)
    return DeliverySections(
        keys_title=f"DORA's four keys, {window} ({dora.label} bands; deploys to production):",
        keys=key_lines(dora.overall, dora.confidence),
        keys_notes=notes,
        keys_tables=[
            DeliveryTable(title, [title.split()[-1], *SEGMENT_HEADERS], _segment_rows(segments))
            for title, segments in (("By service", dora.by_service), ("By team", dora.by_team))
            if segments
        ],
        coverage_title=f"Detection coverage (incidents whose impact started in the window): {_coverage_text(coverage.overall)}",
        coverage_tables=[
            DeliveryTable(title, [title.split()[-1], *COVERAGE_HEADERS], _coverage_rows(segments))
            for title, segments in (("By service", coverage.by_service), ("By team", coverage.by_team))
            if segments
        ],
        flags=flags or ["No service or team had more than 20% of its P1s customer-reported."],
    )


def delivery_table(report: DeliveryReport) -> str:
    """Plain text for ``incident-bot report``: the keys overall, by service and by team, coverage,
    restore time by the clock and the monthly trend."""
    sections = delivery_sections(report)
    parts = [sections.keys_title]
    parts += [f"  {name}: {text}" for name, text in sections.keys]
    parts += [f"  {note}" for note in sections.keys_notes]
    for table in sections.keys_tables:
        parts += ["", f"{table.title}:", "", render_table(table.headers, table.rows)]
    parts += ["", sections.coverage_title]
    for table in sections.coverage_tables:
        parts += ["", f"{table.title}:", "", render_table(table.headers, table.rows)]
    parts += ["", *sections.flags]
    parts += ["", *_clock_tables(report.restore_clock)]
    parts += ["", *_month_lines(report.months, report.dora.confidence, PLAIN)]
    return "\n".join(parts) + "\n"


def delivery_mrkdwn(report: DeliveryReport, style: TextStyle, *, segments: bool = True) -> list[str]:
    """Sections of mrkdwn for ``/incident stats`` and the digest: the keys, each team's and
    service's bands, coverage and its warnings, the monthly trend."""
    dora, coverage = report.dora, report.coverage
    confidence = dora.confidence
    keys = [style.bold(f"DORA's four keys ({dora.label} bands)")]
    keys += [f"• {name}: {text}" for name, text in key_lines(dora.overall, confidence)]
    sections = ["\n".join(keys)]
    if segments:
        for title, groups in (("By team", dora.by_team), ("By service", dora.by_service)):
            lines = [_segment_line(name, group, style) for name, group in groups.items()]
            if lines:
                sections.append(fit_lines([style.bold(f"DORA keys {title.lower()}"), *lines], more=f"more {title.split()[-1]}s"))
    cover = [f"{style.bold('Detection coverage')}: {_coverage_text(coverage.overall)}"]
    cover += _flag_lines(coverage, style)
    if segments:
        cover += [f"{style.user_text(name)} (team): {_coverage_text(group)}" for name, group in coverage.by_team.items()]
    sections.append(fit_lines(cover, more="more teams"))
    sections.append("\n".join(_month_lines(report.months, confidence, style)))
    return sections


def _segment_line(name: str, keys: DoraKeys, style: TextStyle) -> str:
    frequency, rate = keys.deployment_frequency, keys.change_failure_rate
    return (
        f"{style.user_text(name)}: {frequency.per_week:.2f} deploys/week ({_level(frequency.band)}) · "
        f"change failure {_pct(rate.rate)} of {rate.deploys} ({_level(rate.band)}) · "
        f"lead time {_median_cell(keys.lead_time)} ({_level(keys.lead_time.band)}) · "
        f"restore {_median_cell(keys.time_to_restore)} ({_level(keys.time_to_restore.band)})"
    )


# --------------------------------------------------------------------------------------------
# JSON


def _band_json(band: BandCall) -> dict[str, Any]:
    return {"level": band.level, "year": band.year, "reason": band.reason}


def _spread_json(key: Spread) -> dict[str, Any]:
    dist = key.figure.distribution
    return {
        "n": key.count,
        "median_s": dist.median if dist else None,
        "median_ci_s": list(dist.median_ci) if dist and dist.median_ci else None,
        "mean_s": dist.mean if dist else None,
        "p90_s": key.p90,
        "p95_s": key.p95,
        "p99_s": key.p99,
        "band": _band_json(key.band),
    }


def keys_json(keys: DoraKeys) -> dict[str, Any]:
    frequency, rate = keys.deployment_frequency, keys.change_failure_rate
    return {
        "deployment_frequency": {
            "deploys": frequency.deploys,
            "window_days": frequency.window_days,
            "per_week": frequency.per_week,
            "weeks": {week.label: week.deploys for week in frequency.weeks},
            "band": _band_json(frequency.band),
        },
        "change_failure_rate": {
            "failed": rate.failed,
            "deploys": rate.deploys,
            "rate": rate.rate,
            "interval": list(rate.interval) if rate.interval else None,
            "band": _band_json(rate.band),
        },
        "lead_time": _spread_json(keys.lead_time),
        "failed_deployment_recovery": _spread_json(keys.failed_recovery),
        "time_to_restore": _spread_json(keys.time_to_restore),
    }


def _coverage_json(coverage: Coverage) -> dict[str, Any]:
    return {
        "n": coverage.incidents,
        "by_method": dict(coverage.by_method),
        "p1s": coverage.p1s,
        "p1_customer": coverage.p1_customer,
        "p1_customer_flagged": coverage.flagged,
    }


def _buckets_json(buckets: Sequence[Bucket]) -> list[dict[str, Any]]:
    return [{"bucket": b.label, "n": b.count, "median_s": b.median, "p90_s": b.p90, "p95_s": b.p95, "p99_s": b.p99} for b in buckets]


def delivery_json(report: DeliveryReport) -> dict[str, Any]:
    dora, coverage = report.dora, report.coverage
    return {
        "dora": {
            "year": dora.year,
            "label": dora.label,
            "rules": {
                "min_count": dora.rules.min_count,
                "min_deploys": dora.rules.min_deploys,
                "min_window_days": dora.rules.min_window.days,
            },
            "overall": keys_json(dora.overall),
            "by_service": {name: keys_json(keys) for name, keys in dora.by_service.items()},
            "by_team": {name: keys_json(keys) for name, keys in dora.by_team.items()},
            "deploys_without_commit_time": dora.deploys_without_commit_time,
        },
        "coverage": {
            "overall": _coverage_json(coverage.overall),
            "by_service": {name: _coverage_json(c) for name, c in coverage.by_service.items()},
            "by_team": {name: _coverage_json(c) for name, c in coverage.by_team.items()},
            "flagged_services": coverage.flagged_services,
            "flagged_teams": coverage.flagged_teams,
        },
        "restore_by_hour": {"time_zone": report.restore_clock.time_zone, "buckets": _buckets_json(report.restore_clock.by_hour)},
        "restore_by_weekday": {"time_zone": report.restore_clock.time_zone, "buckets": _buckets_json(report.restore_clock.by_weekday)},
        "monthly_trend": [
            {
                "month": m.label,
                "n": m.figure.count,
                "median_s": m.figure.distribution.median if m.figure.distribution else None,
                "median_ci_s": list(m.figure.distribution.median_ci) if m.figure.distribution and m.figure.distribution.median_ci else None,
                "complete": m.complete,
            }
            for m in report.months.months
        ],
    }


# --------------------------------------------------------------------------------------------
# Block Kit


def delivery_blocks(report: DeliveryReport, *, room: int, segments: bool = True) -> list[dict[str, Any]]:
    """A divider and one section per part of ``delivery_mrkdwn``, at most ``room`` blocks (the
    message's other blocks come first; the parts that do not fit are left to ``incident-bot report``)."""
    if room < 2:
        return []
    sections = delivery_mrkdwn(report, MRKDWN, segments=segments)[: room - 1]
    built = [DividerBlock(), *(SectionBlock(text=MarkdownTextObject(text=clip(text, MAX_SECTION_TEXT))) for text in sections)]
    return [block.to_dict() for block in built]
