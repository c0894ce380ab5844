"""the calls each Slack rate limit allows per window, shared by every process of the bot, and how
urgent each process's waiting calls are

Revision ID: 0010_slack_call_slots
Revises: 0009_slack_requests_seen
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_slack_call_slots"
down_revision = "0009_slack_requests_seen"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slack_call_slots",
        sa.Column("bucket", sa.String(120), primary_key=True),
        sa.Column("slot", sa.Integer(), primary_key=True),
        sa.Column("free_at", sa.Float(), nullable=False),
    )
    op.create_table(
        "slack_call_waiting",
        sa.Column("bucket", sa.String(120), primary_key=True),
        sa.Column("process", sa.String(64), primary_key=True),
        sa.Column("urgency", sa.Integer(), nullable=False),
        sa.Column("seen_at", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("slack_call_waiting")
    op.drop_table("slack_call_slots")
