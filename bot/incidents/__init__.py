"""Incidents in the database: opening and looking up, stamping phases, correcting times,
permissions, the audit trail and follow-up action items."""
