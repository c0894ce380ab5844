"""``incident-bot``: serve, migrate, repair. A wrong setting is one line and exit code 2."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from sqlalchemy.exc import SQLAlchemyError

from bot.config import ConfigError, DatabaseSettings, Settings, load_settings
from bot.incidents import parse_reference
from bot.runtime import Runtime
from storage.db import Database
from storage.migrate import upgrade_to_head

log = logging.getLogger("incident_bot")

EXIT_CONFIG = 2
EXIT_FAILURE = 1


def _incident_number(text: str) -> int:
    number = parse_reference(text)
    if number is None:
        raise argparse.ArgumentTypeError(f"'{text}' is not an incident reference; use INC-42 or 42")
    return number


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="incident-bot", description="Slack incident-command bot.")
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
    return parser


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


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


async def _repair(settings: Settings, number: int) -> int:
    runtime = Runtime.from_settings(settings)
    try:
        try:
            report = await runtime.flows.bring_slack_up_to_date(number)
        except LookupError as error:
            print(f"incident-bot: {error}", file=sys.stderr)
            return EXIT_FAILURE
        for step in report.done:
            print(f"done: {step}")
        for failure in report.failures:
            print(f"failed: {failure}", file=sys.stderr)
        return EXIT_FAILURE if report.failures else 0
    finally:
        await runtime.db.dispose()


async def _postmortem(settings: Settings, number: int, output: str | None) -> int:
    runtime = Runtime.from_settings(settings)
    try:
        try:
            markdown = await runtime.resolutions.draft(number)
        except LookupError as error:
            print(f"incident-bot: {error}", file=sys.stderr)
            return EXIT_FAILURE
    finally:
        await runtime.db.dispose()
    if output:
        with open(output, "w", encoding="utf-8") as file:
            file.write(markdown)
        print(f"wrote the INC-{number} postmortem draft to {output}")
    else:
        sys.stdout.write(markdown)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(kind=DatabaseSettings if args.command == "db" else Settings)
    except ConfigError as error:
        print(f"incident-bot: {error}", file=sys.stderr)
        return EXIT_CONFIG
    _configure_logging(getattr(settings, "log_level", "INFO"))
    try:
        if args.command == "serve":
            asyncio.run(_serve(settings))
        elif args.command == "db":
            asyncio.run(_upgrade(settings))
        elif args.command == "repair":
            return asyncio.run(_repair(settings, args.incident))
        elif args.command == "postmortem":
            return asyncio.run(_postmortem(settings, args.incident, args.output))
    except ConfigError as error:
        print(f"incident-bot: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 0
    except SQLAlchemyError as error:
        # A database that is unreachable, unwritable or not migrated: one line, no traceback.
        reason = str(getattr(error, "orig", None) or error).splitlines()[0]
        print(f"incident-bot: the database (DATABASE_URL) could not be used: {reason}", file=sys.stderr)
        if "no such table" in reason or "does not exist" in reason:
            print("incident-bot: run `incident-bot db upgrade` first", file=sys.stderr)
        return EXIT_FAILURE
    except OSError as error:
        # The database host or the port is unreachable: say which, without a traceback.
        print(f"incident-bot: {error}", file=sys.stderr)
        return EXIT_FAILURE
    return 0


if __name__ == "__main__":
    sys.exit(main())
