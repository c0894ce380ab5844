"""Parsing the text of ``/incident`` commands. Pure: the caller supplies "now" and the time zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

SEVERITIES = ("P1", "P2", "P3", "P4")
DEFAULT_SEVERITY = "P3"
DETECTION_METHODS = {
    "alert": "alert",
    "customer": "customer_report",
    "customer_report": "customer_report",
    "customer-report": "customer_report",
    "engineer": "engineer",
    "synthetic": "synthetic",
}
DETECTION_LABELS = {
    "alert": "Alert",
    "customer_report": "Customer report",
    "engineer": "Engineer",
    "synthetic": "Synthetic check",
}
MAX_TITLE = 150  # Slack's limit for a plain-text header, where the title is shown
MAX_BACKDATE = timedelta(days=30)
OPEN_USAGE = (
    "/incident open <title> [sev:P1-P4] [service:name] [private] [drill] [detection:alert|customer|engineer|synthetic] "
    "[started:-20m | started:14:05 | started:2026-11-23T14:05Z]"
)
TIME_FORMS = "-20m, -1h30m, 14:05 (your Slack time zone) or 2026-11-23T14:05Z"

_TOKEN = re.compile(r"^(sev|severity|service|started|detected|detection):(.*)$", re.IGNORECASE)
_RELATIVE = re.compile(r"^([+-]?)(?=\d)(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$")
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_SERVICE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")


class CommandTextError(ValueError):
    """What was wrong with the text, and the right form. Shown to the user as it is."""


@dataclass(frozen=True)
class IncidentOpening:
    """What every incident is opened with, whether someone opens it now or a file brings it from another tool."""

    title: str
    severity: str
    service: str | None
    detection_method: str
    started_at: datetime
    detected_at: datetime


@dataclass(frozen=True)
class OpenRequest(IncidentOpening):
    private: bool = False  # a private war room; no title outside it
    drill: bool = False  # a rehearsal: bannered, paged apart, counted in no figure unless asked


PRIVATE_TOKEN = "private"
DRILL_TOKEN = "drill"  # a word of its own, as typed: "drill" inside a title ("Drill press down") is the title's
_ENTITY = re.compile(r"<([@#!])([A-Z0-9^]+)(?:\|([^>]*))?>|<(https?://[^|>]+)(?:\|([^>]*))?>")


def readable_entities(text: str) -> str:
    """Slack escapes mentions, channels and links in command text (``<@U123|alice>``); a title
    shows them as people read them (``@alice``)."""

    def one(match: re.Match[str]) -> str:
        if match.group(4):
            return match.group(5) or match.group(4)
        sigil, ident, label = match.group(1), match.group(2), match.group(3)
        if sigil == "!":
            return "@" + (label or ident.split("^")[0])
        return sigil + (label or ident)

    return _ENTITY.sub(one, text)


def split_subcommand(text: str) -> tuple[str, str]:
    """``"open DB down sev:P1"`` -> ``("open", "DB down sev:P1")``; empty text is ``("", "")``."""
    parts = text.strip().split(maxsplit=1)
    if not parts:
        return "", ""
    return parts[0].lower(), parts[1] if len(parts) > 1 else ""


def unescape_slack(text: str) -> str:
    """Slack escapes &, < and > in command text; store what the person typed."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def needs_user_timezone(text: str) -> bool:
    """True when a time token is a wall-clock time, which only means something in a time zone."""
    for word in text.split():
        match = _TOKEN.match(word)
        if match and match.group(1).lower() in ("started", "detected"):
            value = match.group(2)
            if _CLOCK.match(value) or (re.match(r"^\d{4}-\d\d-\d\d", value) and not _has_offset(value)):
                return True
    return False


def parse_open_text(text: str, *, now: datetime, user_tz: tzinfo = UTC) -> OpenRequest:
    """Parse ``/incident open`` text. Tokens may stand anywhere; the other words are the title."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    title_words: list[str] = []
    severity = DEFAULT_SEVERITY
    service: str | None = None
    detection = "engineer"
    started_text: str | None = None
    detected_text: str | None = None
    private = False
    drill = False
    for word in text.split():
        if word == PRIVATE_TOKEN:
            private = True
            continue
        if word == DRILL_TOKEN:
            drill = True
            continue
        match = _TOKEN.match(word)
        if not match:
            title_words.append(word)
            continue
        key, value = match.group(1).lower(), match.group(2)
        if key in ("sev", "severity"):
            severity = parse_severity(value)
        elif key == "service":
            service = parse_service(value)
        elif key == "detection":
            detection = parse_detection(value)
        elif key == "started":
            started_text = value
        else:
            detected_text = value

    title = unescape_slack(readable_entities(" ".join(title_words))).strip()
    if not title:
        raise CommandTextError(f"An incident needs a title. Usage: `{OPEN_USAGE}`")
    if len(title) > MAX_TITLE:
        raise CommandTextError(f"The title is {len(title)} characters; keep it to {MAX_TITLE} and put details in the war room.")
    detected_at = parse_time_token("detected", detected_text, now=now, user_tz=user_tz) if detected_text else now
    started_at = parse_time_token("started", started_text, now=now, user_tz=user_tz) if started_text else detected_at
    if started_at > detected_at:
        raise CommandTextError(
            f"`started:` ({_utc(started_at)}) is after detection ({_utc(detected_at)}): impact must begin "
            "before anyone notices it. Give an earlier `started:` or omit it."
        )
    return OpenRequest(
        title=title,
        severity=severity,
        service=service,
        detection_method=detection,
        started_at=started_at,
        detected_at=detected_at,
        private=private,
        drill=drill,
    )


def severity_named(value: str) -> str | None:
    """The severity ``value`` names, as people type it (``P2``, ``p2``, ``2``); None if it names none."""
    normalized = value.strip().upper()
    if re.fullmatch(r"[1-4]", normalized):
        normalized = "P" + normalized
    return normalized if normalized in SEVERITIES else None


def parse_severity(value: str) -> str:
    severity = severity_named(value)
    if severity is None:
        raise CommandTextError(f"Unknown severity `{value}`. Use `sev:P1`, `sev:P2`, `sev:P3` or `sev:P4`.")
    return severity


def parse_service(value: str) -> str:
    normalized = value.strip().lower()
    if not _SERVICE.match(normalized):
        raise CommandTextError(
            f"`service:{value}` is not a service name. Use letters, digits, '.', '_' or '-', "
            "up to 80 characters, e.g. `service:payments-api`."
        )
    return normalized


def parse_detection(value: str) -> str:
    method = DETECTION_METHODS.get(value.strip().lower())
    if method is None:
        raise CommandTextError(
            f"Unknown detection method `{value}`. Use `detection:alert`, `detection:customer`, "
            "`detection:engineer` or `detection:synthetic`."
        )
    return method


def parse_time_token(name: str, value: str, *, now: datetime, user_tz: tzinfo) -> datetime:
    """One of -20m / -1h30m / -2d, HH:MM (latest past occurrence in the user's zone), ISO 8601."""
    value = value.strip()
    moment: datetime | None = None
    if relative := _RELATIVE.match(value):
        sign, days, hours, minutes = relative.groups()
        if sign != "-":
            raise CommandTextError(f"`{name}:{value}` is in the future. Relative times count back from now: `{name}:-{value.lstrip('+')}`.")
        try:
            moment = now - timedelta(days=int(days or 0), hours=int(hours or 0), minutes=int(minutes or 0))
        except OverflowError:  # before year 1: far past any backdate
            raise CommandTextError(_too_long_ago(name, value)) from None
    elif clock := _CLOCK.match(value):
        moment = _latest_past(name, value, time(int(clock.group(1)), int(clock.group(2))), now=now, zone=user_tz)
    else:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise CommandTextError(f"Can't read `{name}:{value}` as a time. Use {TIME_FORMS}.") from None
        if moment.tzinfo is None:
            moment = _one_instant(name, value, moment, user_tz)
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before year 1 in UTC
        raise CommandTextError(_too_long_ago(name, value)) from None
    if moment > now:
        raise CommandTextError(f"`{name}:{value}` ({_utc(moment)}) is in the future. Use a time before now: {TIME_FORMS}.")
    if now - moment > MAX_BACKDATE:
        raise CommandTextError(_too_long_ago(name, value, moment))
    return moment


def _instants(wall: datetime, zone: tzinfo) -> list[datetime]:
    """The instants (UTC) a wall-clock time names in ``zone``: one; two, earlier first, in the hour
    the clocks went back; none in the hour they jumped forward over."""
    instants: list[datetime] = []
    for fold in (0, 1):
        instant = wall.replace(tzinfo=zone, fold=fold).astimezone(UTC)
        # A skipped time comes back from UTC as another wall time (naive comparison ignores fold).
        if instant.astimezone(zone).replace(tzinfo=None) == wall and instant not in instants:
            instants.append(instant)
    return sorted(instants)


def _zone_name(zone: tzinfo) -> str:
    return getattr(zone, "key", None) or str(zone)


def _skipped(name: str, value: str, day: date, zone: tzinfo) -> str:
    return (
        f"`{name}:{value}` did not happen on {day.isoformat()} in {_zone_name(zone)}: the clocks went forward over it. "
        f"Use a relative time like `{name}:-20m`, or a time with its offset like `{name}:2026-11-23T14:05Z`."
    )


def _latest_past(name: str, value: str, wall_time: time, *, now: datetime, zone: tzinfo) -> datetime:
    """HH:MM: its latest past occurrence in ``zone`` (23:50 typed at 00:10 means twenty minutes
    ago; in the hour the clocks went back, the later of the two that are past)."""
    today = now.astimezone(zone).date()
    for day in (today, today - timedelta(days=1)):
        wall = datetime.combine(day, wall_time)
        instants = _instants(wall, zone)
        if not instants:
            if now.astimezone(zone).replace(tzinfo=None) < wall:
                continue  # the clocks jump over it later today: yesterday's is meant
            raise CommandTextError(_skipped(name, value, day, zone))
        past = [instant for instant in instants if instant <= now]
        if past:
            return past[-1]
    # Not reached: no zone skips the same wall time two days running.
    raise CommandTextError(_skipped(name, value, today - timedelta(days=1), zone))


def _one_instant(name: str, value: str, wall: datetime, zone: tzinfo) -> datetime:
    """A date and time with no offset, in ``zone``: refused when the zone skipped it or had it twice."""
    instants = _instants(wall, zone)
    if not instants:
        raise CommandTextError(_skipped(name, value, wall.date(), zone))
    if len(instants) > 1:
        first, second = (instant.astimezone(zone).isoformat(timespec="minutes")[-6:] for instant in instants)
        raise CommandTextError(
            f"`{name}:{value}` happened twice in {_zone_name(zone)}: the clocks went back over it. "
            f"Add the offset: `{name}:{value}{first}` for the first, `{name}:{value}{second}` for the second."
        )
    return instants[0]


def _too_long_ago(name: str, value: str, moment: datetime | None = None) -> str:
    when = f" ({_utc(moment)})" if moment else ""
    return f"`{name}:{value}`{when} is more than {MAX_BACKDATE.days} days ago, which looks like a typo. Use {TIME_FORMS}."


def _has_offset(value: str) -> bool:
    return value.upper().endswith("Z") or bool(re.search(r"[+-]\d\d:?\d\d$", value))


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


class FormErrors(ValueError):
    """Problems with the open-incident form, keyed by the modal's block id (Slack shows each under its field)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def open_request_from_form(
    *,
    title: str | None,
    severity: str | None,
    service: str | None,
    detection: str | None,
    started_epoch: int | None,
    now: datetime,
    private: bool = False,
    drill: bool = False,
) -> OpenRequest:
    """Validate the open-incident form the same way as the command text."""
    errors: dict[str, str] = {}
    clean_title = (title or "").strip()
    if not clean_title:
        errors["title"] = "An incident needs a title."
    elif len(clean_title) > MAX_TITLE:
        errors["title"] = f"Keep the title to {MAX_TITLE} characters."
    clean_severity = DEFAULT_SEVERITY
    try:
        clean_severity = parse_severity(severity or DEFAULT_SEVERITY)
    except CommandTextError as error:
        errors["severity"] = str(error)
    clean_service = None
    if service and service.strip():
        try:
            clean_service = parse_service(service)
        except CommandTextError:
            errors["service"] = "Use letters, digits, '.', '_' or '-' (up to 80), e.g. payments-api."
    clean_detection = "engineer"
    try:
        clean_detection = parse_detection(detection or "engineer")
    except CommandTextError as error:
        errors["detection"] = str(error)
    started_at = now
    if started_epoch is not None:
        started_at = datetime.fromtimestamp(started_epoch, UTC)
        if started_at > now:
            errors["started"] = "Impact can't start in the future; pick a time before now."
        elif now - started_at > MAX_BACKDATE:
            errors["started"] = f"That is more than {MAX_BACKDATE.days} days ago, which looks like a typo."
    if errors:
        raise FormErrors(errors)
    return OpenRequest(
        title=clean_title,
        severity=clean_severity,
        service=clean_service,
        detection_method=clean_detection,
        started_at=started_at,
        detected_at=now,
        private=private,
        drill=drill,
    )


ANSWER_FORM = "`/incident answer <number> <answer>`, e.g. `/incident answer 2 Yes, rolled back at 14:05`"
_QUESTION_NUMBER = re.compile(r"^q?([0-9]{1,6})$", re.IGNORECASE)


def parse_answer(text: str) -> tuple[int, str]:
    """``"2 Yes, rolled back"`` (or ``"Q2 …"``) -> ``(2, "Yes, rolled back")``."""
    number, _, answer = text.strip().partition(" ")
    match = _QUESTION_NUMBER.match(number)
    if not number:
        raise CommandTextError(f"Name the question and write the answer: {ANSWER_FORM}.")
    if match is None or int(match.group(1)) == 0:
        raise CommandTextError(f"`{number[:20]}` is not a question number (Q1, Q2, …). Use {ANSWER_FORM}.")
    if not answer.strip():
        raise CommandTextError(f"Write the answer after the number: {ANSWER_FORM}.")
    return int(match.group(1)), answer.strip()
