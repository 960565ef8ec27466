"""Run the whole platform in-process for end-to-end tests and benchmarks.

`embedded_platform(data_dir)` is what `acme up` does, minus the screen: the supervisor's
`PlatformRunner` starts embedded NATS, the gateway on a free port, the Stripe sandbox and
then every other process of the catalog at once (one stage, started in parallel), and stops
all of them when the block ends, also when it ends with an error.

Children run in their own process groups (so a terminal's Ctrl-C does not reach them); if
this process exits without reaching the cleanup (an interrupted pytest), an atexit hook
kills whatever is left, so no stray system keeps running.

Shared servers instead of the embedded ones, by argument: `broker_url` (nats://, amqp://,
redis://, kafka://) and `database_url` (a SQLAlchemy template with `{store}`, as
ACME_DATABASE_URL). A run on shared servers starts clean and leaves nothing behind: its
databases get a name tagged with this run (`acme_{store}` becomes `acme_r1a2b3c4d_{store}`)
and are dropped at the end; what the platform's consumers would read on the broker (their
subjects and group positions) is purged before the systems start and again after they stop.
Subjects and consumer groups keep the catalog's names, so two runs must not share a broker
server at the same time (they would consume, and purge, each other's messages).

`RunningPlatform.store(name)` reads one data store, wherever it lives, read-only: rows come
back as dicts, through SQLAlchemy (`:name` parameters), from SQLite or PostgreSQL alike.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import logging
import os
import signal
import sqlite3
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from acme.runtime.registry import load_host
from acme.runtime.settings import Settings
from acme.runtime.supervisor import (
    STRIPE_HOST,
    Event,
    Platform,
    PlatformRunner,
    RunOptions,
    child_specs,
    load_platform,
)
from acme.runtime.transport import create_transport

__all__ = [
    "Backends",
    "RunningPlatform",
    "StoreReader",
    "Stores",
    "consumed",
    "embedded_platform",
    "purge_consumed",
    "read_only",
]

T = TypeVar("T")
log = logging.getLogger(__name__)

# Credentials of the staff account the identity provider seeds for this run.
ADMIN_EMAIL = "admin@acme.example"
ADMIN_PASSWORD = "e2e-admin-password"


class _Loop:
    """An event loop on a thread of its own: lets synchronous test helpers run the async
    database drivers (asyncpg, aiosqlite) while the caller's own loop is busy."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="store-reader", daemon=True
        )
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5.0)
        if not self._thread.is_alive():
            self._loop.close()


class StoreReader:
    """Read-only access to one data store: `rows(sql, **params)` gives a list of dicts.

    Values are what the driver returns for the column (a PostgreSQL uuid column gives
    uuid.UUID, SQLite's gives a string): compare through `str`/`uuid.UUID`, not by format."""

    def __init__(self, name: str, engine: AsyncEngine, loop: _Loop) -> None:
        self.name = name
        self._engine = engine
        self._loop = loop

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    async def _rows(self, sql: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        async with self._engine.connect() as conn:
            if self.dialect == "postgresql":
                await conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            result = await conn.execute(text(sql), dict(params))
            found = [dict(row._mapping) for row in result]
            await conn.rollback()
            return found

    def rows(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        return self._loop.run(self._rows(sql, params))

    def one(self, sql: str, **params: Any) -> dict[str, Any]:
        found = self.rows(sql, **params)
        if len(found) != 1:
            raise AssertionError(
                f"{self.name}: expected one row for {sql} {params}, found {len(found)}: {found}"
            )
        return found[0]

    def scalar(self, sql: str, **params: Any) -> Any:
        row = self.one(sql, **params)
        return next(iter(row.values()))

    def tables(self) -> set[str]:
        """The store's table names."""
        if self.dialect == "sqlite":
            sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
        else:
            sql = (
                "SELECT table_name AS name FROM information_schema.tables "
                "WHERE table_schema = current_schema()"
            )
        return {str(r["name"]) for r in self.rows(sql)}


class Stores:
    """Readers of a run's data stores (SQLite files in the data dir, or databases on the
    server of `database_url`); one engine per store, all disposed by `close()`."""

    def __init__(self, data_dir: Path, database_url: str | None) -> None:
        self.data_dir = data_dir
        self.database_url = database_url
        self._settings = Settings(_env_file=None, data_dir=data_dir, database_url=database_url)
        self._engines: dict[str, AsyncEngine] = {}
        self._loop: _Loop | None = None
        self._lock = threading.Lock()

    def url_of(self, store: str) -> str:
        if self.database_url is None:
            return f"sqlite+aiosqlite:///file:{self.path_of(store)}?mode=ro&uri=true"
        return self._settings.store_url(store)

    def path_of(self, store: str) -> Path:
        """The SQLite file of a store (the runtime names it <store>.sqlite3)."""
        return self.data_dir / f"{store}.sqlite3"

    def exists(self, store: str) -> bool:
        if self.database_url is None:
            return self.path_of(store).exists()
        # databases carry the snake_case form of the store id (Settings.store_url)
        return store.replace("-", "_").replace(".", "_") in self.names()

    def names(self) -> list[str]:
        """The stores that exist for this run: file stems, or the store part of the
        databases' names on the server (snake_case there: cart_database)."""
        if self.database_url is None:
            return sorted(p.name.removesuffix(".sqlite3") for p in self.data_dir.glob("*.sqlite3"))
        return sorted(self._server_stores())

    def _server_stores(self) -> dict[str, str]:
        prefix, suffix = _around_store(self.database_url or "")

        async def names() -> list[str]:
            return await _databases_like(self.database_url or "", prefix, suffix)

        found = self._ensure_loop().run(names())
        return {d[len(prefix) : len(d) - len(suffix)]: d for d in found}

    def _ensure_loop(self) -> _Loop:
        with self._lock:
            if self._loop is None:
                self._loop = _Loop()
            return self._loop

    def reader(self, store: str) -> StoreReader:
        if self.database_url is None and not self.path_of(store).exists():
            raise FileNotFoundError(
                f"data store {self.path_of(store)} does not exist (has its system started?)"
            )
        loop = self._ensure_loop()
        with self._lock:
            engine = self._engines.get(store)
            if engine is None:
                engine = create_async_engine(
                    self.url_of(store), pool_size=1, max_overflow=0, pool_pre_ping=True
                )
                self._engines[store] = engine
        return StoreReader(store, engine, loop)

    def close(self) -> None:
        if self._loop is None:
            return
        engines, self._engines = list(self._engines.values()), {}

        async def dispose() -> None:
            for engine in engines:
                await engine.dispose()

        with contextlib.suppress(Exception):
            self._loop.run(dispose(), timeout=30.0)
        self._loop.close()
        self._loop = None


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only sqlite3 connection to a SQLite store file (never creates it, never writes).
    SQLite only: `RunningPlatform.store(name)` reads a store wherever it lives."""
    if not path.exists():
        raise FileNotFoundError(f"data store {path} does not exist (has its system started?)")
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
    conn.row_factory = sqlite3.Row
    try:
        yield conn
    finally:
        conn.close()


@contextlib.contextmanager
def _reading(stores: Stores, store: str) -> Iterator[StoreReader]:
    yield stores.reader(store)


def _around_store(template: str) -> tuple[str, str]:
    """The database name of a template, split around `{store}`: ("acme_r12_", "")."""
    marker = "\x00"
    database = make_url(template.replace("{store}", marker)).database or ""
    if marker not in database:
        raise ValueError(f"the database name of {template!r} must contain {{store}}")
    before, after = database.split(marker, 1)
    return before, after


async def _databases_like(template: str, prefix: str, suffix: str) -> list[str]:
    url = make_url(template.replace("{store}", "x"))
    if not url.drivername.startswith("postgresql"):
        return []
    pattern = _like_escape(prefix) + "%" + _like_escape(suffix)
    admin = create_async_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            found = await conn.execute(
                text("SELECT datname FROM pg_database WHERE datname LIKE :p"), {"p": pattern}
            )
            return sorted(str(n) for n in found.scalars())
    finally:
        await admin.dispose()


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")


@dataclass(frozen=True)
class Backends:
    """Where one run's broker and stores live; `tag` names this run's databases."""

    broker_url: str | None = None
    database_url: str | None = None
    tag: str = field(default_factory=lambda: f"r{uuid.uuid4().hex[:8]}")

    @classmethod
    def of(cls, broker_url: str | None, database_url: str | None) -> Backends:
        """Validate the given URLs; the database template gets this run's tag before {store}."""
        backends = cls(broker_url or None, None)
        if not database_url:
            return backends
        if "{store}" not in database_url:
            raise ValueError(f"database_url must contain '{{store}}': {database_url!r}")
        _around_store(database_url)
        tagged = database_url.replace("{store}", f"{backends.tag}_{{store}}")
        return cls(backends.broker_url, tagged, backends.tag)

    def env(self) -> dict[str, str]:
        """What the children need to find the stores (the broker goes through RunOptions).

        On a database server each process keeps one idle connection per store (the runtime's
        default is 5): some 15 processes with several stores each would otherwise hold most of
        a PostgreSQL's default 100 connections. Busy moments still open up to 10 per store."""
        if not self.database_url:
            return {}
        return {
            "ACME_DATABASE_URL": self.database_url,
            "ACME_DATABASE_POOL_SIZE": "1",
            "ACME_DATABASE_MAX_OVERFLOW": "9",
        }

    async def drop_databases(self) -> list[str]:
        """Drop every database of this run on the server (PostgreSQL); returns their names."""
        if not self.database_url:
            return []
        url = make_url(self.database_url.replace("{store}", "x"))
        if not url.drivername.startswith("postgresql"):
            return []
        prefix, suffix = _around_store(self.database_url)
        names = await _databases_like(self.database_url, prefix, suffix)
        admin = create_async_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        try:
            async with admin.connect() as conn:
                for name in names:
                    quoted = '"' + name.replace('"', '""') + '"'
                    await conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
        finally:
            await admin.dispose()
        return names


def consumed(platform: Platform) -> list[tuple[str, str]]:
    """(subject, group) of every broker subscription of `platform`'s systems: what their
    consumers read (request/reply subjects excluded: nothing waits on them)."""
    pairs: dict[tuple[str, str], None] = {}
    for host in platform.hosts:
        if host.name == STRIPE_HOST:
            continue
        for binding in load_host(host.name).services:
            for incoming in binding.spec.receives:
                if incoming.channel.is_broker and incoming.message.reply_model is None:
                    pairs[(incoming.channel.address, binding.id)] = None
    return list(pairs)


async def purge_consumed(platform: Platform, broker_url: str, data_dir: Path) -> int:
    """Forget what waits on the shared broker for the consumers of `platform`'s systems (each
    subject a service consumes, and its group's position), as on a fresh server. Returns the
    number of (subject, group) pairs purged."""
    settings = Settings(_env_file=None, data_dir=data_dir, broker_url=broker_url)
    transport = create_transport(broker_url, settings, log)
    pairs = consumed(platform)
    try:
        for subject, group in pairs:
            await transport.purge(subject, group)
    finally:
        await transport.close()
    return len(pairs)


@dataclass
class RunningPlatform:
    """What a test or benchmark needs to know about the platform it started."""

    runner: PlatformRunner
    data_dir: Path
    gateway_url: str
    broker_url: str
    admin_email: str = ADMIN_EMAIL
    admin_password: str = ADMIN_PASSWORD
    hosts: list[str] = field(default_factory=list)
    stores: Stores | None = None
    backends: Backends = field(default_factory=Backends)

    def __post_init__(self) -> None:
        if self.stores is None:
            self.stores = Stores(self.data_dir, self.backends.database_url)

    @property
    def shared_broker(self) -> bool:
        """True when the run uses a broker it did not start (a shared server)."""
        return self.backends.broker_url is not None

    @property
    def database(self) -> str:
        """ "sqlite" (files in the data dir) or the dialect of the shared server."""
        url = self.backends.database_url
        return "sqlite" if url is None else make_url(url.replace("{store}", "x")).get_backend_name()

    def url_of(self, host: str) -> str:
        """Direct URL of one process (bypassing the gateway), e.g. the Stripe sandbox."""
        status = self.runner.snapshot().get(host)
        if status is None or status.url is None:
            raise LookupError(f"{host} is not running (running: {', '.join(self.hosts)})")
        return status.url

    @property
    def stripe_url(self) -> str:
        return self.url_of(STRIPE_HOST)

    def store_path(self, store: str) -> Path:
        """The SQLite file of a data store (meaningful when the stores are SQLite files)."""
        return self.data_dir / f"{store}.sqlite3"

    def store_exists(self, store: str) -> bool:
        assert self.stores is not None
        return self.stores.exists(store)

    def store(self, store: str) -> contextlib.AbstractContextManager[StoreReader]:
        """A read-only reader of one data store (SQLite file or database on the server)."""
        assert self.stores is not None
        return _reading(self.stores, store)

    def restarts(self) -> dict[str, int]:
        return {name: s.restarts for name, s in self.runner.snapshot().items() if s.restarts}


def _child_env(data_dir: Path, extra: Mapping[str, str]) -> dict[str, str]:
    # Nothing from the caller's ACME_* settings leaks in: the run is what the arguments say
    # (an exported ACME_BROKER_URL would otherwise send it to another broker). The Kafka
    # client's group settings (ACME_KAFKA_*) pass: they tune the broker the arguments chose.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ACME_") or k.startswith("ACME_KAFKA_")
    }
    env.update(
        {
            "ACME_DATA_DIR": str(data_dir),
            "ACME_ADMIN_EMAIL": ADMIN_EMAIL,
            "ACME_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "ACME_SHUTDOWN_TIMEOUT": "5",
            "ACME_LOG_LEVEL": "INFO",
        }
    )
    env.update(extra)
    return env


def _kill_leftovers(runner: PlatformRunner) -> None:
    for status in runner.snapshot().values():
        if status.pid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(status.pid, signal.SIGKILL)


@contextlib.asynccontextmanager
async def embedded_platform(
    data_dir: Path,
    *,
    only: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    ready_timeout: float = 120.0,
    on_event: Callable[[Event], None] | None = None,
    broker_url: str | None = None,
    database_url: str | None = None,
) -> AsyncIterator[RunningPlatform]:
    """Start the platform (or the `only` subset plus what it depends on); stop it on exit.

    `broker_url` / `database_url` (a template with `{store}`) put it on shared servers; None
    (the default) runs embedded NATS and SQLite files in `data_dir`."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    backends = Backends.of(broker_url, database_url)
    platform = load_platform().select(only)
    runner = PlatformRunner(
        RunOptions(
            data_dir=data_dir,
            broker_url=backends.broker_url,
            port=0,
            ready_timeout=ready_timeout,
            stop_timeout=10.0,
        ),
        platform,
        child_specs(platform),
        on_event=on_event,
        base_env=_child_env(data_dir, {**backends.env(), **(env or {})}),
    )
    async with shared_backends(platform, backends, data_dir, runner) as stores:
        await runner.start()  # raises (after stopping what started) if anything fails
        assert runner.gateway_url is not None and runner.broker_url is not None
        yield RunningPlatform(
            runner,
            data_dir,
            runner.gateway_url,
            runner.broker_url,
            hosts=list(runner.snapshot()),
            stores=stores,
            backends=backends,
        )


@contextlib.asynccontextmanager
async def shared_backends(
    platform: Platform, backends: Backends, data_dir: Path, runner: PlatformRunner
) -> AsyncIterator[Stores]:
    """Around a run of `runner`: the shared broker purged before and after, the run's
    databases dropped after, the children killed if this process exits first, the store
    readers closed. The caller starts the runner inside; this stops it."""
    killer = functools.partial(_kill_leftovers, runner)
    atexit.register(killer)
    # SIGTERM (a `kill`, a timeout) unwinds like Ctrl-C, through the `finally` below: its
    # default action ends the process at once, with no atexit, and leaves the children running.
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    on_sigterm = False
    if task is not None and threading.current_thread() is threading.main_thread():
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
        on_sigterm = True
    stores = Stores(data_dir, backends.database_url)
    try:
        if backends.broker_url:
            await purge_consumed(platform, backends.broker_url, data_dir)
        yield stores
    finally:
        try:
            await runner.stop()
        finally:
            atexit.unregister(killer)
            if on_sigterm:
                loop.remove_signal_handler(signal.SIGTERM)
            stores.close()
            if backends.broker_url:
                try:
                    await purge_consumed(platform, backends.broker_url, data_dir)
                except Exception:  # the broker may be gone; the next run purges first anyway
                    log.exception("purging the shared broker after the run failed")
            await backends.drop_databases()
