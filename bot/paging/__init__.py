"""Paging people outside Slack: the ``Pager`` interface the escalation chain pages through, the
bodies of PagerDuty's Events API v2 and of the generic paging webhook, their signature schemes
(pure), and the senders that deliver them once per incident, action and level (external_pagers)."""
