"""drills: an incident marked as a rehearsal, kept out of every figure unless asked for

Revision ID: 0015_drills
Revises: 0014_runbook_action_runs
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op


revision = "0015_drills"
down_revision = "0014_runbook_action_runs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A rehearsal (a game day, a practised rollback): counted apart from real incidents.
    op.add_column("incidents", sa.Column("is_drill", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+): a batch rebuild of incidents would drop the table the
    # timeline's foreign key points at.
    op.execute("ALTER TABLE incidents DROP COLUMN is_drill")
