"""Alembic, driven from code so the installed command migrates from any working directory."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from storage.db import Database

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _alembic_config(connection=None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


async def upgrade_to_head(database: Database) -> str:
    """Apply every pending migration and return the revision the database is now at."""

    def _upgrade(connection) -> str:
        command.upgrade(_alembic_config(connection), "head")
        return MigrationContext.configure(connection).get_current_revision() or ""

    async with database.engine.begin() as connection:
        return await connection.run_sync(_upgrade)


async def current_revision(database: Database) -> str | None:
    def _current(connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with database.engine.connect() as connection:
        return await connection.run_sync(_current)


def head_revision() -> str:
    return ScriptDirectory.from_config(_alembic_config()).get_current_head() or ""
