"""The dashboard in a real browser: Debian's headless Chromium driven by Playwright (never a browser
Playwright downloads). The bot runs against the fake Slack; one browser, one context per width,
signs in through the fake's OpenID Connect pages and opens every dashboard page (the overview,
each service and team of the catalog, the phases, the distribution, the open incidents, an
incident) at a desktop and a phone width, and checks that

- each page shows the figures ``incident-bot report`` prints for the same data, read from the
  report's text: the four keys, detection coverage, time to acknowledge and time to restore on the
  overview, each service's and team's own rows of the keys' and coverage tables on its page;
- a private incident is invisible to an outsider (its page "not found", its words nowhere) and
  visible to a member of its war room, on its page and in the overview's list;
- no page is wider than the screen.

With INCIDENT_BOT_SCREENSHOTS set to a folder, a full-page screenshot of each page goes there.

Skipped, saying why, only when chromium is missing and INCIDENT_BOT_REQUIRE_BROWSER is unset
(CI sets it, as it sets INCIDENT_BOT_REQUIRE_POSTGRES): there a missing browser fails the test.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.analytics.delivery_view import KEY_NAMES
from tests.dashboard_helpers import (
    CONFIG,
    MEMBER,
    OUTSIDER,
    POSTMORTEM_MARKER,
    ROOM_NAME,
    TITLE_MARKER,
    seed_history,
    start_dashboard_bot,
)

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
# Where screenshots go, when wanted (a full page's screenshot costs more than opening it).
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


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@dataclass
class ReportFigures:
    """What ``incident-bot report`` printed, as the lines each page must show (whitespace collapsed,
    as a page's text is read)."""

    overview: list[str] = field(default_factory=list)
    phases: list[str] = field(default_factory=list)
    restore: list[str] = field(default_factory=list)
    scopes: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # ("service", name) -> its table rows


def report_figures(report: str) -> ReportFigures:
    """Parse the report's text: the time-to-restore row and the phase rows, time to acknowledge,
    the four keys' lines, the coverage line, and the rows of the keys' and coverage tables by
    service and by team (each a row of its own page)."""
    figures = ReportFigures()
    lines = report.splitlines()
    section: str | None = None  # "keys", "coverage", or None outside them
    kind: str | None = None  # "service" or "team" inside a table
    rows_start = False
    for raw in lines:
        line = _normal(raw)
        if raw.startswith("DORA's four keys,"):
            section, kind = "keys", None
            continue
        if raw.startswith("Detection coverage (incidents whose impact started"):
            section, kind = "coverage", None
            figures.overview.append(line)
            continue
        if raw.startswith("Time to restore by hour"):
            section, kind = None, None
        if line.startswith("Time to acknowledge: "):
            figures.overview.append(line.removeprefix("Time to acknowledge: "))
        if section is None:
            if line.startswith("all "):
                figures.restore.append(line)
            elif line.startswith(("Detect ", "Diagnose ", "Mitigate ", "Verify ")):
                figures.phases.append(line)
            continue
        if section == "keys" and raw.startswith("  ") and ": " in raw and kind is None:
            name, text = line.split(": ", 1)
            if name in KEY_NAMES.values():
                figures.overview.append(text)
            continue
        if line in ("By service:", "By team:"):
            kind, rows_start = line.split()[1].rstrip(":"), False
            continue
        if kind is None:
            continue
        if not line:
            if rows_start:
                kind = None
            continue
        if set(line) <= {"-", " "}:
            rows_start = True  # the rule under the header: the rows follow
            continue
        if rows_start:
            name = raw.split("  ", 1)[0].strip()
            figures.scopes.setdefault((kind, name), []).append(line)
            figures.overview.append(line)
    figures.overview += figures.restore + figures.phases
    return figures


# On SQLite only: what the browser adds is rendering, sign-in and layout; the same pages' figures
# against the report's, and their privacy, are checked on both databases over HTTP
# (tests/test_dashboard.py).
@pytest.mark.slow
async def test_every_page_in_chromium_at_desktop_and_phone_width(
    browser_required, fake_slack, database_url, announce_channel, incident, tmp_path
):
    from playwright.async_api import async_playwright

    fake_slack.add_user("U_ZOE", "zoe")
    running = await start_dashboard_bot(fake_slack, database_url, announce_channel)
    screenshots = Path(os.environ[SCREENSHOTS_ENV]) if os.environ.get(SCREENSHOTS_ENV) else None
    if screenshots is not None:
        screenshots.mkdir(parents=True, exist_ok=True)
    try:
        history = await seed_history(running.runtime, fake_slack)
        # The catalog the bot reads (its teams group the keys' and coverage's "by team" rows).
        catalog = str(Path(CONFIG).parent / "catalog.yml")
        report = await incident.in_thread(tmp_path, "report", DATABASE_URL=database_url, INCIDENT_CONFIG=CONFIG, SERVICE_CATALOG=catalog)
        assert report.returncode == 0, report.stderr
        figures = report_figures(report.stdout)
        # The parse found what the report prints: a test that reads nothing checks nothing.
        assert len(figures.restore) == 1 and len(figures.phases) == 4, report.stdout
        assert sum(text.startswith("median") or "deploys" in text for text in figures.overview) >= 5, report.stdout
        assert {kind for kind, _ in figures.scopes} == {"service", "team"}, report.stdout
        assert ("team", "storefront") in figures.scopes and ("service", "payments-api") in figures.scopes, figures.scopes
        base = f"http://127.0.0.1:{running.port}"
        fixed_pages = {
            "overview": ("/dashboard", figures.overview),
            "phases": ("/dashboard/phases", figures.phases),
            "distribution": ("/dashboard/distribution", figures.restore),
            "incidents": ("/dashboard/incidents", []),
            "incident": (f"/dashboard/incidents/{history.public_ids[0]}", []),
        }
        opened: set[str] = set()
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_FLAGS), headless=True)
            try:
                for width, viewport in VIEWPORTS.items():
                    context = await browser.new_context(viewport=viewport, is_mobile=width == "phone")
                    try:
                        page = await context.new_page()
                        # Sign in as a person does: the dashboard sends the browser to Slack and back.
                        fake_slack.sign_in_user = OUTSIDER
                        await page.goto(f"{base}/dashboard")
                        assert page.url == f"{base}/dashboard", page.url
                        assert "Signed in as bob" in await page.inner_text("header")
                        # Every service and team the dashboard offers (the catalog's), each with its own report rows.
                        scoped = {}
                        for href in await page.eval_on_selector_all("nav details a", "links => links.map(a => a.getAttribute('href'))"):
                            kind, name = href.removeprefix("/dashboard/").split("/", 1)
                            scoped[f"{kind[:-1]} {name}"] = (href, figures.scopes.get((kind[:-1], name), []))
                        assert {"service payments-api", "team storefront"} <= set(scoped), scoped
                        for name, (path, wanted) in {**fixed_pages, **scoped}.items():
                            response = await page.goto(base + path)
                            assert response is not None and response.status == 200, (name, response and response.status)
                            text = _normal(await page.inner_text("main"))
                            for line in wanted:
                                assert line in text, f"{name} at {width} width lacks the report's {line!r}"
                            html = await page.content()
                            for secret in (TITLE_MARKER, POSTMORTEM_MARKER, ROOM_NAME):
                                assert secret not in html, f"{name} shows {secret} to an outsider"
                            # Nothing wider than the screen: a phone scrolls tables inside their box, not the page.
                            overflow = await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
                            assert overflow <= 1, f"{name} is {overflow}px wider than a {width} screen"
                            if screenshots is not None:
                                await page.screenshot(path=str(screenshots / f"{width}-{name.replace(' ', '-')}.png"), full_page=True)
                            opened.add(name)
                        for private_id in history.private_ids:
                            response = await page.goto(f"{base}/dashboard/incidents/{private_id}")
                            assert response is not None and response.status == 404
                            assert TITLE_MARKER not in await page.content()

                        # A member of the private war room, in the same browser: signed out, then in as them.
                        await page.goto(f"{base}/dashboard/logout")
                        fake_slack.sign_in_user = MEMBER
                        await page.goto(f"{base}/dashboard")
                        assert "Signed in as zoe" in await page.inner_text("header")
                        assert TITLE_MARKER in await page.inner_text("main"), "the overview does not list the member's private incident"
                        for private_id in history.private_ids:
                            response = await page.goto(f"{base}/dashboard/incidents/{private_id}")
                            assert response is not None and response.status == 200
                            assert TITLE_MARKER in await page.inner_text("main")
                    finally:
                        await context.close()
            finally:
                await browser.close()
        assert {"overview", "phases", "distribution", "incidents", "incident", "service payments-api", "team storefront"} <= opened
    finally:
        await running.stop()
