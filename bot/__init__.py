"""The domain: incidents, phases, war rooms, Block Kit, settings. Never imports handlers/."""
