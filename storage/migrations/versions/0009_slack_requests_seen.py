"""signed Slack requests already taken, so a copy replayed within Slack's five minutes is refused

Revision ID: 0009_slack_requests_seen
Revises: 0008_reliability
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_slack_requests_seen"
down_revision = "0008_reliability"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slack_requests_seen",
        sa.Column("signature", sa.String(100), primary_key=True),
        sa.Column("slack_timestamp", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_slack_requests_seen_slack_timestamp", "slack_requests_seen", ["slack_timestamp"])


def downgrade() -> None:
    op.drop_index("ix_slack_requests_seen_slack_timestamp", table_name="slack_requests_seen")
    op.drop_table("slack_requests_seen")
