"""Alembic, driven from code so the installed command migrates from any working directory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from storage.db import Database

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
MIGRATION_LOCK = 4_242_000_008  # any constant; the same in every process of this bot


def _alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


async def upgrade_to_head(database: Database) -> str:
    """Apply every pending migration and return the revision the database is now at."""

    def _upgrade(connection: Connection) -> str:
        command.upgrade(_alembic_config(connection), "head")
        return MigrationContext.configure(connection).get_current_revision() or ""

    async with database.engine.begin() as connection:
        if database.dialect == "postgresql":
            # Several processes deploying at once migrate one after another, not over each other:
            # the lock ends with this transaction; the later ones find the schema at head.
            await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        return await connection.run_sync(_upgrade)


async def current_revision(database: Database) -> str | None:
    def _current(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with database.engine.connect() as connection:
        return await connection.run_sync(_current)


def head_revision() -> str:
    return ScriptDirectory.from_config(_alembic_config()).get_current_head() or ""


class DatabaseNotReady(Exception):
    """The database is missing or not migrated: one line that says which and what to run."""


def _missing_sqlite_file(database_url: str) -> str | None:
    """The file a SQLite URL names, when it does not exist (opening it would create it)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        return url.database
    return None


@asynccontextmanager
async def migrated_database(database_url: str) -> AsyncIterator[Database]:
    """The database, if it exists and is migrated (else DatabaseNotReady), closed when done. A
    command that only reads or records must not create or migrate it behind its owner's back."""
    missing = _missing_sqlite_file(database_url)
    if missing:
        raise DatabaseNotReady(f"there is no database at {missing}: run `incident-bot db upgrade` first")
    database = Database(database_url)
    try:
        current, head = await current_revision(database), head_revision()
        if current != head:
            raise DatabaseNotReady(
                f"the database is not migrated (revision {current or 'none'}, needs {head}): run `incident-bot db upgrade` first"
            )
        yield database
    finally:
        await database.dispose()
