"""runbook action runs: each one-click HTTP request of a runbook, claimed once per incident, action and attempt

Revision ID: 0014_runbook_action_runs
Revises: 0013_handovers
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op


revision = "0014_runbook_action_runs"
down_revision = "0013_handovers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runbook_action_runs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "incident_id",
            sa.Integer(),
            sa.ForeignKey("incidents.id", ondelete="RESTRICT", name="fk_runbook_action_runs_incident_id"),
            nullable=False,
        ),
        sa.Column("runbook", sa.String(100), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("requested_by", sa.String(32), nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(300), nullable=True),
        sa.Column("result_channel", sa.String(32), nullable=True),
        sa.Column("result_ts", sa.String(32), nullable=True),
        sa.UniqueConstraint("incident_id", "runbook", "action", "attempt", name="uq_runbook_action_runs_once"),
        sa.CheckConstraint("status IN ('claimed', 'sending', 'succeeded', 'failed', 'unknown')", name="ck_runbook_action_runs_status"),
        sa.CheckConstraint("attempt >= 1", name="ck_runbook_action_runs_attempt"),
    )


def downgrade() -> None:
    op.drop_table("runbook_action_runs")
