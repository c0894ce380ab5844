"""Correcting phase times: "Edit times", the checks, the audit trail, and where a correction shows."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import pytest

from bot.core.phases import Stamp
from bot.incidents.corrections import CorrectionErrors, plan_correction
from storage import audit
from storage import incidents as rows
from tests.command_line import run_installed
from tests.team_helpers import ADMIN, T0, bot, click, clock, last_reply, open_incident  # noqa: F401 (fixtures)


async def resolved_incident(bot, clock):
    """Impact and detection at 14:00; diagnosed 14:05, mitigated 14:08 (Bob), verified 14:18 (Alice)."""
    incident = await open_incident(bot)
    await click(bot, incident, "stamp_phase_diagnosed", "1", "U_BOB", action_ts=clock.at(5))
    await click(bot, incident, "stamp_phase_mitigated", "1", "U_BOB", action_ts=clock.at(8))
    await click(bot, incident, "stamp_phase_verified", "1", "U_ALICE", action_ts=clock.at(18))
    clock.at(60)
    return await bot.incident(1)


async def open_edit_form(bot, incident, user: str) -> dict | None:
    before = len(bot.fake.calls_to("views.open"))
    await click(bot, incident, "edit_times", str(incident.id), user)
    if len(bot.fake.calls_to("views.open")) == before:
        return None
    return list(bot.fake.views.values())[-1]  # as Slack stores it, with its id


def at(minutes: float) -> int:
    return int((T0 + timedelta(minutes=minutes)).timestamp())


def form_values(times: dict[str, int], reason: str | None) -> dict:
    values = {f"time_{name}": {f"time_{name}": {"type": "datetimepicker", "selected_date_time": epoch}} for name, epoch in times.items()}
    values["reason"] = {"reason": {"type": "plain_text_input", "value": reason}}
    return values


UNCHANGED = {"started": at(0), "detected": at(0), "diagnosed": at(5), "mitigated": at(8), "verified": at(18)}


async def submit(bot, view: dict, changes: dict[str, int], reason: str | None, user: str = "U_ALICE"):
    response = await bot.slack.view_submission(view, form_values(UNCHANGED | changes, reason), user=user)
    assert response.status == 200
    await bot.settle()
    return response.json() if response.text else None


async def state(bot):
    async with bot.runtime.db.reading() as session:
        trail = await audit.trail(session, 1)
    return await bot.incident(1), len(await bot.timeline(1)), len(trail)


async def test_only_the_commander_and_admins_may_open_edit_times(bot, fake_slack, clock):
    incident = await resolved_incident(bot, clock)
    assert await open_edit_form(bot, incident, "U_BOB") is None
    assert last_reply(fake_slack) == (
        "Only the incident commander (<@U_ALICE>) and the incident admins (<!subteam^S0ADMINS>) may correct phase times "
        "in INC-1. Nothing changed."
    )
    view = await open_edit_form(bot, incident, "U_ALICE")
    assert view["callback_id"] == "edit_times_modal"
    pickers = {
        b["block_id"]: b["element"]["initial_date_time"]
        for b in view["blocks"]
        if b["type"] == "input" and b["block_id"].startswith("time_")
    }
    assert pickers == {f"time_{k}": v for k, v in UNCHANGED.items()}
    assert await open_edit_form(bot, incident, ADMIN) is not None


async def test_a_correction_must_keep_order_not_be_in_the_future_and_have_a_reason(bot, fake_slack, clock):
    incident = await resolved_incident(bot, clock)
    view = await open_edit_form(bot, incident, "U_ALICE")
    before = await state(bot)

    answer = await submit(bot, view, {"diagnosed": at(10)}, "clicked late")
    assert answer["response_action"] == "errors"
    assert answer["errors"] == {"time_mitigated": "Mitigated can't be before diagnosed (2026-11-23 14:10:00 UTC): phases stay in order."}
    answer = await submit(bot, view, {"verified": at(24 * 60)}, "clicked late")
    assert answer["errors"] == {"time_verified": "That is in the future; pick a time before now."}
    answer = await submit(bot, view, {"diagnosed": at(3)}, "   ")
    assert answer["errors"] == {"reason": "Say why the times are corrected; it goes to the audit trail."}
    answer = await submit(bot, view, {}, "nothing really")
    assert answer["errors"] == {"reason": "No time was changed; change a time or cancel."}
    answer = await submit(bot, view, {"diagnosed": at(3)}, "clicked late", user="U_BOB")  # not the commander
    assert answer["errors"]["reason"].startswith("Only the incident commander (<@U_ALICE>)")
    assert await state(bot) == before


@pytest.mark.slow
async def test_a_correction_is_audited_and_shows_in_the_summary_and_postmortem(
    bot, fake_slack, clock, announce_channel, settings, incident
):
    opened = await resolved_incident(bot, clock)
    view = await open_edit_form(bot, opened, "U_ALICE")
    assert await submit(bot, view, {"diagnosed": at(3)}, "Cause was in the logs at 14:03; the button was clicked late") is None

    row = await bot.incident(1)
    assert row.timeline.get(Stamp.DIAGNOSED).at == T0 + timedelta(minutes=3)
    assert row.timeline.get(Stamp.DIAGNOSED).by == "U_BOB"  # who stamped it stays; the audit says who corrected it
    async with bot.runtime.db.reading() as session:
        [record] = await audit.trail(session, 1)
        stored = await rows.postmortem(session, 1)
    assert (record.action, record.field, record.actor, record.at) == ("correct_time", "diagnosed", "U_ALICE", clock.now)
    assert (record.old_value, record.new_value) == ((T0 + timedelta(minutes=5)).isoformat(), (T0 + timedelta(minutes=3)).isoformat())
    assert record.reason == "Cause was in the logs at 14:03; the button was clicked late"
    event = (await bot.timeline(1))[-1]
    assert event.kind == "time_corrected" and event.actor == "U_ALICE"

    for channel in (opened.channel_id, announce_channel):
        summary = next(m for m in fake_slack.channels[channel].messages if "restored in" in str(m.get("blocks")))
        text = str(summary["blocks"])
        assert "Times corrected" in text
        assert "Diagnosed corrected from 2026-11-23 14:05:00 UTC to 2026-11-23 14:03:00 UTC by <@U_ALICE>" in text
        assert "Diagnose        3 min" in text  # the figures use the corrected time
    assert "## Corrected times" in stored.markdown
    assert "| Diagnose | 3 min |" in stored.markdown
    war_room = fake_slack.channels[opened.channel_id].messages[-1]["text"]
    assert war_room.startswith("✏️ <@U_ALICE> corrected *diagnosed* from 2026-11-23 14:05:00 UTC to 2026-11-23 14:03:00 UTC")

    # incident-bot audit INC-1 prints the trail (the console script's one run as a process)
    done = await asyncio.to_thread(run_installed, Path("/tmp"), "audit", "INC-1", DATABASE_URL=settings.database_url)
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    assert line.startswith(
        "2026-11-23 15:00:00 UTC  INC-1    correct_time diagnosed: 2026-11-23T14:05:00+00:00 -> 2026-11-23T14:03:00+00:00  by U_ALICE"
    )
    assert line.endswith("reason: Cause was in the logs at 14:03; the button was clicked late")
    done = await incident.in_thread(Path("/tmp"), "audit", "--format", "json", DATABASE_URL=settings.database_url)
    assert [r["field"] for r in json.loads(done.stdout)] == ["diagnosed"]


@pytest.mark.both_databases
async def test_a_stale_form_changes_nothing(bot, fake_slack, clock):
    incident = await open_incident(bot)
    await click(bot, incident, "stamp_phase_diagnosed", "1", "U_BOB", action_ts=clock.at(5))
    view = await open_edit_form(bot, incident, "U_ALICE")
    await click(bot, incident, "stamp_phase_mitigated", "1", "U_BOB", action_ts=clock.at(8))  # the form does not show it
    before = await state(bot)
    response = await bot.slack.view_submission(
        view, form_values({"started": at(0), "detected": at(0), "diagnosed": at(4)}, "late click"), user="U_ALICE"
    )
    assert response.json()["errors"]["reason"].startswith("The times changed since this form was opened")
    assert await state(bot) == before


def test_plan_correction_keeps_untouched_minutes_and_orders_every_phase():
    original = {"started": T0, "detected": T0 + timedelta(seconds=30), "diagnosed": T0 + timedelta(minutes=5, seconds=12)}
    # The picker gives whole minutes: an untouched field is no change.
    submitted = {"started": T0, "detected": T0, "diagnosed": T0 + timedelta(minutes=5)}
    with pytest.raises(CorrectionErrors) as problem:
        plan_correction(original, submitted, "x", now=T0 + timedelta(hours=1))
    assert problem.value.errors == {"reason": "No time was changed; change a time or cancel."}
    plan = plan_correction(
        original, submitted | {"started": T0 - timedelta(minutes=10)}, "impact began earlier", now=T0 + timedelta(hours=1)
    )
    assert plan.changes == {"started": (T0, T0 - timedelta(minutes=10))}
    with pytest.raises(CorrectionErrors) as problem:
        plan_correction(original, submitted | {"started": T0 + timedelta(minutes=6)}, "x", now=T0 + timedelta(hours=1))
    assert set(problem.value.errors) == {"time_detected"}


def shown_times(view: dict) -> dict[str, int]:
    """What each picker of the form holds when nobody touches it: its initial time, as Slack sends it back."""
    shown = {}
    for block in view["blocks"]:
        element = block.get("element") or {}
        if element.get("type") == "datetimepicker":
            shown[element["action_id"].removeprefix("time_")] = element["initial_date_time"]
    return shown


async def test_edit_times_records_only_the_times_changed_and_keeps_implied_marks(bot, fake_slack, clock):
    # Stamps with seconds and microseconds, as clicks make them; diagnosed is implied by mitigated.
    incident = await open_incident(bot)
    await click(bot, incident, "stamp_phase_mitigated", "1", "U_BOB", action_ts=clock.at(8.0345))
    await click(bot, incident, "stamp_phase_verified", "1", "U_ALICE", action_ts=clock.at(18.0234))
    clock.at(60)
    incident = await bot.incident(1)
    assert incident.timeline.get(Stamp.DIAGNOSED).implied
    view = await open_edit_form(bot, incident, "U_ALICE")
    untouched = shown_times(view)
    assert set(untouched) == {"started", "detected", "diagnosed", "mitigated", "verified"}
    events_before = len(await bot.timeline(1))

    changed = untouched | {"started": at(-10)}
    response = await bot.slack.view_submission(view, form_values(changed, "impact began earlier"), user="U_ALICE")
    assert response.status == 200 and not response.text, response.text
    await bot.settle()

    async with bot.runtime.db.reading() as session:
        trail = await audit.trail(session, 1)
    assert [(r.field, r.old_value, r.new_value) for r in trail] == [("started", T0.isoformat(), (T0 - timedelta(minutes=10)).isoformat())]
    after = await bot.incident(1)
    assert after.timeline.get(Stamp.DIAGNOSED).implied  # untouched: still implied
    for stamp in (Stamp.DIAGNOSED, Stamp.MITIGATED, Stamp.VERIFIED):
        assert after.timeline.get(stamp).at == incident.timeline.get(stamp).at  # not even the microseconds moved
    [event] = (await bot.timeline(1))[events_before:][:1]
    assert event.kind == "time_corrected" and "→" in event.text and event.text.count("→") == 1
