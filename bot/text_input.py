"""Text as people and pipelines send it, made storable: no NUL or other control characters
(PostgreSQL refuses NUL in text; none of them means anything in a title or a note) and no lone
UTF-16 surrogates (JSON allows them, UTF-8 cannot encode them). Tabs and line breaks stay."""

from __future__ import annotations

import re
from typing import Any

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


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
