"""``incident-bot report`` and ``incident-bot digest``: the analytics on the command line."""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import UTC, datetime, timedelta

from bot.analytics.delivery_view import delivery_json, delivery_table
from bot.analytics.digest import digest_week
from bot.analytics.digest_schedule import DigestChannel
from bot.analytics.dora_bands import BANDS as DORA_BANDS
from bot.analytics.dora_bands import DEFAULT_YEAR as DEFAULT_DORA_KEYS_YEAR
from bot.analytics.drills import drill_json, drill_lines
from bot.analytics.stats_view import report_csv, report_json, report_table
from bot.core.clock import utc_now
from bot.runtime import Runtime
from bot.slack import SlackError
from handlers.cli_files import write_file

_AGO = re.compile(r"^(\d{1,4})d$")


def moment(text: str) -> datetime:
    """``30d`` (that long ago), ``2026-11-01`` (midnight UTC) or an ISO 8601 time with a zone."""
    if match := _AGO.match(text.strip()):
        return utc_now() - timedelta(days=int(match.group(1)))
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a time; use 30d, 2026-11-01 or 2026-11-01T09:00Z") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    report = sub.add_parser("report", help="MTTR figures over a window (no Slack settings needed)")
    report.add_argument("--since", type=moment, default="30d", help="30d (default), 90d, or a date")
    report.add_argument("--until", type=moment, default=None, help="a date or time (default: now)")
    report.add_argument("--by", choices=("severity", "service", "detection", "hours"))
    report.add_argument("--format", choices=("table", "csv", "json"), default="table")
    report.add_argument(
        "--drills",
        action="store_true",
        help="add a Drills section: the drills' own figures (drills never count in the others); table and json",
    )
    report.add_argument(
        "--dora-year",
        type=int,
        choices=sorted(DORA_BANDS),
        default=DEFAULT_DORA_KEYS_YEAR,
        help=f"the State of DevOps report whose performance bands the four keys are read against (default {DEFAULT_DORA_KEYS_YEAR})",
    )
    digest = sub.add_parser("digest", help="build the weekly digest for a channel: print it, or post it")
    digest.add_argument(
        "--channel",
        required=True,
        help="the digest channel ID, like C0123456789 (from runbooks/config.yml digests or a catalog digest_channel)",
    )
    digest.add_argument("--week", help="the ISO week to cover, e.g. 2026-W47 (default: the last complete week)")
    action = digest.add_mutually_exclusive_group(required=True)
    action.add_argument("--dry-run", action="store_true", help="print the digest instead of posting it")
    action.add_argument("--post", action="store_true", help="post it to the channel now")
    digest.add_argument("--chart", metavar="PNG", help="with --dry-run: write the chart to this file")


async def run_report(runtime: Runtime, args: argparse.Namespace) -> int:
    until = args.until or utc_now()
    if args.since >= until:
        print("incident-bot: --since must be earlier than --until", file=sys.stderr)
        return 2
    if args.drills and args.format == "csv":
        print("incident-bot: --drills adds a section to the table or the JSON; use --format table or --format json", file=sys.stderr)
        return 2
    reports = runtime.reports
    drills = await reports.drills(args.since, until) if args.drills else None
    delivery = None
    if args.format == "csv":
        (report, _), trend = await reports.window(args.since, until), None
    elif args.by:
        report, _, trend = await reports.window_and_trend(args.since, until)
    else:  # the whole report: DORA's four keys and coverage beside the figures, from the same read
        report, _, trend, delivery = await reports.window_trend_and_delivery(args.since, until, year=args.dora_year)
    earlier, earliest = await reports.restored_before(args.since) if report.count == 0 else (0, None)
    if args.format == "csv":
        sys.stdout.write(report_csv(report, args.by))
    elif args.format == "json":
        shown = _grouped_json(report, args.by) if args.by else report_json(report, trend)
        shown |= delivery_json(delivery) if delivery else {}
        if drills is not None:
            shown["drills"] = drill_json(drills)
        print(json.dumps(shown, indent=2))
    else:
        print(report_table(report, by=args.by, trend=trend))
        if delivery:
            print(delivery_table(delivery))
        if drills is not None:
            print("\n".join(drill_lines(drills)))
    if earlier:
        # After an import of older history an empty window is a surprise: say where the incidents are.
        print(
            f"incident-bot: {earlier} restored incident{'s' if earlier > 1 else ''} started before "
            f"{args.since:%Y-%m-%d}, the earliest on {earliest:%Y-%m-%d}: widen the window, e.g. --since {earliest:%Y-%m-%d}",
            file=sys.stderr,
        )
    return 0


def _grouped_json(report, by: str) -> dict:
    """``--by`` in JSON: one entry per group and the "all" row, as the table and the CSV show them."""
    full = report_json(report)
    return {
        "window": full["window"],
        "settings": full["settings"],
        "count": full["count"],
        "group_by": by,
        "groups": full["by"][by],
        "all": full["overall"],
    }


async def run_digest(runtime: Runtime, args: argparse.Namespace) -> int:
    # The digests `serve` posts: the config's and the catalog's digest channels.
    if args.post and args.chart is not None:
        print("incident-bot: --chart writes the chart of a --dry-run to a file; --post sends it to Slack with the digest", file=sys.stderr)
        return 2
    channel = next((d for d in runtime.team.digests if d.channel == args.channel), None)
    if channel is None:
        if not re.fullmatch(r"[CG][A-Z0-9]{6,}", args.channel):
            print(f"incident-bot: '{args.channel}' is not a channel ID (like C0123456789)", file=sys.stderr)
            return 2
        channel = DigestChannel(channel=args.channel)  # not configured: every service and severity
    try:
        digest_week(args.week, utc_now())  # a week that does not exist or has not ended: one line
    except ValueError as error:
        print(f"incident-bot: --week {error}", file=sys.stderr)
        return 2
    if args.post:
        try:
            ts = await runtime.digests.publish(channel, args.week)
        except SlackError as error:
            print(f"incident-bot: the digest was not posted to {channel.channel}: {error}", file=sys.stderr)
            return 1
        print(f"posted the digest to {channel.channel} (message {ts})")
        return 0
    composed = await runtime.digests.compose(channel, args.week)  # a dry run reads only the database
    print(composed.digest.text)
    if args.chart is not None:
        if not write_file("--chart", args.chart, composed.chart_png):
            return 2
        print(f"\nchart written to {args.chart}", file=sys.stderr)
    return 0
