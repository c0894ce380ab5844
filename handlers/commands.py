"""``/incident <subcommand>``: where every slash command goes."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from pydantic import ValidationError
from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.core.command_text import split_subcommand, unescape_slack
from bot.interactions.replies import Requester
from bot.runtime import Runtime
from bot.slack import messages
from handlers.after_ack import ack_once_recorded, run_after_ack
from handlers.payloads import SlashCommand

log = logging.getLogger(__name__)

MALFORMED = "Slack sent an incomplete command, so nothing was done. Please run it again."
# Subcommands that record something: acknowledged only once it is committed (with `open <title>`).
# A repair is Slack work, claimed step by step; it is acknowledged at once, like the reads.
RECORDING_SUBCOMMANDS = frozenset(
    {"note", "runbook", "deploy", "role", "severity", "update", "breakglass", "action", "ack", "reopen", "question", "answer"}
)
# Of those, the ones whose first transaction also records the request against replays (one
# commit before the ack, not two): they write and answer nothing before it but through the doors
# that wait for the answer (handlers/listeners.Button.records_request).
RECORDED_WITH_THEIR_REQUEST = frozenset({"note", "ack"})


def register(app: AsyncApp, runtime: Runtime) -> None:
    flows = runtime.interactions
    # Subcommands that take the rest of the text as their argument and answer after the ack.
    by_argument: dict[str, Callable[[Requester, str], Coroutine[Any, Any, None]]] = {
        "status": flows.readouts.status,
        "note": flows.notes.note,
        "runbook": flows.runbooks.attach,
        "deploy": flows.deploys.record,
        "deploys": flows.deploys.list_recent,
        "stats": flows.readouts.stats,
        "repair": flows.repairs.repair,
        "role": flows.roles_and_severity.role,
        "severity": flows.roles_and_severity.severity,
        "update": flows.notes.status_update,
        "breakglass": flows.break_glass.breakglass,
        "action": flows.action_items.add,
        "actions": flows.action_items.list_items,
        "ack": flows.phase_stamps.acknowledge,
        "reopen": flows.phase_stamps.reopen,
        "catchup": flows.catchups.catchup,
        "question": flows.catchups.question,
        "answer": flows.catchups.answer,
    }

    @app.command("/incident")
    async def incident_command(ack: AsyncAck, body: dict) -> None:
        try:
            command = SlashCommand.model_validate(body)
        except ValidationError as error:
            log.warning("malformed slash command: %s", error)
            await ack(text=MALFORMED)
            return
        subcommand, argument = split_subcommand(command.text)
        requester = Requester(command.user_id, command.channel_id, command.response_url)

        if subcommand in ("", "help"):
            await ack(text=messages.HELP)
        elif subcommand == "open":
            if argument.strip():
                work = flows.opening.from_text(requester, argument, request_key=f"command:{command.trigger_id}")
                # Recorded against replays in the incident's own transaction, as note and ack are:
                # before it the open only reads (the catalog, the opener's time zone, the people to invite).
                await ack_once_recorded(ack, runtime, requester, work, name="open", records_request=True)
            else:
                await ack()
                run_after_ack(runtime, requester, flows.opening.show_form(requester, command.trigger_id), name="open")
        elif subcommand == "handover":
            # The trigger ID is one per command: a retried delivery hands over once.
            work = flows.handovers.command(requester, argument, request_key=f"command:{command.trigger_id}")
            await ack_once_recorded(ack, runtime, requester, work, name="handover")
        elif subcommand in RECORDING_SUBCOMMANDS:
            await ack_once_recorded(
                ack,
                runtime,
                requester,
                by_argument[subcommand](requester, argument),
                name=subcommand,
                records_request=subcommand in RECORDED_WITH_THEIR_REQUEST,
            )
        elif subcommand in by_argument:
            await ack()
            run_after_ack(runtime, requester, by_argument[subcommand](requester, argument), name=subcommand)
        else:
            await ack(text=messages.unknown_subcommand(unescape_slack(subcommand)))
