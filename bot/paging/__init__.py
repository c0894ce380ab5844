"""Paging: who is woken when nobody takes an incident on. The escalation chain's pure decisions
(chain.py), the interface to external pagers (pager.py) and the Slack-only default."""
