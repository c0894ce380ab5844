"""incidents imported from another tool

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        # Where an imported incident came from ("csv", "pagerduty") and its ID there: importing
        # the same file twice finds the incidents it already made.
        batch.add_column(sa.Column("imported_from", sa.String(20), nullable=True))
        batch.add_column(sa.Column("external_id", sa.String(200), nullable=True))
        batch.create_unique_constraint("uq_incidents_external", ["imported_from", "external_id"])
    op.create_index("ix_incidents_started_at", "incidents", ["started_at"])


def downgrade() -> None:
    op.drop_index("ix_incidents_started_at", table_name="incidents")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_constraint("uq_incidents_external", type_="unique")
        batch.drop_column("external_id")
        batch.drop_column("imported_from")
