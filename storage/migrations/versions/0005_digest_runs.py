"""weekly digest runs, claimed once per channel and week

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "digest_runs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("week", sa.String(8), nullable=False),  # the ISO week the digest covers: 2026-W47
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(100), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("message_ts", sa.String(32), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.UniqueConstraint("channel", "week", name="uq_digest_runs_channel_week"),
        sa.CheckConstraint("status IN ('posting', 'posted', 'failed')", name="ck_digest_runs_status"),
    )


def downgrade() -> None:
    op.drop_table("digest_runs")
