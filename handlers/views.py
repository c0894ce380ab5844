"""Modal submissions."""

from __future__ import annotations

import json
import logging
from datetime import date, datetime

from pydantic import ValidationError
from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.core.command_text import FormErrors, OpenRequest, open_request_from_form
from bot.core.handover_notes import FORM_FIELDS, form_errors, note_from_form
from bot.core.text_input import row_number
from bot.incidents.action_items import ActionRequest
from bot.incidents.corrections import TIME_FIELDS
from bot.interactions.replies import Requester
from bot.interactions.time_corrections import epoch
from bot.runtime import Runtime
from bot.slack import messages
from bot.slack.blocks import ADD_ACTION_CALLBACK, DRILL_OPTION, EDIT_TIMES_CALLBACK, OPEN_MODAL_CALLBACK, PRIVATE_OPTION
from bot.slack.handover_messages import HANDOVER_CALLBACK
from handlers.after_ack import ack_once_recorded, recorded_in_time, run_after_ack, start_recording
from handlers.payloads import ViewSubmission

log = logging.getLogger(__name__)


def aware(value: object) -> datetime:
    """A time the bot wrote into private_metadata (ISO 8601 with its zone); ValueError otherwise."""
    if not isinstance(value, str):
        raise ValueError(f"{str(value)[:40]!r} is not a time")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"{value[:40]!r} has no time zone")
    return moment


def open_request_of(submission: ViewSubmission, *, started_epoch: int | None, now: datetime) -> OpenRequest:
    """The open form's answers as an incident to open; FormErrors names each field that is wrong."""
    return open_request_from_form(
        title=submission.text_value("title"),
        severity=submission.selected_value("severity"),
        service=submission.selected_value("service") or submission.text_value("service"),
        detection=submission.selected_value("detection"),
        started_epoch=started_epoch,
        now=now,
        private=PRIVATE_OPTION in submission.checked_values("visibility"),
        drill=DRILL_OPTION in submission.checked_values("drill"),
    )


async def _incident_form(ack: AsyncAck, body: dict, *, what: str, field: str, again: str) -> tuple[ViewSubmission, int] | None:
    """A submitted form about one incident and that incident's number (from the view's metadata);
    None once the form was told, under ``field``, that Slack sent it incomplete and how to try ``again``."""
    try:
        submission = ViewSubmission.model_validate(body)
        return submission, submission.metadata_number("incident_id")
    except (ValidationError, ValueError) as error:
        log.warning("malformed %s submission: %s", what, error)
        await ack(response_action="errors", errors={field: f"Slack sent an incomplete form; {again}"})
        return None


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
            started_epoch = submission.selected_date_time("started")
        except ValueError as error:
            log.warning("malformed open form: %s", error)
            await ack(response_action="errors", errors={"started": "Slack sent a time that cannot be; pick the time again."})
            return
        choice = submission.selected_value("impact_choice") or ""
        try:
            deploy_id = row_number(choice.removeprefix("deploy:")) if choice.startswith("deploy:") else None
        except ValueError as error:
            log.warning("malformed open form: %s", error)
            await ack(response_action="errors", errors={"impact_choice": "Slack sent a choice that is not on the list; pick again."})
            return
        try:
            request = open_request_of(submission, started_epoch=started_epoch, now=runtime.clock())
        except FormErrors as errors:
            await ack(response_action="errors", errors=errors.errors)
            return
        metadata = submission.metadata()
        requester = Requester(submission.user.id, metadata.get("channel_id") or None, metadata.get("response_url") or None)
        # The view id is the same for every submission of one form: a double click on Submit
        # therefore opens one incident.
        work = runtime.interactions.opening.from_form(
            requester, request, request_key=f"view:{submission.view.id}", impact_deploy_id=deploy_id
        )
        await ack_once_recorded(ack, runtime, requester, work, name="open-form")

    @app.view(EDIT_TIMES_CALLBACK)
    async def edit_times_submitted(ack: AsyncAck, body: dict) -> None:
        try:
            submission = ViewSubmission.model_validate(body)
            metadata = json.loads(submission.view.private_metadata)
            incident_id = row_number(metadata["incident_id"])
            original = {name: aware(value) for name, value in metadata["original"].items() if name in TIME_FIELDS}
            submitted = {}
            for name in original:
                moment = submission.selected_date_time(f"time_{name}")
                submitted[name] = epoch(moment) if moment is not None else None
        except (ValidationError, ValueError, KeyError, TypeError, AttributeError) as error:
            log.warning("malformed edit-times submission: %s", error)
            await ack(response_action="errors", errors={"reason": "Slack sent an incomplete form; close it and click Edit times again."})
            return
        requester = Requester(submission.user.id)
        # The form's answer (its errors, or closing it) depends on the write, so the listener
        # waits for the whole correction, within the same bound as any write.
        gate, correcting = start_recording(
            runtime,
            requester,
            runtime.interactions.time_corrections.correct(requester, incident_id, original, submitted, submission.text_value("reason")),
            name="correct-times",
        )
        gate.acked.set()  # the answer waits for the whole correction: the work has no ack to let go first
        if not await recorded_in_time(runtime, requester, gate, correcting, name="correct-times", tell=False):
            await ack(response_action="errors", errors={"reason": messages.not_recorded_in_time()})
            return
        outcome = await correcting
        if outcome is None:  # the database failed: nothing was recorded
            await ack(response_action="errors", errors={"reason": messages.database_unavailable()})
            return
        if outcome.errors:
            await ack(response_action="errors", errors=outcome.errors)
            return
        await ack()
        run_after_ack(runtime, requester, runtime.interactions.time_corrections.show(requester, outcome), name="correct-times")

    @app.view(ADD_ACTION_CALLBACK)
    async def add_action_submitted(ack: AsyncAck, body: dict) -> None:
        if (form := await _incident_form(ack, body, what="action-item", field="text", again="please add it again.")) is None:
            return
        submission, incident_id = form
        errors = {}
        text = (submission.text_value("text") or "").strip()
        if not text:
            errors["text"] = "Say what will be done."
        due = None
        if due_text := submission.selected_date("due"):
            try:
                due = date.fromisoformat(due_text)
            except ValueError:
                errors["due"] = "Pick a date."
            else:
                if due < runtime.clock().date():
                    errors["due"] = "That date is in the past; pick today or later."
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        requester = Requester(submission.user.id, submission.metadata().get("channel_id") or None)
        request = ActionRequest(text, submission.selected_user("owner"), due)
        work = runtime.interactions.action_items.add_from_form(requester, incident_id, request)
        await ack_once_recorded(ack, runtime, requester, work, name="add-action")

    @app.view(HANDOVER_CALLBACK)
    async def handover_submitted(ack: AsyncAck, body: dict) -> None:
        if (form := await _incident_form(ack, body, what="handover", field="to_user", again="click Hand over again.")) is None:
            return
        submission, incident_id = form
        values = {name: submission.text_value(name) for name, _label, _required in FORM_FIELDS}
        to_user = submission.selected_user("to_user")
        if errors := form_errors(values, to_user):
            await ack(response_action="errors", errors=errors)
            return
        assert to_user is not None  # form_errors names a missing one
        requester = Requester(submission.user.id, submission.metadata().get("channel_id") or None)
        # The view id is the same for every submission of one form: a double click on Submit hands over once.
        work = runtime.interactions.handovers.from_form(
            requester, incident_id, to_user, note_from_form(values), request_key=f"view:{submission.view.id}"
        )
        await ack_once_recorded(ack, runtime, requester, work, name="handover-form")
