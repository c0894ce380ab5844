"""roles, private incidents, the audit trail and follow-up action items

Revision ID: 0007_roles_audit_actions
Revises: 0006_alerts_ack_timers
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_roles_audit_actions"
down_revision = "0006_alerts_ack_timers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN, not a batch: a SQLite batch rebuild of incidents would drop the table the
    # timeline's foreign key points at, which SQLite refuses once there is history.
    # Roles besides the commander: who rolls back, who talks to stakeholders, who writes.
    op.add_column("incidents", sa.Column("rollback_owner", sa.String(32), nullable=True))
    op.add_column("incidents", sa.Column("comms_lead", sa.String(32), nullable=True))
    op.add_column("incidents", sa.Column("scribe", sa.String(32), nullable=True))
    # Security or personnel matters: private war room, no title outside it.
    op.add_column("incidents", sa.Column("is_private", sa.Boolean(), nullable=False, server_default=sa.false()))
    # The message under the uploaded draft with the "Add action item" button.
    op.add_column("postmortems", sa.Column("actions_message_ts", sa.String(32), nullable=True))
    # Append-only: nothing in the product updates or deletes these rows.
    op.create_table(
        "audit_records",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id", ondelete="RESTRICT", name="fk_audit_records_incident_id"), nullable=True),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("field", sa.String(40), nullable=True),
        sa.Column("old_value", sa.Text(), nullable=True),
        sa.Column("new_value", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
    )
    op.create_index("ix_audit_records_incident_id", "audit_records", ["incident_id", "id"])
    op.create_table(
        "action_items",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id", ondelete="RESTRICT", name="fk_action_items_incident_id"), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(32), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("created_by", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_by", sa.String(32), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        # The owner's direct message with the Done button, updated when the item is done.
        sa.Column("dm_channel", sa.String(32), nullable=True),
        sa.Column("dm_ts", sa.String(32), nullable=True),
        # The weekly overdue reminder is claimed by a conditional UPDATE of this column.
        sa.Column("last_reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('open', 'done')", name="ck_action_items_status"),
    )
    op.create_index("ix_action_items_incident_id", "action_items", ["incident_id"])
    op.create_index("ix_action_items_status_due", "action_items", ["status", "due_date"])


def downgrade() -> None:
    op.drop_index("ix_action_items_status_due", table_name="action_items")
    op.drop_index("ix_action_items_incident_id", table_name="action_items")
    op.drop_table("action_items")
    op.drop_index("ix_audit_records_incident_id", table_name="audit_records")
    op.drop_table("audit_records")
    # Plain DROP COLUMN (SQLite 3.35+): a batch rebuild of incidents would drop the table the
    # timeline's foreign key points at.
    op.execute("ALTER TABLE postmortems DROP COLUMN actions_message_ts")
    for column in ("is_private", "scribe", "comms_lead", "rollback_owner"):
        op.execute(f"ALTER TABLE incidents DROP COLUMN {column}")
