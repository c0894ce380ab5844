"""resolution posts and stored postmortem drafts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("summary_ts", sa.String(32), nullable=True))
        batch.add_column(sa.Column("summary_announcement_ts", sa.String(32), nullable=True))
    op.create_table(
        "postmortems",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "incident_id",
            sa.Integer(),
            sa.ForeignKey("incidents.id", ondelete="RESTRICT", name="fk_postmortems_incident_id"),
            nullable=False,
        ),
        sa.Column("markdown", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("file_id", sa.String(32), nullable=True),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("incident_id", name="uq_postmortems_incident_id"),
    )


def downgrade() -> None:
    op.drop_table("postmortems")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("summary_announcement_ts")
        batch.drop_column("summary_ts")
