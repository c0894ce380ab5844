"""claims on Slack steps, so concurrent repairs (or a repair racing the open flow) never post twice

Revision ID: 0008_reliability
Revises: 0007_roles_audit_actions
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_reliability"
down_revision = "0007_roles_audit_actions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slack_step_claims",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
        # channel, control_message, announcement, bookmarks, runbook:<name>, summary, ...
        sa.Column("step", sa.String(200), nullable=False),
        sa.Column("token", sa.String(64), nullable=False),  # who holds it: one claim, one token
        sa.Column("claimed_by", sa.String(100), nullable=False),  # host:pid, for people reading the table
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("incident_id", "step", name="uq_slack_step_claims_incident_step"),
    )


def downgrade() -> None:
    op.drop_table("slack_step_claims")
