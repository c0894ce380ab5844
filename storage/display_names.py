"""People's display names on file (bot/warroom/people_names.py). Callers own the session."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import insert_with_on_conflict
from storage.models import DISPLAY_NAME_LENGTH, DisplayName


async def learned_since(session: AsyncSession, user_ids: Collection[str], since: datetime) -> dict[str, str]:
    """The names on file of ``user_ids`` learned at ``since`` or later, by user ID."""
    if not user_ids:
        return {}
    query = select(DisplayName.user_id, DisplayName.name).where(DisplayName.user_id.in_(sorted(user_ids)), DisplayName.learned_at >= since)
    return {user_id: name for user_id, name in await session.execute(query)}


async def keep(session: AsyncSession, names: Mapping[str, str], at: datetime) -> None:
    """Put ``names`` on file as learned at ``at``, replacing what was on file for them (a name longer
    than the column is cut to fit: one such name must not keep the others off file)."""
    if not names:
        return
    insert = insert_with_on_conflict(session)(DisplayName).values(
        [{"user_id": user_id, "name": name[:DISPLAY_NAME_LENGTH], "learned_at": at} for user_id, name in sorted(names.items())]
    )
    upsert = insert.on_conflict_do_update(
        index_elements=["user_id"], set_={"name": insert.excluded.name, "learned_at": insert.excluded.learned_at}
    )
    await session.execute(upsert)


async def forget_learned_before(session: AsyncSession, before: datetime) -> None:
    """Delete the names learned before ``before``: too old to be used, and nobody's business."""
    await session.execute(delete(DisplayName).where(DisplayName.learned_at < before))
