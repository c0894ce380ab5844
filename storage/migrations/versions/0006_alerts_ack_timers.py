"""alert intake (deduplicated by group key), acknowledgement, monitoring close and timer claims

Revision ID: 0006_alerts_ack_timers
Revises: 0005
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_alerts_ack_timers"
down_revision = "0005"
branch_labels = None
depends_on = None

# Escalations that existed before this revision would all fire at the first tick after the
# upgrade, days late: they are recorded as already done for incidents open at upgrade time.
_ESCALATIONS = ("ack_escalation", "mitigation_escalation")


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("acknowledged_by", sa.String(32), nullable=True))
        batch.add_column(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
    # Incidents resolved before monitoring existed are closed as they were.
    op.execute("UPDATE incidents SET closed_at = verified_at WHERE status = 'resolved'")

    op.create_table(
        "alert_groups",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("active_key", sa.String(64), nullable=True),  # sha256 of source and key while open
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("dedup_key", sa.Text(), nullable=False),
        sa.Column(
            "incident_id", sa.Integer(),
            sa.ForeignKey("incidents.id", ondelete="RESTRICT", name="fk_alert_groups_incident_id"), nullable=True,
        ),
        sa.Column("alerts_seen", sa.Integer(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("active_key", name="uq_alert_groups_active_key"),
    )
    op.create_index("ix_alert_groups_incident_id", "alert_groups", ["incident_id"])

    op.create_table(
        "timer_firings",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "incident_id", sa.Integer(),
            sa.ForeignKey("incidents.id", ondelete="RESTRICT", name="fk_timer_firings_incident_id"), nullable=False,
        ),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("slot", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("claimed_by", sa.String(100), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.UniqueConstraint("incident_id", "kind", "slot", name="uq_timer_firings_incident_kind_slot"),
        sa.CheckConstraint("status IN ('fired', 'notified', 'failed', 'skipped')", name="ck_timer_firings_status"),
    )
    for kind in _ESCALATIONS:
        op.execute(
            "INSERT INTO timer_firings (incident_id, kind, slot, status, claimed_by, claimed_at) "
            f"SELECT id, '{kind}', 'once', 'skipped', 'migration 0006', CURRENT_TIMESTAMP FROM incidents WHERE status = 'open'"
        )


def downgrade() -> None:
    op.drop_table("timer_firings")
    op.drop_index("ix_alert_groups_incident_id", table_name="alert_groups")
    op.drop_table("alert_groups")
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+, PostgreSQL): a batch rebuild of incidents
    # would drop the table the timeline's foreign key points at, which SQLite refuses.
    for column in ("closed_at", "acknowledged_by", "acknowledged_at"):
        op.execute(f"ALTER TABLE incidents DROP COLUMN {column}")
