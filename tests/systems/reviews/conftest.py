"""A private embedded NATS per test.

The shared module-scoped server lets a stopped system's pending pull request swallow the next
test's first message on a subject until the ack wait expires; starting NATS takes ~25 ms,
so every test gets its own and stays independent of the others.
"""

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
