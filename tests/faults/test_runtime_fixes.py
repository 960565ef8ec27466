"""Regression tests of runtime defects the fault suite found (no platform needed).

- Systems starting together create the shared `runtime` store at once: a schema transaction
  that read first and wrote later failed with "database is locked" when another process
  committed in between, and the system did not start.
- The embedded NATS can be started again on the port of its previous run, so clients keep
  the URL they know across a broker restart.
"""

from __future__ import annotations

import asyncio
import socket
import sqlite3
from pathlib import Path

import pytest

from acme.runtime.db import Stores, runtime_metadata
from acme.runtime.embedded_nats import EmbeddedNats
from acme.runtime.errors import ConfigurationError
from acme.runtime.settings import Settings


async def test_schema_waits_for_a_writer_of_another_process(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("PRAGMA journal_mode=WAL")
        other.execute("CREATE TABLE before (a)")
        # Another process is writing: it holds the write lock and changes the schema.
        other.execute("BEGIN IMMEDIATE")
        other.execute("CREATE TABLE meanwhile (a)")
        stores = Stores(Settings(data_dir=tmp_path))
        opening = asyncio.create_task(stores.open("shared", metadata=(runtime_metadata,)))
        await asyncio.sleep(0.5)
        assert not opening.done(), "the schema was applied while another writer held the lock"
        other.execute("COMMIT")
        await asyncio.wait_for(opening, 30)
        await stores.dispose()
        tables = {r[0] for r in other.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        other.close()
    assert {"before", "meanwhile", "message_outbox", "message_inbox"} <= tables


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_embedded_nats_restarts_on_the_same_port_and_store(tmp_path: Path) -> None:
    first = EmbeddedNats(tmp_path / "nats")
    url = first.start()
    try:
        port = int(url.rsplit(":", 1)[1])
    finally:
        first.stop()
    again = EmbeddedNats(tmp_path / "nats", port=port)
    try:
        assert again.start() == url
        assert (tmp_path / "nats" / "jetstream").is_dir()
    finally:
        again.stop()
    chosen = _free_port()
    with EmbeddedNats(tmp_path / "other", port=chosen) as server:
        assert server.url.endswith(f":{chosen}")


@pytest.mark.parametrize("port", [0, -1, 65536])
def test_embedded_nats_rejects_an_impossible_port(tmp_path: Path, port: int) -> None:
    with pytest.raises(ConfigurationError, match="port must be"):
        EmbeddedNats(tmp_path, port=port)
