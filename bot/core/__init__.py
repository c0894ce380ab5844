"""The vocabulary of an incident, pure: phases and their stamps, the incident record, severities,
detection methods and the `/incident` text forms, roles, tier tables, time formatting, the clock."""
