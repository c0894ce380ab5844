"""handovers of command, with their note and the Slack steps each one made

Revision ID: 0013_handovers
Revises: 0012_war_room_joins
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_handovers"
down_revision = "0012_war_room_joins"
branch_labels = None
depends_on = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "handovers",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "incident_id",
            sa.Integer(),
            sa.ForeignKey("incidents.id", ondelete="CASCADE", name="fk_handovers_incident_id"),
            nullable=False,
        ),
        sa.Column("request_key", sa.String(200), nullable=False),
        sa.Column("from_user", sa.String(32), nullable=False),
        sa.Column("to_user", sa.String(32), nullable=False),
        sa.Column("by_user", sa.String(32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("hypothesis", sa.Text(), nullable=False),
        sa.Column("tried", sa.Text(), nullable=False),
        sa.Column("next_steps", sa.Text(), nullable=False),
        sa.Column("risks", sa.Text(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("answer", sa.String(20), nullable=True),
        sa.Column("answered_at", _utc(), nullable=True),
        sa.Column("dm_channel", sa.String(32), nullable=True),
        sa.Column("dm_ts", sa.String(32), nullable=True),
        sa.Column("room_ts", sa.String(32), nullable=True),
        sa.Column("topic_set_at", _utc(), nullable=True),
        sa.Column("declined_room_ts", sa.String(32), nullable=True),
        sa.Column("declined_dm_ts", sa.String(32), nullable=True),
        sa.Column("declined_topic_set_at", _utc(), nullable=True),
        sa.UniqueConstraint("request_key", name="uq_handovers_request_key"),
        sa.CheckConstraint("answer IS NULL OR answer IN ('accepted', 'declined')", name="ck_handovers_answer"),
    )
    op.create_index("ix_handovers_incident_id", "handovers", ["incident_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_handovers_incident_id", table_name="handovers")
    op.drop_table("handovers")
