"""deploys, their link to incidents, and runbooks posted in war rooms

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deploys",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("service", sa.String(80), nullable=False),
        sa.Column("version", sa.String(100), nullable=False),
        sa.Column("environment", sa.String(40), nullable=False),
        sa.Column("deployed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("author", sa.String(100), nullable=True),
        sa.Column("url", sa.String(500), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("service", "version", "environment", "deployed_at", name="uq_deploys_identity"),
        sa.CheckConstraint("source IN ('webhook', 'cli', 'slack')", name="ck_deploys_source"),
    )
    op.create_index("ix_deploys_service_deployed_at", "deploys", ["service", "deployed_at"])
    op.create_table(
        "incident_deploys",
        sa.Column(
            "incident_id", sa.Integer(),
            sa.ForeignKey("incidents.id", ondelete="RESTRICT", name="fk_incident_deploys_incident_id"),
            primary_key=True,
        ),
        sa.Column(
            "deploy_id", sa.Integer(),
            sa.ForeignKey("deploys.id", ondelete="RESTRICT", name="fk_incident_deploys_deploy_id"),
            primary_key=True,
        ),
    )
    with op.batch_alter_table("incidents") as batch:
        # None: not checked (no service); False: checked, no deploy in the window; True: found.
        batch.add_column(sa.Column("deploy_found", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("bookmarked_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "runbook_posts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "incident_id", sa.Integer(),
            sa.ForeignKey("incidents.id", ondelete="RESTRICT", name="fk_runbook_posts_incident_id"),
            nullable=False,
        ),
        sa.Column("runbook", sa.String(100), nullable=False),
        sa.Column("channel_id", sa.String(32), nullable=True),
        sa.Column("message_ts", sa.String(32), nullable=True),
        sa.Column("checked", sa.JSON(), nullable=False),
        sa.Column("attached_by", sa.String(32), nullable=True),
        sa.Column("attached_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("incident_id", "runbook", name="uq_runbook_posts_incident_runbook"),
    )


def downgrade() -> None:
    op.drop_table("runbook_posts")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("bookmarked_at")
        batch.drop_column("deploy_found")
    op.drop_table("incident_deploys")
    op.drop_index("ix_deploys_service_deployed_at", table_name="deploys")
    op.drop_table("deploys")
