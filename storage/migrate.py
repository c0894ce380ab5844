"""Alembic, driven from code so the installed command migrates from any working directory."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

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
