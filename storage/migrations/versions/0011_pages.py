"""outbound pages (PagerDuty events, generic paging webhooks), each claimed once per incident and key

Revision ID: 0011_pages
Revises: 0010_slack_call_slots
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op


revision = "0011_pages"
down_revision = "0010_slack_call_slots"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pages",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("via", sa.String(20), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("dedup_key", sa.String(255), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.UniqueConstraint("incident_id", "key", name="uq_pages_incident_key"),
    )
    op.create_index("ix_pages_dedup_key", "pages", ["dedup_key"])


def downgrade() -> None:
    op.drop_index("ix_pages_dedup_key", table_name="pages")
    op.drop_table("pages")
