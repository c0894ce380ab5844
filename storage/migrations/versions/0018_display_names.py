"""display names: the people's names Slack gave, on file for every process, so that a resolution
seldom waits on Slack for the names its postmortem shows

Revision ID: 0018_display_names
Revises: 0017_dashboard
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op


revision = "0018_display_names"
down_revision = "0017_dashboard"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "display_names",
        sa.Column("user_id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("learned_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("display_names")
