"""chart uploads: App Home's chart, claimed once an hour so that several processes upload it once;
an index on incidents.verified_at for the dashboard's recently restored incidents

Revision ID: 0017_dashboard
Revises: 0016_deploy_commit_time
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op


revision = "0017_dashboard"
down_revision = "0016_deploy_commit_time"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chart_uploads",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("chart", sa.String(40), nullable=False),
        sa.Column("period", sa.String(20), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("file_id", sa.String(32), nullable=True),
        sa.UniqueConstraint("chart", "period", name="uq_chart_uploads_chart_period"),
    )
    op.create_index("ix_incidents_verified_at", "incidents", ["verified_at"])


def downgrade() -> None:
    op.drop_index("ix_incidents_verified_at", table_name="incidents")
    op.drop_table("chart_uploads")
