"""Modal submissions."""

from __future__ import annotations

import logging

from pydantic import ValidationError
from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.blocks import OPEN_MODAL_CALLBACK
from bot.command_text import FormErrors, open_request_from_form
from bot.flows import Requester
from bot.runtime import Runtime
from handlers.after_ack import run_after_ack
from handlers.payloads import ViewSubmission

log = logging.getLogger(__name__)


def register(app: AsyncApp, runtime: Runtime) -> None:
    @app.view(OPEN_MODAL_CALLBACK)
    async def open_form_submitted(ack: AsyncAck, body: dict) -> None:
        try:
            submission = ViewSubmission.model_validate(body)
        except ValidationError as error:
            log.warning("malformed view_submission: %s", error)
            await ack(response_action="errors", errors={"title": "Slack sent an incomplete form; please submit again."})
            return
        try:
            request = open_request_from_form(
                title=submission.text_value("title"),
                severity=submission.selected_value("severity"),
                service=submission.selected_value("service") or submission.text_value("service"),
                detection=submission.selected_value("detection"),
                started_epoch=submission.selected_date_time("started"),
                now=runtime.clock(),
            )
        except FormErrors as errors:
            await ack(response_action="errors", errors=errors.errors)
            return
        await ack()
        metadata = submission.metadata()
        requester = Requester(
            submission.user.id, metadata.get("channel_id") or None, metadata.get("response_url") or None
        )
        # The view id is the same for every submission of one form: a double click on Submit
        # therefore opens one incident.
        choice = submission.selected_value("impact_choice") or ""
        deploy_id = int(choice.removeprefix("deploy:")) if choice.startswith("deploy:") and choice[7:].isdigit() else None
        work = runtime.flows.open_from_form(
            requester, request, request_key=f"view:{submission.view.id}", impact_deploy_id=deploy_id
        )
        run_after_ack(runtime, requester, work, name="open-form")
