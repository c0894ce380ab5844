"""What happens after a command, button, form or alert is acknowledged: the flows that record,
call Slack and tell the person."""
