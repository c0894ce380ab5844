"""incidents and their timeline

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("request_key", sa.String(200), nullable=True),
        sa.Column("title", sa.String(150), nullable=False),
        sa.Column("severity", sa.String(2), nullable=False),
        sa.Column("service", sa.String(80), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("detection_method", sa.String(20), nullable=False),
        sa.Column("opened_by", sa.String(32), nullable=False),
        sa.Column("commander", sa.String(32), nullable=False),
        sa.Column("origin_channel_id", sa.String(32), nullable=True),
        sa.Column("channel_id", sa.String(32), nullable=True),
        sa.Column("channel_name", sa.String(80), nullable=True),
        sa.Column("control_message_ts", sa.String(32), nullable=True),
        sa.Column("control_pinned_at", _utc(), nullable=True),
        sa.Column("announcement_ts", sa.String(32), nullable=True),
        sa.Column("started_at", _utc(), nullable=False),
        sa.Column("detected_at", _utc(), nullable=False),
        sa.Column("diagnosed_at", _utc(), nullable=True),
        sa.Column("diagnosed_by", sa.String(32), nullable=True),
        sa.Column("diagnosed_implied", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("mitigated_at", _utc(), nullable=True),
        sa.Column("mitigated_by", sa.String(32), nullable=True),
        sa.Column("mitigated_implied", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("verified_at", _utc(), nullable=True),
        sa.Column("verified_by", sa.String(32), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.UniqueConstraint("request_key", name="uq_incidents_request_key"),
        sa.CheckConstraint("severity IN ('P1', 'P2', 'P3', 'P4')", name="ck_incidents_severity"),
        sa.CheckConstraint(
            "detection_method IN ('alert', 'customer_report', 'engineer', 'synthetic')",
            name="ck_incidents_detection_method",
        ),
        sa.CheckConstraint("status IN ('open', 'resolved')", name="ck_incidents_status"),
        sa.CheckConstraint("started_at <= detected_at", name="ck_incidents_started_before_detected"),
    )
    op.create_index("ix_incidents_channel_id", "incidents", ["channel_id"])
    op.create_index("ix_incidents_status", "incidents", ["status"])

    op.create_table(
        "timeline_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "incident_id",
            sa.Integer(),
            sa.ForeignKey("incidents.id", ondelete="RESTRICT", name="fk_timeline_events_incident_id"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(32), nullable=True),
        sa.Column("occurred_at", _utc(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
    )
    op.create_index("ix_timeline_events_incident_id", "timeline_events", ["incident_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_timeline_events_incident_id", table_name="timeline_events")
    op.drop_table("timeline_events")
    op.drop_index("ix_incidents_status", table_name="incidents")
    op.drop_index("ix_incidents_channel_id", table_name="incidents")
    op.drop_table("incidents")
