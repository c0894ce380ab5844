"""Parsing `/incident open` text: tokens anywhere, times in the opener's zone, clear refusals."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

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
