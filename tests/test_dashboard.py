"""The dashboard over its real HTTP endpoint: Sign in with Slack through the fake Slack's OpenID
Connect, the session cookie, every page's figures against ``incident-bot report``, private
incidents on every page, bad input, and App Home's chart (uploaded once an hour, claimed)."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from datetime import timedelta

import aiohttp
import pytest

from bot.analytics.stats_view import report_table
from bot.core.clock import utc_now
from bot.interactions.dashboard_sign_in import SESSION_COOKIE, SIGN_IN_COOKIE
from bot.settings import ConfigError, load_settings
from tests.clocks import FakeClock
from tests.conftest import ROOT, fake_slack_settings, start_bot
from tests.dashboard_helpers import (
    CONFIG,
    MEMBER,
    NOTE_MARKER,
    OUTSIDER,
    POSTMORTEM_MARKER,
    ROOM_NAME,
    TITLE_MARKER,
    DashboardClient,
    crawl,
    page_text,
    seed_history,
    start_dashboard_bot,
)

PAGES = ("/dashboard", "/dashboard/phases", "/dashboard/distribution", "/dashboard/incidents", "/dashboard/incidents/1")


@pytest.fixture
async def dashboard(fake_slack, database_url, announce_channel):
    fake_slack.add_user(MEMBER, "zoe")
    running = await start_dashboard_bot(fake_slack, database_url, announce_channel)
    yield running
    await running.stop()


@pytest.fixture
async def history(dashboard, fake_slack):
    return await seed_history(dashboard.runtime, fake_slack)


@pytest.fixture
async def client(dashboard):
    async with aiohttp.ClientSession() as session:
        yield DashboardClient(session, f"http://127.0.0.1:{dashboard.port}")


def _morsel(client: DashboardClient, name: str):
    """The cookie as it was set (not as it was later deleted)."""
    return next(c[name] for c in client.set_cookies if name in c and c[name].value)


@pytest.mark.both_databases
async def test_signing_in_with_slack_gives_a_signed_httponly_secure_samesite_cookie_that_expires(
    fake_slack, database_url, announce_channel
):
    clock = FakeClock(utc_now())
    running = await start_dashboard_bot(fake_slack, database_url, announce_channel, clock=clock)
    try:
        async with aiohttp.ClientSession() as session:
            client = DashboardClient(session, f"http://127.0.0.1:{running.port}")
            status, headers, _ = await client.get("/dashboard")
            assert (status, headers["Location"]) == (302, "/dashboard/login")
            status, body = await client.sign_in(fake_slack, "U_ALICE")
            assert status == 302, body
            authorize = fake_slack.authorize_requests[-1]
            assert authorize["scope"].split() == ["openid", "email", "profile"]
            assert authorize["state"] and authorize["nonce"] and authorize["state"] != authorize["nonce"]
            for name in (SESSION_COOKIE, SIGN_IN_COOKIE):
                morsel = _morsel(client, name)
                assert morsel["httponly"] and morsel["secure"] and morsel["samesite"] == "Lax", (name, morsel.OutputString())
            session_cookie = _morsel(client, SESSION_COOKIE)
            assert int(session_cookie["max-age"]) == 12 * 3600
            assert SIGN_IN_COOKIE not in client.cookies, "the sign-in cookie is spent once the session exists"
            status, _, body = await client.get("/dashboard")
            assert status == 200 and "Signed in as alice" in page_text(body)

            # Altered: one character of the signed value changed.
            good = client.cookies[SESSION_COOKIE]
            client.cookies[SESSION_COOKIE] = good[:-1] + ("A" if good[-1] != "A" else "B")
            assert (await client.get("/dashboard"))[0] == 302
            # Forged: another user's value (a later expiry too) under the genuine signature.
            body64, mac = good.split(".")
            claims = json.loads(base64.urlsafe_b64decode(body64 + "=" * (-len(body64) % 4)))
            claims["v"]["user"], claims["exp"] = MEMBER, claims["exp"] + 3600
            forged = base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode()).rstrip(b"=").decode()
            assert forged != body64
            client.cookies[SESSION_COOKIE] = f"{forged}.{mac}"
            assert (await client.get("/dashboard"))[0] == 302
            client.cookies[SESSION_COOKIE] = good
            assert (await client.get("/dashboard"))[0] == 200
            clock.now += timedelta(hours=12, seconds=1)
            assert (await client.get("/dashboard"))[0] == 302, "a session ends after DASHBOARD_SESSION_HOURS"
    finally:
        await running.stop()
    assert not any("xoxp-" in str(call.args) for call in fake_slack.calls if call.method != "openid.connect.userInfo")


async def test_a_sign_in_is_refused_from_another_workspace_with_a_wrong_state_cancelled_or_replayed(dashboard, client, fake_slack):
    status, body = await client.sign_in(fake_slack, "U_ALICE", team="T0OTHER")
    assert status == 400 and "another Slack workspace" in page_text(body)
    assert SESSION_COOKIE not in client.cookies

    fake_slack.sign_in_refused = True
    status, body = await client.sign_in(fake_slack, "U_ALICE")
    assert status == 400 and "did not sign you in" in page_text(body)
    fake_slack.sign_in_refused = False

    # A callback whose state is not the one this browser started (a login CSRF), and one with no sign-in cookie at all.
    await client.get("/dashboard/login")
    status, _, body = await client.get("/dashboard/callback?code=anything&state=not-the-state")
    assert status == 400 and "does not match" in page_text(body)
    client.cookies.clear()
    status, _, body = await client.get("/dashboard/callback?code=anything&state=x")
    assert status == 400 and "not started here" in page_text(body)

    # A code is good once: the same callback replayed after a sign-in gets no second session.
    fake_slack.sign_in_user = "U_ALICE"
    _, headers, _ = await client.get("/dashboard/login")
    _, headers, _ = await client.get(headers["Location"])
    callback = headers["Location"]
    assert (await client.get(callback))[0] == 302
    client.cookies.pop(SESSION_COOKIE)
    status, _, body = await client.get(callback)
    assert status == 400 and SESSION_COOKIE not in client.cookies
    assert "Traceback" not in body


@pytest.mark.both_databases
async def test_every_page_shows_the_figures_incident_bot_report_prints(
    dashboard, history, client, fake_slack, incident, tmp_path, database_url
):
    await client.sign_in(fake_slack, OUTSIDER)
    # The bot's own catalog (its teams), as the report on the host reads it.
    where = {"DATABASE_URL": database_url, "INCIDENT_CONFIG": CONFIG, "SERVICE_CATALOG": str(ROOT / "runbooks" / "catalog.yml")}
    report = await incident.in_thread(tmp_path, "report", **where)
    by_service = await incident.in_thread(tmp_path, "report", "--by", "service", **where)
    assert report.returncode == 0 and by_service.returncode == 0, report.stderr + by_service.stderr
    lines = [re.sub(r"\s+", " ", line).strip() for line in report.stdout.splitlines()]
    row_of = {line.split(" ", 1)[0]: line for line in lines if line}

    overview = page_text((await client.get("/dashboard"))[2])
    must = [row_of["all"], *(row_of[phase] for phase in ("Detect", "Diagnose", "Mitigate", "Verify"))]
    must += [line for line in lines if line.startswith(("Slowest phase", "Last 12 weeks", "2026-W", "2027-W"))]
    must += [line.removeprefix("Time to acknowledge: ") for line in lines if line.startswith("Time to acknowledge")]
    for line in must:
        assert line in overview, f"the overview lacks the report's line {line!r}"
    open_count = re.search(r"Open incidents \((\d+)\)", report.stdout).group(1)
    assert f"Open incidents ({open_count})" in overview

    # DORA's four keys and detection coverage: every line and table row of the report's section.
    section = lines[lines.index(next(line for line in lines if line.startswith("DORA's four keys"))) :]
    section = section[: section.index(next(line for line in section if line.startswith("Time to restore by hour")))]
    shown = [
        line
        for line in section
        if line and line not in ("By service:", "By team:") and not line.startswith(("service ", "team ", "---"))  # headers, rules
    ]
    assert any(line.startswith("Deployment frequency:") and "n=" in line for line in shown), section
    assert any(line.startswith("Detection coverage") and "customer" in line for line in shown), section
    for line in shown:
        assert line.replace(": ", " ", 1) in overview or line in overview, f"the overview lacks the report's line {line!r}"

    rows = [re.sub(r"\s+", " ", line).strip() for line in by_service.stdout.splitlines()[5:]]
    service_rows = [row for row in rows if row and not row.startswith("all ")]
    assert len(service_rows) >= 4, by_service.stdout
    for row in service_rows:
        name, cells = row.split(" ", 1)
        assert row in overview, f"the overview's by-service table lacks {row!r}"
        page = page_text((await client.get(f"/dashboard/services/{name}"))[2])
        assert f"all {cells}" in page, f"/dashboard/services/{name} disagrees with the report's row {row!r}"

    # A team's page is the report over its services (the catalog's ``team``), as /incident stats would read it.
    runtime = dashboard.runtime
    now = utc_now()
    for team, services in (("storefront", ["checkout-web", "search"]), ("identity", ["auth"])):
        window, _, trend = await runtime.reports.window_and_trend(now - timedelta(days=30), now, services=services)
        expected = re.sub(r"\s+", " ", report_table(window, trend=trend).splitlines()[4]).strip()
        assert expected.startswith("all ")
        assert expected in page_text((await client.get(f"/dashboard/teams/{team}"))[2])

    for path in ("/dashboard/phases", "/dashboard/distribution"):
        page = page_text((await client.get(path))[2])
        wanted = must[1:5] if path.endswith("phases") else [row_of["all"], next(line for line in lines if line.startswith("Last 12 weeks"))]
        for line in wanted:
            assert line.split(" · n=")[0] in page, f"{path} lacks {line!r}"


@pytest.mark.both_databases
async def test_a_private_incident_reaches_no_outsider_on_any_page_and_every_member(dashboard, history, client, fake_slack):
    """Every page a signed-in outsider can reach by links (each service, team and incident, each
    window), and the private incidents' own addresses, carry none of their title, note, postmortem
    or war room, and no link to them; their war room's member sees them."""
    await client.sign_in(fake_slack, OUTSIDER)
    pages = await crawl(client)
    assert len(pages) > 40, sorted(pages)
    for private_id in history.private_ids:
        for form in (f"/dashboard/incidents/{private_id}", f"/dashboard/incidents/INC-{private_id}"):
            status, _, body = await client.get(form)
            pages[form] = (status, body)
    never_used = await client.get("/dashboard/incidents/999999")
    secrets = (TITLE_MARKER, NOTE_MARKER, POSTMORTEM_MARKER, ROOM_NAME, history.room)
    for path, (_, body) in pages.items():
        for secret in secrets:
            assert secret not in body, f"{path} shows {secret!r} to an outsider"
        for private_id in history.private_ids:
            assert f'/dashboard/incidents/{private_id}"' not in body, f"{path} links the private INC-{private_id}"
    for private_id in history.private_ids:
        status, body = pages[f"/dashboard/incidents/{private_id}"]
        assert (status, body) == (404, never_used[2]) and never_used[0] == 404, "a private incident must look like a number never used"
    # Counted in the figures: the overview lists the open private one by its number only, as the report does.
    overview = page_text(pages["/dashboard"][1])
    assert f"INC-{history.private_ids[1]} · private" in overview

    # The war room's member: the same crawl finds the private incidents, with their title and note.
    client.cookies.clear()
    await client.sign_in(fake_slack, MEMBER)
    status, _, body = await client.get(f"/dashboard/incidents/{history.private_ids[0]}")
    assert status == 200 and TITLE_MARKER in body and NOTE_MARKER in body and POSTMORTEM_MARKER in body
    listing = (await client.get("/dashboard/incidents"))[2]
    for private_id in history.private_ids:
        assert f'href="/dashboard/incidents/{private_id}"' in listing, "the member finds both private incidents in the list"
    assert listing.count(TITLE_MARKER) == 2


async def test_when_slack_cannot_say_who_is_in_the_war_room_the_private_incident_stays_hidden(dashboard, history, client, fake_slack):
    """A member who is not the commander is known only through conversations.members: when Slack
    does not answer, the incident stays hidden (fail closed); once Slack answers, it shows."""
    fake_slack.add_user("U_MATE", "mate")
    fake_slack.channels[history.room].members.add("U_MATE")
    await client.sign_in(fake_slack, "U_MATE")
    fake_slack.fail_next("conversations.members", "internal_error", times=10)
    status, _, body = await client.get(f"/dashboard/incidents/{history.private_ids[0]}")
    assert status == 404 and TITLE_MARKER not in body
    fake_slack.clear_faults("conversations.members")
    status, _, body = await client.get(f"/dashboard/incidents/{history.private_ids[0]}")
    assert status == 200 and TITLE_MARKER in body


async def test_bad_input_gets_a_clear_answer_and_never_a_traceback(dashboard, history, client, fake_slack):
    await client.sign_in(fake_slack, OUTSIDER)
    for path, status, words in (
        ("/dashboard?days=abc", 400, "days must be a whole number from 1 to 365"),
        ("/dashboard?days=0", 400, "days must be a whole number from 1 to 365"),
        ("/dashboard/phases?days=9999", 400, "days must be a whole number from 1 to 365"),
        ("/dashboard/incidents/abc", 404, "Not found"),
        ("/dashboard/incidents/99999999999999", 404, "Not found"),
        ("/dashboard/services/%3Cscript%3E", 404, "Not found"),
        ("/dashboard/teams/nobody", 404, "Not found"),
    ):
        got, headers, body = await client.get(path)
        assert got == status and words in page_text(body), (path, got, page_text(body)[:300])
        assert "<script>" not in body and "Traceback" not in body
        assert headers["Content-Type"].startswith("text/html") and headers["Cache-Control"] == "no-store"


async def test_a_title_is_shown_as_typed_never_as_html(dashboard, history, client, fake_slack):
    await client.sign_in(fake_slack, OUTSIDER)
    _, _, body = await client.get(f"/dashboard/incidents/{history.public_ids[0]}")
    assert "Public incident 0 &lt;b&gt;bold&lt;/b&gt;" in body and "<b>bold</b>" not in body


async def test_the_dashboard_is_off_without_its_settings_and_says_which_to_set(bot):
    async with aiohttp.ClientSession() as session:
        client = DashboardClient(session, f"http://127.0.0.1:{bot.port}")
        for path in ("/dashboard", "/dashboard/login", "/dashboard/callback?code=x&state=y", "/dashboard/incidents/1"):
            status, _, body = await client.get(path)
            assert status == 503 and "SLACK_CLIENT_ID" in page_text(body), path


def test_the_dashboard_settings_come_all_four_or_none(tmp_path, monkeypatch):
    for name in ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "DASHBOARD_REDIRECT_URL", "DASHBOARD_SESSION_SECRET"):
        monkeypatch.delenv(name, raising=False)
    base = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "8f742231b10e8888abcd99aaabbb85a5"}
    with pytest.raises(ConfigError, match="SLACK_CLIENT_SECRET, DASHBOARD_REDIRECT_URL, DASHBOARD_SESSION_SECRET not set"):
        load_settings(None, **base, SLACK_CLIENT_ID="1.2")
    with pytest.raises(ConfigError, match="DASHBOARD_SESSION_SECRET is malformed \\(5 characters; use at least 32\\)"):
        load_settings(None, **base, DASHBOARD_SESSION_SECRET="short")
    with pytest.raises(ConfigError, match="DASHBOARD_REDIRECT_URL is malformed"):
        load_settings(None, **base, DASHBOARD_REDIRECT_URL="https://example.com/elsewhere")
    assert not load_settings(None, **base).dashboard_enabled


@pytest.mark.both_databases
async def test_app_home_shows_the_trend_chart_uploaded_once_an_hour_however_many_processes_publish(
    fake_slack, database_url, announce_channel
):
    clock = FakeClock(utc_now().replace(minute=1, second=0, microsecond=0))
    settings = fake_slack_settings(fake_slack, database_url, announce_channel, INCIDENT_CONFIG=CONFIG)
    first, second = await start_bot(settings, fake_slack, clock=clock), await start_bot(settings, fake_slack, clock=clock)
    try:
        await seed_history(first.runtime, fake_slack, restored=12)

        def uploads() -> list:
            return [c for c in fake_slack.calls if c.method == "files.completeUploadExternal" and c.ok]

        readers = ["U_ALICE", "U_BOB", "U_CAROL"]
        # Every tab published at once, by both processes: the hour is claimed once. Tabs published
        # while the upload is under way show the newest chart Slack already has (none yet).
        await asyncio.gather(*(bot.runtime.interactions.readouts.publish_home(user) for bot in (first, second) for user in readers))
        assert len(uploads()) == 1, "two processes, six tabs, one hour: one upload"
        await asyncio.gather(*(bot.runtime.interactions.readouts.publish_home(user) for bot in (first, second) for user in readers))
        assert len(uploads()) == 1
        file_id = uploads()[0].args["files"][0]["id"]
        assert "channel_id" not in uploads()[0].args and "channels" not in uploads()[0].args, "shared in no channel"
        for user in readers:
            images = [b for b in fake_slack.published_home[user]["blocks"] if b["type"] == "image"]
            assert [image["slack_file"] for image in images] == [{"id": file_id}], user
            assert images[0]["alt_text"].startswith("Weekly median time to restore")
        clock.now += timedelta(minutes=58)
        await first.runtime.interactions.readouts.publish_home("U_ALICE")
        assert len(uploads()) == 1, "the same hour: the same chart"
        clock.now += timedelta(minutes=2)
        await second.runtime.interactions.readouts.publish_home("U_ALICE")
        assert len(uploads()) == 2, "a new hour draws the chart again"
        images = [b for b in fake_slack.published_home["U_ALICE"]["blocks"] if b["type"] == "image"]
        assert images[0]["slack_file"] == {"id": uploads()[1].args["files"][0]["id"]}
    finally:
        await first.stop()
        await second.stop()


def test_in_socket_mode_the_start_up_log_says_the_dashboard_serves_on_port_for_a_private_network():
    from handlers.server import dashboard_line

    base = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "8f742231b10e8888abcd99aaabbb85a5"}
    dashboard = {
        "SLACK_CLIENT_ID": "1234.5678",
        "SLACK_CLIENT_SECRET": "client-secret",
        "DASHBOARD_REDIRECT_URL": "https://incidents.internal.example/dashboard/callback",
        "DASHBOARD_SESSION_SECRET": "x" * 40,
    }
    socket = load_settings(None, **base, **dashboard, SLACK_APP_TOKEN="xapp-1")
    line = dashboard_line(socket, 3000)
    assert "port 3000" in line and "private network" in line and "https://incidents.internal.example/dashboard" in line
    assert (
        dashboard_line(load_settings(None, **base, **dashboard), 3000)
        == "dashboard at https://incidents.internal.example/dashboard (port 3000)"
    )
    assert "dashboard off" in dashboard_line(load_settings(None, **base), 3000)


async def test_the_dashboard_only_reads_whoever_signs_in_and_whatever_they_open(dashboard, history, client, fake_slack):
    """Read-only: signing in and every page, refused or not, leave every table as it was."""
    from sqlalchemy import func, select

    from storage.models import Base

    async def rows() -> dict[str, int]:
        async with dashboard.runtime.db.reading() as session:
            return {t.name: (await session.execute(select(func.count()).select_from(t))).scalar_one() for t in Base.metadata.sorted_tables}

    before = await rows()
    await client.get("/dashboard")  # not signed in: sent to sign in
    await client.sign_in(fake_slack, "U_ALICE", team="T0OTHER")  # refused
    await client.sign_in(fake_slack, OUTSIDER)
    pages = await crawl(client)
    await client.get(f"/dashboard/incidents/{history.private_ids[0]}")
    await client.get("/dashboard?days=abc")
    assert len(pages) > 40
    assert await rows() == before


async def test_a_long_list_of_open_incidents_shows_the_oldest_and_links_the_rest(dashboard, client, fake_slack):
    from tests.stored_incidents import incident_row

    now = utc_now()
    async with dashboard.runtime.db.transaction() as session:
        for k in range(30):
            started = now - timedelta(hours=40 - k)
            session.add(incident_row(f"Open {k}", started, detected_at=started, service="auth"))
    await client.sign_in(fake_slack, OUTSIDER)
    for path in ("/dashboard", "/dashboard/services/auth"):
        page = page_text((await client.get(path))[2])
        assert "Open incidents (30)" in page and "…and 5 more" in page, path
        assert "Open 0 " in page and "Open 24 " in page and "Open 25 " not in page, path
    listing = page_text((await client.get("/dashboard/incidents"))[2])
    assert "Open incidents (30)" in listing and all(f"Open {k} " in listing for k in range(30))
