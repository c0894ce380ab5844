"""Prometheus metrics of one bot process, served at ``GET /metrics``.

Each ``incident-bot serve`` process keeps its own counters in its own registry and serves them on
its own port; Prometheus scrapes every process (one target per instance) and ``sum()`` adds them
up. No shared multiprocess directory is needed because the processes are separate deployments,
not forked workers of one server.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

REQUEST_KINDS = ("command", "action", "view", "shortcut", "event", "options", "webhook", "unknown")

REQUESTS = Counter(
    "incident_bot_requests_total",
    "Requests from Slack and webhooks, by kind and HTTP status",
    ["kind", "status"],
    registry=REGISTRY,
)
REQUEST_SECONDS = Histogram(
    "incident_bot_request_seconds",
    "Time from receiving a request to answering it (Slack's ack), by kind",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0),
    registry=REGISTRY,
)
SLACK_CALLS = Counter(
    "incident_bot_slack_api_calls_total",
    "Slack Web API calls by method and result (ok, or Slack's error code)",
    ["method", "result"],
    registry=REGISTRY,
)
SLACK_CALL_SECONDS = Histogram(
    "incident_bot_slack_api_call_seconds",
    "Slack Web API call duration including the SDK's retries, by method",
    ["method"],
    registry=REGISTRY,
)
SLACK_CALLS_WAITING = Gauge(
    "incident_bot_slack_api_calls_waiting",
    "Slack Web API calls of this process waiting for room within Slack's rate limit, by method",
    ["method"],
    registry=REGISTRY,
)
SLACK_CALL_WAIT_SECONDS = Histogram(
    "incident_bot_slack_api_call_wait_seconds",
    "How long calls that found their method's rate limit used up waited for room, by method",
    ["method"],
    buckets=(0.01, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0),
    registry=REGISTRY,
)
SLACK_RATE_LIMITED = Counter(
    "incident_bot_slack_api_rate_limited_total",
    "Slack's 429 answers (rate limited), by method: each was waited out for its Retry-After and tried again",
    ["method"],
    registry=REGISTRY,
)
INCIDENTS_OPENED = Counter("incident_bot_incidents_opened_total", "Incidents recorded (opened in Slack)", registry=REGISTRY)
STAMPS = Counter("incident_bot_stamps_total", "Phase stamps recorded, by phase", ["phase"], registry=REGISTRY)
SCHEDULER_RUNS = Counter(
    "incident_bot_scheduler_runs_total",
    "Digest scheduler outcomes: tick (a pass), posted, failed (a claimed digest that Slack refused)",
    ["result"],
    registry=REGISTRY,
)
ERRORS = Counter(
    "incident_bot_errors_total",
    "Failures a person or an operator should know about, by where they happened",
    ["where"],
    registry=REGISTRY,
)
REFUSED = Counter(
    "incident_bot_refused_requests_total",
    "Requests turned away at a door before they reached the bot (unsigned, wrong secret, too large, "
    "malformed, replayed), by door (slack, deploy_webhook, alert_webhook) and reason; not errors of the bot",
    ["door", "reason"],
    registry=REGISTRY,
)
REPAIR_STEPS = Counter(
    "incident_bot_repair_steps_total",
    "Slack steps of war rooms and resolutions, by claim result (claimed, skipped: already done, busy: another process has it)",
    ["result"],
    registry=REGISTRY,
)

EVENT_LOOP_LAG = Histogram(
    "incident_bot_event_loop_lag_seconds",
    "How late the process's event loop ran a timer, sampled every 20 ms: every ack, database answer "
    "and Slack reply waits about this long for its turn, so a growing lag means the process is short of CPU",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
    registry=REGISTRY,
)


def request_kind(body: dict[str, Any]) -> str:
    """The kind of a Slack request from its parsed body (Bolt's ``AsyncBoltRequest.body``)."""
    if "command" in body:
        return "command"
    kind = body.get("type")
    if kind == "block_actions":
        return "action"
    if kind in ("view_submission", "view_closed"):
        return "view"
    if kind in ("shortcut", "message_action"):
        return "shortcut"
    if kind in ("event_callback", "url_verification", "app_rate_limited"):
        return "event"
    if kind in ("block_suggestion",):
        return "options"
    return "unknown"


def exposition() -> tuple[bytes, str]:
    """The text format Prometheus scrapes, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
