"""Text as people and pipelines send it, made storable: no NUL or other control characters
(PostgreSQL refuses NUL in text; none of them means anything in a title or a note), no
bidirectional controls (a right-to-left override makes ``INC-7 fdp.exe`` read as something else
wherever it is shown) and no lone UTF-16 surrogates (JSON allows them, UTF-8 cannot encode them).
Tabs and line breaks stay.

And the same text echoed to Slack: ``escape`` is the one function every message uses."""

from __future__ import annotations

import re
from typing import Any

# C0 controls and DEL; then the bidirectional embeddings, overrides and isolates (U+202A-U+202E,
# U+2066-U+2069) and the invisible direction marks (U+200E, U+200F, U+061C): a mark alone cannot
# reorder text, but it is invisible and nothing a title or a note needs.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")


def storable(text: str) -> str:
    text = text.encode("utf-8", "replace").decode("utf-8")
    return _CONTROL.sub("", text)


def storable_json(value: Any) -> Any:
    """A decoded JSON body with every text in it (keys included) made storable."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return {storable_json(k): storable_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable_json(v) for v in value]
    return value


# Row numbers are PostgreSQL INTEGER columns (incidents, action items, deploys, runbook posts).
LARGEST_ROW_NUMBER = 2**31 - 1


def row_number(value: object) -> int:
    """The incident, action-item, deploy or runbook-post number a request carries (a button's
    value, a block_id, a view's private_metadata, ``INC-42`` in command text or on the command
    line). ValueError for anything that could not be one (a forged or damaged payload: not plain
    ASCII digits, zero, negative, or beyond the column's range), so that it is refused before it
    reaches the database."""
    text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    if not (text.isascii() and text.isdigit() and len(text) <= 10) or not 0 < int(text) <= LARGEST_ROW_NUMBER:
        raise ValueError(f"no incident, action item, deploy or runbook has the number {text[:20]!r}")
    return int(text)


def clip(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def escape(text: str) -> str:
    """Slack's three control characters escaped (``&`` ``<`` ``>``), as Slack asks of any text it
    should show as typed: a stored ``<!channel>`` or ``<http://evil|x>`` then shows as those
    characters instead of pinging the channel or forging a link. Apply it once, when rendering
    mrkdwn or a message's ``text``; mentions the bot builds from user IDs are added around it."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{6,}$")


def person(who: str) -> str:
    """A Slack user ID as a mention; anyone else (a PagerDuty user no Slack account matched) by name, escaped."""
    return f"<@{who}>" if SLACK_USER_ID.match(who) else escape(who)


# OWASP's CSV-injection rule: a cell that starts with one of these is run as a formula by Excel,
# LibreOffice and Google Sheets (``=HYPERLINK(...)``, ``@SUM(...)``, ``-2+3+cmd|...``).
_FORMULA_START = re.compile(r"'*[=+\-@\t\r]")


def spreadsheet_cell(text: str) -> str:
    """A text cell for a CSV file people open in a spreadsheet: one that a spreadsheet would run
    as a formula gets a leading single quote, which spreadsheets show as text. A cell that already
    starts with quotes before such a character gets one more, so ``spreadsheet_text`` can always
    give back the original. Numbers are not text: a negative number stays a number."""
    return "'" + text if _FORMULA_START.match(text) else text


def spreadsheet_text(cell: str) -> str:
    """The original text of a cell ``spreadsheet_cell`` wrote (or a spreadsheet saved with its
    text-marking quote)."""
    return cell[1:] if cell.startswith("'") and _FORMULA_START.match(cell[1:]) else cell
