"""The war room's call link: the service's standing bridge from the catalog, or a generated Jitsi
Meet room, bookmarked once and shown on the control message from the moment it is posted."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from bot.catalog.services import CatalogError, load_catalog
from bot.team_config import TeamConfigError, load_team_config
from bot.warroom.call_links import CALL_BOOKMARK_TITLE
from tests.conftest import ROOT, start_bot
from tests.team_helpers import click, open_incident

BRIDGE = "https://bridge.shopwise.example/storefront"
JITSI = "https://jitsi.shopwise.example"


def write_catalog(tmp_path: Path, call: str | None) -> Path:
    catalog = yaml.safe_load((ROOT / "runbooks" / "catalog.yml").read_text())
    service = next(s for s in catalog["services"] if s["name"] == "checkout-web")
    if call:
        service["call"] = call
    path = tmp_path / "catalog.yml"
    path.write_text(yaml.safe_dump(catalog, sort_keys=False))
    return path


def write_config(tmp_path: Path, call_link: dict | None) -> Path:
    config = yaml.safe_load((ROOT / "runbooks" / "config.yml").read_text())
    if call_link is not None:
        config["call_link"] = call_link
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


async def start(settings, fake_slack, tmp_path, *, call: str | None, call_link: dict | None):
    update = {"service_catalog": write_catalog(tmp_path, call), "incident_config": write_config(tmp_path, call_link)}
    return await start_bot(settings.model_copy(update=update), fake_slack)


def call_bookmarks(fake_slack, incident) -> list[str]:
    return [b["link"] for b in fake_slack.channels[incident.channel_id].bookmarks if b["title"] == CALL_BOOKMARK_TITLE]


def control_text(fake_slack, incident) -> str:
    message = next(m for m in fake_slack.channels[incident.channel_id].messages if m["ts"] == incident.control_message_ts)
    return json.dumps(message["blocks"], ensure_ascii=False)


@pytest.mark.both_databases
async def test_the_service_bridge_is_bookmarked_once_and_on_the_control_message(settings, fake_slack, tmp_path):
    bot = await start(settings, fake_slack, tmp_path, call=BRIDGE, call_link={"generate": "jitsi", "jitsi_base_url": JITSI})
    try:
        incident = await open_incident(bot, "Checkout returns 500s sev:P1 service:checkout-web")
        assert call_bookmarks(fake_slack, incident) == [BRIDGE]
        assert f"📞 *Call:* <{BRIDGE}|Join the incident call>" in control_text(fake_slack, incident)
        await bot.slack.command("repair", channel=incident.channel_id)
        await bot.settle()
        assert call_bookmarks(fake_slack, incident) == [BRIDGE]
    finally:
        await bot.stop()


async def test_a_generated_jitsi_room_is_unguessable_per_incident_and_the_same_on_every_rebuild(settings, fake_slack, tmp_path):
    bot = await start(settings, fake_slack, tmp_path, call=None, call_link={"generate": "jitsi", "jitsi_base_url": JITSI + "/"})
    try:
        first = await open_incident(bot, "Checkout returns 500s sev:P1 service:checkout-web")
        [link] = call_bookmarks(fake_slack, first)
        assert re.fullmatch(rf"{re.escape(JITSI)}/Incident1-[a-z2-7]{{24}}", link), link
        assert f"<{link}|Join the incident call>" in control_text(fake_slack, first)
        await click(bot, first, "incident_acknowledge", "1", "U_BOB")  # the control message is rebuilt
        assert f"<{link}|Join the incident call>" in control_text(fake_slack, await bot.incident(1))
        await bot.slack.command("open Search is slow sev:P3", user="U_ALICE")  # no service: a room all the same
        await bot.settle()
        second = await bot.incident(2)
        [other] = call_bookmarks(fake_slack, second)
        assert other.startswith(f"{JITSI}/Incident2-") and other.split("-", 1)[1] != link.split("-", 1)[1]
    finally:
        await bot.stop()


async def test_a_private_incident_never_gets_the_shared_bridge(settings, fake_slack, tmp_path):
    bot = await start(settings, fake_slack, tmp_path, call=BRIDGE, call_link={"generate": "jitsi", "jitsi_base_url": JITSI})
    try:
        incident = await open_incident(bot, "Payroll sent twice private sev:P1 service:checkout-web")
        assert incident.is_private
        [link] = call_bookmarks(fake_slack, incident)
        assert link.startswith(f"{JITSI}/Incident1-") and BRIDGE not in control_text(fake_slack, incident)
    finally:
        await bot.stop()


async def test_without_a_bridge_or_generation_there_is_no_call_link(settings, fake_slack, tmp_path):
    bot = await start(settings, fake_slack, tmp_path, call=BRIDGE, call_link=None)
    try:
        incident = await open_incident(bot, "Payroll sent twice private sev:P1 service:checkout-web")
        assert call_bookmarks(fake_slack, incident) == [] and "Call:" not in control_text(fake_slack, incident)
    finally:
        await bot.stop()


@pytest.mark.parametrize(
    ("call_link", "message"),
    [
        ({"generate": "zoom"}, "call_link.generate: Input should be 'jitsi' or 'none'"),
        (
            {"generate": "jitsi", "jitsi_base_url": "http://jitsi.example.org"},
            "call_link.jitsi_base_url: 'http://jitsi.example.org' is not an https URL",
        ),
        ({"jitsi": "yes"}, "call_link.jitsi: Extra inputs are not permitted"),
    ],
)
def test_a_wrong_call_link_setting_is_refused_naming_the_field(tmp_path, call_link, message):
    with pytest.raises(TeamConfigError) as refused:
        load_team_config(write_config(tmp_path, call_link))
    assert message in str(refused.value)


def test_a_bridge_that_is_not_an_https_url_is_refused_naming_the_line_and_field(tmp_path):
    path = write_catalog(tmp_path, "http://bridge.shopwise.example/storefront")
    with pytest.raises(CatalogError) as refused:
        load_catalog(path, required=True)
    assert re.search(
        rf"{re.escape(str(path))}:\d+: services\[0\]\.call: 'http://bridge\.shopwise\.example/storefront' is not an https URL",
        str(refused.value),
    )
