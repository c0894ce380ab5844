"""What happens after a command, button, form or alert is acknowledged: the flows that record,
call Slack and tell the person.

One class per subject, each in the module of its name; ``Interactions`` holds one of each, built
by ``bot.runtime``. Where a request goes (handlers/ maps Slack's requests onto these):

- opening: ``/incident open``, the open form and its deploy choice, an alert's war room
- phase_stamps: the phase buttons, Acknowledge (``ack``), Reopen (``reopen``)
- notes: ``note``, ``update``, the "Add to incident timeline" shortcut
- roles_and_severity: ``role``, the role pickers, ``severity``
- handovers: ``handover``, the "Hand over" button and form, Accept and Decline on the new commander's DM
- break_glass: ``breakglass``
- time_corrections: the "Edit times" button and form
- action_item_tracking: ``action``, ``actions``, the "Add action item" button and form, "Done"
- runbook_checklists: ``runbook``, ticking a checklist box
- runbook_action_clicks: a runbook action's button, and *Run again* on its result
- deploy_records: ``deploy``, ``deploys``
- readouts: ``status``, ``stats``, the App Home tab
- repairs: ``repair`` (and ``incident-bot repair``)
- catchup: the catch-up shown to whoever joins a war room, ``catchup``, ``question``, ``answer``

Shared by all: replies (who asked, answering them) and lookup (which incident, may they).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.interactions.action_item_tracking import ActionItemTracking
from bot.interactions.break_glass import BreakGlass
from bot.interactions.catchup import CatchUps
from bot.interactions.deploy_records import DeployRecords
from bot.interactions.handovers import Handovers
from bot.interactions.notes import Notes
from bot.interactions.opening import Opening
from bot.interactions.phase_stamps import PhaseStamps
from bot.interactions.readouts import Readouts
from bot.interactions.repairs import Repairs
from bot.interactions.replies import Replies
from bot.interactions.roles_and_severity import RolesAndSeverity
from bot.interactions.runbook_action_clicks import RunbookActionClicks
from bot.interactions.runbook_checklists import RunbookChecklists
from bot.interactions.time_corrections import TimeCorrections


@dataclass(frozen=True)
class Interactions:
    replies: Replies
    opening: Opening
    phase_stamps: PhaseStamps
    notes: Notes
    roles_and_severity: RolesAndSeverity
    handovers: Handovers
    break_glass: BreakGlass
    time_corrections: TimeCorrections
    action_items: ActionItemTracking
    runbooks: RunbookChecklists
    runbook_actions: RunbookActionClicks
    deploys: DeployRecords
    readouts: Readouts
    repairs: Repairs
    catchups: CatchUps
