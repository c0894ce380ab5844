"""War-room channel names that Slack accepts, whatever the title holds."""

from __future__ import annotations

import re
import unicodedata

MAX_CHANNEL_NAME = 80  # Slack's limit for conversations.create


def slugify(title: str) -> str:
    """Lowercase ASCII words joined by '-'. Accents fold to their base letter; emoji and
    scripts without an ASCII form drop out (the incident number keeps the name unique)."""
    folded = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii").lower()
    return re.sub(r"[^a-z0-9]+", "-", folded).strip("-")


def war_room_name(number: int, title: str, attempt: int = 0, *, drill: bool = False) -> str:
    """``inc-<number>-<slug>`` (a drill's: ``drill-<number>-<slug>``); on a name collision,
    attempt N adds ``-N`` and still fits 80."""
    prefix = f"{'drill' if drill else 'inc'}-{number}"
    suffix = f"-{attempt + 1}" if attempt else ""
    room = MAX_CHANNEL_NAME - len(prefix) - len(suffix) - 1
    slug = slugify(title)[: max(room, 0)].rstrip("-")
    return f"{prefix}-{slug}{suffix}" if slug else f"{prefix}{suffix}"
