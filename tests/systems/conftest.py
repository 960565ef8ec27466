"""Fixtures for system tests: an embedded NATS per test, a private data dir per test.

A NATS server per test, not per module: a system stopped by an earlier test leaves its durable
pull consumers' outstanding pull requests behind, and JetStream hands new messages to those dead
requests first, so the next test would see its deliveries only after the ack wait. A server
starts in about 25 ms.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from acme.runtime.embedded_nats import EmbeddedNats
from tests.systems.harness import drop_test_databases


@pytest.fixture
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = EmbeddedNats(tmp_path_factory.mktemp("nats"))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session", autouse=True)
def _test_databases() -> Iterator[None]:
    """With ACME_TEST_DATABASE_URL, drop the databases the session created when it ends."""
    yield
    drop_test_databases()
