"""A NATS server per test: a stopped system's pending JetStream pull request (5 s expiry) would
otherwise take the next test's first command and hold it for the ack wait."""

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
