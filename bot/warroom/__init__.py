"""The war room in Slack: its set-up, the runbook in the room, the resolution (summary,
postmortem draft, action items), and the step claims that keep each Slack step to one process."""
