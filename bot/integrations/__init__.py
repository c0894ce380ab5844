"""What other tools send and take: alert payloads, deploys, and import/export of past incidents."""
