"""Outbound pages of an incident. The unique (incident, key) row decides which process sends a page;
an UPDATE conditional on the claim's age and token takes over one whose process died mid-send."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import insert_with_on_conflict, rows_changed
from storage.models import Page, TimelineEvent

SENDING, SENT, FAILED = "sending", "sent", "failed"


@dataclass(frozen=True)
class PageClaim:
    """Which page this is: each field is the column of ``pages`` it is written to."""

    incident_id: int
    key: str
    via: str
    action: str
    level: int
    dedup_key: str


async def claim(session: AsyncSession, page: PageClaim, *, token: str, at: datetime, stale_before: datetime) -> bool:
    """True when this caller now holds the page and must send it: nobody claimed it before, or the
    process that did stopped before it recorded an answer and its lease ran out. False when it
    was sent, failed for good, or is being sent right now by another process."""
    insert = insert_with_on_conflict(session)
    inserted = await session.execute(
        insert(Page)
        .values(**asdict(page), status=SENDING, token=token, claimed_at=at)
        .on_conflict_do_nothing(index_elements=["incident_id", "key"])
    )
    if rows_changed(inserted) == 1:
        return True
    taken_over = await session.execute(
        update(Page)
        .where(Page.incident_id == page.incident_id, Page.key == page.key, Page.status == SENDING, Page.claimed_at < stale_before)
        .values(token=token, claimed_at=at)
    )
    return rows_changed(taken_over) == 1


async def finish(session: AsyncSession, incident_id: int, key: str, *, token: str, status: str, at: datetime, reason: str | None) -> bool:
    """Record the answer of a page this caller holds; False when another took it over meanwhile."""
    result = await session.execute(
        update(Page)
        .where(Page.incident_id == incident_id, Page.key == key, Page.token == token)
        .values(status=status, finished_at=at, reason=reason[:500] if reason else None)
    )
    return rows_changed(result) == 1


async def incident_paged_as(session: AsyncSession, dedup_key: str) -> int | None:
    """The incident the bot paged PagerDuty for under ``dedup_key`` (PagerDuty's incident_key)."""
    row = (
        await session.execute(
            select(Page.incident_id).where(Page.dedup_key == dedup_key, Page.via == "pagerduty", Page.action == "trigger").limit(1)
        )
    ).scalar_one_or_none()
    return row


async def reopen_count(session: AsyncSession, incident_id: int) -> int:
    """How many times the incident was reopened: each reopening pages afresh."""
    count = await session.execute(
        select(func.count()).select_from(TimelineEvent).where(TimelineEvent.incident_id == incident_id, TimelineEvent.kind == "reopened")
    )
    return int(count.scalar_one())


async def for_incident(session: AsyncSession, incident_id: int) -> list[Page]:
    return list((await session.execute(select(Page).where(Page.incident_id == incident_id).order_by(Page.id))).scalars())
