"""Who a drill pages: only the people the team config names for drills (``drills:`` in
runbooks/config.yml), never the service's on-call, escalation contacts or PagerDuty service.
Nobody is paged when nobody is named; PagerDuty and the paging webhook only when configured for drills."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DrillPaging:
    # Slack user IDs or e-mails: invited to a drill's war room and paged at each escalation-chain level.
    page: tuple[str, ...] = ()
    # Slack user IDs or e-mails: told when a drill is not acknowledged or not mitigated in time.
    escalate_to: tuple[str, ...] = ()
    # The environment variable holding a PagerDuty routing key for drills (a drill service of its
    # own); None: a drill never reaches PagerDuty.
    pagerduty_routing_key_env: str | None = None
    # The generic paging webhook receives drills (its body says "drill": true) only when true.
    webhook: bool = False


NO_DRILL_PAGING = DrillPaging()
