"""Fixtures for system tests: one embedded NATS per test module, a private data dir per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from acme.runtime.embedded_nats import EmbeddedNats
from tests.systems.harness import drop_test_databases


@pytest.fixture(scope="module")
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
