"""Everything one bot process shares, built once from the settings."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

import jinja2

from bot.analytics.digest import digests_with_catalog
from bot.analytics.digest_publisher import DELIVERY_SPAN, DigestPublisher
from bot.analytics.drawing import CHART_DRAWING
from bot.analytics.reports import Reports
from bot.background import BackgroundWork, EventLoopLag
from bot.catalog.runbooks import RunbookError, load_runbooks
from bot.catalog.services import Catalog, CatalogError, load_catalog
from bot.core.clock import Clock, utc_now
from bot.core.tiers import TierTables
from bot.incidents.action_items import ActionItems
from bot.incidents.corrections import Corrections
from bot.incidents.handovers import HandoverLog
from bot.incidents.operations import Incidents
from bot.incidents.permissions import PermissionChecks
from bot.incidents.stamping import Stamper
from bot.integrations.action_requests import ActionRequests
from bot.integrations.deploys import Deploys
from bot.integrations.impact_deploys import ImpactDeploys
from bot.interactions import Interactions
from bot.interactions.action_item_tracking import ActionItemTracking
from bot.interactions.alert_intake import AlertIntake
from bot.interactions.break_glass import BreakGlass
from bot.interactions.catchup import CatchUps
from bot.interactions.dashboard import Dashboard
from bot.interactions.dashboard_sign_in import DashboardSignIn, authorize_url_of
from bot.interactions.deploy_records import DeployRecords
from bot.interactions.handovers import Handovers
from bot.interactions.home_chart import HomeChart
from bot.interactions.lookup import IncidentLookup
from bot.interactions.notes import Notes
from bot.interactions.opening import Opening
from bot.interactions.pagerduty_events import PagerDutyEvents
from bot.interactions.phase_stamps import PhaseStamps
from bot.interactions.readouts import Readouts
from bot.interactions.repairs import Repairs
from bot.interactions.replies import Replies
from bot.interactions.roles_and_severity import RolesAndSeverity
from bot.interactions.runbook_action_clicks import RunbookActionClicks
from bot.interactions.runbook_checklists import RunbookChecklists
from bot.interactions.time_corrections import TimeCorrections
from bot.paging.at_open import PagingAtOpen
from bot.paging.drills import NO_DRILL_PAGING, DrillPaging
from bot.paging.external_pagers import ExternalPagers
from bot.paging.page_sending import PageSending
from bot.paging.pager import Pager
from bot.paging.pagerduty_users import PagerDutyUsers
from bot.paging.senders import PagerDutySender, PagingHttp, WebhookSender
from bot.settings import ConfigError, Settings
from bot.slack import SlackGateway
from bot.slack.pacing import Pacer
from bot.slack.request_replays import ReplayGuard
from bot.slack.steps import SlackSteps
from bot.team_config import DEFAULT_PATH, TeamConfig, TeamConfigError, load_team_config
from bot.timers.escalation_targets import EscalationTargets
from bot.timers.firing_notices import FiringStepLog, PagesOutsideSlack, TimerNotices
from bot.timers.monitoring import Monitoring
from bot.timers.rules import TimerSettings
from bot.timers.scheduler import IncidentTimers
from bot.warroom.action_items_message import ActionItemsMessages
from bot.warroom.action_runs import ActionRuns
from bot.warroom.call_links import CallLinks
from bot.warroom.catchup import CatchUpFacts
from bot.warroom.handover_posts import HandoverPosts
from bot.warroom.people_names import PeopleNames
from bot.warroom.postmortem import TemplateProblem, load_template
from bot.warroom.postmortem_drafts import PostmortemDrafts
from bot.warroom.resolution import Resolutions
from bot.warroom.resolution_facts import ResolutionFacts
from bot.warroom.room_channel import WarRoomChannels
from bot.warroom.room_context import WarRoomContexts
from bot.warroom.room_display import WarRoomDisplay
from bot.warroom.room_people import WarRoomPeople
from bot.warroom.room_posts import WarRoomPosts
from bot.warroom.room_records import WarRoomRecords
from bot.warroom.runbook_room import RunbookRoom
from bot.warroom.setup import WarRooms
from bot.warroom.step_claims import StepClaims
from bot.warroom.summary_posts import SummaryPosts
from storage.db import Database


@dataclass
class Runtime:
    settings: Settings
    db: Database
    slack: SlackGateway
    background: BackgroundWork
    clock: Clock
    incidents: Incidents
    war_rooms: WarRooms
    resolutions: Resolutions
    interactions: Interactions
    catalog: Catalog
    runbook_room: RunbookRoom
    team: TeamConfig
    reports: Reports
    digests: DigestPublisher
    deploys: Deploys
    action_items: ActionItems
    permissions: PermissionChecks
    alerts: AlertIntake
    timers: IncidentTimers
    replays: ReplayGuard
    pagers: ExternalPagers
    pagerduty_events: PagerDutyEvents
    dashboard: Dashboard
    # None when the dashboard's Sign in with Slack is not configured (the dashboard is off).
    dashboard_sign_in: DashboardSignIn | None
    action_runs: ActionRuns
    # In Socket Mode: whether the WebSocket to Slack is open (for /healthz); None in HTTP mode.
    slack_connection: Callable[[], Awaitable[bool]] | None = None
    # What Slack last said of the bot token (auth.test), set by `serve` (for /healthz); None elsewhere.
    slack_token: Callable[[], Awaitable[str]] | None = None
    loop_lag: EventLoopLag = field(default_factory=EventLoopLag)  # watched by `serve`

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock = utc_now) -> Runtime:
        """Raises ConfigError when the team config file or the postmortem template is wrong."""
        try:
            catalog = load_catalog(
                settings.service_catalog or settings.runbooks_dir / "catalog.yml",
                required=settings.service_catalog is not None,
            )
            runbooks = load_runbooks(settings.runbooks_dir) if settings.runbooks_dir.is_dir() else []
            team = load_team_config(
                settings.incident_config or DEFAULT_PATH,
                dora_year=settings.dora_report_year,
                required=settings.incident_config is not None,
            )
            tiers = team.tiers
            team = dataclasses.replace(team, digests=digests_with_catalog(team.digests, catalog))
            template = load_template(settings.postmortem_template)
        except (TeamConfigError, TemplateProblem, CatalogError, RunbookError) as problem:
            raise ConfigError(str(problem)) from None
        db = Database(settings.database_url)
        slack = SlackGateway.connect(
            settings.slack_bot_token,
            settings.slack_api_url,
            timeout=settings.slack_api_timeout,
            pacer=Pacer(db if settings.slack_rate_limits_shared else None, speed=settings.slack_rate_speed),
            keep_warm=settings.slack_keep_warm_seconds,
        )
        incidents = Incidents(db, clock)
        pagers = external_pagers_of(db, clock, slack, catalog, settings, drills=team.drills)
        runbook_room = RunbookRoom(db, slack, clock, runbooks=runbooks, catalog=catalog)
        deploys = Deploys(db, clock)
        reports = Reports(
            db, clock, tiers=tiers, settings=team.reports, teams={name: service.team for name, service in catalog.services.items()}
        )
        # One runner of Slack steps, and one set of step claims, for the set-up and the resolution alike.
        claims = StepClaims(db, clock)
        steps = SlackSteps(claims, slack)
        war_rooms = war_rooms_of(db, slack, clock, claims, steps, catalog, runbook_room, deploys, settings, team)
        corrections = Corrections(db, clock)
        action_items = ActionItems(db, clock, slack)
        permissions = PermissionChecks(slack, team.permissions)
        background = BackgroundWork(settings.background_concurrency)
        resolutions = resolutions_of(
            db, slack, clock, background, claims, steps, settings, tiers, template, deploys, corrections, action_items
        )
        replies = Replies(slack, announce_channel=settings.announce_channel)
        lookup = IncidentLookup(incidents, permissions, replies)
        stamper = Stamper(db, clock)
        handover_log = HandoverLog(db, clock)
        handover_posts = HandoverPosts(handover_log, war_rooms, slack, clock)
        action_runs = ActionRuns(db, slack, clock, incidents, runbook_room, ActionRequests())
        paging_at_open = PagingAtOpen(pagers, incidents, severities=settings.severities_paged_at_open)
        interactions = Interactions(
            replies=replies,
            opening=Opening(
                incidents,
                war_rooms,
                replies,
                slack,
                clock,
                catalog=catalog,
                deploys=ImpactDeploys(deploys, catalog, window=settings.deploy_window),
                paging=paging_at_open,
            ),
            phase_stamps=PhaseStamps(lookup, stamper, Monitoring(db, team.timers), war_rooms, resolutions, replies, clock, pagers=pagers),
            notes=Notes(incidents, lookup, replies, slack, stamper),
            roles_and_severity=RolesAndSeverity(incidents, lookup, war_rooms, replies, slack),
            handovers=Handovers(handover_log, handover_posts, lookup, replies, slack),
            break_glass=BreakGlass(incidents, lookup, replies, slack),
            time_corrections=TimeCorrections(lookup, corrections, war_rooms, resolutions, replies, slack, clock),
            action_items=ActionItemTracking(action_items, lookup, resolutions, replies, slack),
            runbooks=RunbookChecklists(runbook_room, lookup, replies),
            runbook_actions=RunbookActionClicks(runbook_room, action_runs, lookup, replies),
            deploys=DeployRecords(deploys, catalog, replies, slack, clock, deploy_window=settings.deploy_window),
            readouts=Readouts(lookup, reports, catalog, replies, slack, clock, HomeChart(db, slack, clock, reports, CHART_DRAWING)),
            repairs=Repairs(
                incidents,
                lookup,
                war_rooms,
                resolutions,
                replies,
                handover_posts,
                action_runs,
                paging=paging_at_open,
            ),
            catchups=CatchUps(CatchUpFacts(db, clock, war_rooms, runbook_room), lookup, replies, slack, stamper),
        )
        alerts = AlertIntake(db, slack, clock, background)
        alerts.attach(interactions.opening)
        dashboard_sign_in = None
        if settings.dashboard_enabled:
            assert settings.slack_client_id and settings.slack_client_secret  # all four or none (Settings)
            assert settings.dashboard_redirect_url and settings.dashboard_session_secret
            dashboard_sign_in = DashboardSignIn(
                slack,
                clock,
                client_id=settings.slack_client_id,
                client_secret=settings.slack_client_secret,
                redirect_url=settings.dashboard_redirect_url,
                session_secret=settings.dashboard_session_secret,
                session_lifetime=timedelta(hours=settings.dashboard_session_hours),
                authorize_url=authorize_url_of(settings.slack_api_url),
            )
        return cls(
            settings=settings,
            db=db,
            slack=slack,
            background=background,
            clock=clock,
            incidents=incidents,
            war_rooms=war_rooms,
            resolutions=resolutions,
            interactions=interactions,
            catalog=catalog,
            runbook_room=runbook_room,
            team=team,
            reports=reports,
            digests=DigestPublisher(
                db, clock, reports, slack, action_items=action_items, delivery_span=DELIVERY_SPAN, drawing=CHART_DRAWING
            ),
            deploys=deploys,
            action_items=action_items,
            permissions=permissions,
            alerts=alerts,
            timers=incident_timers_of(
                db,
                clock,
                team.timers,
                slack=slack,
                catalog=catalog,
                war_rooms=war_rooms,
                announce_channel=settings.announce_channel,
                pager=pagers,
                drills=team.drills,
            ),
            replays=ReplayGuard(db, background),
            pagers=pagers,
            dashboard=Dashboard(db, reports, permissions, catalog, clock, CHART_DRAWING),
            dashboard_sign_in=dashboard_sign_in,
            action_runs=action_runs,
            pagerduty_events=PagerDutyEvents(
                db,
                clock,
                slack,
                Stamper(db, clock),
                war_rooms,
                pagers,
                background,
                users=PagerDutyUsers(settings.pagerduty_api_url, settings.pagerduty_api_token),
            ),
        )

    async def migrate(self) -> str:
        # Alembic (with Mako and Pygments) is a tenth of the imports, and only `serve` migrates:
        # every other command that builds a Runtime starts without it.
        from storage.migrate import upgrade_to_head

        return await upgrade_to_head(self.db)

    async def close(self) -> None:
        await self.background.drain()
        await self.pagers.close()
        await self.action_runs.close()
        await self.pagerduty_events.close()
        await self.slack.close()
        await self.db.dispose()


def war_rooms_of(
    db: Database,
    slack: SlackGateway,
    clock: Clock,
    claims: StepClaims,
    steps: SlackSteps,
    catalog: Catalog,
    runbook_room: RunbookRoom,
    deploys: Deploys,
    settings: Settings,
    team: TeamConfig,
) -> WarRooms:
    """The war room's set-up, from its parts (each owns one subject: bot/warroom/room_*.py)."""
    records = WarRoomRecords(db, clock)
    call_links = CallLinks(
        key=(settings.slack_signing_secret or "").encode(), generate=team.call_link_generator, jitsi_base_url=team.jitsi_base_url
    )
    contexts = WarRoomContexts(db, catalog, deploys, deploy_window=settings.deploy_window, call_links=call_links)
    return WarRooms(
        records,
        contexts,
        WarRoomPeople(slack, catalog, drill_people=team.drills.page),
        WarRoomChannels(slack, steps, claims, records),
        WarRoomPosts(slack, steps, records, runbook_room, announce_channel=settings.announce_channel),
        WarRoomDisplay(slack, contexts, records),
        steps,
    )


def incident_timers_of(
    db: Database,
    clock: Clock,
    settings: TimerSettings,
    *,
    slack: SlackGateway,
    catalog: Catalog,
    war_rooms: WarRooms,
    announce_channel: str | None,
    pager: Pager | None = None,
    drills: DrillPaging = NO_DRILL_PAGING,
) -> IncidentTimers:
    """The incident timer scheduler, from its parts (bot/timers/: the tick, whom to page, what each timer tells)."""
    targets = EscalationTargets(settings, slack, catalog, drills=drills)
    step_log = FiringStepLog(db, clock)
    pages = PagesOutsideSlack(db, clock, slack, pager)
    notices = TimerNotices(step_log, slack, war_rooms, targets, pages, announce_channel=announce_channel)
    return IncidentTimers(db, clock, settings, targets=targets, notices=notices, pages=pages, step_log=step_log)


def resolutions_of(
    db: Database,
    slack: SlackGateway,
    clock: Clock,
    background: BackgroundWork,
    claims: StepClaims,
    steps: SlackSteps,
    settings: Settings,
    tiers: TierTables,
    template: jinja2.Template,
    deploys: Deploys,
    corrections: Corrections,
    action_items: ActionItems,
) -> Resolutions:
    """What a verified incident posts, from its parts (bot/warroom/: facts, summaries, draft, action items)."""
    facts = ResolutionFacts(
        db, PeopleNames(db, slack, clock, background), tiers=tiers, action_items=action_items, deploys=deploys, corrections=corrections
    )
    records = WarRoomRecords(db, clock)
    return Resolutions(
        facts,
        SummaryPosts(records, slack, steps, claims, tiers=tiers, announce_channel=settings.announce_channel),
        PostmortemDrafts(db, slack, clock, steps, facts, template=template, deploy_window=settings.deploy_window, claims=claims),
        ActionItemsMessages(db, slack, clock, steps, action_items),
        records,
    )


def external_pagers_of(
    db: Database, clock: Clock, slack: SlackGateway, catalog: Catalog, settings: Settings, *, drills: DrillPaging
) -> ExternalPagers:
    """Paging outside Slack, from its parts (bot/paging/: PagerDuty, the webhook, sending once)."""
    http = PagingHttp()
    pagerduty = PagerDutySender(http, clock, catalog, events_url=settings.pagerduty_events_url, drills=drills)
    webhook = WebhookSender(http, clock, url=settings.paging_webhook_url, secret=settings.paging_webhook_secret)
    sending = PageSending(db, clock, slack, pagerduty, webhook, announce_channel=settings.announce_channel, drills=drills)
    return ExternalPagers(db, clock, slack, sending, pagerduty, webhook, http)
