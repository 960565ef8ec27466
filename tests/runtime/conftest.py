"""Fixtures for the runtime tests: a real embedded NATS per test module, quick settings."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
# The repository root (for `acme`, `generator`) and this folder (the fake system imports as
# `fake_system`, the same name the process test hands a child interpreter via PYTHONPATH).
for path in (REPO, HERE):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from acme.runtime.embedded_nats import EmbeddedNats  # noqa: E402
from acme.runtime.settings import Settings  # noqa: E402


@pytest.fixture(autouse=True)
def _external_only_when_asked(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("external") and os.environ.get("ACME_EXTERNAL") != "1":
        pytest.skip("needs the machine's brokers/databases: set ACME_EXTERNAL=1")


@pytest.fixture(scope="module")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A nats-server with JetStream on a free port, shared by the tests of one module."""
    server = EmbeddedNats(tmp_path_factory.mktemp("nats"))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Fast retries and a private data directory; nothing read from the developer's .env."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        broker_url=None,
        database_url=None,
        max_attempts=3,
        retry_base_delay=0.01,
        retry_max_delay=0.05,
        relay_poll_interval=0.2,
        consumer_concurrency=4,
        shutdown_timeout=5.0,
        request_timeout=3.0,
        jwt_secret="test-secret-that-is-long-enough-for-hs256",
    )


@pytest.fixture
async def postgres_settings(settings: Settings) -> AsyncIterator[tuple[Settings, str]]:
    """`settings` on the machine's PostgreSQL, and a suffix for store ids; the databases of
    stores named `<anything>-<suffix>` are dropped afterwards. For `external` tests."""
    from sqlalchemy.ext.asyncio import create_async_engine

    suffix = uuid.uuid4().hex[:8]
    pg = settings.model_copy(
        update={"database_url": "postgresql+asyncpg://postgres@127.0.0.1:5432/acme_test_{store}"}
    )
    yield pg, suffix
    admin = create_async_engine(
        "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT"
    )
    try:
        async with admin.connect() as conn:
            names = await conn.scalars(
                text("SELECT datname FROM pg_database WHERE datname LIKE :pattern"),
                {"pattern": f"acme_test_%_{suffix}"},
            )
            for name in list(names):
                await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        await admin.dispose()
