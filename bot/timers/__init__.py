"""Incident timers: the escalation and reminder rules (pure), their scheduler inside `serve`, and
the monitoring window after verification."""
