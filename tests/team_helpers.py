"""Shared by the roles, permissions, corrections, action-item and private-incident tests: a bot
whose team config names an admin user group, a controllable clock, and Slack-shaped clicks."""

from __future__ import annotations

import functools
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from bot.settings import Settings
from bot.timers.rules import DEFAULT_POLICIES, TimerSettings
from tests import clocks
from tests.conftest import ROOT, start_bot

T0 = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
ADMIN_GROUP = "S0ADMINS"
ADMIN = "U_DAVE"  # in the admin user group, not in any war room
OUTSIDER = "U_EVE"  # in neither


class FakeClock(clocks.FakeClock):
    def __init__(self, start: datetime = T0) -> None:
        super().__init__(start)


@functools.cache
def team_config_text(permissions: str) -> str:
    """The shipped team config with the permissions section, as YAML; made once per run for each
    ``permissions`` (parsing and writing it is tens of milliseconds of pure-Python YAML)."""
    team = yaml.safe_load((ROOT / "runbooks" / "config.yml").read_text())
    team["permissions"] = {"admins": {"usergroup": ADMIN_GROUP}, **(yaml.safe_load(permissions) or {})}
    return yaml.safe_dump(team, sort_keys=False)  # band order matters


def team_settings(settings: Settings, fake, tmp_path: Path, permissions: str = "") -> Settings:
    """The shipped team config plus a permissions section naming the admin group."""
    fake.add_user(ADMIN, "dave")
    fake.add_user(OUTSIDER, "eve")
    fake.add_usergroup(ADMIN_GROUP, "incident-admins", [ADMIN])
    config = tmp_path / "config.yml"
    config.write_text(team_config_text(permissions))
    return settings.model_copy(update={"incident_config": config})


# The single "not acknowledged" page P1 and P2 had before the escalation chain became their
# default: what a team config giving them unacknowledged_after (and no chain) goes back to. The
# tests of that page, and of what it does for private incidents and drills, give it explicitly.
SINGLE_PAGE_ESCALATION = {"P1": {"unacknowledged_after": "5m"}, "P2": {"unacknowledged_after": "5m"}}
SINGLE_PAGE_TIMERS = TimerSettings(
    policies={
        **DEFAULT_POLICIES,
        **{
            severity: replace(DEFAULT_POLICIES[severity], chain=None, unacknowledged_after=timedelta(minutes=5))
            for severity in ("P1", "P2")
        },
    }
)


def single_page_settings(settings: Settings, tmp_path: Path) -> Settings:
    """``settings`` with its team config's P1 and P2 on the single page."""
    assert settings.incident_config is not None
    config = yaml.safe_load(Path(settings.incident_config).read_text())
    for severity, page in SINGLE_PAGE_ESCALATION.items():
        config["escalation"][severity] = {**(config["escalation"].get(severity) or {}), **page}
    path = tmp_path / "single-page-config.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return settings.model_copy(update={"incident_config": path})


async def open_incident(bot, text: str = "Checkout returns 500s sev:P2", *, user: str = "U_ALICE", members=("U_BOB", "U_CAROL")):
    """Opened by ``user`` (the commander); ``members`` join the war room afterwards."""
    await bot.slack.command(f"open {text}", user=user)
    await bot.settle()
    incident = await bot.incident(1)
    for member in members:
        bot.fake.channels[incident.channel_id].members.add(member)
    return incident


async def click(
    bot,
    incident,
    action_id: str,
    value: str,
    user: str,
    *,
    action_ts: str | None = None,
    block_id: str | None = None,
    message_ts: str | None = None,
    channel: str | None = None,
):
    payload = bot.slack.block_action_payload(
        action_id,
        value,
        user=user,
        channel=channel or incident.channel_id,
        message_ts=message_ts or incident.control_message_ts,
        action_ts=action_ts,
    )
    if block_id is not None:
        payload["actions"][0]["block_id"] = block_id
    response = await bot.slack.interactive(payload)
    assert response.status == 200
    await bot.settle()
    return payload


async def pick_user(bot, incident, role: str, picked: str, user: str):
    """A users_select on the control message, as Slack sends it."""
    payload = bot.slack.block_action_payload(
        f"assign_role_{role}", "", user=user, channel=incident.channel_id, message_ts=incident.control_message_ts
    )
    action = payload["actions"][0]
    action.pop("value")
    action.pop("text")
    action.update({"type": "users_select", "block_id": f"role_pickers:{incident.id}", "selected_user": picked})
    response = await bot.slack.interactive(payload)
    assert response.status == 200
    await bot.settle()


async def command(bot, text: str, *, user: str, channel: str):
    response = await bot.slack.command(text, user=user, channel=channel)
    assert response.status == 200
    await bot.settle()
    return response


def last_reply(fake) -> str:
    return fake.responses[-1]["text"]


def dm_messages(fake, user: str) -> list[dict]:
    return [m for ch in fake.channels.values() if ch.is_im and user in ch.members for m in ch.messages]


# Fixtures for the team-feature test modules, which import them: a controllable clock and a bot
# started with runbooks/config.yml's permissions and team settings.
@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def bot(settings, fake_slack, clock, tmp_path):
    running = await start_bot(team_settings(settings, fake_slack, tmp_path), fake_slack, clock=clock)
    yield running
    await running.stop()
