"""Run one Acme system in-process, the way `acme up` runs it, and drive it like its neighbours.

A test gets a started `SystemApp` for a real host from the generated registry, on a real
embedded NATS and private SQLite files, plus:

- `client`: an httpx client on the system's HTTP app (the generated routers, auth included);
- `deliver(payload)`: publish a message onto the subject the catalog routes it on, with the
  runtime's headers, as if the neighbouring service had sent it;
- `published(message_id)`: wait for what the system published (read off the broker);
- `respond(message_id, answer)`: play the other side of a request/reply exchange;
- `token(subject, roles)` / `auth(...)`: bearer tokens the system's authorizer accepts;
- `rows(store, sql)`: read a data store directly to assert on state, each value by its
  meaning (UUIDs, aware UTC datetimes, bools, decoded JSON), whichever database it is on.

Shared servers instead, by configuration only (scripts/conformance.sh): ACME_TEST_BROKER_URL
(nats://, amqp://, redis://) runs the system on that broker, with `published` fed by what the
in-process systems publish and `respond` answering through the same broker; the subjects the
system consumes are purged before it starts, as on a fresh server. ACME_TEST_DATABASE_URL (a
template with `{store}`) puts its stores on that server, in databases named after this test
run and data dir (so a restart in one test finds its data); `drop_test_databases()` removes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib
import json
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import httpx
import nats
from nats.aio.msg import Msg
from pydantic import BaseModel
from sqlalchemy import JSON, Boolean, DateTime, Uuid, text
from sqlalchemy.types import TypeEngine

from acme.runtime import SystemApp
from acme.runtime.auth import issue_token
from acme.runtime.registry import DatastoreSpec, implementation_module, load_host
from acme.runtime.settings import Settings
from acme.runtime.transport import Delivery, Reply, Transport, create_transport
from acme.runtime.transport.base import RPC_PREFIX
from acme.runtime.wire import (
    CORRELATION_ID,
    MESSAGE_TYPE,
    REPLY_ERROR,
    dump_payload,
    message_headers,
)
from generator.contracts import Incoming

JWT_SECRET = "test-secret-that-is-long-enough-for-hs256"
TEST_BROKER_URL = "ACME_TEST_BROKER_URL"
TEST_DATABASE_URL = "ACME_TEST_DATABASE_URL"
_RUN = uuid.uuid4().hex[:6]  # databases of this test session share this tag


def settings_for_tests(data_dir: Path, nats_url: str, **changes: Any) -> Settings:
    """Fast retries and polling, a private data dir, nothing read from a developer's .env."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "broker_url": os.environ.get(TEST_BROKER_URL) or nats_url,
        "database_url": _test_database_url(data_dir),
        "max_attempts": 3,
        "retry_base_delay": 0.01,
        "retry_max_delay": 0.05,
        "relay_poll_interval": 0.2,
        "shutdown_timeout": 5.0,
        "request_timeout": 3.0,
        "jwt_secret": JWT_SECRET,
    }
    values.update(changes)
    return Settings(_env_file=None, **values)


def _test_database_url(data_dir: Path) -> str | None:
    template = os.environ.get(TEST_DATABASE_URL)
    if not template:
        return None
    if "{store}" not in template:
        raise ValueError(f"{TEST_DATABASE_URL} must contain '{{store}}': {template!r}")
    key = hashlib.sha1(str(data_dir.resolve()).encode()).hexdigest()[:8]
    return template.replace("{store}", f"t{_RUN}{key}_{{store}}")


def drop_test_databases() -> list[str]:
    """Drop the databases this test session created on ACME_TEST_DATABASE_URL's server."""
    template = os.environ.get(TEST_DATABASE_URL)
    if not template or not template.startswith("postgresql"):
        return []
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    url = make_url(template.replace("{store}", "\x00"))
    prefix = (url.database or "").split("\x00")[0] + f"t{_RUN}"
    pattern = prefix.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%") + "%"

    async def drop() -> list[str]:
        admin = create_async_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        try:
            async with admin.connect() as conn:
                names = (
                    await conn.execute(
                        text("SELECT datname FROM pg_database WHERE datname LIKE :p"),
                        {"p": pattern},
                    )
                ).scalars()
                dropped = sorted(names)
                for name in dropped:
                    await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                return dropped
        finally:
            await admin.dispose()

    return asyncio.run(drop())


# Harnesses running on a shared broker: each sees what every in-process system publishes,
# as the catalog-wide NATS subscription does on the embedded broker.
_LIVE: list[SystemHarness] = []


async def _use_shared_broker(app: SystemApp) -> None:
    """Give `app` a transport on ACME_TEST_BROKER_URL, with its consumed subjects purged and
    its publishes reported to every live harness."""
    url = app.settings.broker_url
    assert url is not None
    transport = create_transport(url, app.settings, app.logger)
    for binding in app.host.services:
        for incoming in binding.spec.receives:
            if incoming.channel.is_broker and incoming.message.reply_model is None:
                await transport.purge(incoming.channel.address, binding.id)
    publish = transport.publish

    async def reporting_publish(
        subject: str, body: bytes, headers: Any, *, dedupe_id: str | None = None
    ) -> None:
        await publish(subject, body, headers, dedupe_id=dedupe_id)
        for harness in list(_LIVE):
            harness._capture(subject, dict(headers), body)

    transport.publish = reporting_publish  # type: ignore[method-assign]
    app.transport = transport


@dataclass
class Captured:
    subject: str
    message_type: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class SystemHarness:
    app: SystemApp
    client: httpx.AsyncClient
    settings: Settings
    _nc: Any
    _seen: list[Captured] = field(default_factory=list)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _responders: list[Transport] = field(default_factory=list)

    # -- messages in -----------------------------------------------------------------
    def incoming_for(self, message_id: str) -> Incoming:
        for binding in self.app.host.services:
            for incoming in binding.spec.receives:
                if incoming.message.id == message_id:
                    return incoming
        raise LookupError(f"{self.app.id} receives no {message_id!r} according to the catalog")

    async def deliver(
        self,
        message_id: str,
        payload: BaseModel | dict[str, Any],
        *,
        id: str | None = None,
        correlation_id: str | None = None,
        version: str | None = None,
    ) -> str:
        """Publish `payload` as catalog message `message_id`; returns the wire message id."""
        incoming = self.incoming_for(message_id)
        spec = incoming.message
        if isinstance(payload, dict):
            payload = spec.model.model_validate(payload)
        wire_id = id or str(uuid.uuid4())
        headers = message_headers(
            message_id=wire_id,
            message_type=spec.id,
            message_version=version or spec.version,
            correlation_id=correlation_id or str(uuid.uuid4()),
            causation_id=None,
            traceparent=None,
        )
        assert self.app.transport is not None
        await self.app.transport.publish(incoming.channel.address, dump_payload(payload), headers)
        return wire_id

    # -- messages out ----------------------------------------------------------------
    async def _record(self, msg: Msg) -> None:
        self._capture(msg.subject, dict(msg.headers or {}), msg.data)

    def _capture(self, subject: str, headers: dict[str, str], data: bytes) -> None:
        if subject.startswith(RPC_PREFIX) or "message-type" not in headers:
            return
        try:
            body = json.loads(data)
        except ValueError:
            body = {"_raw": data.decode(errors="replace")}
        self._seen.append(Captured(subject, headers[MESSAGE_TYPE], headers, body))
        self._arrived.set()

    def seen(self, message_id: str | None = None) -> list[Captured]:
        return [c for c in self._seen if message_id is None or c.message_type == message_id]

    async def published(
        self,
        message_id: str,
        *,
        count: int = 1,
        where: Callable[[dict[str, Any]], bool] | None = None,
        timeout: float = 10.0,
    ) -> list[Captured]:
        """Wait until `count` messages of type `message_id` (matching `where`) were published."""

        def matching() -> list[Captured]:
            return [c for c in self.seen(message_id) if where is None or where(c.body)]

        async with asyncio.timeout(timeout):
            while len(found := matching()) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return found

    async def quiet(self, seconds: float = 0.5) -> None:
        """Let in-flight handlers and relays settle (for asserting that nothing happens)."""
        await asyncio.sleep(seconds)

    async def respond(
        self,
        subject: str,
        answer: Callable[[dict[str, Any]], Awaitable[BaseModel | None] | BaseModel | None],
    ) -> None:
        """Answer requests on `subject` (a channel address) like the service across would;
        an answer of None replies with an error."""

        async def on_request(msg: Msg) -> None:
            result = await _answered(answer, json.loads(msg.data))
            if result is None:
                await self._nc.publish(msg.reply, b"", headers={REPLY_ERROR: "refused by test"})
            else:
                await self._nc.publish(msg.reply, dump_payload(result))

        if os.environ.get(TEST_BROKER_URL):
            await self._respond_on_shared_broker(subject, answer)
            return
        await self._nc.subscribe(RPC_PREFIX + subject, cb=on_request)

    async def _respond_on_shared_broker(
        self,
        subject: str,
        answer: Callable[[dict[str, Any]], Awaitable[BaseModel | None] | BaseModel | None],
    ) -> None:
        assert self.settings.broker_url is not None
        transport = create_transport(self.settings.broker_url, self.settings)

        async def on_request(delivery: Delivery) -> Reply:
            result = await _answered(answer, json.loads(delivery.body))
            if result is None:
                return Reply(b"", {REPLY_ERROR: "refused by test"})
            return Reply(dump_payload(result))

        transport.serve_requests(subject, "test-responder", on_request)
        await transport.start()
        self._responders.append(transport)

    # -- HTTP and state --------------------------------------------------------------
    def token(self, subject: str | None = None, roles: tuple[str, ...] = ()) -> str:
        return issue_token(subject or str(uuid.uuid4()), roles, settings=self.settings)

    def auth(self, subject: str | None = None, *, admin: bool = False) -> dict[str, str]:
        roles = ("admin",) if admin else ("customer",)
        return {"Authorization": f"Bearer {self.token(subject, roles)}"}

    async def rows(self, store: str, sql: str, **params: Any) -> list[dict[str, Any]]:
        """Rows of a raw query, each value by its meaning rather than the driver's format
        (see `normalise_row`): the same on SQLite and PostgreSQL."""
        kinds = column_kinds(self.app.host.datastores.get(store))
        async with self.app.store(store).connect() as conn:
            result = await conn.execute(text(sql), params)
            return [normalise_row(dict(row._mapping), kinds) for row in result]

    async def correlation(self, correlation_id: str) -> list[Captured]:
        return [c for c in self._seen if c.headers.get(CORRELATION_ID) == correlation_id]


# -- raw rows, database-agnostic ------------------------------------------------------------
ColumnKind = Literal["uuid", "timestamp", "boolean", "json"]


def _kind(column_type: TypeEngine[Any]) -> ColumnKind | None:
    if isinstance(column_type, Uuid):
        return "uuid"
    if isinstance(column_type, DateTime):
        return "timestamp"
    if isinstance(column_type, Boolean):
        return "boolean"
    if isinstance(column_type, JSON):
        return "json"
    return None


def column_kinds(store: DatastoreSpec | None) -> dict[str, ColumnKind]:
    """Column name -> kind, for the columns of a store's generated tables whose values the
    drivers hand over differently. A name used with different kinds in two tables is left
    out (a raw query does not say which table a column came from)."""
    found: dict[str, set[ColumnKind | None]] = {}
    if store is not None and store.metadata is not None:
        for table in store.metadata.tables.values():
            for column in table.columns:
                found.setdefault(column.name, set()).add(_kind(column.type))
    out: dict[str, ColumnKind] = {}
    for name, kinds in found.items():
        (only, *others) = kinds
        if only is not None and not others:
            out[name] = only
    return out


def normalise_value(value: Any, kind: ColumnKind) -> Any:
    """One value as Python means it, whichever database it came from.

    - uuid: `uuid.UUID` (SQLite keeps 32 hex digits, PostgreSQL a uuid);
    - timestamp: an aware `datetime` in UTC (SQLite keeps naive UTC text, PostgreSQL a
      timestamptz);
    - boolean: `bool` (SQLite keeps 0/1);
    - json: the decoded value (text on both drivers for a raw query; decoded once only).

    Raises:
        ValueError: the value is not of the column's kind (names the kind and the value).
    """
    if value is None:
        return None
    try:
        if kind == "uuid":
            return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
        if kind == "timestamp":
            moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
            if moment.tzinfo is None:
                return moment.replace(tzinfo=UTC)
            return moment.astimezone(UTC)
        if kind == "boolean":
            if isinstance(value, bool):
                return value
            if value in (0, 1):
                return bool(value)
            raise ValueError("not 0/1")
        if isinstance(value, str | bytes):
            return json.loads(value)
        return value
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a {kind} value: {exc}") from exc


def normalise_row(row: dict[str, Any], kinds: dict[str, ColumnKind]) -> dict[str, Any]:
    """`row` with every value of a known column kind normalised (`normalise_value`)."""
    out = {}
    for name, value in row.items():
        kind = kinds.get(name)
        try:
            out[name] = value if kind is None else normalise_value(value, kind)
        except ValueError as exc:
            raise ValueError(f"column {name!r}: {exc}") from exc
    return out


@contextlib.asynccontextmanager
async def running_system(
    host_id: str,
    *,
    data_dir: Path,
    nats_url: str,
    clock: Callable[[], datetime] | None = None,
    configure: Callable[[SystemApp], None] | None = None,
    **settings_changes: Any,
) -> AsyncIterator[SystemHarness]:
    """Start `host_id` (e.g. "cart-system") with its real implementation package."""
    settings = settings_for_tests(data_dir, nats_url, **settings_changes)
    app = SystemApp(load_host(host_id), settings, clock=clock)
    shared = bool(os.environ.get(TEST_BROKER_URL)) and settings.broker_url != nats_url
    if shared:
        await _use_shared_broker(app)
    module = importlib.import_module(_implementation(host_id))
    created = module.create(app)
    if asyncio.iscoroutine(created):
        await created
    if configure is not None:
        configure(app)
    nc = await nats.connect(nats_url)
    harness: SystemHarness | None = None
    try:
        harness_ref: list[SystemHarness] = []

        async def record(msg: Msg) -> None:
            if harness_ref:
                await harness_ref[0]._record(msg)

        # Only the catalog's subjects: a wildcard over everything would also show interest in
        # the JetStream pull requests' inboxes and keep a stopped consumer's requests alive.
        for root in _subject_roots():
            await nc.subscribe(root, cb=record)
        await app.start()
        transport = httpx.ASGITransport(app=app.http_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            harness = SystemHarness(app=app, client=client, settings=settings, _nc=nc)
            harness_ref.append(harness)
            if shared:
                _LIVE.append(harness)
            yield harness
    finally:
        _LIVE[:] = [h for h in _LIVE if h is not harness]
        for responder in harness._responders if harness else ():
            await responder.close()
        await app.stop()
        await nc.drain()


async def _answered(
    answer: Callable[[dict[str, Any]], Awaitable[BaseModel | None] | BaseModel | None],
    request: dict[str, Any],
) -> BaseModel | None:
    result = answer(request)
    if isinstance(result, BaseModel) or result is None:
        return result
    return await result


def _subject_roots() -> list[str]:
    """`<first token>.>` for every broker channel address in the catalog, plus dead letters."""
    from acme.runtime.registry import catalog

    roots = {"deadletter.>"}
    for module_name in catalog().SERVICE_MODULES.values():
        spec = importlib.import_module(module_name).SERVICE
        for use in (*spec.sends, *spec.receives):
            if use.channel.is_broker:
                first = use.channel.address.split(".", 1)[0]
                roots.add(f"{first}.>" if "." in use.channel.address else first)
    return sorted(roots)


def _implementation(host_id: str) -> str:
    for package in ("acme.systems", "acme.simulators"):
        name = f"{package}.{implementation_module(host_id)}"
        with contextlib.suppress(ModuleNotFoundError):
            importlib.import_module(name)
            return name
    raise ModuleNotFoundError(f"no implementation package for {host_id}")
