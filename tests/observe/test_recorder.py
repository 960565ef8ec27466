"""TraceRecorder on a real embedded NATS, with traffic sent through the runtime's transport
and wire headers: publishes, JetStream deliveries and their acks, request/reply, dead
letters and relay duplicates. Plus record() semantics and attach errors without a broker."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from acme.observe import CatalogIndex, ObserveError, TraceRecorder
from acme.runtime.settings import Settings
from acme.runtime.transport import Delivery, Reply, Transport, create_transport
from acme.runtime.wire import (
    DEAD_LETTER_ERROR,
    DEAD_LETTER_REASON,
    DEAD_LETTER_SERVICE,
    message_headers,
)
from tests.observe.wire import Wire

RESERVE = "fulfilment.commands.reserve-inventory"
DISCOUNTS = "shopping-discount-commands"  # calculate-discount: cart-api asks promotion-service


def headers(
    message_type: str, correlation_id: str, causation_id: str | None = None
) -> dict[str, str]:
    return message_headers(
        message_id=str(uuid.uuid4()),
        message_type=message_type,
        message_version="1.0.0",
        correlation_id=correlation_id,
        causation_id=causation_id,
        traceparent=None,
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=tmp_path / "data",
        broker_url=None,
        database_url=None,
        shutdown_timeout=2.0,
        request_timeout=3.0,
        jwt_secret="test-secret-that-is-long-enough-for-hs256",
    )


@pytest.fixture
async def transports(nats_url: str, settings: Settings) -> AsyncIterator[list[Transport]]:
    made: list[Transport] = []
    yield made
    for transport in made:
        await transport.stop_consuming()
        await transport.close()


@pytest.fixture
async def recorder(nats_url: str, catalog: CatalogIndex) -> AsyncIterator[TraceRecorder]:
    recorder = TraceRecorder(catalog)
    await recorder.attach(nats_url)
    yield recorder
    await recorder.close()


async def test_records_publishes_deliveries_and_acks(
    recorder: TraceRecorder, transports: list[Transport], nats_url: str, settings: Settings
) -> None:
    handled = asyncio.Event()

    async def inventory(delivery: Delivery) -> None:
        await asyncio.sleep(0.05)  # the handler's work, visible as delivery -> ack time
        await delivery.ack()
        handled.set()

    consumer = create_transport(nats_url, settings)
    transports.append(consumer)
    consumer.subscribe(RESERVE, "inventory-service", inventory)
    await consumer.start()
    producer = create_transport(nats_url, settings)
    transports.append(producer)
    await producer.connect()

    correlation = str(uuid.uuid4())
    sent = headers("reserve-inventory", correlation)
    await producer.publish(RESERVE, b'{"checkoutId": "c1"}', sent, dedupe_id=sent["message-id"])
    # The outbox relay publishing the same row again: JetStream drops it, so do we.
    await producer.publish(RESERVE, b'{"checkoutId": "c1"}', sent, dedupe_id=sent["message-id"])
    await asyncio.wait_for(handled.wait(), 10)
    await recorder.settle(0.3)

    [message] = recorder.find("reserve-inventory", correlation_id=correlation)
    assert message.kind == "publish"
    assert message.subject == RESERVE
    assert message.senders == ("checkout-orchestrator",)
    assert message.receivers == ("inventory-service",)
    assert message.size == len(b'{"checkoutId": "c1"}')
    assert message.trace_id is not None and message.documented
    assert recorder.duplicates >= 1

    [delivery] = [d for d in recorder.deliveries if d.message_id == sent["message-id"]]
    assert (delivery.service, delivery.attempt, delivery.outcome) == ("inventory-service", 1, "ack")
    assert delivery.handler_seconds is not None and delivery.handler_seconds >= 0.04

    trace = recorder.trace(correlation)
    assert trace.deliveries == [delivery]
    assert trace.receivers_of(message) == ("inventory-service",)


async def test_records_requests_and_their_replies(
    recorder: TraceRecorder, transports: list[Transport], nats_url: str, settings: Settings
) -> None:
    async def promotion(delivery: Delivery) -> Reply:
        asked = delivery.headers
        answer = headers("calculate-discount", asked["correlation-id"], asked["message-id"])
        return Reply(b'{"discount": 0}', answer)

    server = create_transport(nats_url, settings)
    transports.append(server)
    server.serve_requests(DISCOUNTS, "promotion-service", promotion)
    await server.start()
    client = create_transport(nats_url, settings)
    transports.append(client)
    await client.connect()

    correlation = str(uuid.uuid4())
    asked = headers("calculate-discount", correlation)
    reply = await client.request(DISCOUNTS, b"{}", asked, timeout=5)
    assert reply.body == b'{"discount": 0}'
    await recorder.wait_for("calculate-discount", correlation_id=correlation, count=2)

    request, answer = recorder.trace(correlation).messages
    assert (request.kind, request.subject) == ("request", "_rpc." + DISCOUNTS)
    assert (request.senders, request.receivers) == (("cart-api",), ("promotion-service",))
    assert answer.kind == "reply"
    assert (answer.senders, answer.receivers) == (("promotion-service",), ("cart-api",))
    assert answer.causation_id == request.message_id


async def test_records_dead_letters_and_ignores_broker_internals(
    recorder: TraceRecorder, transports: list[Transport], nats_url: str, settings: Settings
) -> None:
    producer = create_transport(nats_url, settings)
    transports.append(producer)
    await producer.connect()
    correlation = str(uuid.uuid4())
    copy = headers("reserve-inventory", correlation)
    copy.update(
        {
            DEAD_LETTER_SERVICE: "inventory-service",
            DEAD_LETTER_REASON: "failed",
            DEAD_LETTER_ERROR: "OperationalError: database is locked",
        }
    )
    await producer.publish("deadletter.inventory-service", b"{}", copy)
    [letter] = await recorder.wait_for("reserve-inventory", correlation_id=correlation)

    assert letter.kind == "deadletter"
    assert letter.senders == ("inventory-service",)
    assert letter.dead_letter_reason == "failed"
    assert letter.dead_letter_error == "OperationalError: database is locked"
    assert recorder.trace(correlation).dead_letters == [letter]
    # Stream creation and publish acks crossed the server too; none became a message.
    assert recorder.ignored > 0
    assert all(not m.subject.startswith("$") for m in recorder.messages)


class _SharedSubject(CatalogIndex):
    """The real catalog, except that two services document sending order-created on its
    subject (the real catalog has no ambiguous broker sender to test with)."""

    def senders(self, message_type: str, subject: str) -> tuple[str, ...]:
        if message_type == "order-created":
            return ("checkout-orchestrator", "order-service")
        return super().senders(message_type, subject)


def test_record_narrows_ambiguous_senders_by_the_cause(catalog: CatalogIndex) -> None:
    recorder = TraceRecorder(_SharedSubject(catalog.explorer))
    wire = Wire(recorder)
    uncaused = wire.send("order-created", cause=None)
    assert uncaused.senders == ("checkout-orchestrator", "order-service")
    assert uncaused.ambiguous and uncaused.sender == "checkout-orchestrator | order-service"

    wire.send("create-order")  # received by the order service only
    caused = wire.send("order-created")
    assert caused.senders == ("order-service",)


def test_record_of_unknown_traffic(catalog: CatalogIndex) -> None:
    recorder = TraceRecorder(catalog)
    wire = Wire(recorder)
    odd = wire.send("no-such-message", subject="misc.things")
    wrong_subject = wire.send("order-created", subject="ordering.events.elsewhere")

    assert (odd.senders, odd.receivers, odd.documented) == ((), (), False)
    assert odd.sender == "?"
    # Known type on a subject nobody documents: senders by type, flagged undocumented.
    assert wrong_subject.senders == ("order-service",)
    assert not wrong_subject.documented
    assert recorder.record("misc.things", {"content-type": "application/json"}) is None
    assert recorder.record("$JS.API.INFO", {}) is None


def test_traces_group_by_correlation_and_by_trace_id(catalog: CatalogIndex) -> None:
    recorder = TraceRecorder(catalog)
    first, second = Wire(recorder), Wire(recorder)
    first.chain("cart-checked-out", "checkout-started")
    second.chain("cart-checked-out")

    assert {t.key for t in recorder.traces()} == {first.correlation_id, second.correlation_id}
    assert len(recorder.trace(first.correlation_id)) == 2
    trace_id = recorder.trace(first.correlation_id).messages[0].trace_id
    assert trace_id is not None
    by_trace = recorder.trace(trace_id, by="trace")
    assert [m.message_type for m in by_trace] == ["cart-checked-out", "checkout-started"]
    with pytest.raises(KeyError, match="no messages with correlation id 'nope'"):
        recorder.trace("nope")


def test_memory_is_bounded(catalog: CatalogIndex) -> None:
    recorder = TraceRecorder(catalog, max_messages=10)
    wire = Wire(recorder)
    for _ in range(25):
        wire.send("order-created")
    assert len(recorder.messages) <= 10
    assert recorder.messages[-1] is wire.last
    with pytest.raises(ValueError, match="max_messages"):
        TraceRecorder(catalog, max_messages=0)


async def test_attach_refuses_other_brokers_and_names_what_works(catalog: CatalogIndex) -> None:
    recorder = TraceRecorder(catalog)
    with pytest.raises(ObserveError, match="supports NATS.*record"):
        await recorder.attach("amqp://guest:guest@localhost:5672/")
    with pytest.raises(ObserveError, match="cannot connect to NATS"):
        await recorder.attach("nats://127.0.0.1:1")


async def test_attach_platform_reads_the_state_file(
    tmp_path: Path, catalog: CatalogIndex, nats_url: str
) -> None:
    recorder = TraceRecorder(catalog)
    with pytest.raises(ObserveError, match="no supervisor.json"):
        await recorder.attach_platform(tmp_path)

    state = {"version": 1, "pid": os.getpid(), "broker": "nats://u:***@127.0.0.1:4222"}
    (tmp_path / "supervisor.json").write_text(json.dumps(state), encoding="utf-8")
    with pytest.raises(ObserveError, match="hides the broker password"):
        await recorder.attach_platform(tmp_path)

    state["broker"] = nats_url
    (tmp_path / "supervisor.json").write_text(json.dumps(state), encoding="utf-8")
    await recorder.attach_platform(tmp_path)
    try:
        assert recorder.attached and recorder.url == nats_url
    finally:
        await recorder.close()

    with pytest.raises(ObserveError, match="expected a PlatformRunner"):
        await TraceRecorder(catalog).attach_platform(42)


def test_join_on_follows_a_flow_across_a_new_correlation(catalog: CatalogIndex) -> None:
    recorder = TraceRecorder(catalog, keep_bodies=True)
    before, after, other = (Wire(recorder, start=t) for t in (1_000.0, 1_001.0, 1_002.0))
    before.send("checkout-started", body=b'{"checkoutId": "c1", "productId": "p"}')
    before.send("authorize-payment", body=b'{"checkoutId": "c1", "paymentId": "pay1"}')
    # A webhook started a new correlation; the payment id links it back.
    after.send("payment-authorized", body=b'{"paymentId": "pay1", "orderId": "o1"}')
    after.send("create-order", body=b'{"orderId": "o1"}')
    # Another checkout of the same product: not the same transaction.
    other.send("checkout-started", body=b'{"checkoutId": "c2", "productId": "p"}')

    alone = recorder.trace(before.correlation_id)
    assert alone.correlations == [before.correlation_id]
    joined = recorder.trace(before.correlation_id, join_on=("checkoutId", "paymentId"))
    assert joined.message_types == [
        "checkout-started",
        "authorize-payment",
        "payment-authorized",
        "create-order",
    ]
    assert joined.correlations == [before.correlation_id, after.correlation_id]
    assert joined.table().column("corr") == [1, 1, 2, 2]
    assert "payment-authorized [new correlation]" in joined.sequence_diagram().mermaid
    assert "2 correlations joined" in joined.summary()

    with pytest.raises(ObserveError, match="keep_bodies"):
        TraceRecorder(catalog).trace("x", join_on=("checkoutId",))


async def test_an_unreadable_message_is_counted_not_raised(catalog: CatalogIndex) -> None:
    recorder = TraceRecorder(catalog)
    broken = SimpleNamespace(subject=None, headers={"message-type": "x"}, data=b"", reply=None)
    await recorder._on_nats(broken)  # what the NATS subscription calls for each message
    assert recorder.errors == 1 and recorder.messages == []
    assert recorder.last_error is not None and "AttributeError" in recorder.last_error
