"""Fixtures for the observer tests: the repository's catalog, an embedded NATS per module."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from acme.observe import CatalogIndex  # noqa: E402
from acme.runtime.embedded_nats import EmbeddedNats  # noqa: E402


@pytest.fixture(scope="session")
def catalog() -> CatalogIndex:
    """The repository's catalog, loaded once (the recorder and compare() only read it)."""
    return CatalogIndex(REPO / "catalog")


@pytest.fixture(scope="module")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = EmbeddedNats(tmp_path_factory.mktemp("nats"))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
