"""``GET /dashboard…``: the read-only dashboard behind Sign in with Slack (bot/interactions/dashboard.py,
bot/interactions/dashboard_sign_in.py). Parses the request, calls one page, sets the headers."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.analytics.dashboard_pages import render
from bot.interactions.dashboard import DEFAULT_DAYS, MAX_DAYS, Page, Viewer
from bot.interactions.dashboard_sign_in import SESSION_COOKIE, SIGN_IN_COOKIE, SIGN_IN_LIFETIME
from bot.runtime import Runtime

DASHBOARD_PATH = "/dashboard"
_INCIDENT = re.compile(r"(?:INC-)?([0-9]{1,9})", re.IGNORECASE)
_DAYS = re.compile(r"[0-9]{1,3}")

# No script, no frame, no outside resource: the pages are HTML, inline CSS and inline SVG.
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",  # private figures: never kept by a shared cache or the browser
}

Handler = Callable[[web.Request], Awaitable[tuple[str, web.StreamResponse]]]


def _html(html: str, status: int = 200) -> web.Response:
    response = web.Response(text=html, status=status, content_type="text/html", charset="utf-8")
    response.headers.update(_HEADERS)
    return response


def _message(status: int, heading: str, *lines: str, viewer: Viewer | None = None, sign_in: bool = False) -> web.Response:
    html = render("message.html", viewer=viewer, page_title=heading, services=[], teams=[], heading=heading, lines=lines, sign_in=sign_in)
    return _html(html, status)


def _redirect(location: str) -> web.Response:
    response = web.Response(status=302, headers={"Location": location})
    response.headers.update(_HEADERS)
    return response


def _page(page: Page) -> web.Response:
    return _html(page.html, 200 if page.found else 404)


def _set_cookie(response: web.StreamResponse, name: str, value: str, seconds: int) -> None:
    response.set_cookie(name, value, max_age=seconds, path=DASHBOARD_PATH, httponly=True, secure=True, samesite="Lax")


def dashboard_routes(
    runtime: Runtime, measured: Callable[[Handler], Callable[[web.Request], Awaitable[web.StreamResponse]]]
) -> list[web.RouteDef]:
    sign_in = runtime.dashboard_sign_in
    dashboard = runtime.dashboard

    def off() -> web.Response:
        return _message(
            503,
            "The dashboard is off",
            "Set SLACK_CLIENT_ID, SLACK_CLIENT_SECRET, DASHBOARD_REDIRECT_URL and DASHBOARD_SESSION_SECRET "
            "(see docs/analytics.md, The dashboard) and restart the bot.",
        )

    def signed_in(page: Callable[[web.Request, Viewer], Awaitable[web.Response]]) -> Handler:
        async def handle(request: web.Request) -> tuple[str, web.StreamResponse]:
            if sign_in is None:
                return "dashboard", off()
            viewer = sign_in.viewer(request.cookies.get(SESSION_COOKIE))
            if viewer is None:
                return "dashboard", _redirect(f"{DASHBOARD_PATH}/login")
            return "dashboard", await page(request, viewer)

        return handle

    def days_of(request: web.Request, viewer: Viewer) -> int | web.Response:
        text = request.query.get("days")
        if text is None:
            return DEFAULT_DAYS
        if not _DAYS.fullmatch(text) or not 1 <= int(text) <= MAX_DAYS:
            return _message(400, "Not a window", f"days must be a whole number from 1 to {MAX_DAYS}, e.g. ?days=90.", viewer=viewer)
        return int(text)

    def windowed(page: Callable[[Viewer, int], Awaitable[Page]]) -> Callable[[web.Request, Viewer], Awaitable[web.Response]]:
        async def handle(request: web.Request, viewer: Viewer) -> web.Response:
            days = days_of(request, viewer)
            if isinstance(days, web.Response):
                return days
            return _page(await page(viewer, days))

        return handle

    async def service(request: web.Request, viewer: Viewer) -> web.Response:
        name = request.match_info["name"]
        return await windowed(lambda v, days: dashboard.service(v, name, days))(request, viewer)

    async def team(request: web.Request, viewer: Viewer) -> web.Response:
        name = request.match_info["name"]
        return await windowed(lambda v, days: dashboard.team(v, name, days))(request, viewer)

    async def incident(request: web.Request, viewer: Viewer) -> web.Response:
        match = _INCIDENT.fullmatch(request.match_info["reference"])
        if match is None:
            return _page(dashboard.not_found(viewer))
        return _page(await dashboard.incident(viewer, int(match.group(1))))

    async def login(request: web.Request) -> tuple[str, web.StreamResponse]:
        if sign_in is None:
            return "dashboard", off()
        started = sign_in.start()
        response = _redirect(started.url)
        _set_cookie(response, SIGN_IN_COOKIE, started.cookie, int(SIGN_IN_LIFETIME.total_seconds()))
        return "dashboard", response

    async def callback(request: web.Request) -> tuple[str, web.StreamResponse]:
        if sign_in is None:
            return "dashboard", off()
        outcome = await sign_in.finish(
            code=request.query.get("code"),
            state=request.query.get("state"),
            error=request.query.get("error"),
            sign_in_cookie=request.cookies.get(SIGN_IN_COOKIE),
        )
        if outcome.session_cookie is None:
            response = _message(400, "Not signed in", outcome.refusal or "Start again.", sign_in=True)
        else:
            response = _redirect(DASHBOARD_PATH)
            _set_cookie(response, SESSION_COOKIE, outcome.session_cookie, int(sign_in.session_lifetime.total_seconds()))
        response.del_cookie(SIGN_IN_COOKIE, path=DASHBOARD_PATH)
        return "dashboard", response

    async def logout(request: web.Request) -> tuple[str, web.StreamResponse]:
        response = _message(200, "Signed out", "You are signed out of the dashboard.", sign_in=sign_in is not None)
        response.del_cookie(SESSION_COOKIE, path=DASHBOARD_PATH)
        return "dashboard", response

    def page(handler: Callable[[web.Request, Viewer], Awaitable[web.Response]]) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        return measured(signed_in(handler))

    return [
        web.get(DASHBOARD_PATH, page(windowed(dashboard.overview))),
        web.get(f"{DASHBOARD_PATH}/", page(windowed(dashboard.overview))),
        web.get(f"{DASHBOARD_PATH}/login", measured(login)),
        web.get(f"{DASHBOARD_PATH}/callback", measured(callback)),
        web.get(f"{DASHBOARD_PATH}/logout", measured(logout)),
        web.get(f"{DASHBOARD_PATH}/phases", page(windowed(dashboard.phases))),
        web.get(f"{DASHBOARD_PATH}/distribution", page(windowed(dashboard.distribution))),
        web.get(f"{DASHBOARD_PATH}/incidents", page(windowed(dashboard.incidents))),
        web.get(f"{DASHBOARD_PATH}/incidents/{{reference}}", page(incident)),
        web.get(f"{DASHBOARD_PATH}/services/{{name}}", page(service)),
        web.get(f"{DASHBOARD_PATH}/teams/{{name}}", page(team)),
    ]
