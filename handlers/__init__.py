"""Entry points: Slack requests (through Bolt), the HTTP server and the command line.

Each listener parses a request into a pydantic model, calls one operation of ``bot``, and
renders the answer. No SQL and no business rules live here.
"""
