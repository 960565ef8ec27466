"""Data stores: SQLite pragmas, idempotent DDL, the runtime tables, PostgreSQL by URL."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Column, MetaData, String, Table, func, select, text
from sqlalchemy.exc import IntegrityError

from acme.runtime.db import (
    Stores,
    _HybridConnection,
    idempotent_ddl,
    insert_ignore,
    message_inbox,
)
from acme.runtime.errors import ConfigurationError
from acme.runtime.settings import Settings

DDL = (
    "CREATE TABLE parent (id TEXT PRIMARY KEY)",
    "CREATE TABLE child (id TEXT PRIMARY KEY, parent_id TEXT NOT NULL REFERENCES parent (id))",
    "CREATE UNIQUE INDEX child_parent ON child (parent_id)",
)


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("CREATE TABLE t (a INT)", "CREATE TABLE IF NOT EXISTS t (a INT)"),
        ("  create unique index i on t (a)", "CREATE UNIQUE INDEX IF NOT EXISTS i on t (a)"),
        ("CREATE TABLE IF NOT EXISTS t (a INT)", "CREATE TABLE IF NOT EXISTS t (a INT)"),
        ("INSERT INTO t VALUES (1)", "INSERT INTO t VALUES (1)"),
    ],
)
def test_idempotent_ddl(statement: str, expected: str) -> None:
    assert idempotent_ddl(statement) == expected


@pytest.mark.parametrize("inline", [True, False])
async def test_sqlite_store_pragmas_and_repeatable_ddl(settings: Settings, inline: bool) -> None:
    settings = settings.model_copy(update={"sqlite_inline": inline})
    for _ in range(2):  # every start applies the DDL again
        stores = Stores(settings)
        engine = await stores.open("family-db", DDL)
        async with engine.connect() as conn:
            assert await conn.scalar(text("PRAGMA journal_mode")) == "wal"
            assert await conn.scalar(text("PRAGMA foreign_keys")) == 1
            # Inline calls never wait (a busy one moves to the worker thread, which waits).
            assert await conn.scalar(text("PRAGMA busy_timeout")) == (0 if inline else 30000)
            tables = set(
                (await conn.execute(text("SELECT name FROM sqlite_master WHERE type='table'")))
                .scalars()
                .all()
            )
        assert {"parent", "child", "message_outbox", "message_inbox"} <= tables
        await stores.dispose()
    assert (settings.data_dir / "family-db.sqlite3").exists()


async def test_a_write_waits_for_another_connections_lock(settings: Settings) -> None:
    stores = Stores(settings)  # default: SQLite calls inline unless they would wait
    engine = await stores.open("family-db", DDL)
    path = settings.data_dir / "family-db.sqlite3"
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock

        async def write() -> None:
            async with stores.writer("family-db").begin() as conn:
                await conn.execute(text("INSERT INTO parent VALUES ('waited')"))

        writer = asyncio.create_task(write())
        for _ in range(5):
            await asyncio.sleep(0.02)
        assert not writer.done(), "the write must wait for the lock, neither fail nor skip it"
        other.execute("COMMIT")
        await writer
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT count(*) FROM parent")) == 1
            assert await conn.scalar(text("PRAGMA busy_timeout")) == 0  # restored after waiting
    finally:
        other.close()
        await stores.dispose()


async def test_hybrid_connection_waits_only_on_its_worker_thread(settings: Settings) -> None:
    stores = Stores(settings)
    engine = await stores.open("family-db", DDL)
    loop_thread = threading.get_ident()
    try:
        async with engine.connect() as conn:
            raw = await conn.get_raw_connection()
            hybrid = raw.driver_connection
            assert isinstance(hybrid, _HybridConnection)
            calls: list[tuple[bool, int]] = []

            def call(busy_first: bool) -> str:
                timeout = hybrid._conn.execute("PRAGMA busy_timeout").fetchone()[0]
                calls.append((threading.get_ident() == loop_thread, timeout))
                if busy_first and len(calls) == 2:
                    exc = sqlite3.OperationalError("database is locked")
                    exc.sqlite_errorcode = sqlite3.SQLITE_BUSY  # type: ignore[attr-defined]
                    raise exc
                return "done"

            assert await hybrid._execute(call, False) == "done"
            assert await hybrid._execute(call, True) == "done"
            # inline without waiting; then the busy call again, on the worker thread, waiting
            assert calls == [(True, 0), (True, 0), (False, 30_000)]
            with pytest.raises(sqlite3.OperationalError, match="no such table"):
                await hybrid._execute(hybrid._conn.execute, "SELECT * FROM missing")
            assert await conn.scalar(text("PRAGMA busy_timeout")) == 0
    finally:
        await stores.dispose()


def _record_thread_calls(hybrid: _HybridConnection) -> list[str]:
    """Names of the calls the connection hands to its worker thread, from now on (each is
    `functools.partial(_waiting, ...)`); the calls still run."""
    calls: list[str] = []
    loop_thread = threading.get_ident()
    run_on_thread = hybrid._on_thread

    async def recorded(function: Any) -> Any:
        def named() -> Any:
            assert threading.get_ident() != loop_thread
            calls.append(function.func.__name__)
            return function()

        return await run_on_thread(named)

    hybrid._on_thread = recorded  # type: ignore[method-assign]
    return calls


async def test_statements_run_inline_and_move_to_the_thread_only_to_wait(
    settings: Settings,
) -> None:
    stores = Stores(settings)
    engine = await stores.open("family-db", DDL)
    path = settings.data_dir / "family-db.sqlite3"
    other = sqlite3.connect(path, isolation_level=None)
    try:
        async with engine.connect() as conn:
            hybrid = (await conn.get_raw_connection()).driver_connection
            assert isinstance(hybrid, _HybridConnection)
            threads = _record_thread_calls(hybrid)
            async with conn.begin():
                await conn.execute(text("INSERT INTO parent VALUES ('a'), ('b')"))
                rows = await conn.execute(text("SELECT id FROM parent ORDER BY id"))
                assert rows.scalars().all() == ["a", "b"]
                with pytest.raises(IntegrityError):
                    await conn.execute(text("INSERT INTO child VALUES ('c', 'nobody')"))
            assert threads == []  # nothing waited: every call ran on the event loop's thread

            other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
            write = asyncio.create_task(conn.execute(text("INSERT INTO parent VALUES ('c')")))
            for _ in range(5):
                await asyncio.sleep(0.02)
            assert not write.done() and threads == ["_waiting"]  # waiting on the worker thread
            other.execute("COMMIT")
            await write
            await conn.commit()
            assert await conn.scalar(text("SELECT count(*) FROM parent")) == 3
    finally:
        other.close()
        await stores.dispose()


async def test_while_a_call_is_on_the_worker_thread_later_calls_queue_behind_it(
    settings: Settings,
) -> None:
    """A cancelled caller leaves its call running on the worker thread (shielded); the
    connection's next statements must not run beside it on the event loop."""
    stores = Stores(settings)
    engine = await stores.open("family-db", DDL)
    try:
        async with engine.connect() as conn:
            hybrid = (await conn.get_raw_connection()).driver_connection
            assert isinstance(hybrid, _HybridConnection)
            on_thread = _record_thread_calls(hybrid)
            hybrid._in_thread += 1  # as if a cancelled caller's call were still running there
            try:
                assert await conn.scalar(text("SELECT count(*) FROM parent")) == 0
            finally:
                hybrid._in_thread -= 1
            assert on_thread == ["_waiting", "_waiting"]  # BEGIN, then the SELECT
            await conn.rollback()
    finally:
        await stores.dispose()


async def test_the_writer_engine_takes_the_write_lock_at_begin(settings: Settings) -> None:
    stores = Stores(settings)
    await stores.open("family-db", DDL)
    path = settings.data_dir / "family-db.sqlite3"
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        async with stores.writer("family-db").begin():
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")  # held since BEGIN, before any write
        async with stores.get("family-db").begin():
            other.execute("BEGIN IMMEDIATE")  # a plain transaction defers it
            other.execute("ROLLBACK")
        assert stores.writer("family-db") is stores.writer("family-db")
        # BEGIN comes from the dialect: no connection event listener, so statements dispatch
        # no before/after events (their cost exceeded the statement's on SQLite).
        for engine in (stores.get("family-db"), stores.writer("family-db")):
            assert not engine.sync_engine._has_events
    finally:
        other.close()
        await stores.dispose()


async def test_insert_ignore_reports_whether_the_row_was_new(settings: Settings) -> None:
    stores = Stores(settings)
    engine = await stores.open("family-db", DDL)
    row = {"consumer": "c", "message_id": "m-1", "message_type": "t"}
    try:
        async with engine.begin() as conn:
            now = datetime.now(UTC)
            assert await insert_ignore(conn, message_inbox, {**row, "received_at": now})
            assert not await insert_ignore(conn, message_inbox, {**row, "received_at": now})
            # SQL expressions as values still work (compiled into the statement)
            assert await insert_ignore(
                conn, message_inbox, {**row, "message_id": "m-2", "received_at": func.now()}
            )
            count = await conn.scalar(text("SELECT count(*) FROM message_inbox"))
        assert count == 2
    finally:
        await stores.dispose()


@pytest.mark.parametrize("inline", [True, False])
async def test_insert_ignore_stores_what_sqlalchemy_stores(
    settings: Settings, inline: bool
) -> None:
    """Inline connections send the statement straight to SQLite; the stored text and what
    reads return must not differ from SQLAlchemy's own insert (the thread mode's path)."""
    settings = settings.model_copy(update={"sqlite_inline": inline})
    stores = Stores(settings)
    engine = await stores.open("family-db", DDL)
    at = datetime(2026, 1, 2, 3, 4, 5, 60, tzinfo=UTC)
    try:
        async with stores.writer("family-db").begin() as conn:
            values = {"consumer": "c", "message_id": "m", "message_type": "t", "received_at": at}
            assert await insert_ignore(conn, message_inbox, values)
            assert not await insert_ignore(conn, message_inbox, {**values, "message_type": "u"})
        async with engine.connect() as conn:
            raw = await conn.execute(text("SELECT message_type, received_at FROM message_inbox"))
            assert raw.all() == [("t", "2026-01-02 03:04:05.000060")]
            typed = await conn.scalar(select(message_inbox.c.received_at))
            assert typed == at.replace(tzinfo=None)
    finally:
        await stores.dispose()


async def test_insert_ignore_applies_python_side_defaults(settings: Settings) -> None:
    metadata = MetaData()
    table = Table(
        "with_default",
        metadata,
        Column("id", String, primary_key=True),
        Column("kind", String, nullable=False, default="plain"),
    )
    stores = Stores(settings)
    await stores.open("defaults-db", metadata=(metadata,))
    try:
        async with stores.writer("defaults-db").begin() as conn:
            assert await insert_ignore(conn, table, {"id": "a"})
            assert await insert_ignore(conn, table, {"id": "b", "kind": "given"})
            assert not await insert_ignore(conn, table, {"id": "a"})
            rows = (await conn.execute(select(table).order_by(table.c.id))).all()
        assert rows == [("a", "plain"), ("b", "given")]
    finally:
        await stores.dispose()


async def test_inline_insert_waits_for_another_connections_lock(settings: Settings) -> None:
    stores = Stores(settings)
    engine = await stores.open("family-db", DDL)
    other = sqlite3.connect(settings.data_dir / "family-db.sqlite3", isolation_level=None)
    try:
        async with engine.connect() as conn, conn.begin():  # deferred: no lock taken yet
            other.execute("BEGIN IMMEDIATE")
            values = {"consumer": "c", "message_id": "m", "message_type": "t"}
            insert = asyncio.create_task(
                insert_ignore(conn, message_inbox, {**values, "received_at": datetime.now(UTC)})
            )
            for _ in range(5):
                await asyncio.sleep(0.02)
            assert not insert.done(), "the insert must wait for the lock, neither fail nor skip"
            other.execute("COMMIT")
            assert await insert
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT count(*) FROM message_inbox")) == 1
    finally:
        other.close()
        await stores.dispose()


async def test_foreign_keys_are_enforced(settings: Settings) -> None:
    stores = Stores(settings)
    engine = await stores.open("family-db", DDL)
    try:
        with pytest.raises(Exception, match="FOREIGN KEY"):
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO child VALUES ('c', 'missing-parent')"))
    finally:
        await stores.dispose()


async def test_broken_ddl_names_the_store_and_statement(settings: Settings) -> None:
    stores = Stores(settings)
    with pytest.raises(ConfigurationError, match=r"'bad-db': DDL statement 2 failed"):
        await stores.open("bad-db", ("CREATE TABLE ok (a INT)", "CREATE TABLE broken ("))
    await stores.dispose()


def test_store_ids_cannot_escape_the_data_dir(settings: Settings) -> None:
    with pytest.raises(ConfigurationError, match="not a safe"):
        settings.store_url("../etc/passwd")


def test_database_url_template_needs_store() -> None:
    with pytest.raises(ValueError, match=r"\{store\}"):
        Settings(_env_file=None, database_url="postgresql+asyncpg://db/acme")  # type: ignore[call-arg]


@pytest.mark.external
async def test_postgres_store_is_created_and_migrated(
    postgres_settings: tuple[Settings, str],
) -> None:
    pg, suffix = postgres_settings
    store = f"family-{suffix}"
    stores = Stores(pg)
    try:
        engine = await stores.open(store, DDL)
        await stores.dispose()
        engine = await Stores(pg).open(store, DDL)  # second start: DDL is idempotent
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO parent VALUES ('p')"))
            count = await conn.scalar(text("SELECT count(*) FROM message_outbox"))
        assert count == 0
        await engine.dispose()
    finally:
        await stores.dispose()
