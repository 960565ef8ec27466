"""The levers and gauges the scenarios use on a shared broker, on a private embedded NATS:
the relay that cuts the systems off (`BrokerCutoff`) and the per-consumer backlog."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

from acme.runtime.embedded_nats import EmbeddedNats
from acme.runtime.transport.nats import durable_name, stream_name
from tests.faults.backlog import backlog
from tests.faults.cutoff import BrokerCutoff, relayable


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    with EmbeddedNats(tmp_path / "nats") as running:
        yield running.url


async def test_outage_drops_connections_refuses_new_ones_then_relays(server: str) -> None:
    cutoff = BrokerCutoff(server)
    relay = await cutoff.start()
    assert relay != server and relay.startswith("nats://127.0.0.1:")
    disconnected = asyncio.Event()

    async def on_disconnect() -> None:
        disconnected.set()

    nc = await nats.connect(
        relay, disconnected_cb=on_disconnect, reconnect_time_wait=0.2, max_reconnect_attempts=-1
    )
    try:
        got: asyncio.Queue[bytes] = asyncio.Queue()

        async def on_message(msg: Msg) -> None:
            await got.put(msg.data)

        await nc.subscribe("cutoff.test", cb=on_message)
        await nc.publish("cutoff.test", b"before")
        assert await asyncio.wait_for(got.get(), 5) == b"before"

        outage = asyncio.create_task(cutoff.outage(1.0))
        await asyncio.wait_for(disconnected.wait(), 5)
        with pytest.raises(OSError):  # refused while the broker is "down"
            await asyncio.open_connection("127.0.0.1", cutoff.port)
        await outage
        assert cutoff.outages == 1

        # the client reconnects through the relay, on the same port, and works as before
        for _ in range(100):
            if nc.is_connected:
                break
            await asyncio.sleep(0.1)
        assert nc.is_connected
        await nc.publish("cutoff.test", b"after")
        assert await asyncio.wait_for(got.get(), 5) == b"after"
    finally:
        await nc.close()
        await cutoff.stop()


def test_kafka_cannot_be_relayed() -> None:
    assert "advertises" in (relayable("kafka://127.0.0.1:9092") or "")
    assert relayable("amqp://guest:guest@127.0.0.1:5672/") is None
    with pytest.raises(ValueError, match="advertises"):
        BrokerCutoff("kafka://127.0.0.1:9092")


def test_relay_url_keeps_credentials_and_path() -> None:
    cutoff = BrokerCutoff("amqp://guest:secret@broker.example:5672/vhost")
    cutoff.port = 40001
    assert cutoff.relay_url == "amqp://guest:secret@127.0.0.1:40001/vhost"
    assert cutoff.target == ("broker.example", 5672)


async def test_backlog_counts_only_the_named_consumers(server: str) -> None:
    subject, group = "cutofftest.events.happened", "some-service"
    stream = stream_name(subject)
    nc = await nats.connect(server)
    try:
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name=stream, subjects=[stream, f"{stream}.>"]))
        durable = durable_name(group, subject)
        await js.add_consumer(
            stream,
            ConsumerConfig(
                durable_name=durable, filter_subject=subject, ack_policy=AckPolicy.EXPLICIT
            ),
        )
        await js.add_consumer(
            stream, ConsumerConfig(durable_name="someone-else", ack_policy=AckPolicy.EXPLICIT)
        )
        await js.publish(subject, b"{}")

        seen, waiting = await backlog(server, [(subject, group), ("nobody.here", "nobody")])
        assert seen == 1
        assert [(w.consumer, w.undelivered, w.unacked) for w in waiting] == [(durable, 1, 0)]

        sub = await js.pull_subscribe(subject, durable=durable, stream=stream)
        [message] = await sub.fetch(1, timeout=5)
        _, waiting = await backlog(server, [(subject, group)])
        assert [(w.undelivered, w.unacked) for w in waiting] == [(0, 1)]
        await message.ack_sync()
        await asyncio.sleep(0.1)
        assert await backlog(server, [(subject, group)]) == (1, [])
        # every consumer of every stream, as on a private server
        seen_all, waiting_all = await backlog(server, None)
        assert seen_all == 2 and [w.consumer for w in waiting_all] == ["someone-else"]
    finally:
        await nc.close()
