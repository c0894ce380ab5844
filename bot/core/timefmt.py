"""Durations as people say them, and times as Slack date tokens so each reader sees their own zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def human_duration(delta: timedelta) -> str:
    """ "40 s", "7 min", "1 h 07 min", "2 h", "3 d 4 h", "7 d". Rounded down: never claims time that did not pass."""
    seconds = int(delta.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 60:
        return f"{sign}{seconds} s"
    minutes, _ = divmod(seconds, 60)
    if minutes < 60:
        return f"{sign}{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{sign}{hours} h {minutes:02d} min" if minutes else f"{sign}{hours} h"
    days, hours = divmod(hours, 24)
    return f"{sign}{days} d {hours} h" if hours else f"{sign}{days} d"


def slack_time(moment: datetime, style: str = "{date_short_pretty} {time}") -> str:
    """A ``<!date^…>`` token; clients render it in the reader's zone, others see the UTC fallback."""
    utc = moment.astimezone(UTC)
    fallback = utc.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(utc.timestamp())}^{style}|{fallback}>"


def utc_clock(moment: datetime) -> str:
    """Plain UTC time for places Slack does not render date tokens (channel topics, CLI)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def zoned_time(text: str, *, unreadable: str, unzoned: str, error: type[ValueError] = ValueError) -> datetime:
    """ISO 8601 with its zone (``Z`` or an offset), as written. A time without a zone is refused,
    not guessed: the same clock reading is hours apart in two zones. Each caller words the two
    refusals for its own reader (``unreadable``, ``unzoned``) and picks the error type its callers
    catch. Not converted to UTC here: a caller may need to look at the year first (Go's zero time
    with an offset has no UTC equivalent)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise error(unreadable) from None
    if moment.tzinfo is None:
        raise error(unzoned)
    return moment
