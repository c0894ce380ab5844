"""Engine, sessions and the database URL rules."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from contextvars import ContextVar, Token
from pathlib import Path
from time import monotonic
from typing import Any, Protocol, TypeVar, cast

import aiosqlite
from sqlalchemy import Connection, CursorResult, Engine, Executable, Result, create_engine, event, text
from sqlalchemy.dialects.postgresql import Insert as PostgresqlInsert
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import ArgumentError, DisconnectionError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection
from sqlalchemy.sql.dml import UpdateBase

_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


T = TypeVar("T")


class DatabaseURLError(ValueError):
    pass


class TooLateToRecord(Exception):
    """The person was already told their request was not recorded (the database did not answer in
    time), so this write must not be committed: what they were told stays true."""


class ReplayedRequest(Exception):
    """The request being handled is a copy of one taken before (bot/slack/request_replays.py): its
    work stops here, having written nothing and said nothing."""


class RequestRecord(Protocol):
    """The record, against replays, of the Slack request whose work a ``CommitGate`` watches, when
    that work's first transaction writes it (``Database.run_transaction``): one commit before the
    ack, instead of the record's and then the write's, one after the other."""

    def take(self) -> Callable[[Statements], bool] | None:
        """The statement that records the request (False: a copy of it was recorded before), for
        the caller's transaction to run; None once another took it or a check of its own began."""

    def taken_with(self, first: bool | None) -> None:
        """What the transaction that took the record found; None: it failed, recording nothing."""

    async def first_copy(self) -> bool:
        """Whether the request is the first copy of it: the answer of the transaction that took
        the record, or of a check of its own, begun now unless one was."""


class CommitGate:
    """Ties a Slack request's acknowledgement to the first commit of the work it started.

    The listener waits on ``opened``: it opens when a transaction that wrote something has
    committed, or when the work has nothing to record (it answers the person, or ends). If the
    bound runs out first, the listener ``expire``s the gate and tells the person nothing was
    recorded; every write of that work is then rolled back instead of committed. A commit
    already on its way when the gate expired cannot be called back: ``on_late_commit`` then
    tells the person it was recorded after all. Once the gate opened, the work awaits
    ``after_recorded`` (once) before it goes on: the rest of it may queue like any work after an ack."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()
        self.acked = asyncio.Event()  # the listener has acknowledged the request
        self.expired = False
        self.committed = False
        self.on_late_commit: Callable[[], None] | None = None
        self.after_recorded: Callable[[], Awaitable[None]] | None = None
        # Set when the work's first transaction records its request against replays: the work is
        # not held until a check of its own says it is no replay, so anything else it writes or
        # says before that transaction waits for the answer first (stop_if_replayed).
        self.request: RequestRecord | None = None
        _gates_awaiting.add(self)

    def stop_awaiting(self) -> None:
        """The request no longer waits on this gate: it opened or expired, or the listener is done."""
        _gates_awaiting.discard(self)

    async def stop_if_replayed(self) -> None:
        """Before the work writes other than through the transaction that records its request, or
        answers: a replay goes no further. Free once the answer is known."""
        if self.request is not None and not await self.request.first_copy():
            raise ReplayedRequest("a copy of this request was taken before")

    async def go_on(self) -> None:
        then, self.after_recorded = self.after_recorded, None
        if then is not None:
            await then()

    def open(self) -> None:
        self.opened.set()
        self.stop_awaiting()

    def expire(self) -> bool:
        """Give up waiting; False when the gate opened first (the answer is then "recorded")."""
        if self.opened.is_set():
            return False
        self.expired = True
        self.stop_awaiting()
        return True

    def check_may_commit(self) -> None:
        if self.expired and not self.committed:
            raise TooLateToRecord("the person was told this was not recorded")

    def record_commit(self) -> None:
        if self.expired and not self.committed and self.on_late_commit is not None:
            self.on_late_commit()
        self.committed = True
        self.opened.set()
        self.stop_awaiting()


_commit_gate: ContextVar[CommitGate | None] = ContextVar("commit_gate", default=None)
# The gates whose requests wait for a commit right now, in this process: a SQLite transaction an ack
# waits for lets the others' transactions join it only when there are others (_CommitsTogether).
# Weak: a gate dropped without a word (a test's, a cancelled listener's) stops counting.
_gates_awaiting: weakref.WeakSet[CommitGate] = weakref.WeakSet()


def gate_commits(gate: CommitGate) -> Token[CommitGate | None]:
    """Make ``gate`` watch the commits of work started from now on in this context (tasks copy
    it); returns the token for ``ungate_commits``."""
    return _commit_gate.set(gate)


def ungate_commits(token: Token[CommitGate | None]) -> None:
    _commit_gate.reset(token)


async def recording_done() -> None:
    """The current work has committed what its request must not lose, or found it has nothing to
    record (a refusal, an answer): the request may be acknowledged now."""
    gate = _commit_gate.get()
    if gate is not None:
        await gate.stop_if_replayed()
        gate.open()
        await gate.go_on()


@contextlib.contextmanager
def outside_commit_gates() -> Iterator[None]:
    """Writes made inside (and by tasks started inside) record nothing of the current request: the
    bot's bookkeeping, and the request's own record against replays, which the request's work may
    be waiting for. Never the commit an acknowledgement waits for."""
    token = _commit_gate.set(None)
    try:
        yield
    finally:
        _commit_gate.reset(token)


def _awaiting_first_commit() -> CommitGate | None:
    gate = _commit_gate.get()
    return gate if gate is not None and not gate.committed else None


class _WriteTrackingSession(Session):
    """Knows whether it wrote anything, so a read in a transaction does not count as the commit a
    request's acknowledgement waits for."""


@event.listens_for(_WriteTrackingSession, "after_flush")
def _flushed(session: Session, _context: UOWTransaction) -> None:
    session.info["wrote"] = True


@event.listens_for(_WriteTrackingSession, "do_orm_execute")
def _executed(state: ORMExecuteState) -> None:
    if not state.is_select:
        state.session.info["wrote"] = True


class Statements:
    """One transaction's statements on a plain (synchronous) connection: SQLAlchemy Core only, for
    the hot path of a click (``Database.run_transaction``). No ORM session, so no identity map,
    unit of work or flush between the statements; each statement is compiled once per shape and
    then taken from the engine's cache (on PostgreSQL, from asyncpg's prepared statements too).
    Knows whether it wrote anything, as ``_WriteTrackingSession`` does, for the same reason."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self.wrote = False

    @property
    def dialect(self) -> Dialect:
        return self._connection.dialect

    def execute(self, statement: Executable, parameters: list[dict[str, Any]] | dict[str, Any] | None = None) -> CursorResult[Any]:
        if isinstance(statement, UpdateBase):
            self.wrote = True
        return self._connection.execute(statement, parameters)


def async_database_url(url: str, *, base_dir: Path | None = None) -> str:
    """Give a plain sqlite:// or postgresql:// URL its asyncio driver.

    Relative SQLite paths are made absolute against ``base_dir`` (the working directory at
    start-up), so the file does not move when something later changes directory.
    """
    try:
        parsed = make_url(url.strip())
    except ArgumentError as exc:
        raise DatabaseURLError(f"not a database URL ({exc})") from None
    driver = _ASYNC_DRIVERS.get(parsed.drivername)
    if driver is None:
        raise DatabaseURLError(
            f"unsupported database '{parsed.drivername}'; use sqlite:///path/to/file.db or postgresql://user:password@host:5432/dbname"
        )
    parsed = parsed.set(drivername=driver)
    if driver.startswith("sqlite"):
        database = parsed.database or ""
        if database in ("", ":memory:"):
            raise DatabaseURLError(
                "an in-memory SQLite database would lose every incident on restart; use a file such as sqlite:///incidents.db"
            )
        path = Path(database)
        if not path.is_absolute():
            path = (base_dir or Path.cwd()) / path
        parsed = parsed.set(database=str(path))
    return parsed.render_as_string(hide_password=False)


# How long a connection to a new SQLite file waits for another process to finish putting it in WAL
# mode, and how often it looks again: SQLite answers "database is locked" at once, without its busy
# handler, to a switch of the journal mode while another connection switches it or holds the file;
# two `serve` processes started together on a new file had one of them exit.
WAL_SWITCH_WAIT_SECONDS = 30.0
WAL_SWITCH_RETRY_SECONDS = 0.01


def _into_wal_mode(cursor: Any) -> None:
    """PRAGMA journal_mode=WAL, tried again while another connection holds the file. A file in WAL
    mode stays so: once it is, this is one statement that finds it so."""
    deadline = monotonic() + WAL_SWITCH_WAIT_SECONDS
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if not _held_by_another(error) or monotonic() > deadline:
                raise
        _pause(WAL_SWITCH_RETRY_SECONDS)


def _pause(seconds: float) -> None:
    # A blocking pause, on the connection's thread or (aiosqlite's events) the event loop's: only a
    # new file opened by two processes at once ever pauses, before either serves anything.
    time.sleep(seconds)


# How much of a SQLite file is read through a memory map: a history of 100,000 incidents with
# their deploys, twice over.
SQLITE_MMAP_BYTES = 256 * 1024 * 1024


def _configure_sqlite(engine: Engine, *, waits_for_the_lock: bool = True) -> None:
    """``waits_for_the_lock=False``: for the connection used on the event loop's own thread, which
    must never wait for another process's write lock (it fails at once instead) nor checkpoint the
    WAL (a checkpoint writes and syncs pages: the other connections do it when they commit)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        # Take over transaction control from pysqlite so that every transaction starts with
        # BEGIN IMMEDIATE: two writers then queue on the lock instead of failing half-way
        # with "database is locked" when a read transaction tries to become a write.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        _into_wal_mode(cursor)
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={30000 if waits_for_the_lock else 0}")
        if not waits_for_the_lock:
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        # Reads through a memory map instead of a read() call per page: the report's ten aggregates
        # over 100,000 incidents (a 128 MB file) took 78 ms instead of 101, count(*) 9 ms instead
        # of 18. The file's pages are the system's page cache, shared, not this process's memory.
        cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # Readers (reports, exports) take no write lock, so a long report never holds up a stamp.
        read_only = connection.get_execution_options().get("read_only", False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


# Connections each process keeps to PostgreSQL (SQLAlchemy's pool_size).
POSTGRES_POOL_SIZE = 10

# A pooled PostgreSQL connection unused for longer than this is pinged before it is handed out: a
# proxy or firewall may have dropped it without a word. A busy pool is never pinged.
IDLE_PING_AFTER = 30.0


def _check_postgres_checkouts(engine: AsyncEngine) -> None:
    """What ``pool_pre_ping`` does, without its three round trips (BEGIN, SELECT, ROLLBACK) on every
    checkout. A server restart closes every socket, which asyncpg notices at once: such a
    connection is replaced before anyone uses it, at no cost. Only a connection idle long enough
    to have been dropped silently is pinged."""

    @event.listens_for(engine.sync_engine, "checkin")
    def _on_checkin(_dbapi_connection: DBAPIConnection | None, record: ConnectionPoolEntry) -> None:
        record.info["idle_since"] = monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection) -> None:
        if dbapi_connection.driver_connection.is_closed():
            raise DisconnectionError("the database closed this connection")
        if monotonic() - record.info.get("idle_since", monotonic()) > IDLE_PING_AFTER:
            try:
                dbapi_connection.ping()
            except Exception as error:
                raise DisconnectionError(f"an idle connection did not answer: {error}") from error


def insert_with_on_conflict(session: AsyncSession) -> Callable[[type[Any]], PostgresqlInsert | SqliteInsert]:
    """The session's database's own INSERT construct, the one with ``on_conflict_do_nothing``."""
    return insert_for_dialect(session.get_bind().dialect.name)


def insert_for_dialect(dialect: str) -> Callable[..., PostgresqlInsert | SqliteInsert]:
    """``insert_with_on_conflict`` by the dialect's name (Core statements in ``run_transaction``)."""
    return postgresql_insert if dialect == "postgresql" else sqlite_insert


def rows_changed(result: Result[Any]) -> int:
    """How many rows an INSERT, UPDATE or DELETE changed. ``session.execute`` is typed as returning a
    plain ``Result``; for these statements it is a ``CursorResult``, the one that knows the count."""
    return cast(CursorResult[Any], result).rowcount


async def _connect_sqlite(*args: Any, **kwargs: Any) -> aiosqlite.Connection:
    """aiosqlite's connect (SQLAlchemy passes it the same arguments), which, when the file cannot be
    opened, lets the connection's worker thread end before raising. That thread hands its stop to
    the event loop; a command that fails at once (``db upgrade`` into a missing directory) had
    closed its loop by then, and the thread printed a traceback after the one-line error."""
    connection = aiosqlite.connect(*args, **kwargs)
    worker = connection._thread  # private, as SQLAlchemy's own connect uses it (to make it a daemon, as here)
    worker.daemon = True
    try:
        return await connection
    except BaseException:
        if worker.is_alive():
            await asyncio.to_thread(worker.join, SQLITE_WORKER_STOP_BOUND)
        raise


# A PostgreSQL connect that takes longer fails fast enough to tell the person within Slack's 3 s.
POSTGRES_CONNECT_TIMEOUT = 2.0

# Longest a failed SQLite connect waits for its worker thread to stop (it stops at once: the bound
# only keeps a wedged thread from holding the error up).
SQLITE_WORKER_STOP_BOUND = 5.0


class _WriteLockTaken(Exception):
    """Another process holds SQLite's write lock: the transaction waits for it on the worker thread."""


def _lock_taken(error: OperationalError) -> bool:
    return _held_by_another(error.orig)


def _held_by_another(error: BaseException | None) -> bool:
    """Whether the driver's error is SQLite's "database is locked" (or "table is locked")."""
    return getattr(error, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class _CommitsTogether:
    """SQLite transactions that acks wait for, made on the event loop's own thread while the file's
    write lock is free: a few statements and one WAL commit cost less than handing them to a thread
    and waking the loop again, which on a busy machine costs a scheduler turn each way.

    Those that arrive together (a burst of clicks: each waits here while the one before commits,
    or is dispatched in the same turn of the loop while other requests wait for their commits) run
    in one transaction, each in a SAVEPOINT of its own, so that one's failure rolls back only its
    own statements, under one BEGIN IMMEDIATE and one COMMIT: the burst pays for one WAL sync, not
    one each, and the loop is not stopped by each sync in turn. Nothing else can run meanwhile (the statements run without a pause), so
    each still sees every earlier one's writes, as one after the other would: a second click on a
    phase finds it stamped; a copy of a request finds its record.

    A transaction that finds the write lock taken (another process is writing) raises
    ``_WriteLockTaken``, having done nothing: it is made again on the worker thread."""

    def __init__(self, engine: Engine, writer: asyncio.Lock) -> None:
        self._engine = engine
        self._writer = writer  # this process's SQLite writers take turns on it
        # The transactions that will commit together with the next commit: open until its leader
        # takes them, then None (later ones start the next).
        self._batch: list[_Member] | None = None

    async def run(self, in_transaction: Callable[[Connection], T]) -> T:
        """``in_transaction``'s result once it is committed (with whatever arrived with it)."""
        outcome: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        if self._batch is None and not self._writer.locked() and len(_gates_awaiting) <= 1:
            # No other request waits for a commit, so none could join: made at once, right here
            # (the lock is free and nothing runs before this returns).
            self._commit([(in_transaction, outcome)])
            return outcome.result()
        if self._batch is None:
            batch: list[_Member] = []
            self._batch = batch
            leader = asyncio.create_task(self._lead(batch), name="sqlite-commits-together")
            leader.add_done_callback(lambda _leader: _none_left_waiting(batch))
        self._batch.append((in_transaction, outcome))
        return await outcome  # cancelled before its turn, it is skipped: nothing of it runs

    async def _lead(self, batch: list[_Member]) -> None:
        try:
            async with self._writer:
                # One turn of the loop: requests dispatched with the first one reach here too.
                await asyncio.sleep(0)
                self._close(batch)
                self._commit([(run, outcome) for run, outcome in batch if not outcome.done()])
        finally:
            self._close(batch)

    def _close(self, batch: list[_Member]) -> None:
        if self._batch is batch:
            self._batch = None

    def _commit(self, together: list[_Member]) -> None:
        """Each verdict is given once the COMMIT is known: a member refused on another's write (a
        copy, on its original's record) must not keep that verdict if the write is not committed."""
        if not together:
            return
        verdicts: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        try:
            with self._engine.connect() as connection, connection.begin():
                if len(together) == 1:
                    # Alone: no SAVEPOINT to pay for, its failure rolls back the transaction.
                    [(run, outcome)] = together
                    verdicts.append((outcome, run(connection), None))
                else:
                    for run, outcome in together:
                        savepoint = connection.begin_nested()
                        try:
                            value = run(connection)
                        except Exception as error:
                            savepoint.rollback()
                            verdicts.append((outcome, None, _as_failure(error)))
                        else:
                            savepoint.commit()
                            verdicts.append((outcome, value, None))
        except Exception as error:
            failed = _as_failure(error)
            for _, outcome in together:
                if not outcome.done():
                    outcome.set_exception(failed)
            return
        for outcome, value, failure in verdicts:
            if outcome.done():
                continue
            if failure is None:
                outcome.set_result(value)
            else:
                outcome.set_exception(failure)


_Member = tuple[Callable[[Connection], Any], "asyncio.Future[Any]"]


def _as_failure(error: Exception) -> Exception:
    """What a member that failed on the loop's thread is told: a write lock another process holds
    sends it to the worker thread (``_WriteLockTaken``); anything else is its own failure."""
    return _WriteLockTaken() if isinstance(error, OperationalError) and _lock_taken(error) else error


def _none_left_waiting(batch: list[_Member]) -> None:
    """However a batch's leader ended (cancelled before its turn too, as at shutdown), none of its
    members waits on it for ever: those it did not commit are made again on the worker thread."""
    for _, outcome in batch:
        if not outcome.done():
            outcome.set_exception(_WriteLockTaken())


class Database:
    """One engine and its session factory for the life of the process."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = async_database_url(url)
        kwargs: dict[str, Any] = {"echo": echo}
        if self.url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 30, "async_creator_fn": _connect_sqlite}
        else:
            kwargs["pool_size"] = POSTGRES_POOL_SIZE
            kwargs["connect_args"] = {"timeout": POSTGRES_CONNECT_TIMEOUT, "command_timeout": 10}
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        # SQLite's engines for run_transaction: the same file and set-up through the plain driver, so
        # that a whole transaction can run in one call to a worker thread, or on the loop's thread.
        self._sqlite_sync: Engine | None = None
        self._sqlite_here: Engine | None = None
        self._sqlite_reads: Engine | None = None
        if self.engine.dialect.name == "sqlite":
            _configure_sqlite(self.engine.sync_engine)
            self._sqlite_sync = create_engine(
                self.url.replace("sqlite+aiosqlite", "sqlite+pysqlite", 1),
                echo=echo,
                connect_args={"timeout": 30, "check_same_thread": False},
            )
            _configure_sqlite(self._sqlite_sync)
            # The same again, used on the event loop's own thread while the write lock is free
            # (see _CommitsTogether): one connection, as this process's writers take turns.
            self._sqlite_here = create_engine(
                self.url.replace("sqlite+aiosqlite", "sqlite+pysqlite", 1), echo=echo, connect_args={"timeout": 0}, pool_size=1
            )
            _configure_sqlite(self._sqlite_here, waits_for_the_lock=False)
            # For read_in_thread: long reads (reports) hold their connections apart from the writers' pool.
            self._sqlite_reads = create_engine(
                self.url.replace("sqlite+aiosqlite", "sqlite+pysqlite", 1),
                echo=echo,
                connect_args={"timeout": 30, "check_same_thread": False},
            )
            _configure_sqlite(self._sqlite_reads)
        else:
            _check_postgres_checkouts(self.engine)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False, sync_session_class=_WriteTrackingSession)
        # SQLite has one writer at a time. Writers of this process take turns here, and the next
        # one starts the moment the last commits, instead of polling the file lock (its busy
        # handler sleeps up to 100 ms between tries, so a burst of writers formed a convoy that
        # pushed commits, and so acks, past their bound).
        self._sqlite_writer: asyncio.Lock | None = asyncio.Lock() if self.engine.dialect.name == "sqlite" else None
        self._commits_together: _CommitsTogether | None = None
        if self._sqlite_here is not None and self._sqlite_writer is not None:
            self._commits_together = _CommitsTogether(self._sqlite_here, self._sqlite_writer)
        self._autocommit: async_sessionmaker[AsyncSession] | None = None
        self._autocommit_engine = self.engine
        if self.dialect == "sqlite":
            # Lookups begin like reading() sessions, without the write lock, so they never queue
            # behind a writer. SQLite has no round trips to save by autocommit.
            self._lookups = async_sessionmaker(self.engine.execution_options(read_only=True), expire_on_commit=False)
        else:
            # Each statement is its own transaction: no BEGIN and COMMIT round trips around a lone
            # SELECT (lookup) or a lone claim or UPDATE (single_statements).
            self._autocommit_engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
            self._autocommit = async_sessionmaker(self._autocommit_engine, expire_on_commit=False)
            self._lookups = self._autocommit

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def sync_engines(self) -> tuple[Engine, ...]:
        """Every engine that talks to this database, as SQLAlchemy's events see them (for what
        watches the statements: tests, a profile)."""
        others = (self._sqlite_sync, self._sqlite_here, self._sqlite_reads)
        return (self.engine.sync_engine,) + tuple(engine for engine in others if engine is not None)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session whose work is committed together, or not at all. Inside work whose request
        waits for its commit (``CommitGate``), a write is rolled back instead of committed once the
        person was told it was not recorded."""
        gate = _awaiting_first_commit()
        if gate is not None:
            await gate.stop_if_replayed()  # before the write lock: the answer may need it
        wrote = False
        async with self._sqlite_writer or contextlib.nullcontext(), self.sessions() as session:
            async with session.begin():
                yield session
                wrote = session.sync_session.info.pop("wrote", False) or bool(session.new or session.dirty or session.deleted)
                if gate is not None and wrote:
                    gate.check_may_commit()
        if gate is not None and wrote:
            gate.record_commit()
            await gate.go_on()

    async def run_statements(self, work: Callable[[Statements], T]) -> T:
        """``run_transaction`` for statements that each stand on their own (a claim, one UPDATE), as
        ``single_statements()``: on PostgreSQL each commits as it runs, with no BEGIN and COMMIT
        round trips, unless a request waits for this commit (it needs one it can hold back)."""
        return await self.run_transaction(work, autocommit=True)

    async def run_transaction(self, work: Callable[[Statements], T], *, autocommit: bool = False) -> T:
        """``work``'s statements in one transaction, committed together or not at all, under the same
        rules as ``transaction()`` (the commit gate, SQLite's writers taking turns, BEGIN IMMEDIATE).
        ``work`` is plain code: on SQLite the whole transaction runs at once, on the event loop's
        thread when an ack waits for it and the write lock is free (in a SAVEPOINT of one
        transaction with the others that arrived with it, ``_CommitsTogether``), else in one trip
        to a worker thread (aiosqlite would take several per statement: cursor, execute, fetch,
        close); on PostgreSQL each statement is one round trip on the connection. What a click
        runs before its ack (storage/clicks.py). ``work`` may run twice: a try on the event loop's
        thread that finds the lock taken, or whose gathering ended without it, is rolled back and
        made again on the worker thread.

        The first transaction of work whose request records itself here (``CommitGate.request``)
        writes that record first: a replay rolls back there, having done nothing."""
        gate = _awaiting_first_commit()
        record = gate.request if gate is not None else None
        record_request = record.take() if record is not None else None
        if gate is not None and record_request is None:
            await gate.stop_if_replayed()

        def in_transaction(connection: Connection) -> tuple[T, bool]:
            statements = Statements(connection)
            # Its own Statements: the request's record is bookkeeping, not the write the ack waits for.
            if record_request is not None and not record_request(Statements(connection)):
                raise ReplayedRequest("a copy of this request was taken before")
            result = work(statements)
            if gate is not None and statements.wrote:
                gate.check_may_commit()
            return result, statements.wrote

        # Only the transaction an ack waits for runs on the event loop's thread (SQLite): any other
        # (a request's replay check, the work after an ack) would hold up acks on their way out.
        on_the_loop = gate is not None
        recording = record if record_request is not None else None  # this transaction records the request
        try:
            # Never autocommit under a gate (as whenever the request is recorded here): it may hold the commit back.
            result, wrote = await self._committed_in_one_go(in_transaction, autocommit=autocommit and gate is None, on_the_loop=on_the_loop)
        except ReplayedRequest:
            if recording is not None:
                recording.taken_with(False)
            raise
        except BaseException:
            if recording is not None:
                recording.taken_with(None)
            raise
        if recording is not None:
            recording.taken_with(True)
        if gate is not None and wrote:
            gate.record_commit()
            await gate.go_on()
        return result

    async def _committed_in_one_go(self, in_transaction: Callable[[Connection], T], *, autocommit: bool, on_the_loop: bool) -> T:
        """``in_transaction`` in a transaction of its own, committed: on SQLite, its writers taking
        turns, in one trip to a worker thread that waits for the file's write lock, or
        (``on_the_loop``) right here on the event loop's thread while that lock is free, together
        with the others that arrived with it (``_CommitsTogether``); on PostgreSQL through the pool
        (autocommit: each statement commits as it runs)."""

        def committed(connection: Connection) -> T:
            with connection.begin():
                return in_transaction(connection)

        if self._sqlite_writer is not None:
            assert self._sqlite_sync is not None and self._commits_together is not None
            sync_engine = self._sqlite_sync

            def in_thread() -> T:
                with sync_engine.connect() as connection:
                    return committed(connection)

            if on_the_loop:
                # Only a wait for the lock (another process writing) must not happen on the loop's
                # thread: that connection does not wait, BEGIN IMMEDIATE fails at once having done
                # nothing, and the transaction goes to the thread.
                with contextlib.suppress(_WriteLockTaken):
                    return await self._commits_together.run(in_transaction)
            async with self._sqlite_writer:
                return await asyncio.to_thread(in_thread)
        engine = self._autocommit_engine if autocommit else self.engine
        async with engine.connect() as connection:
            return await connection.run_sync(committed)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A session for reads only; on SQLite it takes no write lock (WAL readers see a snapshot)."""
        async with self.sessions() as session:
            await session.connection(execution_options={"read_only": True})
            yield session

    @property
    def reads_in_a_thread(self) -> bool:
        """Whether ``read_in_thread`` can be used: SQLite (PostgreSQL's driver needs no thread)."""
        return self._sqlite_reads is not None

    async def read_snapshot(self, work: Callable[[Session], T]) -> T:
        """``work``'s ORM reads on a plain (synchronous) session, all of one snapshot: on SQLite in
        one trip to a thread of their own (``read_in_thread``: no hop back to the event loop
        between two statements), on PostgreSQL through ``reading()``'s session (``run_sync``)."""
        if self._sqlite_reads is not None:

            def on_its_connection(connection: Connection) -> T:
                with Session(bind=connection) as session:
                    return work(session)

            return await self.read_in_thread(on_its_connection)
        async with self.reading() as session:
            return await session.run_sync(work)

    async def read_in_thread(self, work: Callable[[Connection], T], *, stop: Callable[[], None] | None = None) -> T:
        """SQLite: ``work``'s statements on a plain connection in one read transaction (one
        snapshot, no write lock), as ``reading()`` would see them, in a thread of their own, as
        aiosqlite gives each connection, but with no trip back to the event loop between two
        statements (aiosqlite makes several for each: a cursor, the statement, its rows). A read
        that hands its rows over as it goes does so itself (``loop.call_soon_threadsafe``), and may
        wait in its thread for what the event loop sends back: the thread is its own, never one of
        the loop's shared worker threads, which the loop's own work may be waiting for. ``stop``
        (called if the read is cancelled) makes ``work`` stop at its next step."""
        engine = self._sqlite_reads
        if engine is None:
            raise RuntimeError("read_in_thread is for SQLite; read PostgreSQL through reading()")
        loop = asyncio.get_running_loop()
        finished: asyncio.Future[T] = loop.create_future()

        def settle(outcome: Callable[[], None]) -> None:
            if not finished.done():  # not when the caller stopped waiting
                outcome()

        def in_thread() -> None:
            try:
                with engine.connect() as connection:
                    connection.execution_options(read_only=True)
                    with connection.begin():
                        result = work(connection)
            except BaseException as error:  # handed to the caller, who raises it
                failed = error
                loop.call_soon_threadsafe(settle, lambda: finished.set_exception(failed))
            else:
                loop.call_soon_threadsafe(settle, lambda: finished.set_result(result))

        thread = threading.Thread(target=in_thread, name="sqlite-read", daemon=True)
        thread.start()
        try:
            return await finished
        except asyncio.CancelledError:
            if stop is not None:
                stop()
            raise
        finally:
            # However the read ends, its thread has ended when this returns (a command could
            # otherwise end, and close its loop, with the thread alive and its connection out):
            # handing its outcome over is its last step, and a stopped read stops at its next.
            await asyncio.shield(asyncio.to_thread(thread.join))

    @asynccontextmanager
    async def single_statements(self) -> AsyncIterator[AsyncSession]:
        """A session for writes where each statement stands on its own (a claim, its release, one
        UPDATE): on PostgreSQL each commits as it runs, with no BEGIN and COMMIT round trips, and
        each later statement sees every earlier one's commit. On SQLite the block is one
        transaction, committed at its end, which gives the same guarantees and more."""
        if self._autocommit is None or _awaiting_first_commit() is not None:
            # A request waiting on its commit needs one commit it can still hold back.
            async with self.transaction() as session:
                yield session
        else:
            async with self._autocommit() as session:
                yield session

    @asynccontextmanager
    async def bookkeeping(self) -> AsyncIterator[AsyncSession]:
        """``single_statements`` for the bot's own bookkeeping (rate-limit slots), which records
        nothing of a request: never the commit a request's acknowledgement waits for, even when
        made while one waits."""
        with outside_commit_gates():
            async with self.single_statements() as session:
                yield session

    @asynccontextmanager
    async def lookup(self) -> AsyncIterator[AsyncSession]:
        """A session for one read statement, or a few that need not see one snapshot (each sees
        every commit made before it). Cheaper than ``reading()`` on PostgreSQL; never for writes."""
        async with self._lookups() as session:
            yield session

    async def warm_up(self, connections: int = 8) -> None:
        """Open, before the first request, the connections a burst of clicks will use: a new
        PostgreSQL connection costs a server process and several round trips, a new SQLite one its
        pragmas, and neither should land on an ack. ``serve`` calls it once migrated; SQLite's
        writers take turns, so one connection serves them all."""
        if self._sqlite_sync is not None:
            await self.run_transaction(lambda work: work.execute(text("SELECT 1")).all())  # the worker thread's
            assert self._sqlite_here is not None
            self._sqlite_here.connect().close()  # and the one for the transactions acks wait for, on the loop's thread
            return
        opened = asyncio.Barrier(connections)

        async def hold_one_open() -> None:
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
                await opened.wait()  # held until all are open, so that each is a connection of its own

        await asyncio.gather(*(hold_one_open() for _ in range(connections)))

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
        for engine in (self._sqlite_sync, self._sqlite_here, self._sqlite_reads):
            if engine is not None:
                engine.dispose()
