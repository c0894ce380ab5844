"""The dashboard in a real browser: Debian's headless Chromium driven by Playwright (never a browser
Playwright downloads). The bot runs against the fake Slack; the browser signs in through the
fake's OpenID Connect pages and opens every dashboard page at a desktop and a phone width,
checks that each shows the figures ``incident-bot report`` prints for the same data and that a
private incident is invisible to an outsider, and saves a screenshot of each page.

Skipped, saying why, only when chromium is missing and INCIDENT_BOT_REQUIRE_BROWSER is unset
(CI sets it, as it sets INCIDENT_BOT_REQUIRE_POSTGRES): there a missing browser fails the test.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.dashboard_helpers import CONFIG, OUTSIDER, POSTMORTEM_MARKER, ROOM_NAME, TITLE_MARKER, seed_history, start_dashboard_bot

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
# Where the screenshots go: a fresh temporary folder, or INCIDENT_BOT_SCREENSHOTS to keep them.
SCREENSHOTS_ENV = "INCIDENT_BOT_SCREENSHOTS"


def _browser_missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return "chromium is not installed (apt-get install chromium; .ci/run installs it)"
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    return None


@pytest.fixture
def browser_required() -> None:
    missing = _browser_missing()
    if missing is None:
        return
    if os.environ.get("INCIDENT_BOT_REQUIRE_BROWSER") == "1":
        pytest.fail(f"a browser is required (INCIDENT_BOT_REQUIRE_BROWSER=1) but {missing}")
    pytest.skip(missing)


def _figures_of(report: str) -> list[str]:
    """The report's lines a page must show: the time-to-restore row and the phase rows."""
    lines = [re.sub(r"\s+", " ", line).strip() for line in report.splitlines()]
    wanted = ("all ", "Detect ", "Diagnose ", "Mitigate ", "Verify ")
    return [line for line in lines if line.startswith(wanted)]


@pytest.mark.slow
@pytest.mark.both_databases
async def test_every_page_in_chromium_at_desktop_and_phone_width(
    browser_required, fake_slack, database_url, announce_channel, incident, tmp_path
):
    from playwright.async_api import async_playwright

    fake_slack.add_user("U_ZOE", "zoe")
    running = await start_dashboard_bot(fake_slack, database_url, announce_channel)
    screenshots = Path(os.environ.get(SCREENSHOTS_ENV) or tempfile.mkdtemp(prefix="dashboard-screenshots-"))
    screenshots.mkdir(parents=True, exist_ok=True)
    try:
        history = await seed_history(running.runtime, fake_slack)
        report = await incident.in_thread(tmp_path, "report", DATABASE_URL=database_url, INCIDENT_CONFIG=CONFIG)
        assert report.returncode == 0, report.stderr
        figures = _figures_of(report.stdout)
        assert len(figures) == 5, report.stdout
        base = f"http://127.0.0.1:{running.port}"
        pages = {
            "overview": ("/dashboard", figures),
            "service": ("/dashboard/services/payments-api", []),
            "team": ("/dashboard/teams/storefront", []),
            "phases": ("/dashboard/phases", figures[1:]),
            "distribution": ("/dashboard/distribution", figures[:1]),
            "incidents": ("/dashboard/incidents", []),
            "incident": (f"/dashboard/incidents/{history.public_ids[0]}", []),
        }
        fake_slack.sign_in_user = OUTSIDER
        async with async_playwright() as playwright:
            for width, viewport in VIEWPORTS.items():
                # A fresh profile each time (--user-data-dir, which Playwright takes as this argument).
                context = await playwright.chromium.launch_persistent_context(
                    str(tmp_path / f"chromium-profile-{width}"),
                    executable_path=CHROMIUM,
                    args=list(CHROMIUM_FLAGS),
                    headless=True,
                    viewport=viewport,
                    is_mobile=width == "phone",
                )
                try:
                    page = await context.new_page()
                    # Sign in as a person does: the dashboard sends the browser to Slack and back.
                    await page.goto(f"{base}/dashboard")
                    assert page.url == f"{base}/dashboard", page.url
                    assert "Signed in as bob" in await page.inner_text("header")
                    for name, (path, wanted) in pages.items():
                        response = await page.goto(base + path)
                        assert response is not None and response.status == 200, (name, response and response.status)
                        text = re.sub(r"\s+", " ", await page.inner_text("main"))
                        for line in wanted:
                            assert line in text, f"{name} at {width} width lacks the report's {line!r}"
                        html = await page.content()
                        for secret in (TITLE_MARKER, POSTMORTEM_MARKER, ROOM_NAME):
                            assert secret not in html, f"{name} shows {secret} to an outsider"
                        # Nothing wider than the screen: a phone scrolls tables inside their box, not the page.
                        overflow = await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
                        assert overflow <= 1, f"{name} is {overflow}px wider than a {width} screen"
                        await page.screenshot(path=str(screenshots / f"{width}-{name}.png"), full_page=True)
                    for private_id in history.private_ids:
                        response = await page.goto(f"{base}/dashboard/incidents/{private_id}")
                        assert response is not None and response.status == 404
                        assert TITLE_MARKER not in await page.content()
                finally:
                    await context.close()
        shots = sorted(p.name for p in screenshots.glob("*.png"))
        assert len(shots) == len(VIEWPORTS) * len(pages), shots
        print(f"\nscreenshots in {screenshots}: {', '.join(shots)}")
    finally:
        await running.stop()
