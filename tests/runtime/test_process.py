"""`python -m acme.runtime.process` on the fake system: ready line, HTTP, messages, and a
graceful SIGTERM that finishes the in-flight handler and flushes the outbox."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from acme.runtime.settings import Settings
from acme.runtime.transport import Transport

from .conftest import HERE, REPO
from .helpers import eventually, listen, raw_publisher, wait_for, with_broker


def child_env(settings: Settings, nats_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACME_")}
    env.update(
        PYTHONPATH=os.pathsep.join([str(HERE), str(REPO)]),
        ACME_CATALOG_MODULE="fake_system.catalog",
        ACME_IMPLEMENTATIONS="fake_system.impl",
        ACME_BROKER_URL=nats_url,
        ACME_DATA_DIR=str(settings.data_dir),
        ACME_JWT_SECRET="process-test-secret-long-enough-for-hs256",
        ACME_RELAY_POLL_INTERVAL="0.2",
    )
    return env


async def spawn(system: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "acme.runtime.process", "--system", system, "--port", "0",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


@pytest.fixture
async def producer(nats_url: str, settings: Settings) -> AsyncIterator[Transport]:
    transport = await raw_publisher(nats_url, with_broker(settings, nats_url))
    yield transport
    await transport.close()


def ping(text: str) -> tuple[bytes, dict[str, str]]:
    headers = {
        "message-id": str(uuid.uuid4()),
        "message-type": "ping",
        "message-version": "1.0.0",
        "correlation-id": "corr-proc",
        "content-type": "application/json",
    }
    return json.dumps({"text": text}).encode(), headers


async def test_process_serves_handles_and_stops_gracefully(
    settings: Settings, nats_url: str, producer: Transport, tmp_path: Path
) -> None:
    listener, pongs = await listen(
        nats_url, with_broker(settings, nats_url), "fake.events.pong", "probe"
    )
    process = await spawn("fake-system", child_env(settings, nats_url))
    try:
        assert process.stdout is not None and process.stderr is not None
        line = (await asyncio.wait_for(process.stdout.readline(), timeout=60)).decode()
        if not line:
            pytest.fail("no ready line; stderr:\n" + (await process.stderr.read()).decode())
        prefix, _, payload = line.strip().partition(" ")
        ready = json.loads(payload)
        assert prefix == "ACME-READY"
        assert ready["system"] == "fake-system" and ready["pid"] == process.pid
        base = ready["http"]

        async with httpx.AsyncClient(base_url=base) as client:
            assert (await client.get("/healthz")).json()["system"] == "fake-system"
            info = (await client.get("/_introspection")).json()
            (echo,) = info["services"]
            assert {s["subject"] for s in echo["subscribes"]} == {
                "fake.events.ping",
                "replay.echo-service",
            }

            body, headers = ping("hello")
            await producer.publish("fake.events.ping", body, headers)
            await wait_for(lambda: any(p.body == b'{"text":"hello"}' for p in pongs))

            async def count() -> int:
                return int((await client.get("/echo/pings")).json()["count"])

            await eventually(count, 1)

        # Stop while a handler is in flight: it must finish, commit, and its pong be published.
        marker = tmp_path / "slow-started"
        body, headers = ping(f"slow:{marker}")
        await producer.publish("fake.events.ping", body, headers)
        await wait_for(marker.exists, timeout=20)
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), timeout=30)
        rest = await process.stdout.read()
        stderr = (await process.stderr.read()).decode()
        assert code == 0, stderr
        assert rest == b"", "stdout carries exactly one line"
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    try:
        slow = json.dumps({"text": f"slow:{marker}"}, separators=(",", ":")).encode()
        await wait_for(lambda: any(p.body == slow for p in pongs))
    finally:
        await listener.close()
    with sqlite3.connect(settings.data_dir / "echo-database.sqlite3") as db:
        texts = {row[0] for row in db.execute("SELECT text FROM pings")}
        unpublished = db.execute(
            "SELECT count(*) FROM message_outbox WHERE published_at IS NULL"
        ).fetchone()[0]
    assert texts == {"hello", f"slow:{marker}"}
    assert unpublished == 0


async def test_unknown_system_exits_with_a_clear_message(settings: Settings, nats_url: str) -> None:
    process = await spawn("no-such-system", child_env(settings, nats_url))
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 2
    assert stdout == b""
    assert b"no services are hosted by 'no-such-system'" in stderr
    assert b"fake-system" in stderr, "the message names the hosts that exist"
