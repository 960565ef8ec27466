"""Fixtures for the conformance tests: the catalog's AsyncAPI export and one broker per session.

The broker is an embedded NATS, or ACME_TEST_BROKER_URL when set (scripts/conformance.sh runs
this folder on the machine's NATS, RabbitMQ and Redis); stores follow ACME_TEST_DATABASE_URL.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from acme.runtime.conformance import catalog_documents
from acme.runtime.embedded_nats import EmbeddedNats
from tests.systems.harness import TEST_BROKER_URL, drop_test_databases

REPO = Path(__file__).resolve().parents[2]
CATALOG = REPO / "catalog"


@pytest.fixture(scope="session")
def documents() -> dict[str, dict[str, Any]]:
    """Service id -> AsyncAPI document of the repository's catalog."""
    return catalog_documents(CATALOG)


@pytest.fixture(scope="session")
def broker_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    shared = os.environ.get(TEST_BROKER_URL)
    if shared:
        yield shared
        return
    server = EmbeddedNats(tmp_path_factory.mktemp("nats"))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _external_only_when_asked(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("external") and os.environ.get("ACME_EXTERNAL") != "1":
        pytest.skip("needs the machine's brokers: set ACME_EXTERNAL=1")


@pytest.fixture(scope="session", autouse=True)
def _test_databases() -> Iterator[None]:
    yield
    drop_test_databases()
