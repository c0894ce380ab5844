"""The MTTR summary posted at resolution: every figure is a difference of two stamps.

time to restore = verified - started
phase duration  = its closing stamp - the previous stamp (detect starts at impact)
phase share     = phase duration / time to restore
slowest phase   = the longest phase (the earlier one on a tie)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from slack_sdk.models.blocks import ContextBlock, HeaderBlock, MarkdownTextObject, PlainTextObject, SectionBlock

from bot.core.phases import PHASES, Phase
from bot.core.records import IncidentRecord
from bot.core.text_input import escape
from bot.core.tiers import Tiering, TierTables, classify
from bot.core.timefmt import human_duration
from bot.slack.blocks import SEVERITY_EMOJI, within_message_limits

BAR_CELLS = 10
TIER_EMOJI = {"elite": "🏆", "high": "🟢", "medium": "🟡", "low": "🔴"}


@dataclass(frozen=True)
class PhaseFigure:
    phase: Phase
    duration: timedelta
    share: float | None  # None when time to restore is zero
    implied: bool  # the phase closed with an implied stamp


@dataclass(frozen=True)
class MttrSummary:
    reference: str
    title: str
    severity: str
    time_to_restore: timedelta
    phases: tuple[PhaseFigure, ...]
    slowest: Phase
    tiering: Tiering

    def figure(self, phase: Phase) -> PhaseFigure:
        return next(f for f in self.phases if f.phase is phase)


def summarize(incident: IncidentRecord, tables: TierTables) -> MttrSummary:
    timeline = incident.timeline
    restore = timeline.time_to_restore
    slowest = timeline.slowest_phase()
    if restore is None or slowest is None:
        raise ValueError(f"{incident.reference} is not restored yet")
    total = restore.total_seconds()
    figures = []
    for phase in PHASES:
        duration = timeline.duration(phase)
        assert duration is not None
        stamp = timeline.get(phase.ends_with)
        figures.append(
            PhaseFigure(
                phase=phase,
                duration=duration,
                share=duration.total_seconds() / total if total > 0 else None,
                implied=bool(stamp and stamp.implied),
            )
        )
    return MttrSummary(
        reference=incident.reference,
        title=incident.title,
        severity=incident.severity,
        time_to_restore=restore,
        phases=tuple(figures),
        slowest=slowest,
        tiering=classify(tables, incident.severity, restore),
    )


def bar(share: float | None) -> str:
    filled = round((share or 0) * BAR_CELLS)
    return "█" * filled + "░" * (BAR_CELLS - filled)


def percent(share: float | None) -> str:
    return "—" if share is None else f"{share * 100:.0f}%"


def phase_table(summary: MttrSummary) -> str:
    rows = []
    for figure in summary.phases:
        marks = []
        if figure.implied:
            marks.append("implied")
        if figure.phase is summary.slowest:
            marks.append("slowest")
        note = f"  ← {', '.join(marks)}" if marks else ""
        rows.append(f"{figure.phase.label:<9}{human_duration(figure.duration):>12}  {bar(figure.share)} {percent(figure.share):>4}{note}")
    return "\n".join(rows)


def tier_lines(summary: MttrSummary) -> list[str]:
    tiering = summary.tiering
    return [
        f"{TIER_EMOJI.get(tiering.dora.name, '')} DORA band ({tiering.dora_year} report): "
        f"*{tiering.dora.name.capitalize()}* ({tiering.dora_range})",
        f"{TIER_EMOJI.get(tiering.severity.name, '')} {tiering.severity_label}: "
        f"*{tiering.severity.name.capitalize()}* ({tiering.severity_range})",
    ]


def summary_text(summary: MttrSummary) -> str:
    return f"{summary.reference} resolved: time to restore {human_duration(summary.time_to_restore)}"


MAX_CORRECTION_LINES = 5


def summary_blocks(summary: MttrSummary, corrections: Sequence[str] = ()) -> list[dict[str, Any]]:
    """``corrections``: one line per corrected phase time (bot.incidents.corrections.correction_notes)."""
    slowest = summary.figure(summary.slowest)
    implied = [f.phase.label.lower() for f in summary.phases if f.implied]
    notes = [f"Slowest phase: *{slowest.phase.label}* ({human_duration(slowest.duration)}, {percent(slowest.share)})"]
    if implied:
        notes.append(
            f"_Implied:_ {', '.join(implied)} closed when a later phase was marked, so {'its' if len(implied) == 1 else 'their'} "
            "time counts in the next phase."
        )
    blocks = [
        HeaderBlock(text=PlainTextObject(text=f"✅ {summary.reference} restored in {human_duration(summary.time_to_restore)}", emoji=True)),
        SectionBlock(text=MarkdownTextObject(text=f"{SEVERITY_EMOJI[summary.severity]} *{escape(summary.title)}* ({summary.severity})")),
        SectionBlock(text=MarkdownTextObject(text=f"```{phase_table(summary)}```")),
        SectionBlock(text=MarkdownTextObject(text="\n".join(notes + tier_lines(summary)))),
        ContextBlock(
            elements=[
                MarkdownTextObject(text="Time to restore = verified − impact started; each phase runs from the previous stamp to its own.")
            ]
        ),
    ]
    if corrections:
        shown = list(corrections[-MAX_CORRECTION_LINES:])
        more = len(corrections) - len(shown)
        text = "✏️ *Times corrected* (the figures use the corrected times):\n" + "\n".join(f"• {line}" for line in shown)
        if more:
            text += f"\n…and {more} earlier"
        text += f"\nFull trail: `incident-bot audit {summary.reference}`"
        blocks.insert(4, SectionBlock(block_id="corrections", text=MarkdownTextObject(text=text[:3000])))
    return within_message_limits([b.to_dict() for b in blocks])
