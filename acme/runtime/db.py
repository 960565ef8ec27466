"""One database per data store: SQLite files by default, any SQLAlchemy async URL by setting.

The catalog's schema.sql is written portably (one text for SQLite and PostgreSQL), so the
runtime applies it as is; it only makes `CREATE TABLE/INDEX` idempotent so that every start
can apply it. The runtime's own tables (outbox, inbox, dead letters) are declared here as
SQLAlchemy tables and created when the catalog's SQL did not create them.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import aiosqlite
from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    event,
    func,
    text,
)
from sqlalchemy.connectors.asyncio import AsyncAdapt_dbapi_connection
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
    SQLiteDialect_aiosqlite,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.util import EMPTY_DICT, await_

from acme.runtime.errors import ConfigurationError
from acme.runtime.group_commit import GroupWriter
from acme.runtime.settings import Settings

__all__ = [
    "Stores",
    "dead_letters",
    "idempotent_ddl",
    "insert_ignore",
    "message_inbox",
    "message_outbox",
    "runtime_metadata",
    "utc",
]

# How long a SQLite call may wait for another connection's lock before "database is locked".
_WAIT_MS = 30_000
# Connections a SQLite engine keeps open once used (as many again may open beyond them).
_SQLITE_POOL_SIZE = 32


runtime_metadata = MetaData()

message_outbox = Table(
    "message_outbox",
    runtime_metadata,
    Column("message_id", String, primary_key=True),
    Column("subject", String, nullable=False),
    Column("message_type", String, nullable=False),
    Column("headers", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("published_at", DateTime(timezone=True), nullable=True),
    # The relay's query (unpublished, in creation order); the catalog's schema.sql has it too.
    Index("message_outbox_unpublished", "published_at", "created_at"),
)

message_inbox = Table(
    "message_inbox",
    runtime_metadata,
    Column("consumer", String, nullable=False),
    Column("message_id", String, nullable=False),
    Column("message_type", String, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("consumer", "message_id"),
)

# Lives only in the shared `runtime` store, so dead letters can be listed without the broker.
dead_letters = Table(
    "dead_letters",
    MetaData(),
    Column("id", String, primary_key=True),  # uuid5(service, message id): one row per pair
    Column("service", String, nullable=False, index=True),
    Column("message_id", String, nullable=False),
    Column("subject", String, nullable=False),
    Column("message_type", String, nullable=True),
    Column("headers", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Column("reason", String, nullable=False),  # "invalid" (poison) or "failed" (after retries)
    Column("error", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("dead_at", DateTime(timezone=True), nullable=False),
    Column("replayed_at", DateTime(timezone=True), nullable=True),
)

_CREATE = re.compile(
    r"^\s*CREATE\s+(?P<unique>UNIQUE\s+)?(?P<kind>TABLE|INDEX)\s+(?!IF\s+NOT\s+EXISTS)",
    re.IGNORECASE,
)


def idempotent_ddl(statement: str) -> str:
    """`CREATE TABLE x` -> `CREATE TABLE IF NOT EXISTS x` (same for indexes); else unchanged."""
    return _CREATE.sub(
        lambda m: (
            f"CREATE {'UNIQUE ' if m.group('unique') else ''}"
            f"{m.group('kind').upper()} IF NOT EXISTS "
        ),
        statement,
        count=1,
    )


def utc(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; everything the runtime stores is UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def insert_ignore(conn: AsyncConnection, table: Table, values: Mapping[str, Any]) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING; True when the row was inserted.

    Concurrent inserts of the same key on PostgreSQL wait for the first transaction and then
    do nothing, so exactly one of them sees True.
    """
    dialect = conn.dialect.name
    expressions = any(isinstance(v, ClauseElement) for v in values.values())
    if dialect == "sqlite" and not expressions:
        # The hot statements (inbox, outbox, once-only guards) go straight to SQLite when the
        # connection runs inline: same SQL and bound values as SQLAlchemy would send, without
        # its per-statement execution context, result object and greenlet round trip.
        driver = _hybrid_driver(conn)
        plan = None if driver is None else _sqlite_insert_plan(table, tuple(values), conn.dialect)
        if driver is not None and plan is not None:
            sql, keys, processors = plan
            params = [
                value if process is None else process(value)
                for value, process in zip((values[k] for k in keys), processors, strict=True)
            ]
            return await driver.execute_rowcount(sql, params) == 1
    if dialect in _UPSERT_DIALECTS and not expressions:
        # One statement object per table, values as parameters: SQLAlchemy reuses its
        # compiled form instead of building and keying a new statement on every call.
        result = await conn.execute(_insert_ignore_statement(table, dialect), dict(values))
        return bool(result.rowcount == 1)
    if dialect in _UPSERT_DIALECTS:
        stmt = _insert_ignore_statement(table, dialect).values(**values)
        result = await conn.execute(stmt)
        return bool(result.rowcount == 1)
    # Other databases: a savepoint keeps the surrounding transaction usable on conflict.
    try:
        async with conn.begin_nested():
            await conn.execute(table.insert().values(**values))
    except IntegrityError:
        return False
    return True


_UPSERT_DIALECTS = frozenset({"sqlite", "postgresql"})


_SqlitePlan = tuple[str, tuple[str, ...], tuple[Callable[[Any], Any] | None, ...]]


@functools.cache
def _sqlite_insert_plan(table: Table, keys: tuple[str, ...], dialect: Any) -> _SqlitePlan | None:
    """SQL text, parameter order and bind processors of `INSERT ... ON CONFLICT DO NOTHING`
    of `keys` into `table` on SQLite; None when SQLAlchemy must build it (an unknown key, a
    Python-side default of a column left out)."""
    columns = []
    for key in keys:
        if key not in table.c:
            return None  # SQLAlchemy raises its own error naming the column
        columns.append(table.c[key])
    given = {c.key for c in columns}
    if any(c.default is not None for c in table.c if c.key not in given):
        return None
    preparer = dialect.identifier_preparer
    names = ", ".join(preparer.quote(c.name) for c in columns)
    marks = ", ".join("?" for _ in columns)
    sql = (
        f"INSERT INTO {preparer.format_table(table)} ({names}) VALUES ({marks}) "
        "ON CONFLICT DO NOTHING"
    )
    processors = tuple(c.type.dialect_impl(dialect).bind_processor(dialect) for c in columns)
    return sql, keys, processors


def _hybrid_driver(conn: AsyncConnection) -> _HybridConnection | None:
    """The inline-capable aiosqlite connection under `conn`, if that is what it runs on."""
    try:
        driver = conn.sync_connection.connection.driver_connection  # type: ignore[union-attr]
    except Exception:  # not connected, invalidated: let SQLAlchemy handle (and report) it
        return None
    return driver if isinstance(driver, _HybridConnection) else None


@functools.cache
def _insert_ignore_statement(table: Table, dialect: str) -> Any:
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    return pg_insert(table).on_conflict_do_nothing()


class Stores:
    """Async engines per data store, opened once per process; DDL applied on open."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._engines: dict[str, AsyncEngine] = {}
        self._writers: dict[str, GroupWriter] = {}
        self._writer_engines: dict[str, AsyncEngine] = {}
        self._lock = asyncio.Lock()

    def url(self, store: str) -> str:
        return self.settings.store_url(store)

    @property
    def opened(self) -> tuple[str, ...]:
        return tuple(self._engines)

    def get(self, store: str) -> AsyncEngine:
        try:
            return self._engines[store]
        except KeyError:
            known = ", ".join(sorted(self._engines)) or "none"
            raise ConfigurationError(
                f"data store {store!r} is not opened in this process (opened: {known})"
            ) from None

    def writer(self, store: str) -> AsyncEngine:
        """The engine for write transactions on `store`. On SQLite it is an engine of its own
        whose transactions take the write lock at BEGIN (BEGIN IMMEDIATE): a message handler's
        transaction always writes (its inbox row), and holding the lock from the start makes
        concurrent writers queue instead of failing with "database is locked" when a read
        transaction tries to upgrade. Elsewhere it is the store's engine. `write` runs its
        transactions on a connection of this engine."""
        self.get(store)  # names the store in the error when it is not opened
        return self._writer_engines.get(store) or self._engines[store]

    def writer_lock(self, store: str) -> contextlib.AbstractAsyncContextManager[Any]:
        """Held around writes of this process on `store` made on a connection of their own
        (the outbox relay marking rows, purges): commits the open group first."""
        return self._group(store).turn()

    @contextlib.asynccontextmanager
    async def write(self, store: str) -> AsyncIterator[AsyncConnection]:
        """A connection inside a write transaction on `store`; the block's end waits for the
        commit.

        The write transactions of this process on a store queue and run on one long-lived
        connection, and those that queue while another runs share its commit (see
        acme.runtime.group_commit). SQLite allows one writer anyway, and waiting for it
        through busy_timeout sleeps in growing steps; on PostgreSQL a commit waits for the
        server's disk, and sharing it more than doubled checkout throughput.
        """
        async with self._group(store).unit() as conn:
            yield conn

    def _group(self, store: str) -> GroupWriter:
        self.get(store)  # names the store in the error when it is not opened
        return self._writers[store]

    async def open(
        self,
        store: str,
        ddl: Sequence[str] = (),
        *,
        metadata: Sequence[MetaData] = (runtime_metadata,),
    ) -> AsyncEngine:
        """Engine for `store`: creates the database if needed, applies `ddl` then `metadata`."""
        async with self._lock:
            if store in self._engines:
                return self._engines[store]
            url = self.url(store)
            if url.startswith("sqlite"):
                self.settings.data_dir.mkdir(parents=True, exist_ok=True)
            else:
                await _create_database_if_missing(url)
            pool = (self.settings.database_pool_size, self.settings.database_max_overflow)
            inline = self.settings.sqlite_inline
            engine = _make_engine(url, inline=inline, pool=pool)
            writer = (
                _make_engine(url, inline=inline, pool=pool, begin_immediate=True)
                if url.startswith("sqlite")
                else engine
            )
            try:
                await _apply_schema(writer, ddl, metadata, store)
            except BaseException:
                await engine.dispose()
                await writer.dispose()
                raise
            self._engines[store] = engine
            if writer is not engine:
                self._writer_engines[store] = writer
            self._writers[store] = GroupWriter(writer, store, max_group=self.settings.group_commit)
            return engine

    async def dispose(self) -> None:
        for group in list(self._writers.values()):
            await group.close()
        engines = [*self._engines.values(), *self._writer_engines.values()]
        self._engines, self._writer_engines = {}, {}
        self._writers.clear()
        for engine in engines:
            await engine.dispose()


class _HybridConnection(aiosqlite.Connection):
    """aiosqlite connection that runs sqlite3 calls on the event loop thread unless they wait.

    aiosqlite hands every call (cursor, execute, fetch, close, commit...) to a worker thread
    and back; a handler's transaction makes about a dozen such round trips, and the thread
    switches, futures and loop wake-ups cost more CPU than the SQL itself. Calls that find no
    lock held run inline: SQLite answers them in microseconds. The connection's busy timeout
    is 0, so a call that would wait for another connection's lock fails at once with
    SQLITE_BUSY instead of parking the loop; it is then run again on the worker thread with
    the real busy timeout, exactly as aiosqlite would have run it. A busy statement has done
    nothing, so running it again is safe. While a call is on the worker thread, later calls
    queue behind it there, so the sqlite3 connection is never used by two threads at once.
    The price: a slow query (a large scan) holds the event loop for as long as it runs;
    ACME_SQLITE_INLINE=0 puts every call on the worker thread again.
    """

    def __init__(
        self, connector: Callable[[], sqlite3.Connection], iter_chunk_size: int, wait_ms: int
    ) -> None:
        super().__init__(connector, iter_chunk_size)
        self._wait_ms = wait_ms
        self._in_thread = 0  # calls handed to the worker thread, not finished yet

    def _attempt(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[bool, Any]:
        """Run `fn` inline if nothing waits on the worker thread and no other connection holds
        the lock it needs: (True, its result). Else (False, the call for the worker thread,
        which may wait there for locks)."""
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        if not self._in_thread:
            try:
                return True, fn(*args, **kwargs)
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
        return False, functools.partial(_waiting, self._connection, self._wait_ms, fn, args, kwargs)

    async def _execute(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        done, value = self._attempt(fn, args, kwargs)
        return value if done else await self._on_thread(value)

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """`_execute` for SQLAlchemy's greenlet (a statement of `_InlineCursor`, a commit):
        the greenlet is suspended only when the call must wait on the worker thread."""
        done, value = self._attempt(fn, args, {})
        return value if done else await_(self._on_thread(value))

    async def execute_rowcount(self, sql: str, parameters: Sequence[Any]) -> int:
        """Run one statement that returns no rows; its rowcount."""
        return int(await self._execute(_rowcount, self._conn, sql, parameters))

    def try_inline(self, sql: str) -> bool:
        """Run `sql` now on the calling thread if nothing waits on the worker thread and no
        other connection holds the lock it needs; False when the caller must run it the
        waiting way (see `_execute`)."""
        if self._in_thread or not self._running or not self._connection:
            return False
        try:
            self._connection.execute(sql).close()
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                raise
            return False
        return True

    async def _on_thread(self, function: Callable[[], Any]) -> Any:
        future = asyncio.get_running_loop().create_future()
        self._in_thread += 1
        future.add_done_callback(self._thread_done)
        self._tx.put_nowait((future, function))
        # Shielded: a cancelled caller must not let the next call run inline while the worker
        # still uses the connection; the count drops when the worker has finished.
        return await asyncio.shield(future)

    def _thread_done(self, _future: asyncio.Future[Any]) -> None:
        self._in_thread -= 1


def _rowcount(connection: sqlite3.Connection, sql: str, parameters: Sequence[Any]) -> int:
    cursor = connection.execute(sql, parameters)
    try:
        return cursor.rowcount
    finally:
        cursor.close()


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF == sqlite3.SQLITE_BUSY  # SQLITE_BUSY and its extended codes
    return "locked" in str(exc)


def _waiting(
    connection: sqlite3.Connection,
    wait_ms: int,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """Run `fn` on the worker thread, allowed to wait `wait_ms` for locks."""
    connection.execute(f"PRAGMA busy_timeout={int(wait_ms)}")
    try:
        return fn(*args, **kwargs)
    finally:
        with contextlib.suppress(sqlite3.Error):  # `fn` may have closed the connection
            connection.execute("PRAGMA busy_timeout=0")


class _NoWait(Awaitable[None]):
    """An awaitable that is done at once. AsyncConnection.execute refuses a statement that
    never awaited (its guard against a synchronous driver), so an inline statement awaits
    this: one greenlet switch out and back, and no trip through the event loop."""

    def __await__(self) -> Generator[Any, Any, None]:
        yield from ()


_NO_WAIT = _NoWait()


class _InlineCursor(AsyncAdapt_aiosqlite_cursor):
    """SQLAlchemy's aiosqlite cursor, with each statement one call on the sqlite3 cursor.

    SQLAlchemy's adapter awaits the driver three times per statement (open the cursor,
    execute and fetch, close), each a greenlet switch out to the event loop and back, plus
    an asyncio lock; on a `_HybridConnection` all three calls would then run inline anyway.
    Here one call does it all (open a sqlite3 cursor, execute, fetch every row as SQLAlchemy's
    adapter does, close) through `_HybridConnection.call`, which leaves the greenlet only
    when the call must wait on the worker thread.
    """

    __slots__ = ()
    _awaitable_cursor_close = False  # nothing to await at close (see close)

    def __init__(self, adapt_connection: AsyncAdapt_dbapi_connection) -> None:
        hybrid = cast(_HybridConnection, adapt_connection._connection)
        if not hybrid._running or hybrid._connection is None:
            adapt_connection._handle_exception(ValueError("no active connection"))
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = cast(Any, hybrid._connection.cursor())  # a sqlite3 cursor
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        try:
            hybrid = cast(_HybridConnection, self._connection)
            hybrid.call(self._run, operation, () if parameters is None else parameters)
        except Exception as error:
            self._adapt_connection._handle_exception(error)
        await_(_NO_WAIT)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        try:
            hybrid = cast(_HybridConnection, self._connection)
            hybrid.call(self._run_many, operation, seq_of_parameters)
        except Exception as error:
            self._adapt_connection._handle_exception(error)
        await_(_NO_WAIT)

    def close(self) -> None:
        # the sqlite3 cursor was closed by the call that used it (`_run`, `_run_many`)
        self._rows.clear()

    def _fresh_cursor(self) -> sqlite3.Cursor:
        # A busy call runs again on the worker thread: each run gets a cursor of its own.
        hybrid = cast(_HybridConnection, self._connection)
        cursor = hybrid._conn.cursor()
        self._cursor = cast(Any, cursor)
        return cursor

    def _run(self, operation: Any, parameters: Any) -> None:
        """Execute and fetch, then close the sqlite3 cursor, all on the thread that runs the
        call: description, rowcount and lastrowid stay readable on a closed cursor."""
        cursor = self._fresh_cursor()
        try:
            cursor.execute(operation, parameters)
            if cursor.description:
                self._rows = collections.deque(cursor.fetchall())
        finally:
            cursor.close()

    def _run_many(self, operation: Any, seq_of_parameters: Any) -> None:
        cursor = self._fresh_cursor()
        try:
            cursor.executemany(operation, seq_of_parameters)
        finally:
            cursor.close()


class _InlineConnection(AsyncAdapt_aiosqlite_connection):
    """SQLAlchemy's aiosqlite connection on a `_HybridConnection`: `_InlineCursor`s, and
    commit and rollback through `_HybridConnection.call` (no greenlet switch when inline)."""

    __slots__ = ()
    _cursor_cls = _InlineCursor

    def commit(self) -> None:
        self._end("commit")

    def rollback(self) -> None:
        self._end("rollback")

    def _end(self, name: str) -> None:
        hybrid = cast(_HybridConnection, self._connection)
        if hybrid._connection is None:
            return  # closed: nothing to end (as SQLAlchemy's adapter does)
        try:
            hybrid.call(getattr(hybrid._connection, name))
        except Exception as error:
            self._handle_exception(error)


class _InlineDbapi(AsyncAdapt_aiosqlite_dbapi):
    """Wraps `_HybridConnection`s in `_InlineConnection`; any other aiosqlite connection
    (ACME_SQLITE_INLINE=0) in SQLAlchemy's own adapter."""

    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        creator = kw.pop("async_creator_fn", None)
        if creator is None:
            return super().connect(*arg, **kw)
        connection = await_(creator(*arg, **kw))
        if isinstance(connection, _HybridConnection):
            return _InlineConnection(self, cast(Any, connection))
        return AsyncAdapt_aiosqlite_connection(self, connection)


class _SQLiteDialect(SQLiteDialect_aiosqlite):
    """aiosqlite's dialect, opening every transaction with an explicit BEGIN, or BEGIN
    IMMEDIATE on a store's writer engine.

    SQLAlchemy's recipe for this is a "begin" event listener; but an engine with any
    connection event listener dispatches every statement's before/after events too, which cost
    more CPU than the statement on SQLite. The dialect's own hook costs nothing per statement.
    The sqlite3 connection runs in autocommit mode (isolation_level None, see _make_engine), so
    the driver never opens a transaction behind SQLAlchemy's back (which would defeat BEGIN
    IMMEDIATE and SAVEPOINT); commit() and rollback() end the one opened here.
    """

    supports_statement_cache = True

    def __init__(self, acme_begin_immediate: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.begin_statement = "BEGIN IMMEDIATE" if acme_begin_immediate else "BEGIN"

    @classmethod
    def import_dbapi(cls) -> AsyncAdapt_aiosqlite_dbapi:
        return _InlineDbapi(aiosqlite, sqlite3)

    def do_begin(self, dbapi_connection: Any) -> None:
        statement = self.begin_statement
        driver = dbapi_connection.driver_connection
        if isinstance(driver, _HybridConnection) and driver.try_inline(statement):
            return  # the usual case: nothing to wait for, no cursor and no thread round trip
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(statement)
        finally:
            cursor.close()


registry.register("sqlite.acme_aiosqlite", __name__, "_SQLiteDialect")


def _make_engine(
    url: str,
    *,
    inline: bool = False,
    pool: tuple[int, int] = (5, 10),
    begin_immediate: bool = False,
) -> AsyncEngine:
    if not url.startswith("sqlite"):
        size, overflow = pool
        return create_async_engine(url, pool_pre_ping=True, pool_size=size, max_overflow=overflow)
    # Every transaction ends in an explicit commit or rollback, so the pool's extra rollback
    # on check-in (a thread round trip per transaction with aiosqlite) is not needed.
    # LIFO: the connection just returned serves the next transaction with its page cache
    # still valid; a FIFO pool rotates through every connection, each of which must re-read
    # the pages the others changed since it last ran.
    # Pool size: SQLAlchemy's default keeps 5 connections and closes every one opened beyond
    # them when it is returned. With 20 HTTP requests at once, the cart system opened and
    # closed a connection per request (aiosqlite starts a thread for each, then the connect
    # and four pragmas). A SQLite connection at rest is a file handle and an idle thread, so
    # the pool keeps as many as the process has used.
    options: dict[str, Any] = {
        "pool_reset_on_return": None,
        "pool_use_lifo": True,
        "pool_size": _SQLITE_POOL_SIZE,
        "max_overflow": _SQLITE_POOL_SIZE,
    }
    if inline:
        path = make_url(url).database or ""

        async def connect_hybrid() -> aiosqlite.Connection:
            def connector() -> sqlite3.Connection:
                return sqlite3.connect(path, timeout=_WAIT_MS / 1000, check_same_thread=False)

            connection = _HybridConnection(connector, 64, _WAIT_MS)
            # As SQLAlchemy does for its own aiosqlite connections: a connection the pool
            # never closed must not keep the interpreter alive at exit.
            connection._thread.daemon = True
            return await connection

        options["async_creator"] = connect_hybrid
    else:
        options["connect_args"] = {"timeout": _WAIT_MS / 1000}
    parsed = make_url(url)
    if parsed.drivername == "sqlite+aiosqlite":
        parsed = parsed.set(drivername="sqlite+acme_aiosqlite")
        options["acme_begin_immediate"] = begin_immediate
    engine = create_async_engine(parsed, **options)

    # Hybrid connections never wait inline: a busy call moves to the worker thread, which
    # waits up to _WAIT_MS (see _HybridConnection).
    busy_ms = 0 if inline else _WAIT_MS

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit mode: transactions are opened by _SQLiteDialect.do_begin alone. Then the
        # pragmas every connection needs.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")  # writers queue instead of failing
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
        cursor.execute("PRAGMA foreign_keys=ON")  # the catalog's REFERENCES are enforced
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; safe with WAL
        cursor.close()

    return engine


async def _apply_schema(
    engine: AsyncEngine, ddl: Sequence[str], metadata: Sequence[MetaData], store: str
) -> None:
    for attempt in range(3):
        try:
            # `engine` is the store's writer: on SQLite it takes the write lock at BEGIN. A
            # deferred transaction reads the schema first; if another process (systems
            # starting together share the runtime store) commits meanwhile, its upgrade to
            # writer fails at once with "database is locked" instead of waiting on busy_timeout.
            async with engine.connect() as conn, conn.begin():
                for number, statement in enumerate(ddl, start=1):
                    try:
                        await conn.exec_driver_sql(idempotent_ddl(statement))
                    except DBAPIError as exc:
                        raise ConfigurationError(
                            f"data store {store!r}: DDL statement {number} failed: "
                            f"{exc.orig}\n{statement.strip()[:300]}"
                        ) from exc
                for meta in metadata:
                    await conn.run_sync(meta.create_all, checkfirst=True)
            return
        except (IntegrityError, ProgrammingError):
            # Two processes creating the same PostgreSQL table at once: one loses with a
            # duplicate-type error; its second pass finds the table and skips it.
            if attempt == 2:
                raise
            await asyncio.sleep(0.2)


async def _create_database_if_missing(url: str) -> None:
    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql") or not parsed.database:
        return
    name = parsed.database
    admin = create_async_engine(
        parsed.set(database="postgres"), isolation_level="AUTOCOMMIT", pool_pre_ping=True
    )
    try:
        async with admin.connect() as conn:
            exists = await conn.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            )
            if not exists:
                quoted = '"' + name.replace('"', '""') + '"'
                try:
                    await conn.exec_driver_sql(f"CREATE DATABASE {quoted}")
                except (IntegrityError, ProgrammingError) as exc:
                    # another process created it first: "already exists", or, when both got
                    # past the check at once, the catalog's unique index on the name
                    if not any(m in str(exc) for m in ("already exists", "pg_database_datname")):
                        raise
    finally:
        await admin.dispose()


def now_utc() -> datetime:
    return datetime.now(UTC)
