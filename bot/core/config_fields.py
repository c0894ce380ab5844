"""Validated field types for the team's config file and runbooks: times of day, spans, time zones,
weekdays, permission levels.

Each is a string that must parse; the parsed value is derived where it is used, so the file's own
words stay in what is stored and shown back.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BeforeValidator

from bot.core.tiers import parse_span

# Who may do an action (bot/incidents/permissions.py): each level includes the ones after it. Here
# because the runbook catalog, which sits below bot/incidents, names them for its actions too.
PERMISSION_LEVELS = ("everyone", "war_room", "commander", "admins")
_WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}


def clock_time(value: str) -> time:
    try:
        hours, minutes = str(value).split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise ValueError(f"'{value}' is not a time of day; write it like 09:00") from None


def zone(value: str) -> ZoneInfo:
    try:
        return ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"'{value}' is not a time zone; use an IANA name like Europe/Berlin or UTC") from None


def weekday(value: str) -> int:
    day = _WEEKDAYS.get(str(value).strip().lower()[:3])
    if day is None:
        raise ValueError(f"'{value}' is not a weekday; use mon, tue, wed, thu, fri, sat or sun")
    return day


def permission_level(value: str) -> str:
    if value not in PERMISSION_LEVELS:
        raise ValueError(f"{value!r} is not a permission level; use one of {', '.join(PERMISSION_LEVELS)}")
    return value


def _checked(parse: Callable[[str], object]) -> AfterValidator:
    """A string field that must parse (the parsed value is derived where it is used)."""

    def check(value: str) -> str:
        parse(value)
        return value

    return AfterValidator(check)


def _positive_span(value: str) -> timedelta:
    span = parse_span(value)
    if span.total_seconds() <= 0:
        raise ValueError(f"'{value}' must be longer than zero; write it like 5m or 1h, or null to turn it off")
    return span


def _delay(value: str) -> timedelta:
    span = parse_span(value)
    if span.total_seconds() < 0:
        raise ValueError(f"'{value}' is negative; write 0m for at once, or a delay like 5m")
    return span


def _zero_as_text(value: object) -> object:
    return "0m" if value == 0 and not isinstance(value, bool) else value


ClockTime = Annotated[str, _checked(clock_time)]
Span = Annotated[str, _checked(_positive_span)]
# A delay that may be zero ("at once"): 0, 0m, 5m, 1h.
Delay = Annotated[str, BeforeValidator(_zero_as_text), _checked(_delay)]
TimeZoneName = Annotated[str, _checked(zone)]
Weekday = Annotated[str, _checked(weekday)]
PermissionLevel = Annotated[str, AfterValidator(permission_level)]
