"""Queries on deploys and their links to incidents. Callers own the transaction (see Database.transaction)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Executable, Select, bindparam, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import insert_for_dialect
from storage.models import Deploy, IncidentDeploy

T = TypeVar("T", bound=Any)

_NEWEST_FIRST = (Deploy.deployed_at.desc(), Deploy.id.desc())


async def find_same(session: AsyncSession, deploy: Deploy) -> Deploy | None:
    """The stored deploy with the same identity (service, version, environment, deployed_at)."""
    return await session.scalar(
        select(Deploy).where(
            Deploy.service == deploy.service,
            Deploy.version == deploy.version,
            Deploy.environment == deploy.environment,
            Deploy.deployed_at == deploy.deployed_at,
        )
    )


async def insert_once(session: AsyncSession, deploy: Deploy) -> tuple[Deploy, bool]:
    """Store ``deploy`` unless the same deploy is stored; returns the stored row and whether this call added it.

    Looking first keeps PostgreSQL's id sequence free of gaps from repeated webhooks. The unique
    constraint decides a race: the loser's insert fails inside a SAVEPOINT, which is rolled back
    alone (the caller's transaction goes on), and the winner's row is read back.
    """
    existing = await find_same(session, deploy)
    if existing is not None:
        return existing, False
    try:
        async with session.begin_nested():
            session.add(deploy)
            await session.flush()
    except IntegrityError:
        existing = await find_same(session, deploy)
        if existing is None:  # some other constraint: not a duplicate, so not ours to hide
            raise
        return existing, False
    return deploy, True


async def newest(session: AsyncSession, service: str, environment: str) -> Deploy | None:
    """The latest deploy of ``service`` to ``environment``, by when it was deployed."""
    return await session.scalar(
        select(Deploy).where(Deploy.service == service, Deploy.environment == environment).order_by(*_NEWEST_FIRST).limit(1)
    )


async def get(session: AsyncSession, deploy_id: int) -> Deploy | None:
    return await session.get(Deploy, deploy_id)


async def in_window(
    session: AsyncSession,
    services: list[str],
    start: datetime,
    end: datetime,
    *,
    environment: str | None = None,
) -> list[Deploy]:
    """Deploys to any of ``services`` with start <= deployed_at <= end (both inclusive), newest first."""
    if not services:
        return []
    return list(await session.scalars(*_IN_WINDOW.statement(services, start, end, environment=environment)))


class InWindowQuery(Generic[T]):
    """``query`` narrowed to the deploys ``in_window`` returns, in its order, built once (with and
    without an environment) with its values left as parameters, for the ORM and for Core: an open
    correlates its deploys in the transaction its war room's channel waits for."""

    def __init__(self, query: Select[T]) -> None:
        narrowed = query.where(
            Deploy.service.in_(bindparam("services", expanding=True)),
            Deploy.deployed_at >= bindparam("start"),
            Deploy.deployed_at <= bindparam("end"),
        )
        self._built = {
            False: narrowed.order_by(*_NEWEST_FIRST),
            True: narrowed.where(Deploy.environment == bindparam("environment")).order_by(*_NEWEST_FIRST),
        }

    def statement(
        self, services: list[str], start: datetime, end: datetime, *, environment: str | None
    ) -> tuple[Select[T], dict[str, Any]]:
        """The statement and its values."""
        parameters: dict[str, Any] = {"services": sorted(set(services)), "start": start, "end": end}
        if environment is not None:
            parameters["environment"] = environment
        return self._built[environment is not None], parameters


_IN_WINDOW = InWindowQuery(select(Deploy))


async def recent(
    session: AsyncSession,
    service: str | None,
    since: datetime,
    *,
    environment: str | None = None,
    limit: int | None = None,
) -> list[Deploy]:
    """Deploys at or after ``since`` (of one service, or of all when None), newest first."""
    query = select(Deploy).where(Deploy.deployed_at >= since)
    if service is not None:
        query = query.where(Deploy.service == service)
    if environment is not None:
        query = query.where(Deploy.environment == environment)
    query = query.order_by(*_NEWEST_FIRST)
    if limit is not None:
        query = query.limit(limit)
    return list(await session.scalars(query))


async def link_to_incident(session: AsyncSession, incident_id: int, deploy_ids: Iterable[int], *, replace: bool = False) -> None:
    """Link deploys to an incident; a link that exists already is left alone (idempotent, race-safe).

    With ``replace`` the incident's links become exactly ``deploy_ids``: links to other deploys
    are removed (a re-run of the correlation after the impact start changed).
    """
    for statement in link_statements(session.get_bind().dialect.name, incident_id, deploy_ids, replace=replace):
        await session.execute(statement)


def link_statements(dialect: str, incident_id: int, deploy_ids: Iterable[int], *, replace: bool) -> list[Executable]:
    """The statements of ``link_to_incident``, in order (for the ORM and for Core)."""
    ids = sorted(set(deploy_ids))
    statements: list[Executable] = []
    if replace:
        stale = delete(IncidentDeploy).where(IncidentDeploy.incident_id == incident_id)
        if ids:
            stale = stale.where(IncidentDeploy.deploy_id.not_in(ids))
        statements.append(stale)
    if ids:
        rows = [{"incident_id": incident_id, "deploy_id": deploy_id} for deploy_id in ids]
        # ON CONFLICT DO NOTHING: a concurrent linker of the same pair is not an error on either backend.
        statements.append(insert_for_dialect(dialect)(IncidentDeploy).values(rows).on_conflict_do_nothing())
    return statements


def for_incident_query(incident_id: int) -> Select[Deploy]:
    """The deploys linked to an incident, newest first."""
    return (
        select(Deploy)
        .join(IncidentDeploy, IncidentDeploy.deploy_id == Deploy.id)
        .where(IncidentDeploy.incident_id == incident_id)
        .order_by(*_NEWEST_FIRST)
    )


async def for_incident(session: AsyncSession, incident_id: int) -> list[Deploy]:
    return list(await session.scalars(for_incident_query(incident_id)))


async def count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count(Deploy.id))) or 0)
