"""Persistence: typed models, sessions, queries and Alembic migrations. Imports neither bot nor handlers."""
