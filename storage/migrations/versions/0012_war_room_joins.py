"""war-room joins (who joined, when, invited by whom) and the two moments time to assemble is measured to

Revision ID: 0012_war_room_joins
Revises: 0011_pages
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op


revision = "0012_war_room_joins"
down_revision = "0011_pages"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "war_room_joins",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_id", sa.String(32), nullable=False),
        sa.Column("inviter", sa.String(32), nullable=True),
        sa.Column("counts", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("incident_id", "user_id", "event_id", name="uq_war_room_joins_incident_user_event"),
    )
    # No backfill: incidents from before this revision have no recorded joins, and are left out of
    # both figures (reports show how many of the restored incidents each figure covers).
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("assembled_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("commander_set_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+, PostgreSQL), as 0006 does: a batch rebuild of
    # incidents would drop the table the timeline's foreign key points at, which SQLite refuses.
    for column in ("commander_set_at", "assembled_at"):
        op.execute(f"ALTER TABLE incidents DROP COLUMN {column}")
    op.drop_table("war_room_joins")
