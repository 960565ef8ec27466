"""A NATS server per test: a system started by an earlier test of the module leaves its durable
pull consumer's outstanding pull requests behind, and JetStream hands new messages to those dead
requests first, so the next test would see its deliveries only after the ack wait."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from acme.runtime.embedded_nats import EmbeddedNats


@pytest.fixture
def nats_url(tmp_path: Path) -> Iterator[str]:
    server = EmbeddedNats(tmp_path / "nats")
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
