"""A request whose caller gives up (cancellation) leaves the transport working.

The cart system wraps a request in `asyncio.timeout`; when it fires, the request is cancelled
wherever it is. Afterwards publishing and requesting must still work: on RabbitMQ they once
failed for good with "RobustChannel closed" (aiormq closes a channel whose Basic.Consume or
Basic.Cancel is cancelled). Runs on the embedded NATS, and on the machine's RabbitMQ
(127.0.0.1:5672, guest/guest) and Redis (127.0.0.1:6379, database 13) when they answer; the
subjects are unique to the run, and their queues, streams and lists deleted afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator

import pytest

from acme.runtime.settings import Settings
from acme.runtime.transport import RPC_PREFIX, Delivery, Reply, Transport, create_transport
from acme.runtime.transport.rabbit import RabbitTransport
from acme.runtime.transport.redis import RedisTransport

from .helpers import wait_for, with_broker

RABBIT = "amqp://guest:guest@127.0.0.1:5672/"
REDIS = "redis://127.0.0.1:6379/13"


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


@pytest.fixture(params=["nats", "rabbit", "redis"])
def broker(request: pytest.FixtureRequest, nats_url: str) -> str:
    if request.param == "nats":
        return nats_url
    url, port = (RABBIT, 5672) if request.param == "rabbit" else (REDIS, 6379)
    if not _answers(port):
        pytest.skip(f"nothing answers on 127.0.0.1:{port} ({request.param})")
    return url


class Slow:
    """Answers `slow` after a pause, anything else at once."""

    def __init__(self) -> None:
        self.answered = 0

    async def __call__(self, delivery: Delivery) -> Reply:
        if delivery.body == b"slow":
            await asyncio.sleep(0.5)
        self.answered += 1
        return Reply(b'{"echo": "' + delivery.body + b'"}')


@pytest.fixture
async def pair(
    settings: Settings, broker: str
) -> AsyncIterator[tuple[Transport, Transport, str, str, Slow]]:
    run = uuid.uuid4().hex[:10]
    request_subject, event_subject = f"cancel.{run}.quote", f"cancel.{run}.order-placed"
    configured = with_broker(settings, broker)
    slow = Slow()
    server = create_transport(broker, configured)
    server.serve_requests(request_subject, f"cancel-quote-{run}", slow)
    await server.start()
    caller = create_transport(broker, configured)
    await caller.connect()
    yield caller, server, request_subject, event_subject, slow
    await caller.close()
    if isinstance(server, RabbitTransport):
        events = f"cancel-ledger-{run}.{event_subject}"
        for queue in (events, RPC_PREFIX + request_subject):
            channel = await server.broker._connection.channel()
            await channel.queue_delete(queue)
            await channel.close()
    elif isinstance(server, RedisTransport):
        client = await server.broker.connect()
        await client.delete(event_subject, RPC_PREFIX + request_subject)
    await server.close()


async def test_a_cancelled_request_leaves_publishing_and_requesting_working(
    pair: tuple[Transport, Transport, str, str, Slow], settings: Settings, broker: str
) -> None:
    caller, server, request_subject, event_subject, slow = pair
    for _ in range(3):  # cancelled while waiting for the reply, several times over
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.1):
                await caller.request(request_subject, b"slow", {}, timeout=5.0)

    async def given_up(n: int) -> None:
        # cancelled at every moment of a request: waiting to send, sending, waiting, cleaning up
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(n * 0.0005):
                await caller.request(request_subject, b"fast", {}, timeout=5.0)

    await asyncio.gather(*(given_up(n) for n in range(60)))
    # a consumer of the event subject, to see that publishes arrive
    got: list[Delivery] = []

    async def on_event(delivery: Delivery) -> None:
        got.append(delivery)
        await delivery.ack()

    run = request_subject.split(".")[1]
    listener = create_transport(broker, with_broker(settings, broker))
    listener.subscribe(event_subject, f"cancel-ledger-{run}", on_event)
    await listener.start()
    try:
        async with asyncio.timeout(10):
            for n in range(5):
                await caller.publish(event_subject, b"{}", {"message-id": f"e-{n}"})
        await wait_for(lambda: len(got) == 5)
        reply = await caller.request(request_subject, b"fast", {}, timeout=5.0)
        assert reply.body == b'{"echo": "fast"}'
        # concurrent requests each get their own answer
        replies = await asyncio.gather(
            *(caller.request(request_subject, f"r{n}".encode(), {}, timeout=5.0) for n in range(4))
        )
        assert [r.body for r in replies] == [f'{{"echo": "r{n}"}}'.encode() for n in range(4)]
        # the late answers to the cancelled requests went nowhere
        await wait_for(lambda: slow.answered >= 3 + 5)
        if isinstance(caller, RabbitTransport):
            assert not caller.broker._connection.is_closed
    finally:
        await listener.close()
