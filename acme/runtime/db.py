"""One database per data store: SQLite files by default, any SQLAlchemy async URL by setting.

The catalog's schema.sql is written portably (one text for SQLite and PostgreSQL), so the
runtime applies it as is; it only makes `CREATE TABLE/INDEX` idempotent so that every start
can apply it. The runtime's own tables (outbox, inbox, dead letters) are declared here as
SQLAlchemy tables and created when the catalog's SQL did not create them.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
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
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from acme.runtime.errors import ConfigurationError
from acme.runtime.settings import Settings

__all__ = [
    "IMMEDIATE",
    "Stores",
    "dead_letters",
    "idempotent_ddl",
    "insert_ignore",
    "message_inbox",
    "message_outbox",
    "runtime_metadata",
    "utc",
]

# Execution option: open the transaction with BEGIN IMMEDIATE on SQLite. A message handler's
# transaction always writes (its inbox row), and taking the write lock up front means
# concurrent handlers queue on busy_timeout instead of failing with "database is locked"
# when a read transaction tries to upgrade.
IMMEDIATE = "acme_sqlite_immediate"

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
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt: Any = sqlite_insert(table).values(**values).on_conflict_do_nothing()
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt = pg_insert(table).values(**values).on_conflict_do_nothing()
    else:
        # Other databases: a savepoint keeps the surrounding transaction usable on conflict.
        try:
            async with conn.begin_nested():
                await conn.execute(table.insert().values(**values))
        except IntegrityError:
            return False
        return True
    result = await conn.execute(stmt)
    return bool(result.rowcount == 1)


class Stores:
    """Async engines per data store, opened once per process; DDL applied on open."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._engines: dict[str, AsyncEngine] = {}
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
            engine = _make_engine(url)
            try:
                await _apply_schema(engine, ddl, metadata, store)
            except BaseException:
                await engine.dispose()
                raise
            self._engines[store] = engine
            return engine

    async def dispose(self) -> None:
        engines, self._engines = self._engines, {}
        for engine in engines.values():
            await engine.dispose()


def _make_engine(url: str) -> AsyncEngine:
    if not url.startswith("sqlite"):
        return create_async_engine(url, pool_pre_ping=True)
    engine = create_async_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (pysqlite's implicit transactions would defeat
        # BEGIN IMMEDIATE and SAVEPOINT), then set the pragmas every connection needs.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
        cursor.execute("PRAGMA busy_timeout=30000")  # writers queue instead of failing
        cursor.execute("PRAGMA foreign_keys=ON")  # the catalog's REFERENCES are enforced
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; safe with WAL
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get(IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


async def _apply_schema(
    engine: AsyncEngine, ddl: Sequence[str], metadata: Sequence[MetaData], store: str
) -> None:
    for attempt in range(3):
        try:
            async with engine.begin() as conn:
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
                    if "already exists" not in str(exc):
                        raise
    finally:
        await admin.dispose()


def now_utc() -> datetime:
    return datetime.now(UTC)
