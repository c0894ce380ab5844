"""The dashboard as the tests reach it: a bot whose Sign in with Slack points at the fake Slack, a
history of incidents with private ones among them, a signed-in HTTP client, and the crawl that
visits every page a signed-in person can reach by following links."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from html import unescape
from http.cookies import SimpleCookie
from urllib.parse import urljoin, urlsplit

import aiohttp

from bot.core.clock import utc_now
from storage import incidents as incident_rows
from storage.models import Deploy, IncidentDeploy, Postmortem
from tests.conftest import ROOT, fake_slack_settings, start_bot
from tests.fake_slack import FakeSlack
from tests.incident_facts import stamp_times
from tests.ports import free_port
from tests.stored_incidents import incident_row

CLIENT_ID = "1234567890.0987654321"
CLIENT_SECRET = "fake-client-secret-0123456789"
SESSION_SECRET = "dashboard-session-secret-0123456789abcdef"
CONFIG = str(ROOT / "runbooks" / "config.yml")

MEMBER = "U_ZOE"  # in the private incidents' war room
OUTSIDER = "U_BOB"  # in the workspace, not in that war room

# Text only the private incidents carry: none of it may reach an outsider's page.
TITLE_MARKER = "ZQXPRIVATETITLE"
NOTE_MARKER = "ZQXPRIVATENOTE"
POSTMORTEM_MARKER = "ZQXPRIVATEPOSTMORTEM"
ROOM_NAME = "inc-secret-zqxroom"


def dashboard_settings(fake: FakeSlack, database_url: str, announce_channel: str, port: int, **more: str):
    fake.add_openid_client(CLIENT_ID, CLIENT_SECRET)
    return fake_slack_settings(
        fake,
        database_url,
        announce_channel,
        INCIDENT_CONFIG=CONFIG,
        SLACK_CLIENT_ID=CLIENT_ID,
        SLACK_CLIENT_SECRET=CLIENT_SECRET,
        DASHBOARD_REDIRECT_URL=f"http://127.0.0.1:{port}/dashboard/callback",
        DASHBOARD_SESSION_SECRET=SESSION_SECRET,
        **more,
    )


async def start_dashboard_bot(fake: FakeSlack, database_url: str, announce_channel: str, *, clock=None, **more: str):
    """The bot on a port chosen before it starts: the redirect URL Slack sends the browser back to names it."""
    port = free_port()
    settings = dashboard_settings(fake, database_url, announce_channel, port, **more)
    return await start_bot(settings, fake, port=port, **({"clock": clock} if clock else {}))


@dataclass
class History:
    public_ids: list[int] = field(default_factory=list)
    private_ids: list[int] = field(default_factory=list)
    open_ids: list[int] = field(default_factory=list)
    room: str = ""


# (service, severity, minutes to diagnose, mitigate, verify) patterns, cycled: enough of each
# service for its figures (min_count 5), phases of different lengths.
_PATTERNS = (
    ("payments-api", "P1", 6, 20, 9),
    ("payments-api", "P2", 12, 35, 15),
    ("checkout-web", "P2", 4, 18, 30),
    ("checkout-web", "P3", 25, 60, 10),
    ("auth", "P2", 8, 12, 6),
    ("search", "P3", 30, 90, 20),
)


async def seed_history(runtime, fake: FakeSlack, *, restored: int = 36) -> History:
    """Restored public incidents over the last four weeks, two open ones, and two private ones
    (one restored with a note and a postmortem draft, one open) whose war room only MEMBER is in."""
    history = History()
    now = utc_now()
    history.room = fake.add_channel(ROOM_NAME, members={MEMBER}, is_private=True)
    async with runtime.db.transaction() as session:
        for k in range(restored):
            service, severity, diagnose, mitigate, verify = _PATTERNS[k % len(_PATTERNS)]
            started = now - timedelta(days=1 + (k * 25) / restored, minutes=k * 7)
            detected = started + timedelta(minutes=2 + k % 4)
            diagnosed = detected + timedelta(minutes=diagnose + k % 5)
            mitigated = diagnosed + timedelta(minutes=mitigate + k % 3)
            verified = mitigated + timedelta(minutes=verify)
            row = incident_row(
                f"Public incident {k} <b>bold</b>",
                started,
                detected_at=detected,
                diagnosed_at=diagnosed,
                mitigated_at=mitigated,
                verified_at=verified,
                severity=severity,
                service=service,
                detection_method="customer_report" if k % 7 == 0 else "alert",
                acknowledged_at=detected + timedelta(minutes=1 + k % 6),
            )
            session.add(row)
            await session.flush()
            history.public_ids.append(row.id)
            # A production deploy before every third incident (with its first commit's time), linked
            # to every sixth: the four keys have deploys, failed ones and lead times to show.
            if k % 3 == 0 and service:
                deploy = Deploy(
                    service=service,
                    version=f"v{k}",
                    environment="production",
                    deployed_at=started - timedelta(minutes=30),
                    commit_time=started - timedelta(hours=3 + k % 5),
                    source="webhook",
                    recorded_at=started - timedelta(minutes=30),
                )
                session.add(deploy)
                await session.flush()
                if k % 6 == 0:
                    session.add(IncidentDeploy(incident_id=row.id, deploy_id=deploy.id))
        for k, service in enumerate(("checkout-web", "auth")):
            row = incident_row(
                f"Open public incident {k}", now - timedelta(hours=3 + k), detected_at=now - timedelta(hours=2 + k), service=service
            )
            session.add(row)
            await session.flush()
            history.open_ids.append(row.id)
        started = now - timedelta(days=3)
        in_the_private_room = dict(service="payments-api", person=MEMBER, is_private=True, channel_id=history.room, channel_name=ROOM_NAME)
        private = incident_row(
            f"Payroll {TITLE_MARKER} export", started, **stamp_times(started, (3, 27, 20, 20)), severity="P1", **in_the_private_room
        )
        still_open = incident_row(
            f"Access {TITLE_MARKER} review",
            now - timedelta(hours=5),
            detected_at=now - timedelta(hours=4),
            severity="P2",
            **in_the_private_room,
        )
        session.add_all([private, still_open])
        await session.flush()
        history.private_ids += [private.id, still_open.id]
        await incident_rows.add_event(
            session, private.id, "note", at=started + timedelta(minutes=10), actor=MEMBER, text=f"note {NOTE_MARKER}"
        )
        session.add(
            Postmortem(incident_id=private.id, markdown=f"# Postmortem\n{POSTMORTEM_MARKER}", created_at=started + timedelta(minutes=71))
        )
    return history


class DashboardClient:
    """A browser's HTTP side, for tests without a browser: follows no redirect by itself, keeps
    the cookies it is given (whatever their Secure flag: the test server is plain HTTP on loopback)."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base
        self.cookies: dict[str, str] = {}
        self.set_cookies: list[SimpleCookie] = []

    async def get(self, url: str) -> tuple[int, dict[str, str], str]:
        target = url if url.startswith("http") else urljoin(self.base, url)
        headers = {}
        if urlsplit(target).netloc == urlsplit(self.base).netloc and self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        async with self.session.get(target, headers=headers, allow_redirects=False) as response:
            body = await response.text()
            for raw in response.headers.getall("Set-Cookie", []):
                cookie: SimpleCookie = SimpleCookie()
                cookie.load(raw)
                self.set_cookies.append(cookie)
                for name, morsel in cookie.items():
                    if morsel["max-age"] == "0" or morsel.value == "":
                        self.cookies.pop(name, None)
                    else:
                        self.cookies[name] = morsel.value
            return response.status, dict(response.headers), body

    async def sign_in(self, fake: FakeSlack, user: str, *, team: str | None = None) -> tuple[int, str]:
        """Through the fake Slack's authorize page, as ``user``: the last answer's status and body."""
        fake.sign_in_user, fake.sign_in_team = user, team
        status, headers, body = await self.get("/dashboard/login")
        assert status == 302, (status, body)
        status, headers, body = await self.get(headers["Location"])  # Slack's authorize page
        assert status == 302, (status, body)
        status, headers, body = await self.get(headers["Location"])  # back to /dashboard/callback
        return status, body


_LINK = re.compile(r'href="([^"]+)"')


def page_text(html: str) -> str:
    """What a reader sees: the tags dropped, entities decoded, spaces collapsed."""
    no_style = re.sub(r"<(style|svg)\b.*?</\1>", " ", html, flags=re.DOTALL)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", no_style))).strip()


async def crawl(client: DashboardClient, start: str = "/dashboard") -> dict[str, tuple[int, str]]:
    """Every dashboard page reachable from ``start`` by links (signing out excepted): path → (status, html)."""
    seen: dict[str, tuple[int, str]] = {}
    queue = [start]
    while queue:
        path = queue.pop()
        if path in seen:
            continue
        status, _, body = await client.get(path)
        seen[path] = (status, body)
        for href in _LINK.findall(body):
            link = unescape(href)
            if link.startswith("?"):
                link = urlsplit(path).path + link
            if link.startswith("/dashboard") and not link.startswith(("/dashboard/logout", "/dashboard/login")):
                queue.append(link)
    return seen
