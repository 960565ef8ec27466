"""Transport adapters on real brokers: round trip, consumer-group semantics, request/reply.

The embedded NATS runs always; RabbitMQ and Redis on the machine run with ACME_EXTERNAL=1.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable

import pytest

from acme.runtime.errors import RequestTimeout
from acme.runtime.settings import Settings
from acme.runtime.transport import Delivery, Reply, Transport, create_transport

BROKERS = [
    pytest.param("embedded", id="nats-embedded"),
    pytest.param("nats://127.0.0.1:4222", id="nats-4222", marks=pytest.mark.external),
    pytest.param("amqp://guest:guest@127.0.0.1:5672/", id="rabbit", marks=pytest.mark.external),
    pytest.param("redis://127.0.0.1:6379", id="redis", marks=pytest.mark.external),
]


@pytest.fixture(params=BROKERS)
def broker_url(request: pytest.FixtureRequest) -> str:
    if request.param == "embedded":
        return str(request.getfixturevalue("nats_url"))
    return str(request.param)


@pytest.fixture
async def make_transport(
    broker_url: str, settings: Settings
) -> AsyncIterator[Callable[[], Transport]]:
    made: list[Transport] = []

    def make() -> Transport:
        transport = create_transport(broker_url, settings)
        made.append(transport)
        return transport

    yield make
    for transport in made:
        await transport.stop_consuming()
        await transport.close()


@pytest.fixture
def subject(request: pytest.FixtureRequest) -> str:
    """Stable per test, so runs against the machine's brokers reuse (not pile up) queues and
    streams; each run's messages carry a fresh `run` prefix and older leftovers are skipped."""
    name = request.node.originalname.removeprefix("test_").replace("_", "-")
    return f"acme-test.{name}"


@pytest.fixture
def run() -> str:
    return uuid.uuid4().hex[:8]


async def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


async def test_round_trip_keeps_body_and_headers(
    make_transport: Callable[[], Transport], subject: str, run: str
) -> None:
    got: list[Delivery] = []

    async def on_message(delivery: Delivery) -> None:
        if delivery.headers.get("message-id", "").startswith(run):
            got.append(delivery)
        await delivery.ack()

    consumer = make_transport()
    consumer.subscribe(subject, "svc-a", on_message)
    await consumer.start()
    producer = make_transport()
    await producer.connect()

    await producer.publish(subject, b'{"x": 1}', {"message-id": f"{run}-1", "message-type": "t"})
    await wait_for(lambda: len(got) == 1)

    assert got[0].body == b'{"x": 1}'
    assert got[0].headers["message-id"] == f"{run}-1"
    assert got[0].headers["message-type"] == "t"
    assert got[0].subject == subject


async def test_group_shares_work_and_groups_each_see_everything(
    make_transport: Callable[[], Transport], subject: str, run: str
) -> None:
    seen: dict[str, Counter[str]] = {"a": Counter(), "b": Counter()}

    def recorder(group: str) -> Callable[[Delivery], object]:
        async def on_message(delivery: Delivery) -> None:
            if delivery.headers.get("message-id", "").startswith(run):
                seen[group][delivery.headers["message-id"]] += 1
            await delivery.ack()

        return on_message

    # Two replicas of service A share a group; service B is a group of its own.
    for group in ("a", "a", "b"):
        transport = make_transport()
        transport.subscribe(subject, f"svc-{group}", recorder(group))  # type: ignore[arg-type]
        await transport.start()
    producer = make_transport()
    await producer.connect()

    ids = [f"{run}-{i}" for i in range(20)]
    for message_id in ids:
        await producer.publish(subject, b"{}", {"message-id": message_id})
    await wait_for(lambda: sum(seen["a"].values()) >= 20 and sum(seen["b"].values()) >= 20)
    await asyncio.sleep(0.3)  # a duplicate, if any, would arrive now

    assert seen["a"] == Counter({i: 1 for i in ids}), "each message once within a group"
    assert seen["b"] == Counter({i: 1 for i in ids}), "another group sees every message"


async def test_request_reply_and_error_reply(
    make_transport: Callable[[], Transport], subject: str
) -> None:
    async def answer(delivery: Delivery) -> Reply:
        if delivery.body == b"fail":
            raise ValueError("bad question")
        return Reply(b'{"answer": 42}', {"message-type": "answer"})

    server = make_transport()
    server.serve_requests(subject, "svc-a", answer)
    await server.start()
    client = make_transport()
    await client.connect()

    reply = await client.request(subject, b'{"q": 1}', {"message-id": "r-1"}, timeout=5.0)
    assert reply.body == b'{"answer": 42}'
    assert reply.headers["message-type"] == "answer"
    assert reply.error is None

    failed = await client.request(subject, b"fail", {}, timeout=5.0)
    assert failed.error is not None and "bad question" in failed.error


async def test_request_without_server_times_out(make_transport: Callable[[], Transport]) -> None:
    client = make_transport()
    await client.connect()
    with pytest.raises(RequestTimeout):
        await client.request("acme-test.nobody-answers", b"{}", {}, timeout=0.5)


async def test_nack_redelivers(
    make_transport: Callable[[], Transport], broker_url: str, subject: str, run: str
) -> None:
    if not broker_url.startswith("nats"):
        pytest.skip("redelivery after nack is checked on NATS (JetStream)")
    counts: list[int | None] = []

    async def on_message(delivery: Delivery) -> None:
        if not delivery.headers.get("message-id", "").startswith(run):
            await delivery.ack()
            return
        counts.append(delivery.delivery_count)
        if len(counts) == 1:
            await delivery.nack()
        else:
            await delivery.ack()

    consumer = make_transport()
    consumer.subscribe(subject, "svc-a", on_message)
    await consumer.start()
    producer = make_transport()
    await producer.connect()
    await producer.publish(subject, b"{}", {"message-id": f"{run}-n"})
    await wait_for(lambda: len(counts) == 2)
    assert counts == [1, 2]
