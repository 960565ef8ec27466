"""The embedded nats-server: free port, JetStream on, URL file while running, clean stop."""

from __future__ import annotations

from pathlib import Path

import pytest

from acme.runtime.embedded_nats import EmbeddedNats, nats_server_binary
from acme.runtime.errors import ConfigurationError
from acme.runtime.settings import EMBEDDED_URL_FILE, Settings
from acme.runtime.transport import create_transport


async def test_start_publish_stop(tmp_path: Path, settings: Settings) -> None:
    url_file = tmp_path / EMBEDDED_URL_FILE
    async with EmbeddedNats(tmp_path / "nats", url_file=url_file) as server:
        assert server.url.startswith("nats://127.0.0.1:")
        assert not server.url.endswith(":4222")
        assert url_file.read_text().strip() == server.url
        found = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
        assert found.resolved_broker_url() == server.url
        transport = create_transport(server.url, settings)
        await transport.connect()
        await transport.publish("probe.subject", b"{}", {"message-id": "1"})  # JetStream ack
        await transport.close()
        pid = server.pid
    assert pid is not None and not server.running
    assert not url_file.exists()
    assert (tmp_path / "nats" / "jetstream").is_dir()


def test_missing_binary_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        nats_server_binary(tmp_path / "nope")


def test_without_broker_the_error_says_what_to_do(tmp_path: Path) -> None:
    bare = Settings(_env_file=None, data_dir=tmp_path, broker_url=None)  # type: ignore[call-arg]
    with pytest.raises(ConfigurationError, match="set ACME_BROKER_URL"):
        bare.resolved_broker_url()
