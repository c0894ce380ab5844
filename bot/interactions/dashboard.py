"""The dashboard's pages (``GET /dashboard…``), read-only, for someone signed in with Slack.

Every figure comes from ``Reports`` (what ``incident-bot report`` prints, in its words); a private
incident is counted in the figures like any other but named, listed with its title or opened only
for the people in its war room (``PermissionChecks.in_war_room``, which asks Slack through the
gateway and refuses when Slack cannot say). To anyone else it does not exist: its page answers
"not found", exactly as a number that was never used.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from bot.analytics import dashboard_cards as cards_of
from bot.analytics.chart import render_distribution_chart, render_trend_chart, trend_alt_text
from bot.analytics.dashboard_pages import inline_svg, render
from bot.analytics.delivery_view import delivery_sections
from bot.analytics.drawing import CHART_DRAWING, ChartDrawing
from bot.analytics.key_trend_svg import key_trend_alt_text, key_trend_svg
from bot.analytics.reports import Reports
from bot.analytics.stats import NO_SERVICE, OpenIncident, WindowReport
from bot.analytics.stats_view import PLAIN, open_incident_line, restore_headers, restore_row, window_text
from bot.catalog.services import Catalog
from bot.core.clock import Clock
from bot.core.phases import PHASES
from bot.incidents.operations import to_record
from bot.incidents.permissions import PermissionChecks
from storage import dashboard as dashboard_rows
from storage import incidents as incident_rows
from storage.db import Database

DEFAULT_DAYS = 30
MAX_DAYS = 365
RECENT = 25


@dataclass(frozen=True)
class Viewer:
    user_id: str
    name: str | None = None


@dataclass(frozen=True)
class IncidentLine:
    """One incident in a list: ``title`` None means private and not the viewer's (no link, no detail)."""

    id: int
    title: str | None
    severity: str | None
    service: str | None
    state: str  # "Diagnosing · open 2 h 10 min", "restored in 42 min"


@dataclass(frozen=True)
class Page:
    html: str
    found: bool = True


class Dashboard:
    def __init__(
        self,
        db: Database,
        reports: Reports,
        permissions: PermissionChecks,
        catalog: Catalog,
        clock: Clock,
        drawing: ChartDrawing = CHART_DRAWING,
    ) -> None:
        self._drawing = drawing  # it remembers the charts drawn lately: one is drawn again only when its figures change
        self._db = db
        self._reports = reports
        self._permissions = permissions
        self._catalog = catalog
        self._clock = clock

    # ---- what every page shares --------------------------------------------------------------

    def _frame(self, viewer: Viewer, *, days: int, title: str) -> dict[str, object]:
        return {"viewer": viewer, "days": days, "page_title": title, "services": self._service_names(), "teams": self._team_names()}

    def _service_names(self) -> list[str]:
        return sorted(self._catalog.services)

    def _team_names(self) -> list[str]:
        return sorted({service.team for service in self._catalog.services.values()})

    def _team_services(self, team: str) -> list[str]:
        return sorted(name for name, service in self._catalog.services.items() if service.team == team)

    async def _figures(
        self, title: str, days: int, services: Sequence[str] | None = None, *, delivery: bool = False
    ) -> cards_of.ScopeFigures:
        read = await self._reports.recent_window_read(days, services=services, delivery=delivery)
        return cards_of.ScopeFigures(title=title, report=read.report, trend=read.trend, restored=read.restored, delivery=read.delivery)

    async def _hidden(self, viewer: Viewer, rows: Sequence[dashboard_rows.ListedIncident]) -> set[int]:
        """The private incidents among ``rows`` that ``viewer`` is not in: asked of Slack together,
        not one after another (a list may hold many)."""
        private = [row for row in rows if row.is_private]
        seen = await asyncio.gather(*(self._permissions.in_war_room(row, viewer.user_id) for row in private))
        return {row.id for row, sees in zip(private, seen, strict=True) if not sees}

    async def _open_lines(
        self, viewer: Viewer, open_incidents: Sequence[OpenIncident], *, scoped: bool, limit: int | None = None
    ) -> tuple[list[IncidentLine], int]:
        """Open incidents with their age, as the report lists them, oldest first (the first
        ``limit``), and how many more there are. A private one the viewer is not in reads
        "INC-7 · private" on the overview; on a service's or team's page it is left out, since
        being listed there would tell its service."""
        skipped = 0
        if not scoped and limit is not None and len(open_incidents) > limit:
            # Every open incident is a line of the overview (a private one by its number): only the
            # first ``limit`` need reading.
            open_incidents, skipped = open_incidents[:limit], len(open_incidents) - limit
        async with self._db.reading() as session:
            listed = await dashboard_rows.listed(session, [i.id for i in open_incidents])
        hidden = await self._hidden(viewer, list(listed.values()))
        now = self._clock()
        lines = []
        for incident in open_incidents:
            row = listed.get(incident.id)
            if row is None or row.id in hidden:
                if not scoped:
                    lines.append(IncidentLine(incident.id, None, None, None, open_incident_line(incident, PLAIN).split(" · ", 1)[1]))
                continue
            state = f"{incident.current_phase.doing} · open {cards_of.age_text(incident.started_at, now)}"
            lines.append(IncidentLine(incident.id, row.title, incident.severity, incident.service, state))
        if limit is None or len(lines) <= limit:
            return lines, skipped
        return lines[:limit], len(lines) - limit + skipped

    async def _recent_lines(self, viewer: Viewer, services: Sequence[str] | None, *, scoped: bool) -> list[IncidentLine]:
        async with self._db.reading() as session:
            recent = await dashboard_rows.recently_restored(session, limit=RECENT, services=services)
        hidden = await self._hidden(viewer, recent)
        lines = []
        for row in recent:
            if row.id in hidden:
                if not scoped:
                    lines.append(IncidentLine(row.id, None, None, None, "private"))
                continue
            assert row.verified_at is not None
            took = cards_of.age_text(row.started_at, row.verified_at)
            lines.append(IncidentLine(row.id, row.title, row.severity, row.service, f"restored in {took}"))
        return lines

    async def _scope_page(self, viewer: Viewer, figures: cards_of.ScopeFigures, *, days: int, services: Sequence[str] | None) -> str:
        report = figures.report
        scoped = services is not None
        # The chart is drawn in the drawing process while the lists are read.
        drawing = self._drawing.submit(render_trend_chart, figures.trend, report.settings.min_count)
        try:
            open_lines, open_more = await self._open_lines(viewer, report.open_incidents, scoped=scoped, limit=RECENT)
        finally:
            chart = await drawing
        return render(
            "scope.html",
            **self._frame(viewer, days=days, title=figures.title),
            heading=figures.title,
            window=window_text(report, PLAIN),
            settings=report.settings,
            cards=cards_of.cards(figures),
            key_trends=[
                (view, inline_svg(key_trend_svg(view.trend).encode(), key_trend_alt_text(view.trend)))
                for view in cards_of.key_trend_views(figures)
            ],
            chart=inline_svg(chart, trend_alt_text(figures.trend)),
            restore=cards_of.restore_table(report),
            phases=cards_of.phase_breakdown(report),
            open_lines=open_lines,
            open_more=open_more,
            # The overview counts every open incident, as the report does; a scope page those it lists.
            open_count=len(open_lines) + open_more if scoped else len(report.open_incidents),
            recent_lines=await self._recent_lines(viewer, services, scoped=scoped),
            services_table=self._services_table(report) if not scoped else None,
            delivery=delivery_sections(figures.delivery) if figures.delivery else None,
        )

    def _services_table(self, report: WindowReport) -> cards_of.Table:
        """The report's ``--by service`` rows, each service linked to its page."""
        confidence = report.settings.confidence
        rows = [
            restore_row(key, measures, confidence)
            for key, measures in report.segments.service.items()
            if measures.count and key != NO_SERVICE
        ]
        return cards_of.Table(restore_headers("service", confidence), rows)

    # ---- the pages ------------------------------------------------------------------------------

    async def overview(self, viewer: Viewer, days: int = DEFAULT_DAYS) -> Page:
        figures = await self._figures("All incidents", days, delivery=True)
        return Page(await self._scope_page(viewer, figures, days=days, services=None))

    async def service(self, viewer: Viewer, name: str, days: int = DEFAULT_DAYS) -> Page:
        known = self._catalog.get(name)
        if known is None:
            return self.not_found(viewer)
        figures = await self._figures(f"Service {known.name}", days, [known.name], delivery=True)
        return Page(await self._scope_page(viewer, figures, days=days, services=[known.name]))

    async def team(self, viewer: Viewer, name: str, days: int = DEFAULT_DAYS) -> Page:
        services = self._team_services(name)
        if not services:
            return self.not_found(viewer)
        figures = await self._figures(f"Team {name}", days, services, delivery=True)
        return Page(await self._scope_page(viewer, figures, days=days, services=services))

    async def phases(self, viewer: Viewer, days: int = DEFAULT_DAYS) -> Page:
        figures = await self._figures("Where restore time goes", days)
        report = figures.report
        by_severity = [
            (severity, cards_of.phase_breakdown_of_measures(measures, report.settings.min_count))
            for severity, measures in report.segments.severity.items()
        ]
        html = render(
            "phases.html",
            **self._frame(viewer, days=days, title="Where restore time goes"),
            window=window_text(report, PLAIN),
            count=report.count,
            phases=cards_of.phase_breakdown(report),
            by_severity=by_severity,
            phase_names=[p.label for p in PHASES],
        )
        return Page(html)

    async def distribution(self, viewer: Viewer, days: int = DEFAULT_DAYS) -> Page:
        figures = await self._figures("Restore times", days)
        summary = cards_of.distribution_summary(figures)
        chart = await self._drawing.submit(render_distribution_chart, summary.restore_seconds, summary.weeks)
        label = f"Histogram of every restore time of the last {summary.weeks} weeks on a log scale (n={len(summary.restore_seconds)})"
        html = render(
            "distribution.html",
            **self._frame(viewer, days=days, title="Restore times"),
            window=window_text(figures.report, PLAIN),
            chart=inline_svg(chart, label),
            lines=summary.lines,
            restore=cards_of.restore_table(figures.report),
        )
        return Page(html)

    async def incidents(self, viewer: Viewer, days: int = DEFAULT_DAYS) -> Page:
        html = render(
            "incidents.html",
            **self._frame(viewer, days=days, title="Incidents"),
            open_lines=(await self._open_lines(viewer, await self._reports.open_incidents(), scoped=False))[0],
            recent_lines=await self._recent_lines(viewer, None, scoped=False),
        )
        return Page(html)

    async def incident(self, viewer: Viewer, incident_id: int) -> Page:
        async with self._db.reading() as session:
            row = await incident_rows.get(session, incident_id)
            if row is None:
                return self.not_found(viewer)
            record = to_record(row)
            events = await incident_rows.timeline(session, incident_id)
            postmortem = await incident_rows.postmortem(session, incident_id)
        if record.is_private and not await self._permissions.in_war_room(record, viewer.user_id):
            return self.not_found(viewer)  # the same answer as a number never used
        now = self._clock()
        durations = cards_of.incident_phases(record, now)
        html = render(
            "incident.html",
            **self._frame(viewer, days=DEFAULT_DAYS, title=record.reference),
            incident=record,
            durations=durations,
            events=[(event.occurred_at, event.kind.replace("_", " "), event.text) for event in events],
            postmortem=postmortem.markdown if postmortem is not None else None,
            open_for=cards_of.age_text(record.started_at, now) if not record.timeline.restored else None,
        )
        return Page(html)

    def not_found(self, viewer: Viewer | None) -> Page:
        return Page(render("not_found.html", viewer=viewer, page_title="Not found", services=[], teams=[], days=DEFAULT_DAYS), found=False)
