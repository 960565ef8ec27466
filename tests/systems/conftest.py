"""Fixtures for system tests: one embedded NATS per test module, a private data dir per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from acme.runtime.embedded_nats import EmbeddedNats


@pytest.fixture(scope="module")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = EmbeddedNats(tmp_path_factory.mktemp("nats"))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
