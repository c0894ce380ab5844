"""``incident-bot``: serve, migrate, repair. A wrong setting is one line and exit code 2."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from importlib import metadata
from pathlib import Path

from dotenv import dotenv_values
from pydantic import Field, ValidationError, field_validator
from sqlalchemy.exc import SQLAlchemyError

from bot import logs
from bot.catalog.runbooks import Problem
from bot.catalog.services import load_catalog, where
from bot.catalog.workspace import unknown_in_workspace
from bot.core.clock import utc_now
from bot.incidents.audit import read_audit_trail
from bot.incidents.operations import parse_reference
from bot.integrations.deploys import Deploys, deploy_summary, parse_deploy, validation_reason
from bot.integrations.importing import (
    EXPORT_FORMATS,
    FORMATS,
    INTERRUPTED_IMPORT,
    Importer,
    ImportStopped,
    export_incidents,
    parse_bound,
    parse_file,
)
from bot.runtime import Runtime
from bot.settings import SLACK_API_URL_DEFAULT, ConfigError, DatabaseSettings, Settings, env_file_not_text, load_settings
from bot.slack import SlackError, SlackGateway
from handlers import cli_reports
from handlers.cli_files import cannot_write, file_to_write, write_file
from storage.db import Database
from storage.migrate import DatabaseNotReady, migrated_database, upgrade_to_head

log = logging.getLogger("incident_bot")

EXIT_CONFIG = 2
EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a command Ctrl-C stopped


class OfflineSettings(Settings):
    """The settings of a command that builds the runtime (the database and the team's files) but
    never calls Slack (``postmortem``, ``report``, ``digest --dry-run``): the Slack token and
    signing secret may be missing."""

    slack_bot_token: str | None = Field(default=None, alias="SLACK_BOT_TOKEN")  # type: ignore[assignment]  # optional for a command that never calls Slack
    slack_signing_secret: str | None = Field(default=None, alias="SLACK_SIGNING_SECRET")  # type: ignore[assignment]  # optional for a command that never calls Slack

    # These replace Settings' checks of the two (same names): unused here, absent or not.
    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token(cls, value: str | None) -> str | None:  # type: ignore[override]  # optional for a command that never calls Slack
        return value

    @field_validator("slack_signing_secret")
    @classmethod
    def _signing_secret(cls, value: str | None) -> str | None:  # type: ignore[override]  # optional for a command that never calls Slack
        return value


# Commands that only read the database (and the config files): no Slack settings needed.
DATABASE_COMMANDS = ("db", "deploy", "import", "export", "audit")
# Commands that build the whole runtime, as `serve` does, but never call Slack.
OFFLINE_COMMANDS = ("postmortem", "report")


def _settings_kind(args: argparse.Namespace) -> type[DatabaseSettings]:
    if args.command in DATABASE_COMMANDS:
        return DatabaseSettings
    if args.command in OFFLINE_COMMANDS or (args.command == "digest" and not args.post):
        return OfflineSettings
    return Settings


async def with_runtime(settings: Settings, work: Callable[[Runtime], Awaitable[int]]) -> int:
    """Run one command on the objects `serve` builds (bot.runtime.Runtime), and close what they
    opened: the background work, the Slack HTTP session, the database pool."""
    runtime = Runtime.from_settings(settings)
    try:
        return await work(runtime)
    finally:
        await runtime.close()  # no "Unclosed client session" at exit


def _incident_number(text: str) -> int:
    number = parse_reference(text)
    if number is None:
        raise argparse.ArgumentTypeError(f"'{text}' is not an incident reference; use INC-42 or 42")
    return number


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="incident-bot", description="Slack incident-command bot.")
    # From the installed package's metadata, so the number is the one pip, the wheel and the image carry.
    parser.add_argument("--version", action="version", version=f"%(prog)s {metadata.version('incident-bot')}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the bot (Socket Mode when SLACK_APP_TOKEN is set, else HTTP on PORT)")
    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply every pending migration")
    repair = sub.add_parser("repair", help="redo the Slack steps of an incident's war room that did not happen")
    repair.add_argument("incident", type=_incident_number, help="INC-42 or 42")
    postmortem = sub.add_parser("postmortem", help="print an incident's postmortem draft")
    postmortem.add_argument("incident", type=_incident_number, help="INC-42 or 42")
    postmortem.add_argument("--output", "-o", metavar="FILE", help="write the draft to FILE instead of printing it")
    runbooks = sub.add_parser("runbooks", help="the runbooks and the service catalog (no Slack settings needed)")
    runbooks_sub = runbooks.add_subparsers(dest="runbooks_command", required=True)
    runbooks_check = runbooks_sub.add_parser(
        "check", help="lint the runbooks and the service catalog; exit 1 on errors (warnings alone exit 0)"
    )
    runbooks_check.add_argument(
        "--dir",
        default=None,
        metavar="DIR",
        help="the runbooks folder (default: RUNBOOKS_DIR, from the environment or .env, as serve reads it; else runbooks)",
    )
    runbooks_check.add_argument(
        "--catalog",
        default=None,
        metavar="FILE",
        help="the service catalog (default: SERVICE_CATALOG, as serve reads it; else DIR/catalog.yml)",
    )
    deploy = sub.add_parser("deploy", help="record a deploy (a pipeline step; needs only DATABASE_URL and a migrated database)")
    deploy.add_argument("service", help="the service deployed, e.g. payments-api")
    deploy.add_argument("version", help="the version deployed, e.g. v1.42 or a commit SHA")
    deploy.add_argument("--url", help="the commit or PR URL")
    deploy.add_argument("--env", dest="environment", metavar="ENV", help="the environment (default: production)")
    deploy.add_argument("--author", help="who deployed")
    deploy.add_argument("--at", dest="time", metavar="ISO", help="when, ISO 8601 with a zone such as 2026-11-23T14:05Z (default: now)")
    deploy.add_argument("--description", help="what changed")
    deploy.add_argument(
        "--commit-time",
        dest="commit_time",
        metavar="ISO",
        help="when the deploy's first commit was made, ISO 8601 with a zone (for lead time for changes)",
    )
    importing = sub.add_parser("import", help="load past incidents from a file (needs only DATABASE_URL and a migrated database)")
    importing.add_argument("file", metavar="FILE", help="the file to import")
    importing.add_argument(
        "--format",
        required=True,
        choices=FORMATS,
        help="csv: the documented columns; json: what `export --format json` writes; pagerduty: the JSON of PagerDuty's List incidents API",
    )
    importing.add_argument("--dry-run", action="store_true", help="validate the file and say what would be imported, writing nothing")
    export = sub.add_parser("export", help="write every incident with its phase times (needs only DATABASE_URL)")
    export.add_argument("--format", default="csv", choices=EXPORT_FORMATS, help="csv (default) or json")
    export.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of standard output")
    export.add_argument(
        "--since",
        type=_bound(end=False),
        metavar="DATE",
        help="only incidents whose impact started on or after DATE (2026-11-01, a UTC day, or ISO 8601 with a zone)",
    )
    export.add_argument(
        "--until",
        type=_bound(end=True),
        metavar="DATE",
        help="only incidents whose impact started before the end of DATE (a UTC day), or before an ISO 8601 time",
    )
    export.add_argument("--drills", action="store_true", help="include drills, with a drill column (left out by default)")
    audit = sub.add_parser("audit", help="print the audit trail (corrections, break-glass access), of one incident or all")
    audit.add_argument("incident", nargs="?", type=_incident_number, help="INC-42 or 42 (default: every incident)")
    audit.add_argument("--format", choices=("table", "json"), default="table")
    cli_reports.add_parsers(sub)
    return parser


def _bound(*, end: bool):
    def parse(text: str):
        try:
            return parse_bound(text, end=end)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return parse


def _routing_keys(settings: Settings) -> list[str]:
    """The catalog's PagerDuty routing keys (environment variables it names), redacted from the logs
    like the secret settings. A catalog that does not parse names none: starting says what is wrong with it."""
    from bot.catalog.services import CatalogError, load_catalog, routing_key_values

    try:
        catalog = load_catalog(settings.service_catalog or settings.runbooks_dir / "catalog.yml", required=False)
    except CatalogError:
        return []
    return routing_key_values(catalog, os.environ)


def _action_secrets(settings: Settings) -> list[str]:
    """The values the runbook actions' headers read from the environment, redacted from the logs
    like the secret settings (the actions never log them; this is the second line). Runbooks that
    do not load name none: starting says what is wrong with them."""
    from bot.catalog.runbook_actions import secret_values
    from bot.catalog.runbooks import RunbookError, load_runbooks

    try:
        runbooks = load_runbooks(settings.runbooks_dir) if settings.runbooks_dir.is_dir() else []
    except RunbookError:
        return []
    return secret_values([action for runbook in runbooks for action in runbook.actions], os.environ)


def _configure_logging(level: str, settings: object = None) -> None:
    """Text or JSON lines (LOG_FORMAT) with the incident and Slack request on each; every setting
    marked secret is redacted from every line."""
    secrets = settings.secret_values() if isinstance(settings, DatabaseSettings) else []
    if isinstance(settings, Settings):
        secrets += _routing_keys(settings) + _action_secrets(settings)
    logs.configure(level, json_lines=getattr(settings, "log_format", "text") == "json", secrets=secrets)


async def _serve(settings: Settings) -> None:
    from handlers.server import serve

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await serve(settings, stop)


async def _upgrade(settings: DatabaseSettings) -> None:
    database = Database(settings.database_url)
    try:
        revision = await upgrade_to_head(database)
        print(f"database is at revision {revision}")
    finally:
        await database.dispose()


async def _repair(runtime: Runtime, number: int) -> int:
    try:
        report = await runtime.interactions.repairs.bring_slack_up_to_date(number)
    except LookupError as error:
        print(f"incident-bot: {error}", file=sys.stderr)
        return EXIT_FAILURE
    for step in report.done:
        print(f"done: {step}")
    for step in report.already:
        print(f"already there: {step}")
    for failure in report.failures:
        print(f"still missing: {failure}", file=sys.stderr)
    if report.failures:
        print(f"INC-{number}: the repair could not finish; run it again once the above is fixed", file=sys.stderr)
        return EXIT_FAILURE
    if not report.done:
        print(f"INC-{number}: nothing to repair; everything was already in place")
    return 0


async def _postmortem(runtime: Runtime, number: int, output: str | None) -> int:
    try:
        markdown = await runtime.resolutions.draft(number)
    except LookupError as error:
        print(f"incident-bot: {error}", file=sys.stderr)
        return EXIT_FAILURE
    if output is not None:
        if not write_file("--output", output, markdown):
            return EXIT_CONFIG
        print(f"wrote the INC-{number} postmortem draft to {output}")
    else:
        sys.stdout.write(markdown)
    return 0


def _from_env_or_dotenv(name: str) -> str | None:
    """``name`` where serve would find it (the environment, then .env), without the other settings."""
    if value := os.environ.get(name):
        return value
    try:
        return dotenv_values(".env").get(name)
    except UnicodeDecodeError as error:
        raise env_file_not_text(".env", error) from None


def _runbooks_check(folder: str, catalog: str | None) -> int:
    """Print one line per problem and a summary; needs no settings, Slack or database."""
    from pathlib import Path

    from bot.catalog.runbooks import check_report

    catalog_path = Path(catalog) if catalog else Path(folder) / "catalog.yml"
    report = check_report(Path(folder), catalog_path, catalog_required=catalog is not None)
    # With a bot token (the environment's or .env's), the people and groups are checked in Slack too.
    token = _from_env_or_dotenv("SLACK_BOT_TOKEN") or ""
    if token.startswith("xoxb-") and catalog_path.is_file() and not report.errors:
        report.problems.extend(asyncio.run(_catalog_against_the_workspace(catalog_path, token)))
    for problem in report.problems:
        print(problem)
    print(report.summary())
    return EXIT_FAILURE if report.errors else 0


async def _catalog_against_the_workspace(catalog_path: Path, token: str) -> list[Problem]:
    """Warnings for the catalog's people and groups Slack does not know (made-up example IDs, typos),
    asked with the bot token; one warning instead when Slack cannot be asked."""
    api_url = _from_env_or_dotenv("SLACK_API_URL") or SLACK_API_URL_DEFAULT
    slack = SlackGateway.connect(token, api_url if api_url.endswith("/") else api_url + "/", timeout=10.0)

    try:
        found = await unknown_in_workspace(
            load_catalog(catalog_path, required=True),
            user_missing=slack.people.unknown_user,
            email_missing=slack.people.unknown_email,
            known_groups=slack.people.usergroup_ids_and_handles,
        )
    except SlackError as error:
        return [Problem("warning", str(catalog_path), f"people and groups not checked against the workspace: {error}")]
    finally:
        await slack.close()
    return [Problem("warning", where(catalog_path, line), message) for line, message in found]


async def _deploy(settings: DatabaseSettings, args: argparse.Namespace) -> int:
    fields = ("service", "version", "environment", "time", "author", "url", "description", "commit_time")
    given = {name: getattr(args, name) for name in fields if getattr(args, name) is not None}
    try:
        deploy_in = parse_deploy(given, now=utc_now())
    except ValidationError as error:
        print(f"incident-bot: {validation_reason(error)}", file=sys.stderr)
        return EXIT_CONFIG
    async with migrated_database(settings.database_url) as database:
        record, created = await Deploys(database, utc_now).record(deploy_in, source="cli")
    if created:
        print(f"recorded deploy #{record.id}: {deploy_summary(record)}")
    else:
        print(f"already recorded as #{record.id}: {deploy_summary(record)}")
    return 0


MAX_PROBLEMS_SHOWN = 50


async def _audit(settings: DatabaseSettings, args: argparse.Namespace) -> int:
    try:
        async with migrated_database(settings.database_url) as database:
            records = await read_audit_trail(database, args.incident)
    except LookupError as error:
        print(f"incident-bot: {error}", file=sys.stderr)
        return EXIT_FAILURE
    if args.format == "json":
        print(json.dumps([r.as_dict() for r in records], indent=2))
    elif not records:
        scope = f"INC-{args.incident}" if args.incident else "any incident"
        print(f"no audit records for {scope}")
    else:
        for record in records:
            print(record.line())
    return 0


async def _import(settings: DatabaseSettings, args: argparse.Namespace) -> int:
    """Validate the whole file first (exit 2, nothing written), then store it a batch at a time."""
    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as error:
        print(f"incident-bot: cannot read {args.file}: {error.strerror or error}", file=sys.stderr)
        return EXIT_CONFIG
    parsed = parse_file(data, args.format, now=utc_now())
    if parsed.problems:
        count = len(parsed.problems)
        print(
            f"incident-bot: {args.file}: {count} problem{'s' if count > 1 else ''}; nothing was imported",
            file=sys.stderr,
        )
        for problem in parsed.problems[:MAX_PROBLEMS_SHOWN]:
            print(f"  {problem}", file=sys.stderr)
        if count > MAX_PROBLEMS_SHOWN:
            print(f"  … and {count - MAX_PROBLEMS_SHOWN} more", file=sys.stderr)
        return EXIT_CONFIG
    async with migrated_database(settings.database_url) as database:
        try:
            report = await Importer(database, utc_now).run(parsed, origin=path.name, dry_run=args.dry_run)
        except ImportStopped as stopped:
            if not stopped.raced:
                print(f"incident-bot: the database (DATABASE_URL) failed: {_database_reason(stopped.error)}", file=sys.stderr)
            print(f"incident-bot: {stopped.summary()}", file=sys.stderr)
            return EXIT_FAILURE
        except asyncio.CancelledError:  # Ctrl-C: asyncio.run cancels the command, then raises KeyboardInterrupt
            if not args.dry_run:
                print(f"incident-bot: interrupted: {INTERRUPTED_IMPORT}", file=sys.stderr)
            raise
    for changed in report.changed:
        print(f"skipped: {changed}")
    print(report.summary())
    return 0


async def _export(settings: DatabaseSettings, args: argparse.Namespace) -> int:
    if args.since and args.until and args.since >= args.until:
        print("incident-bot: --since must be earlier than --until", file=sys.stderr)
        return EXIT_CONFIG
    async with migrated_database(settings.database_url) as database:
        if args.output is None:
            try:
                count = await export_incidents(database, sys.stdout, args.format, since=args.since, until=args.until, drills=args.drills)
                sys.stdout.flush()
            except BrokenPipeError:
                # The reader stopped early (`| head`): nothing to report; keep the exit quiet, as main() does.
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                return 0
            print(f"exported {count} incident{'' if count == 1 else 's'}", file=sys.stderr)
            return 0
        # Written beside the target and renamed at the end: a failed export leaves no half file.
        try:
            target = file_to_write(args.output)  # before its name is read: "." has none
            partial = target.with_name(target.name + ".partial")
            out = partial.open("w", encoding="utf-8", newline="")
        except OSError as error:
            cannot_write("--output", args.output, error)
            return EXIT_CONFIG
        try:
            with out:
                count = await export_incidents(database, out, args.format, since=args.since, until=args.until, drills=args.drills)
            partial.replace(target)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    print(f"exported {count} incident{'' if count == 1 else 's'} to {args.output}")
    return 0


def _database_reason(error: BaseException) -> str:
    """The driver's own words (SQLAlchemy wraps them with the statement), first line only."""
    return str(getattr(error, "orig", None) or error).splitlines()[0]


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:
        # Ctrl-C before the command finished (serve stops on it, and exits 0, by itself): a script
        # must not take a report cut short or an export half written for a whole one.
        return EXIT_INTERRUPTED


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "runbooks":
        # Lints files only: no settings are loaded, so it runs in any team's CI without Slack.
        try:
            # The folder and catalog serve would load, unless named here.
            folder = args.dir or _from_env_or_dotenv("RUNBOOKS_DIR") or "runbooks"
            return _runbooks_check(folder, args.catalog or _from_env_or_dotenv("SERVICE_CATALOG"))
        except ConfigError as error:
            print(f"incident-bot: {error}", file=sys.stderr)
            return EXIT_CONFIG
    try:
        kind = _settings_kind(args)
        settings = load_settings(kind=kind)
    except ConfigError as error:
        print(f"incident-bot: {error}", file=sys.stderr)
        return EXIT_CONFIG
    _configure_logging(
        "WARNING"
        if args.command in ("deploy", "import", "export", "report", "digest", "audit")
        else getattr(settings, "log_level", "INFO"),
        settings,
    )
    try:
        code = _run(args, settings)
        sys.stdout.flush()  # inside the try: a reader gone before the last buffered lines is the same case
        return code
    except BrokenPipeError:
        # The reader stopped early (`report | head`): what it read was complete; no traceback,
        # no "Broken pipe", and Python's own flush of stdout at exit must not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _run(args: argparse.Namespace, settings) -> int:
    try:
        if args.command == "serve":
            asyncio.run(_serve(settings))
        elif args.command == "db":
            asyncio.run(_upgrade(settings))
        elif args.command == "repair":
            return asyncio.run(with_runtime(settings, lambda runtime: _repair(runtime, args.incident)))
        elif args.command == "postmortem":
            return asyncio.run(with_runtime(settings, lambda runtime: _postmortem(runtime, args.incident, args.output)))
        elif args.command == "deploy":
            return asyncio.run(_deploy(settings, args))
        elif args.command == "import":
            return asyncio.run(_import(settings, args))
        elif args.command == "export":
            return asyncio.run(_export(settings, args))
        elif args.command == "audit":
            return asyncio.run(_audit(settings, args))
        elif args.command == "report":
            return asyncio.run(with_runtime(settings, lambda runtime: cli_reports.run_report(runtime, args)))
        elif args.command == "digest":
            return asyncio.run(with_runtime(settings, lambda runtime: cli_reports.run_digest(runtime, args)))
    except ConfigError as error:
        print(f"incident-bot: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except DatabaseNotReady as problem:
        print(f"incident-bot: {problem}", file=sys.stderr)
        return EXIT_FAILURE
    except SQLAlchemyError as error:
        # A database that is unreachable, unwritable or not migrated: one line, no traceback.
        reason = _database_reason(error)
        print(f"incident-bot: the database (DATABASE_URL) could not be used: {reason}", file=sys.stderr)
        if "no such table" in reason or "does not exist" in reason:
            print("incident-bot: run `incident-bot db upgrade` first", file=sys.stderr)
        return EXIT_FAILURE
    except BrokenPipeError:
        raise  # not a database problem: main() ends quietly
    except OSError as error:
        # The database host or the port is unreachable: say which, without a traceback.
        print(f"incident-bot: {error}", file=sys.stderr)
        return EXIT_FAILURE
    return 0


if __name__ == "__main__":
    sys.exit(main())
