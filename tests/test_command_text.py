"""Parsing `/incident open` text: tokens anywhere, times in the opener's zone, clear refusals."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.command_text import (
    CommandTextError,
    FormErrors,
    needs_user_timezone,
    open_request_from_form,
    parse_open_text,
    split_subcommand,
)

NOW = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)


def test_tokens_may_stand_anywhere_and_the_rest_is_the_title():
    request = parse_open_text("sev:P1 Checkout service:payments returns 500s started:-20m", now=NOW)
    assert request.title == "Checkout returns 500s"
    assert request.severity == "P1"
    assert request.service == "payments"
    assert request.started_at == NOW - timedelta(minutes=20)
    assert request.detected_at == NOW


def test_defaults_are_p3_engineer_and_start_at_detection():
    request = parse_open_text("Search is slow", now=NOW)
    assert (request.severity, request.detection_method, request.service) == ("P3", "engineer", None)
    assert request.started_at == request.detected_at == NOW


def test_severity_spellings():
    assert parse_open_text("x sev:p2", now=NOW).severity == "P2"
    assert parse_open_text("x severity:4", now=NOW).severity == "P4"


def test_clock_time_is_in_the_openers_zone():
    berlin = ZoneInfo("Europe/Berlin")  # UTC+1 in November
    request = parse_open_text("DB down started:15:05", now=NOW, user_tz=berlin)
    assert request.started_at == datetime(2026, 11, 23, 14, 5, tzinfo=UTC)


def test_clock_time_later_than_now_means_yesterday():
    just_after_midnight = datetime(2026, 11, 23, 0, 10, tzinfo=UTC)
    request = parse_open_text("DB down started:23:50", now=just_after_midnight)
    assert request.started_at == datetime(2026, 11, 22, 23, 50, tzinfo=UTC)


NEW_YORK = ZoneInfo("America/New_York")  # clocks back 2026-11-01 02:00 EDT -> 01:00 EST; forward 2027-03-14 02:00 EST -> 03:00 EDT


def test_a_clock_time_the_clocks_went_back_over_is_the_latest_past_of_its_two():
    at_0110_the_second_time = datetime(2026, 11, 1, 6, 10, tzinfo=UTC)  # 01:10 EST, an hour after 01:10 EDT
    five_minutes_ago = parse_open_text("x started:01:05", now=at_0110_the_second_time, user_tz=NEW_YORK)
    assert five_minutes_ago.started_at == datetime(2026, 11, 1, 6, 5, tzinfo=UTC)  # 01:05 EST, not 01:05 EDT
    only_the_first_is_past = parse_open_text("x started:01:40", now=at_0110_the_second_time, user_tz=NEW_YORK)
    assert only_the_first_is_past.started_at == datetime(2026, 11, 1, 5, 40, tzinfo=UTC)  # 01:40 EDT


def test_a_clock_time_the_clocks_jumped_over_is_refused_once_past_and_yesterdays_before():
    at_0310_edt = datetime(2027, 3, 14, 7, 10, tzinfo=UTC)
    with pytest.raises(CommandTextError) as refused:
        parse_open_text("x started:02:30", now=at_0310_edt, user_tz=NEW_YORK)
    assert str(refused.value) == (
        "`started:02:30` did not happen on 2027-03-14 in America/New_York: the clocks went forward over it. "
        "Use a relative time like `started:-20m`, or a time with its offset like `started:2026-11-23T14:05Z`."
    )
    at_0130_est = datetime(2027, 3, 14, 6, 30, tzinfo=UTC)  # 02:30 is still to come (and skipped): yesterday's
    yesterday = parse_open_text("x started:02:30", now=at_0130_est, user_tz=NEW_YORK)
    assert yesterday.started_at == datetime(2027, 3, 13, 7, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "text, refusal",
    [
        (
            "x started:2026-11-01T01:30",
            "`started:2026-11-01T01:30` happened twice in America/New_York: the clocks went back over it. "
            "Add the offset: `started:2026-11-01T01:30-04:00` for the first, `started:2026-11-01T01:30-05:00` for the second.",
        ),
        (
            "x started:2027-03-14T02:30",
            "`started:2027-03-14T02:30` did not happen on 2027-03-14 in America/New_York: the clocks went forward over it. "
            "Use a relative time like `started:-20m`, or a time with its offset like `started:2026-11-23T14:05Z`.",
        ),
    ],
)
def test_a_date_and_time_without_offset_the_zone_had_twice_or_never_is_refused(text, refusal):
    a_week_later = datetime.fromisoformat(text.split(":", 1)[1] + "Z") + timedelta(days=7)
    with pytest.raises(CommandTextError) as refused:
        parse_open_text(text, now=a_week_later, user_tz=NEW_YORK)
    assert str(refused.value) == refusal
    with_offset = parse_open_text(text + "-05:00", now=a_week_later, user_tz=NEW_YORK)
    assert with_offset.started_at == datetime.fromisoformat(text.split(":", 1)[1] + "-05:00")


ZONES = [ZoneInfo(key) for key in ("America/New_York", "Europe/Berlin", "Australia/Sydney", "Australia/Lord_Howe", "Asia/Kolkata")]


def clock_changes(zone: ZoneInfo) -> list[datetime]:
    """The moments (UTC, to the half hour) in 2026-2028 at which ``zone``'s offset changed: the
    days whose offset differs from the next day's, then the half hour within it."""
    days = [datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=n) for n in range(3 * 366)]
    changes = []
    for day, next_day in zip(days, days[1:], strict=False):
        if day.astimezone(zone).utcoffset() != next_day.astimezone(zone).utcoffset():
            halves = [day + timedelta(minutes=30 * n) for n in range(49)]
            changes += [
                b for a, b in zip(halves, halves[1:], strict=False) if a.astimezone(zone).utcoffset() != b.astimezone(zone).utcoffset()
            ]
    return changes


CLOCK_CHANGES = [(zone, moment) for zone in ZONES for moment in clock_changes(zone)]


@st.composite
def moments_near_clock_changes(draw):
    """A zone, and a moment up to a day and a half either side of one of its clock changes (or
    anywhere in the three years, for zones that keep one offset), and a wall time near the change."""
    zone, change = draw(st.sampled_from(CLOCK_CHANGES + [(ZoneInfo("Asia/Kolkata"), datetime(2027, 6, 1, tzinfo=UTC))]))
    now = change + timedelta(minutes=draw(st.integers(-36 * 60, 36 * 60)), seconds=draw(st.integers(0, 59)))
    wall = change.astimezone(zone) + timedelta(minutes=draw(st.integers(-120, 120)))
    return zone, now, wall.hour, wall.minute


@settings(max_examples=250, deadline=None)
@given(case=moments_near_clock_changes())
def test_a_clock_time_is_the_latest_past_moment_the_zone_showed_it_or_a_refusal(case):
    """Every zone (Lord Howe changes by half an hour, Kolkata never), moments either side of every
    clock change of three years, HH:MM around the change: the moment read is the last one before
    now at which the opener's clock showed HH:MM; or, when the clocks jumped over HH:MM today and
    that is past, a refusal saying so."""
    zone, now, hour, minute = case
    text = f"{hour:02d}:{minute:02d}"
    shown_at = [
        moment for moment in (now - timedelta(minutes=m) for m in range(0, 26 * 60)) if moment.astimezone(zone).strftime("%H:%M") == text
    ]
    try:
        read = parse_open_text(f"x started:{text}", now=now, user_tz=zone).started_at
    except CommandTextError as refusal:
        assert "the clocks went forward over it" in str(refusal)
        assert not shown_at or shown_at[0].astimezone(zone).date() < now.astimezone(zone).date(), (now, text, shown_at[:1])
        return
    assert read <= now and shown_at, (now, text)
    assert read.astimezone(zone).strftime("%H:%M") == text
    assert read == shown_at[0].replace(second=0, microsecond=0), (now, text, read, shown_at[0])


def test_iso_times_with_and_without_offset():
    assert parse_open_text("x started:2026-11-23T14:05Z", now=NOW).started_at == datetime(2026, 11, 23, 14, 5, tzinfo=UTC)
    tokyo = ZoneInfo("Asia/Tokyo")
    assert parse_open_text("x started:2026-11-23T23:05", now=NOW, user_tz=tokyo).started_at == datetime(2026, 11, 23, 14, 5, tzinfo=UTC)


def test_relative_combinations():
    assert parse_open_text("x started:-1h30m", now=NOW).started_at == NOW - timedelta(hours=1, minutes=30)
    assert parse_open_text("x started:-2d", now=NOW).started_at == NOW - timedelta(days=2)


def test_detected_token_and_start_before_it():
    request = parse_open_text("x detected:-10m started:-25m", now=NOW)
    assert request.detected_at == NOW - timedelta(minutes=10)
    assert request.started_at == NOW - timedelta(minutes=25)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("x sev:P9", "Unknown severity `P9`. Use `sev:P1`"),
        ("x sev:", "Unknown severity"),
        ("x started:+5m", "is in the future"),
        ("x started:5m", "is in the future"),
        ("x started:2099-01-01T00:00Z", "is in the future"),
        ("x started:yesterday", "Can't read `started:yesterday` as a time. Use -20m"),
        ("x started:25:00", "Can't read"),
        ("x started:2026-01-01T00:00Z", "more than 30 days ago"),
        ("x detected:-10m started:-5m", "is after detection"),
        ("sev:P1 service:payments", "An incident needs a title. Usage: `/incident open <title>"),
        ("x service:pay/ments", "is not a service name"),
        ("x detection:pigeon", "Unknown detection method `pigeon`"),
        ("x" * 151, "keep it to 150"),
    ],
)
def test_bad_tokens_say_what_was_wrong_and_the_right_form(text, fragment):
    with pytest.raises(CommandTextError) as error:
        parse_open_text(text, now=NOW)
    assert fragment in str(error.value)


def test_a_colon_in_the_title_is_not_a_token():
    assert parse_open_text("DB: slow queries on replica", now=NOW).title == "DB: slow queries on replica"


def test_slack_escapes_are_undone_in_the_title():
    assert parse_open_text("Checkout &amp; cart &lt;broken&gt;", now=NOW).title == "Checkout & cart <broken>"


def test_only_clock_and_zoneless_times_need_the_users_zone():
    assert needs_user_timezone("x started:14:05")
    assert needs_user_timezone("x started:2026-11-23T14:05")
    assert not needs_user_timezone("x started:2026-11-23T14:05Z")
    assert not needs_user_timezone("x started:-20m")
    assert not needs_user_timezone("meeting at 14:05")


def test_split_subcommand():
    assert split_subcommand("  OPEN DB down sev:P1 ") == ("open", "DB down sev:P1")
    assert split_subcommand("") == ("", "")


def test_form_validation_keys_errors_by_field():
    with pytest.raises(FormErrors) as error:
        open_request_from_form(
            title="  ",
            severity="P2",
            service="bad service",
            detection="engineer",
            started_epoch=int((NOW + timedelta(hours=1)).timestamp()),
            now=NOW,
        )
    assert set(error.value.errors) == {"title", "service", "started"}


def test_form_gives_a_request():
    request = open_request_from_form(
        title="Checkout 500s",
        severity="P1",
        service="Payments",
        detection="customer_report",
        started_epoch=int((NOW - timedelta(minutes=7)).timestamp()),
        now=NOW,
    )
    assert request.service == "payments"
    assert request.detection_method == "customer_report"
    assert request.started_at == NOW - timedelta(minutes=7)
