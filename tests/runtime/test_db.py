"""Data stores: SQLite pragmas, idempotent DDL, the runtime tables, PostgreSQL by URL."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from acme.runtime.db import Stores, idempotent_ddl
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


async def test_sqlite_store_pragmas_and_repeatable_ddl(settings: Settings) -> None:
    for _ in range(2):  # every start applies the DDL again
        stores = Stores(settings)
        engine = await stores.open("family-db", DDL)
        async with engine.connect() as conn:
            assert await conn.scalar(text("PRAGMA journal_mode")) == "wal"
            assert await conn.scalar(text("PRAGMA foreign_keys")) == 1
            assert await conn.scalar(text("PRAGMA busy_timeout")) == 30000
            tables = set(
                (await conn.execute(text("SELECT name FROM sqlite_master WHERE type='table'")))
                .scalars()
                .all()
            )
        assert {"parent", "child", "message_outbox", "message_inbox"} <= tables
        await stores.dispose()
    assert (settings.data_dir / "family-db.sqlite3").exists()


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
async def test_postgres_store_is_created_and_migrated(settings: Settings) -> None:
    suffix = uuid.uuid4().hex[:8]
    pg = settings.model_copy(
        update={"database_url": "postgresql+asyncpg://postgres@127.0.0.1:5432/acme_test_{store}"}
    )
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
        from sqlalchemy.ext.asyncio import create_async_engine

        admin = create_async_engine(
            "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT"
        )
        async with admin.connect() as conn:
            await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "acme_test_family_{suffix}"')
        await admin.dispose()
