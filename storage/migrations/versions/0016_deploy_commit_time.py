"""deploys carry their first commit's time (optional): lead time for changes = deployed_at - commit_time

Revision ID: 0016_deploy_commit_time
Revises: 0015_drills
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_deploy_commit_time"
down_revision = "0015_drills"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deploys") as batch:
        batch.add_column(sa.Column("commit_time", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deploys") as batch:
        batch.drop_column("commit_time")
