"""SQLAlchemy 2.0 typed models. The database is the truth; Slack only shows it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from storage.types import UTCDateTime

SEVERITIES = ("P1", "P2", "P3", "P4")
DETECTION_METHODS = ("alert", "customer_report", "engineer", "synthetic")
STATUSES = ("open", "resolved")
DEPLOY_SOURCES = ("webhook", "cli", "slack")
# A deploy reported without an environment; the one the deploy correlation and DORA's keys read.
DEFAULT_DEPLOY_ENVIRONMENT = "production"


class Base(DeclarativeBase):
    pass


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (
        CheckConstraint(_in("severity", SEVERITIES), name="ck_incidents_severity"),
        CheckConstraint(_in("detection_method", DETECTION_METHODS), name="ck_incidents_detection_method"),
        CheckConstraint(_in("status", STATUSES), name="ck_incidents_status"),
        CheckConstraint("started_at <= detected_at", name="ck_incidents_started_before_detected"),
        UniqueConstraint("request_key", name="uq_incidents_request_key"),
        UniqueConstraint("imported_from", "external_id", name="uq_incidents_external"),
        Index("ix_incidents_started_at", "started_at"),
        Index("ix_incidents_channel_id", "channel_id"),
        Index("ix_incidents_status", "status"),
        # The dashboard's "recently restored" list: the newest restores, without reading every incident.
        Index("ix_incidents_verified_at", "verified_at"),
    )

    # The primary key doubles as the human number shown as INC-<id>.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Identifies the Slack request that opened the incident (trigger or view id), so a retried
    # delivery or a double-submitted modal finds the incident it already opened.
    request_key: Mapped[str | None] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(150))
    severity: Mapped[str] = mapped_column(String(2))
    service: Mapped[str | None] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(20), default="open")
    detection_method: Mapped[str] = mapped_column(String(20))
    opened_by: Mapped[str] = mapped_column(String(32))
    commander: Mapped[str] = mapped_column(String(32))
    origin_channel_id: Mapped[str | None] = mapped_column(String(32))
    rollback_owner: Mapped[str | None] = mapped_column(String(32))
    comms_lead: Mapped[str | None] = mapped_column(String(32))
    scribe: Mapped[str | None] = mapped_column(String(32))
    # Private: a private war room, and no title or people shown outside it.
    is_private: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # A drill: a rehearsal, named and bannered as one, paging only the people named for drills,
    # and counted in no figure unless drills are asked for.
    is_drill: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    # War room: each Slack step leaves a mark here once done, so a repair redoes only what is missing.
    channel_id: Mapped[str | None] = mapped_column(String(32))
    channel_name: Mapped[str | None] = mapped_column(String(80))
    control_message_ts: Mapped[str | None] = mapped_column(String(32))
    control_pinned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    announcement_ts: Mapped[str | None] = mapped_column(String(32))
    # Resolution posts, recorded like the war-room steps so a repair reposts only what is missing.
    summary_ts: Mapped[str | None] = mapped_column(String(32))
    summary_announcement_ts: Mapped[str | None] = mapped_column(String(32))
    # None: not checked (no service); False: no deploy in the window before impact; True: found.
    deploy_found: Mapped[bool | None] = mapped_column(Boolean)
    bookmarked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set for incidents imported from another tool (bot/integrations/importing.py); they have no war room.
    imported_from: Mapped[str | None] = mapped_column(String(20))
    external_id: Mapped[str | None] = mapped_column(String(200))

    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime())
    diagnosed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    diagnosed_by: Mapped[str | None] = mapped_column(String(32))
    diagnosed_implied: Mapped[bool] = mapped_column(Boolean, default=False)
    mitigated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    mitigated_by: Mapped[str | None] = mapped_column(String(32))
    mitigated_implied: Mapped[bool] = mapped_column(Boolean, default=False)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    verified_by: Mapped[str | None] = mapped_column(String(32))
    # Someone took the incident on (button or /incident ack). Kept apart from the four phases:
    # time to acknowledge is acknowledged_at - detected_at, its own figure.
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by: Mapped[str | None] = mapped_column(String(32))
    # A verified incident is "monitoring" until its window ends; then it is closed here and can no
    # longer be reopened (bot/timers/monitoring.py).
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Time to assemble, each apart from the phases like the acknowledgement: when a second person
    # (beyond the opener) first joined the war room by themselves or was added by a person
    # (WarRoomJoin.counts), and when a person first held command (at the open when a person
    # opened it; for an alert's incident, when someone acknowledged it or was named commander).
    assembled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    commander_set_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    events: Mapped[list[TimelineEvent]] = relationship(back_populates="incident", order_by="TimelineEvent.id", lazy="raise")

    @property
    def reference(self) -> str:
        return f"INC-{self.id}"


# The stamps of an incident's timeline, in order: each phase runs from one to the next (bot.core.phases).
TIMELINE_STAMPS = (Incident.started_at, Incident.detected_at, Incident.diagnosed_at, Incident.mitigated_at, Incident.verified_at)


# Drills count in no figure: every read behind a figure or a list of incidents takes real ones only.
REAL_INCIDENTS = Incident.is_drill.is_(False)


class TimelineEvent(Base):
    """One row per change to an incident: the timeline a postmortem is built from."""

    __tablename__ = "timeline_events"
    __table_args__ = (Index("ix_timeline_events_incident_id", "incident_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="RESTRICT", name="fk_timeline_events_incident_id"))
    kind: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str | None] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    text: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    incident: Mapped[Incident] = relationship(back_populates="events", lazy="raise")


class Postmortem(Base):
    """The draft rendered at resolution, kept so it can be printed, uploaded again or edited."""

    __tablename__ = "postmortems"
    __table_args__ = (UniqueConstraint("incident_id", name="uq_postmortems_incident_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="RESTRICT", name="fk_postmortems_incident_id"))
    markdown: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    file_id: Mapped[str | None] = mapped_column(String(32))
    uploaded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    actions_message_ts: Mapped[str | None] = mapped_column(String(32))


class Deploy(Base):
    """A deploy to a service, from the webhook, the CLI or Slack; the same deploy is stored once."""

    __tablename__ = "deploys"
    __table_args__ = (
        UniqueConstraint("service", "version", "environment", "deployed_at", name="uq_deploys_identity"),
        CheckConstraint(_in("source", DEPLOY_SOURCES), name="ck_deploys_source"),
        Index("ix_deploys_service_deployed_at", "service", "deployed_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    service: Mapped[str] = mapped_column(String(80))
    version: Mapped[str] = mapped_column(String(100))
    environment: Mapped[str] = mapped_column(String(40))
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    author: Mapped[str | None] = mapped_column(String(100))
    url: Mapped[str | None] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(20))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # When the deploy's first commit was made, if the pipeline said: lead time for changes.
    commit_time: Mapped[datetime | None] = mapped_column(UTCDateTime())


class IncidentDeploy(Base):
    """A deploy found in the window before an incident's impact began."""

    __tablename__ = "incident_deploys"

    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="RESTRICT", name="fk_incident_deploys_incident_id"), primary_key=True
    )
    deploy_id: Mapped[int] = mapped_column(
        ForeignKey("deploys.id", ondelete="RESTRICT", name="fk_incident_deploys_deploy_id"), primary_key=True
    )


class RunbookPost(Base):
    """A runbook posted in a war room, with which checklist items are ticked."""

    __tablename__ = "runbook_posts"
    __table_args__ = (UniqueConstraint("incident_id", "runbook", name="uq_runbook_posts_incident_runbook"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="RESTRICT", name="fk_runbook_posts_incident_id"))
    runbook: Mapped[str] = mapped_column(String(100))
    channel_id: Mapped[str | None] = mapped_column(String(32))
    message_ts: Mapped[str | None] = mapped_column(String(32))
    checked: Mapped[list[int]] = mapped_column(JSON, default=list)
    attached_by: Mapped[str | None] = mapped_column(String(32))
    attached_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DigestRun(Base):
    """One weekly digest for one channel: the unique key is the claim that makes it post once,
    however many bot processes run and however often they restart."""

    __tablename__ = "digest_runs"
    __table_args__ = (
        UniqueConstraint("channel", "week", name="uq_digest_runs_channel_week"),
        CheckConstraint("status IN ('posting', 'posted', 'failed')", name="ck_digest_runs_status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(32))
    week: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer)
    claimed_by: Mapped[str] = mapped_column(String(100))
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    message_ts: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)


class ChartUpload(Base):
    """A chart uploaded to Slack for one period (App Home's, once an hour): the unique key is the
    claim that makes several processes upload it once; ``file_id`` is set once Slack has the file."""

    __tablename__ = "chart_uploads"
    __table_args__ = (UniqueConstraint("chart", "period", name="uq_chart_uploads_chart_period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chart: Mapped[str] = mapped_column(String(40))
    period: Mapped[str] = mapped_column(String(20))  # "2026-12-03T14": the hour it was drawn in, UTC
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    file_id: Mapped[str | None] = mapped_column(String(32))


# Slack allows 80 characters in a display name; what is longer is cut here, not refused.
DISPLAY_NAME_LENGTH = 256


class DisplayName(Base):
    """A person's display name as Slack gave it (``users.info``), on file for every process, so that
    a postmortem seldom waits on Slack for the names of the people it shows. Kept by user ID alone:
    nothing here says which incidents the person was in."""

    __tablename__ = "display_names"

    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(DISPLAY_NAME_LENGTH))
    learned_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AuditRecord(Base):
    """Who changed what, from what to what, when and why. Append-only: nothing in the product
    updates or deletes a row."""

    __tablename__ = "audit_records"
    __table_args__ = (Index("ix_audit_records_incident_id", "incident_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="RESTRICT", name="fk_audit_records_incident_id"))
    action: Mapped[str] = mapped_column(String(40))
    field: Mapped[str | None] = mapped_column(String(40))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(Text)


class ActionItem(Base):
    """A follow-up from an incident, tracked to done."""

    __tablename__ = "action_items"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'done')", name="ck_action_items_status"),
        Index("ix_action_items_incident_id", "incident_id"),
        Index("ix_action_items_status_due", "status", "due_date"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="RESTRICT", name="fk_action_items_incident_id"))
    text: Mapped[str] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(String(32))
    due_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), default="open")
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    done_by: Mapped[str | None] = mapped_column(String(32))
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    dm_channel: Mapped[str | None] = mapped_column(String(32))
    dm_ts: Mapped[str | None] = mapped_column(String(32))
    last_reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AlertGroup(Base):
    """Alerts with one group key (or fingerprint) and the incident they opened.

    ``active_key`` (a hash of source and key) is set while the incident takes the alerts and
    cleared when it closes: the unique index on it is what makes a storm of concurrent deliveries
    open one incident, on SQLite and PostgreSQL alike (several NULLs are allowed by both).
    """

    __tablename__ = "alert_groups"
    __table_args__ = (
        UniqueConstraint("active_key", name="uq_alert_groups_active_key"),
        Index("ix_alert_groups_incident_id", "incident_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    active_key: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(20))
    dedup_key: Mapped[str] = mapped_column(Text)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="RESTRICT", name="fk_alert_groups_incident_id"))
    alerts_seen: Mapped[int] = mapped_column(Integer)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TimerFiring(Base):
    """One firing of an incident timer (an escalation, a reminder, the end of monitoring). The
    unique (incident, kind, slot) row is the claim: it fires once however many processes run."""

    __tablename__ = "timer_firings"
    __table_args__ = (
        UniqueConstraint("incident_id", "kind", "slot", name="uq_timer_firings_incident_kind_slot"),
        CheckConstraint("status IN ('fired', 'notified', 'failed', 'skipped')", name="ck_timer_firings_status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="RESTRICT", name="fk_timer_firings_incident_id"))
    kind: Mapped[str] = mapped_column(String(40))
    slot: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))
    claimed_by: Mapped[str] = mapped_column(String(100))
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    error: Mapped[str | None] = mapped_column(Text)


class SlackStepClaim(Base):
    """A Slack step of an incident (post the control message, announce, upload the postmortem...)
    being done right now by one process. The unique key makes concurrent repairs, or a repair
    racing the open flow, take turns; a claim older than the lease is taken over (its process died)."""

    __tablename__ = "slack_step_claims"
    __table_args__ = (UniqueConstraint("incident_id", "step", name="uq_slack_step_claims_incident_step"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    step: Mapped[str] = mapped_column(String(200))
    token: Mapped[str] = mapped_column(String(64))
    claimed_by: Mapped[str] = mapped_column(String(100))
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SlackRequestSeen(Base):
    """A signed Slack request already taken, kept while Slack's five minutes allow its signature
    to be replayed: a second copy finds this row and is refused, in every process."""

    __tablename__ = "slack_requests_seen"
    __table_args__ = (Index("ix_slack_requests_seen_slack_timestamp", "slack_timestamp"),)

    # The X-Slack-Signature, an HMAC of the timestamp and the whole body: one per request.
    signature: Mapped[str] = mapped_column(String(100), primary_key=True)
    slack_timestamp: Mapped[int] = mapped_column(BigInteger)  # X-Slack-Request-Timestamp, for the clean-up


class SlackCallSlot(Base):
    """One of the calls a Slack rate limit allows per window, shared by every process of the bot
    (Slack counts per app and workspace). A bucket (a Web API method, or ``chat.postMessage`` and a
    channel) has as many slots as calls in its window; a call takes a slot whose ``free_at`` has
    passed and sets it one window ahead, so no window ever holds more calls than the limit."""

    __tablename__ = "slack_call_slots"

    bucket: Mapped[str] = mapped_column(String(120), primary_key=True)
    slot: Mapped[int] = mapped_column(Integer, primary_key=True)
    free_at: Mapped[float] = mapped_column(Float)  # Unix time, seconds: every process reads the same clock


class SlackCallWaiting(Base):
    """How urgent the most urgent call a process has waiting for a bucket's slot is (0: a P1's):
    a process takes a slot only if no other process has a more urgent call waiting for it, so a
    storm's P1 war rooms go first whichever process opened them. ``seen_at`` (Unix time) is
    renewed while the process waits; a row not renewed for a while is a dead process's, ignored."""

    __tablename__ = "slack_call_waiting"

    bucket: Mapped[str] = mapped_column(String(120), primary_key=True)
    process: Mapped[str] = mapped_column(String(64), primary_key=True)
    urgency: Mapped[int] = mapped_column(Integer)
    seen_at: Mapped[float] = mapped_column(Float)


class Page(Base):
    """One outbound page (a PagerDuty event or a generic webhook call) of an incident, claimed
    before it is sent: the unique (incident, key) row is what makes a retried flow, a second
    process or a restart send it once. ``status`` is ``sending`` while a process holds it (a
    claim older than the lease is taken over: its process died mid-send), then ``sent`` or
    ``failed``. ``dedup_key`` is what PagerDuty's webhooks name the incident by (its incident_key)."""

    __tablename__ = "pages"
    __table_args__ = (
        UniqueConstraint("incident_id", "key", name="uq_pages_incident_key"),
        Index("ix_pages_dedup_key", "dedup_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))  # "pagerduty:trigger:round0:level1"
    via: Mapped[str] = mapped_column(String(20))  # "pagerduty" | "webhook"
    action: Mapped[str] = mapped_column(String(20))  # "trigger" | "acknowledge" | "resolve"
    level: Mapped[int] = mapped_column(Integer)
    dedup_key: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(20))
    token: Mapped[str] = mapped_column(String(64))
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)


class WarRoomJoin(Base):
    """Someone joined an incident's war room (Slack's member_joined_channel). One row per join
    event: the unique key makes a redelivered event record once, and it is the claim that the
    joiner's catch-up is shown once. ``counts`` says whether the join counts for time to assemble:
    not the opener's, not the bot's, not someone the bot itself added (an invitation sent at the
    open or by an escalation is not someone arriving)."""

    __tablename__ = "war_room_joins"
    __table_args__ = (UniqueConstraint("incident_id", "user_id", "event_id", name="uq_war_room_joins_incident_user_event"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(32))
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime())
    event_id: Mapped[str] = mapped_column(String(32))
    inviter: Mapped[str | None] = mapped_column(String(32))
    counts: Mapped[bool] = mapped_column(Boolean)


class Handover(Base):
    """Command handed from one person to another, with the note that goes with it. The unique
    request key is the Slack request (a command's trigger, a form's view) that made it: a retried
    request or a double submit finds this row instead of handing over twice. Each Slack side
    effect (the DM to the new commander, the war-room post, the topic; on a decline the war-room
    post, the DM to the previous commander and the topic again) leaves its mark here once Slack
    confirmed it, so a repair redoes only what is missing."""

    __tablename__ = "handovers"
    __table_args__ = (
        UniqueConstraint("request_key", name="uq_handovers_request_key"),
        CheckConstraint("answer IS NULL OR answer IN ('accepted', 'declined')", name="ck_handovers_answer"),
        Index("ix_handovers_incident_id", "incident_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE", name="fk_handovers_incident_id"))
    request_key: Mapped[str] = mapped_column(String(200))
    from_user: Mapped[str] = mapped_column(String(32))  # the commander before the handover
    to_user: Mapped[str] = mapped_column(String(32))
    by_user: Mapped[str] = mapped_column(String(32))  # who handed over (the commander, or someone who may assign roles)
    note: Mapped[str] = mapped_column(Text, default="")  # typed after /incident handover @bob
    hypothesis: Mapped[str] = mapped_column(Text, default="")
    tried: Mapped[str] = mapped_column(Text, default="")
    next_steps: Mapped[str] = mapped_column(Text, default="")
    risks: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    answer: Mapped[str | None] = mapped_column(String(20))
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The Slack steps, each recorded once Slack confirmed it.
    dm_channel: Mapped[str | None] = mapped_column(String(32))
    dm_ts: Mapped[str | None] = mapped_column(String(32))
    room_ts: Mapped[str | None] = mapped_column(String(32))
    topic_set_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    declined_room_ts: Mapped[str | None] = mapped_column(String(32))
    declined_dm_ts: Mapped[str | None] = mapped_column(String(32))
    declined_topic_set_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RunbookActionRun(Base):
    """One run of a runbook action (an HTTP request) for an incident, claimed before it is sent:
    the unique (incident, runbook, action, attempt) row is what makes a double click, a Slack retry
    or a second process send it once. Attempt 1 is the runbook message's button; a later attempt is
    a deliberate "Run again", allowed only once the one before it has finished.

    ``status``: ``claimed`` (not sent yet: a claim older than the lease may be taken over and sent),
    ``sending`` (the request may have left: never sent again by the bot), then ``succeeded``,
    ``failed`` or ``unknown`` (its process stopped while sending; nobody knows whether it ran).
    Neither the headers nor the body are kept: only what was asked, by whom, and the answer's status."""

    __tablename__ = "runbook_action_runs"
    __table_args__ = (
        UniqueConstraint("incident_id", "runbook", "action", "attempt", name="uq_runbook_action_runs_once"),
        CheckConstraint("status IN ('claimed', 'sending', 'succeeded', 'failed', 'unknown')", name="ck_runbook_action_runs_status"),
        CheckConstraint("attempt >= 1", name="ck_runbook_action_runs_attempt"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="RESTRICT", name="fk_runbook_action_runs_incident_id"))
    runbook: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(40))
    attempt: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    requested_by: Mapped[str] = mapped_column(String(32))
    token: Mapped[str] = mapped_column(String(64))
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    http_status: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(String(300))
    # The result message in the war room, recorded the moment Slack confirms it.
    result_channel: Mapped[str | None] = mapped_column(String(32))
    result_ts: Mapped[str | None] = mapped_column(String(32))
