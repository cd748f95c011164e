"""The database of a process: its engine, session factories and SQLite writer gate (``Database``). No import-time
engine: the composition roots (``hospes.asgi``, the CLI) build one from settings and pass it down."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from sqlalchemy import ClauseElement, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.compiler import SQLCompiler

from hospes import metrics
from hospes.settings import Settings
from hospes.storage import write_turns
from hospes.storage.conflicts import note_commit
from hospes.storage.replicas import Replicas

_BUSY_TIMEOUT_MS = 30000


class WouldWaitError(Exception):
    """A write asked not to wait (``raw_write(wait=False)``, ``Database.writer_turn_now``) found the database
    busy: nothing was written; do it again where waiting is allowed."""


def make_engine(url: str, pool_name: str = "primary", **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            # A pool as large as the request thread pool (40) plus background threads: with the default 5 + 10
            # overflow, busy moments opened and closed a connection (and ran the pragmas) per request.
            kwargs = {"pool_size": 48, "max_overflow": 16, **kwargs}
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        # SQLite takes the write lock lazily; BEGIN IMMEDIATE makes concurrent writers queue
        # instead of failing with "database is locked" when a read transaction upgrades to a write; they queue on
        # the process's write turns (``write_turns``), other processes on busy_timeout.
        turns = write_turns.turns_for(path)
        event.listen(engine, "begin", lambda conn: _sqlite_begin(conn, turns))
        if turns is not None:
            write_turns.install(engine)
        return engine
    pool_size = kwargs.pop("pool_size", 20)
    max_overflow = kwargs.pop("max_overflow", 20)
    connect_args: dict[str, Any] = {}
    if not kwargs.pop("prepared_statements", True):
        # PgBouncer in transaction mode (before 1.21) hands each transaction whatever server connection is free: a
        # statement psycopg prepared on one is unknown on the next ("prepared statement ... does not exist").
        connect_args["prepare_threshold"] = None
    if pool_name == "replica":
        connect_args["connect_timeout"] = 3  # a replica that does not answer is skipped, not waited for
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        connect_args=connect_args,
        **kwargs,
    )
    refresh = metrics.watch_pool(engine.pool, pool_name, pool_size + max_overflow)
    event.listen(engine, "checkout", lambda *_: refresh())
    event.listen(engine, "checkin", lambda *_: refresh())
    return engine


def _sqlite_begin(conn: Any, turns: write_turns.WriteTurns | None) -> None:
    # Read-only work (``Database.read_sessions``) takes no write lock: a deferred BEGIN reads a WAL snapshot while a
    # writer commits, instead of queueing behind it (and sleeping in SQLite's busy handler).
    if conn.get_execution_options().get("hospes_read_only"):
        conn.exec_driver_sql("BEGIN")
        return
    if turns is not None:
        write_turns.take(conn.info, turns, _BUSY_TIMEOUT_MS / 1000)
    try:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        write_turns.hand_back(conn.info)
        raise


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy emit BEGIN itself (see the "begin" listener) instead of pysqlite's implicit transactions.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
    cur.close()


def read_sessions_of(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """Read-only sessions on the engine of ``sessions`` (see ``Database.read_sessions``), for a component handed only
    the writing ones; ``sessions`` itself when they are not bound to one engine."""
    bind = sessions.kw.get("bind")
    if not isinstance(bind, Engine):
        return sessions
    return sessionmaker(bind.execution_options(hospes_read_only=True), expire_on_commit=False)


class Database:
    """One database: the engine, ``sessions`` for work that writes, ``read_sessions`` for reads only, and
    ``writer_turn()`` for writers that come in crowds. Built once per process by a composition root."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions: sessionmaker[Session] = sessionmaker(engine, expire_on_commit=False)
        # On SQLite their transactions begin deferred (no write lock, see ``_sqlite_begin``); on PostgreSQL they are
        # ordinary sessions. Never write through them.
        self.read_sessions: sessionmaker[Session] = sessionmaker(
            engine.execution_options(hospes_read_only=True), expire_on_commit=False
        )
        self._gate: _WriterGate | None = None
        self._gate_lock = threading.Lock()

    #: Streaming replicas for reads that accept staleness (``eventual_sessions``); none unless configured.
    replicas: Replicas | None = None

    @classmethod
    def open(cls, url: str, **kwargs: Any) -> Database:
        return cls(make_engine(url, **kwargs))

    @classmethod
    def for_settings(cls, settings: Settings) -> Database:
        """The database of ``settings``: pool sizes, prepared statements, and the replicas, if any."""
        url = settings.effective_database_url
        if url.startswith("sqlite"):
            return cls.open(url)
        options: dict[str, Any] = {
            "pool_size": settings.db_pool_size,
            "max_overflow": settings.db_max_overflow,
            "prepared_statements": settings.db_prepared_statements,
        }
        database = cls(make_engine(url, **options))
        urls = [u.strip() for u in settings.database_replica_urls.split(",") if u.strip()]
        if urls:
            engines = [make_engine(u, pool_name="replica", **options) for u in urls]
            database.replicas = Replicas(engines, settings.replica_max_lag_seconds)
        return database

    def eventual_sessions(self) -> sessionmaker[Session]:
        """Sessions for reads that accept staleness: a replica within the lag limit when there is one, else the
        primary's read sessions. Never write through them, and never use them for reads that a later request
        continues from a position (delta rounds, provisioning): a replica may be behind the primary."""
        if self.replicas is not None:
            chosen = self.replicas.pick()
            if chosen is not None:
                metrics.REPLICA_READS.labels("replica").inc()
                return chosen
        metrics.REPLICA_READS.labels("primary").inc()
        return self.read_sessions

    @property
    def dialect(self) -> str:
        return str(self.engine.dialect.name)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextmanager
    def writer_turn(self) -> Iterator[None]:
        """SQLite has one write lock and its busy handler waits by sleeping (1, 2, 5 ... 100 ms), so 64 threads
        all issuing BEGIN IMMEDIATE mostly sleep while the lock is free. Writers that come in crowds (invitations)
        queue on a gate instead and are handed the database lock without delay. PostgreSQL needs nothing of the
        kind."""
        if not self.is_sqlite:
            yield
            return
        if self._gate is None:
            with self._gate_lock:  # made on first use: most processes (CLI commands, tests) never need the file
                if self._gate is None:
                    self._gate = _WriterGate(self.engine.url.database)
        with self._gate.turn():
            yield

    @contextmanager
    def writer_turn_now(self) -> Iterator[None]:
        """``writer_turn`` without waiting for it: WouldWaitError when another writer (a thread or, with
        ``--workers N``, another process) has it. For a write on the event loop, which must never block."""
        if not self.is_sqlite:
            yield
            return
        if self._gate is None:
            with self._gate_lock:
                if self._gate is None:
                    self._gate = _WriterGate(self.engine.url.database)
        with self._gate.turn_now():
            yield

    def dispose(self) -> None:
        self.engine.dispose()
        if self.replicas is not None:
            self.replicas.dispose()


class _WriterGate:
    """The process's write turns (``write_turns``, which every SQLite write transaction takes at its BEGIN), plus an
    exclusive ``flock`` on a file beside the database so the processes of ``hospes serve --workers N`` take turns
    the same way (a blocked ``flock`` wakes as soon as it is released). A thread already holding the turn (inside
    its own write transaction) passes: the database's lock is its own already."""

    def __init__(self, database: str | None) -> None:
        shared = write_turns.turns_for(database)
        self.turns = shared or write_turns.WriteTurns()
        self.fd = None if shared is None else os.open(f"{database}-writers.lock", os.O_RDWR | os.O_CREAT, 0o600)
        if self.fd is not None:
            weakref.finalize(self, os.close, self.fd)  # the gate lives as long as its Database

    @contextmanager
    def turn(self) -> Iterator[None]:
        if self.turns.held_by_me():
            yield
            return
        self.turns.acquire()
        try:
            if self.fd is None:
                yield
                return
            fcntl.flock(self.fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
        finally:
            self.turns.release()

    @contextmanager
    def turn_now(self) -> Iterator[None]:
        if self.turns.held_by_me():
            yield
            return
        if not self.turns.acquire(timeout=0):
            raise WouldWaitError("another writer has the turn")
        try:
            if self.fd is None:
                yield
                return
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise WouldWaitError("another process has the turn") from None
            try:
                yield
            finally:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
        finally:
            self.turns.release()


_COMPILED: dict[tuple[str, int], SQLCompiler] = {}
_PROCESSORS: dict[tuple[str, int], list[Any]] = {}


def _compiled(engine: Engine, statement: ClauseElement) -> SQLCompiler:
    key = (engine.dialect.name, id(statement))  # the statement is module-level: its id is stable
    compiled = _COMPILED.get(key)
    if compiled is None:
        compiled = _COMPILED[key] = cast(SQLCompiler, statement.compile(dialect=engine.dialect))
    return compiled


class RawReads:
    """Small indexed reads on one pooled DBAPI connection, bypassing SQLAlchemy's Connection and transaction
    layer: 10 µs instead of 100–140 µs through a session on SQLite. SQLite connections are in autocommit mode (each
    SELECT is its own read transaction); a PostgreSQL connection is rolled back when returned to the pool, so
    several reads on one checkout (``raw_reads``) save that round trip each. Statements are kept compiled: pass
    module-level statements with string or number bind parameters only."""

    def __init__(self, engine: Engine, connection: Any) -> None:
        self.engine, self.connection = engine, connection

    def _execute(self, statement: ClauseElement, params: dict[str, Any], many: bool) -> list[tuple[Any, ...]]:
        compiled = _compiled(self.engine, statement)
        values = compiled.construct_params(params)
        positional = self.engine.dialect.positional
        args: Any = tuple(values[name] for name in compiled.positiontup or ()) if positional else values
        cursor = self.connection.cursor()
        try:
            cursor.execute(compiled.string, args)
            if many:
                return [tuple(row) for row in cursor.fetchall()]
            row = cursor.fetchone()
            return [tuple(row)] if row is not None else []
        finally:
            cursor.close()

    def one(self, statement: ClauseElement, params: dict[str, Any]) -> tuple[Any, ...] | None:
        """The first row, values as the driver gives them (no type processing: a JSON column is text on SQLite)."""
        rows = self._execute(statement, params, many=False)
        return rows[0] if rows else None

    def all(self, statement: ClauseElement, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Every row, values as the driver gives them."""
        return self._execute(statement, params, many=True)

    def rows(self, statement: ClauseElement, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Every row, each value converted by its column's type as a session would (timestamps as aware UTC
        datetimes, booleans as bool, on SQLite too)."""
        rows = self._execute(statement, params, many=True)
        key = (self.engine.dialect.name, id(statement))
        processors = _PROCESSORS.get(key)
        if processors is None:
            result_columns = _compiled(self.engine, statement)._result_columns
            processors = _PROCESSORS[key] = [
                column.type._cached_result_processor(self.engine.dialect, None) for column in result_columns
            ]
        if not any(processors):
            return rows
        return [tuple(p(v) if p else v for p, v in zip(processors, row, strict=True)) for row in rows]


@contextmanager
def raw_reads(engine: Engine) -> Iterator[RawReads]:
    raw = engine.raw_connection()
    try:
        yield RawReads(engine, raw)
    finally:
        raw.close()


class RawWrite(RawReads):
    """A short write transaction on one pooled DBAPI connection (``raw_write``): compiled module-level statements,
    values converted by their columns' types as a session would (JSON, timestamps)."""

    def execute(self, statement: ClauseElement, params: dict[str, Any]) -> int:
        """Run one INSERT/UPDATE/DELETE; the number of rows it touched."""
        sql, positional, binds = _write_plan(self.engine, statement)
        if positional:
            args: Any = tuple(_bound(params, bind) for bind in binds)
        else:
            args = {bind[0]: _bound(params, bind) for bind in binds}
        cursor = self.connection.cursor()
        try:
            cursor.execute(sql, args)
            return int(cursor.rowcount)
        finally:
            cursor.close()


# A bound value of a write: (bind name, parameter key, required, its literal value, its type's processor or None).
_Bind = tuple[str, str, bool, Any, Any]
_WRITE_PLANS: dict[tuple[str, int], tuple[str, bool, tuple[_Bind, ...]]] = {}


def _write_plan(engine: Engine, statement: ClauseElement) -> tuple[str, bool, tuple[_Bind, ...]]:
    """The compiled SQL and, in the driver's order, how to get each bound value: what ``construct_params`` and
    the bind processors do per call, worked out once per statement (a 20-column INSERT spent more time there than
    in SQLite)."""
    key = (engine.dialect.name, id(statement))
    plan = _WRITE_PLANS.get(key)
    if plan is None:
        compiled = _compiled(engine, statement)
        positional = bool(engine.dialect.positional)
        names = list(compiled.positiontup or ()) if positional else list(compiled.binds)
        binds: list[_Bind] = []
        for name in names:
            bind = compiled.binds[name]
            if bind.callable is not None:
                raise ValueError(f"raw writes take no callable bind values ({name})")
            processor = compiled._bind_processors.get(name)
            # A sequence of processors belongs to an expanding IN, which writes never use.
            binds.append((name, bind.key, bool(bind.required), bind.value, processor if callable(processor) else None))
        plan = _WRITE_PLANS[key] = (compiled.string, positional, tuple(binds))
    return plan


def _bound(params: dict[str, Any], bind: _Bind) -> Any:
    _name, key, required, literal, processor = bind
    if key in params:
        value = params[key]
    elif required:
        raise KeyError(f"a value is required for bind parameter {key!r}")
    else:
        value = literal
    return processor(value) if processor is not None else value


@contextmanager
def raw_write(engine: Engine, wait: bool = True) -> Iterator[RawWrite]:
    """One transaction of a few small writes without SQLAlchemy's Connection layer (for the hottest write paths):
    committed when the block ends, rolled back if it raises. On SQLite it begins IMMEDIATE, as every writer does;
    with ``wait=False`` it raises WouldWaitError instead of waiting for another writer's lock (its busy timeout is
    0 for that BEGIN only)."""
    raw = engine.raw_connection()
    try:
        with _transaction(RawWrite(engine, raw), wait) as write:
            yield write
    finally:
        raw.close()


@contextmanager
def raw_write_on(reads: RawReads, wait: bool = True) -> Iterator[RawWrite]:
    """``raw_write`` on the connection of ``reads``: one pool checkout for a grant's reads and its write (on
    PostgreSQL the reads' transaction becomes the write's)."""
    with _transaction(RawWrite(reads.engine, reads.connection), wait) as write:
        yield write


@contextmanager
def _transaction(write: RawWrite, wait: bool) -> Iterator[RawWrite]:
    raw = write.connection
    if write.engine.dialect.name == "sqlite":
        cursor = raw.cursor()
        try:
            if wait:
                cursor.execute("BEGIN IMMEDIATE")
            else:
                _begin_now(cursor)
        finally:
            cursor.close()
    try:
        yield write
    except BaseException:
        raw.rollback()
        raise
    raw.commit()
    note_commit()


def _begin_now(cursor: Any) -> None:
    cursor.execute("PRAGMA busy_timeout=0")
    try:
        cursor.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:  # SQLITE_BUSY: another connection holds the write lock
        raise WouldWaitError(str(exc)) from None
    finally:
        cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")


def read_one(engine: Engine, statement: ClauseElement, params: dict[str, Any]) -> tuple[Any, ...] | None:
    """One ``RawReads.one`` on its own checkout: for the read every API request makes (is the calling app still
    enabled?)."""
    with raw_reads(engine) as reads:
        return reads.one(statement, params)


def read_all(engine: Engine, statement: ClauseElement, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """One ``RawReads.all`` on its own checkout."""
    with raw_reads(engine) as reads:
        return reads.all(statement, params)


def read_rows(engine: Engine, statement: ClauseElement, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """One ``RawReads.rows`` (typed values) on its own checkout."""
    with raw_reads(engine) as reads:
        return reads.rows(statement, params)
