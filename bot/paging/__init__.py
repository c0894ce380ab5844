"""Paging: who is woken when nobody takes an incident on, and how. The escalation chain's pure
decisions (chain.py); the ``Pager`` interface it pages through (pager.py) with its Slack-only
default; the bodies of PagerDuty's Events API v2 and of the generic paging webhook, their signature
schemes (pure), and the senders that deliver them once per incident, action and level
(external_pagers)."""
