"""The small things a person meets on the command line: digest, report, audit, postmortem and
repair answer ordinary mistakes in one line, read-only commands need no Slack token, a reader that
stops early (`| head`) ends quietly, and repair leaves imported incidents alone.

Most tests call the commands' functions in-process (a subprocess pays a second of imports); one
subprocess per behaviour that only a real process shows (settings, exit, stdout, the HTTP session).
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest

from bot.analytics.digest import iso_week_label
from bot.analytics.stats import week_start
from bot.core.clock import utc_now
from bot.integrations.importing import Importer, parse_file
from bot.settings import DatabaseSettings
from handlers import cli, cli_reports
from storage import incidents as incident_rows
from storage.db import Database
from tests.command_line import run_installed
from tests.conftest import BOT_TOKEN, SIGNING_SECRET
from tests.stored_incidents import incident_row

DATA = Path(__file__).parent / "data"
UNREACHABLE_SLACK = "http://127.0.0.1:9/api/"


def args(*argv: str):
    return cli._parser().parse_args(list(argv))


def offline(database_url: str) -> cli.OfflineSettings:
    """What `report` and `digest --dry-run` read: no Slack token, no .env."""
    return cli.OfflineSettings(_env_file=None, DATABASE_URL=database_url)


async def run_report(settings, argv) -> int:
    return await cli.with_runtime(settings, lambda runtime: cli_reports.run_report(runtime, argv))


async def run_digest(settings, argv) -> int:
    return await cli.with_runtime(settings, lambda runtime: cli_reports.run_digest(runtime, argv))


def one_line(text: str) -> str:
    assert "Traceback" not in text, text
    lines = text.strip().splitlines()
    assert len(lines) == 1, f"expected one line, got:\n{text}"
    return lines[0]


async def import_sample(db: Database) -> None:
    """The CSV sample: five incidents of March 2026, as `incident-bot import` loads them."""
    parsed = parse_file((DATA / "incidents.csv").read_bytes(), "csv", now=utc_now())
    assert not parsed.problems
    await Importer(db, utc_now).run(parsed, origin="incidents.csv")


async def open_without_war_room(db: Database, *, commander: str = "") -> int:
    """An incident recorded by the bot whose war room was never made (the process died first)."""
    now = utc_now()
    async with db.transaction() as session:
        row = await incident_rows.insert(
            session,
            incident_row("Checkout down", now, detected_at=now, service="checkout-web", person=commander),
        )
        return row.id


# --------------------------------------------------------------------------- digest


async def test_digest_week_mistakes_are_one_line_exit_2(db, database_url, capsys):
    settings = offline(database_url)
    this_week = iso_week_label(week_start(utc_now()))
    cases = {
        this_week: f"incident-bot: --week {this_week} has not ended yet",
        "2026-W60": "incident-bot: --week '2026-W60': 2026 has ISO weeks W01 to W53",
        "last week": "incident-bot: --week 'last week' is not an ISO week; write it like 2026-W47",
    }
    for week, expected in cases.items():
        code = await run_digest(settings, args("digest", "--channel", "C0123456789", "--week", week, "--dry-run"))
        assert code == 2
        assert one_line(capsys.readouterr().err).startswith(expected)


async def test_digest_post_to_a_channel_the_bot_cannot_see_is_one_line_exit_1(settings, fake_slack, capsys):
    hidden = fake_slack.add_channel("secret-digest", bot_is_member=False)
    for channel in (hidden, "C0NOSUCHCHANNEL"):
        code = await run_digest(settings, args("digest", "--channel", channel, "--post"))
        assert code == 1
        line = one_line(capsys.readouterr().err)
        assert line.startswith(f"incident-bot: the digest was not posted to {channel}: "), line


async def test_the_documented_digest_example_channel_is_taken(db, database_url, capsys):
    commands = (Path(__file__).parent.parent / "docs" / "commands.md").read_text()
    example = next(line for line in commands.splitlines() if line.startswith("incident-bot digest --channel"))
    channel = example.split("--channel ")[1].split()[0]
    settings = offline(database_url)
    assert await run_digest(settings, args("digest", "--channel", channel, "--week", "2026-W10", "--dry-run")) == 0
    assert capsys.readouterr().out.startswith("Incident digest 2026-W10")


def test_digest_dry_run_and_report_build_the_runtime_without_slack_settings(tmp_path, migrated_sqlite, incident):
    """Both run on bot.runtime.Runtime, as serve does, with no Slack token or signing secret."""
    url = "sqlite:///incidents.db"
    digest = incident(tmp_path, "digest", "--channel", "C0123456789", "--week", "2026-W10", "--dry-run", DATABASE_URL=url)
    assert (digest.returncode, digest.stderr) == (0, ""), digest.stderr
    assert digest.stdout.startswith("Incident digest 2026-W10")
    report = incident(tmp_path, "report", "--format", "json", DATABASE_URL=url)
    assert (report.returncode, report.stderr) == (0, ""), report.stderr
    assert json.loads(report.stdout)["count"] == 0


# --------------------------------------------------------------------------- report


@pytest.mark.both_databases  # the hint's count and earliest start are one aggregate query
async def test_report_of_an_empty_window_hints_at_older_incidents(db, database_url, capsys):
    settings = offline(database_url)
    assert await run_report(settings, args("report")) == 0
    assert capsys.readouterr().err == ""  # nothing older: no hint
    await import_sample(db)
    assert await run_report(settings, args("report")) == 0
    out, err = capsys.readouterr()
    assert "0 restored incidents" in out
    assert one_line(err) == (
        f"incident-bot: 4 restored incidents started before {(utc_now() - timedelta(days=30)):%Y-%m-%d}, "
        "the earliest on 2026-03-02: widen the window, e.g. --since 2026-03-02"
    )
    assert await run_report(settings, args("report", "--since", "2026-03-01")) == 0
    assert capsys.readouterr().err == ""


async def test_report_by_segments_the_json_as_it_does_the_table_and_csv(db, database_url, capsys):
    settings = offline(database_url)
    await import_sample(db)
    window = ("report", "--since", "2026-03-01", "--until", "2026-04-01", "--format", "json")
    assert await run_report(settings, args(*window)) == 0
    whole = json.loads(capsys.readouterr().out)
    for by, attribute in (("severity", "severity"), ("service", "service")):
        assert await run_report(settings, args(*window, "--by", by)) == 0
        grouped = json.loads(capsys.readouterr().out)
        assert grouped["group_by"] == by
        assert grouped["groups"] == whole["by"][attribute]
        assert grouped["all"] == whole["overall"] and grouped["count"] == whole["count"] == 4


def test_report_into_a_reader_that_stopped_ends_quietly_with_exit_0(tmp_path, migrated_sqlite):
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line: every write is a broken pipe
    try:
        result = run_installed(tmp_path, "report", "--format", "json", stdout=write_end, DATABASE_URL="sqlite:///incidents.db")
    finally:
        os.close(write_end)
    assert (result.returncode, result.stderr) == (0, "")


# --------------------------------------------------------------------------- audit, postmortem


async def test_audit_of_an_unknown_incident_exits_1_as_postmortem_does(db, database_url, capsys):
    settings = DatabaseSettings(_env_file=None, DATABASE_URL=database_url)
    assert await cli._audit(settings, args("audit", "INC-99")) == 1
    assert one_line(capsys.readouterr().err) == "incident-bot: there is no incident INC-99"
    await import_sample(db)
    assert await cli._audit(settings, args("audit", "INC-1")) == 0  # exists, nothing corrected
    assert capsys.readouterr().out == "no audit records for INC-1\n"


def test_postmortem_reads_the_database_without_slack_settings(tmp_path, migrated_sqlite, incident):
    result = incident(tmp_path, "postmortem", "INC-99", DATABASE_URL="sqlite:///incidents.db")
    assert result.returncode == 1
    assert one_line(result.stderr) == "incident-bot: there is no incident INC-99"


@pytest.mark.parametrize(
    "command, option",
    [
        (("postmortem", "INC-1", "--output"), "--output"),
        (("digest", "--channel", "C0123456789", "--week", "2026-W10", "--dry-run", "--chart"), "--chart"),
    ],
)
@pytest.mark.parametrize(
    "target, shown, why",
    [
        ("no-such-folder/file", "no-such-folder/file", "No such file or directory"),
        (".", ".", "it is a folder: name a file in it"),
        ("", "''", "it is empty: name a file"),
    ],
)
async def test_a_file_the_cli_cannot_write_is_one_line_naming_the_option_exit_2(
    db, database_url, tmp_path, monkeypatch, capsys, command, option, target, shown, why
):
    await import_sample(db)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    settings = offline(database_url)
    argv = args(*command, target)
    if command[0] == "postmortem":
        code = await cli.with_runtime(settings, lambda runtime: cli._postmortem(runtime, argv.incident, argv.output))
    else:
        code = await run_digest(settings, argv)
    assert code == 2
    assert one_line(capsys.readouterr().err) == f"incident-bot: cannot write {option} {shown}: {why}"
    assert list(work.iterdir()) == []


async def test_a_digest_chart_asked_of_a_post_is_refused_before_anything_is_posted(db, settings, fake_slack, tmp_path, capsys):
    """--chart writes a dry run's chart; with --post it would be silently dropped."""
    await import_sample(db)
    chart = tmp_path / "chart.png"
    argv = args("digest", "--channel", "C0123456789", "--week", "2026-W10", "--post", "--chart", str(chart))
    assert await run_digest(settings, argv) == 2
    assert one_line(capsys.readouterr().err) == (
        "incident-bot: --chart writes the chart of a --dry-run to a file; --post sends it to Slack with the digest"
    )
    assert [call.method for call in fake_slack.calls if call.method != "auth.test"] == []
    assert not chart.exists()


@pytest.mark.parametrize(
    "command, stopped_in",
    [(["export"], "_export"), (["runbooks", "check"], "_runbooks_check"), (["report"], "load_settings")],
    ids=["in the command", "checking runbooks", "reading the settings"],
)
def test_a_command_stopped_with_ctrl_c_exits_130_not_0(monkeypatch, tmp_path, database_url, capsys, command, stopped_in):
    """asyncio.run raises KeyboardInterrupt once it has cancelled the command: a script must not
    take an export half written, or a report cut short, for a whole one. The same before the
    command runs, and in the commands that run no event loop."""

    def stopped_half_way(*_args, **_kwargs):
        raise KeyboardInterrupt

    async def stopped_half_way_async(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, stopped_in, stopped_half_way_async if stopped_in == "_export" else stopped_half_way)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)
    assert cli.main(command) == 130
    assert "Traceback" not in capsys.readouterr().err


# --------------------------------------------------------------------------- repair


async def test_repair_of_an_imported_incident_says_it_has_no_war_room_and_calls_slack_for_nothing(db, settings, fake_slack, capsys):
    await import_sample(db)
    calls_before = len(fake_slack.calls)
    assert await cli.with_runtime(settings, lambda runtime: cli._repair(runtime, 1)) == 1
    assert one_line(capsys.readouterr().err) == (
        "incident-bot: INC-1 was imported (from csv) and has no war room; there is nothing in Slack to repair"
    )
    assert fake_slack.calls[calls_before:] == []


async def test_repair_with_no_commander_never_invites_nobody_nor_sets_an_empty_ic(db, settings, fake_slack, capsys):
    incident_id = await open_without_war_room(db, commander="")
    assert await cli.with_runtime(settings, lambda runtime: cli._repair(runtime, incident_id)) == 0, capsys.readouterr().err
    invites = fake_slack.calls_to("conversations.invite")
    assert all(call.args.get("users") for call in invites), invites
    topics = [call.args["topic"] for call in fake_slack.calls_to("conversations.setTopic")]
    assert topics and not any("<@>" in topic for topic in topics), topics
    assert all("no commander" in topic for topic in topics)


def test_repair_closes_its_slack_session(tmp_path, migrated_sqlite):
    url = f"sqlite:///{migrated_sqlite}"

    async def seed() -> int:
        database = Database(url)
        try:
            return await open_without_war_room(database, commander="U024BE7LH")
        finally:
            await database.dispose()

    import asyncio

    incident_id = asyncio.run(seed())
    result = run_installed(
        tmp_path,
        "repair",
        str(incident_id),
        DATABASE_URL=url,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=UNREACHABLE_SLACK,
    )
    assert result.returncode == 1  # Slack cannot be reached: the war room step failed, and says so
    assert "failed:" in result.stderr
    assert "Unclosed client session" not in result.stderr and "Traceback" not in result.stderr, result.stderr
