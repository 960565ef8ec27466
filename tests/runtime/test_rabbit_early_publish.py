"""RabbitMQ keeps what is published before a consumer's queue first exists.

A topic exchange drops messages no queue is bound to, so the RabbitMQ transport declares the
queue and binding of every service the catalog says receives a subject before publishing on
it. Here a producer publishes while its consumer has never run; the consumer, started later,
gets every message. Runs on the machine's RabbitMQ (127.0.0.1:5672, guest/guest), with a
registry module made up for the test (subjects and services unique to the run, deleted after).
"""

from __future__ import annotations

import asyncio
import socket
import sys
import types
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest

from acme.runtime.settings import Settings
from acme.runtime.transport import Delivery, create_transport
from acme.runtime.transport.rabbit import RabbitTransport, catalog_receivers, events_queue
from generator.contracts import ChannelBinding, Incoming, Outgoing, ServiceSpec

from .specs import ORDER_PLACED, OrderPlaced

RABBIT = "amqp://guest:guest@127.0.0.1:5672/"


def _rabbit_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=1.0):
            return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(
    not _rabbit_answers(), reason="nothing answers on 127.0.0.1:5672 (RabbitMQ)"
)


@dataclass(frozen=True)
class Registry:
    module: str  # the registry module name, for Settings.catalog_module
    subject: str
    producer: ServiceSpec
    receivers: tuple[str, ...]


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[Registry]:
    """A registry module: one producer of `early.<run>.order-placed`, two receivers of it."""
    run = uuid.uuid4().hex[:10]
    subject = f"early.{run}.order-placed"
    channel = ChannelBinding(f"early.{run}", subject, "amqp")
    producer = ServiceSpec(
        id=f"early-shop-{run}",
        name="Early Shop",
        version="1.0.0",
        system="early-system",
        domain="testing",
        sends=(Outgoing(ORDER_PLACED, channel, "order_placed"),),
    )
    receivers = tuple(f"early-{name}-{run}" for name in ("ledger", "audit"))
    specs = [producer] + [
        ServiceSpec(
            id=rid,
            name=rid,
            version="1.0.0",
            system="early-system",
            domain="testing",
            receives=(Incoming(ORDER_PLACED, channel, "on_order_placed"),),
        )
        for rid in receivers
    ]
    name = f"early_registry_{run}"
    module = types.ModuleType(name)
    module.SERVICE_MODULES = {}  # type: ignore[attr-defined]
    for index, spec in enumerate(specs):
        service_module = types.ModuleType(f"{name}.s{index}")
        service_module.SERVICE = spec  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, service_module.__name__, service_module)
        module.SERVICE_MODULES[spec.id] = service_module.__name__  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, name, module)
    yield Registry(name, subject, producer, receivers)
    catalog_receivers.cache_clear()


@pytest.fixture
async def rabbit_settings(settings: Settings, registry: Registry) -> AsyncIterator[Settings]:
    configured = settings.model_copy(
        update={"broker_url": RABBIT, "catalog_module": registry.module}
    )
    yield configured
    # the queues are durable: leave nothing of this run on the shared server
    cleaner = create_transport(RABBIT, configured)
    await cleaner.connect()
    try:
        for group in registry.receivers:
            declared = await cleaner.broker.declare_queue(events_queue(registry.subject, group))
            await declared.delete(if_unused=False, if_empty=False)
    finally:
        await cleaner.close()


def _order(order_id: str) -> bytes:
    return OrderPlaced(order_id=order_id, amount=1).model_dump_json(by_alias=True).encode()


async def _consume(settings: Settings, subject: str, group: str, count: int) -> list[str]:
    """Start a consumer of `subject` in `group` for the first time; the order ids it gets."""
    seen: list[str] = []
    arrived = asyncio.Event()

    async def on_message(delivery: Delivery) -> None:
        seen.append(OrderPlaced.model_validate_json(delivery.body).order_id)
        await delivery.ack()
        if len(seen) >= count:
            arrived.set()

    consumer = create_transport(RABBIT, settings)
    consumer.subscribe(subject, group, on_message)
    await consumer.start()
    try:
        async with asyncio.timeout(10):
            await arrived.wait()
        await asyncio.sleep(0.2)  # anything beyond `count` would show up too
    finally:
        await consumer.stop_consuming()
        await consumer.close()
    return seen


async def test_published_before_the_consumer_ever_ran_is_delivered(
    rabbit_settings: Settings, registry: Registry
) -> None:
    producer = create_transport(RABBIT, rabbit_settings)
    assert isinstance(producer, RabbitTransport)
    producer.document([registry.producer])
    await producer.start()  # declares both receivers' queues, nobody consumes yet
    try:
        for order_id in ("a", "b", "c"):
            await producer.publish(registry.subject, _order(order_id), {})
    finally:
        await producer.close()

    # each receiving service gets its own copy, in publishing order
    for group in registry.receivers:
        assert await _consume(rabbit_settings, registry.subject, group, 3) == ["a", "b", "c"]


async def test_a_producer_that_documents_nothing_declares_on_its_first_publish(
    rabbit_settings: Settings, registry: Registry
) -> None:
    producer = create_transport(RABBIT, rabbit_settings)
    await producer.connect()  # no start, no documented services: a CLI or a bare publisher
    try:
        await asyncio.gather(
            *(producer.publish(registry.subject, _order(f"p{i}"), {}) for i in range(5))
        )
    finally:
        await producer.close()

    got = await _consume(rabbit_settings, registry.subject, registry.receivers[0], 5)
    assert sorted(got) == [f"p{i}" for i in range(5)]


def test_receivers_come_from_the_catalog_registry() -> None:
    receivers = catalog_receivers("generated.catalog")
    # an event two services consume gets both queues; a command its one handler
    assert receivers["ordering.events.order-cancelled"] == (
        "inventory-service",
        "payment-worker",
        "warehouse-service",
    )
    assert receivers["ordering.commands.create-order"] == ("order-service",)
    # requests (promotion-service answers calculate-discount there) are answered at once or
    # fail: no queue waits for their server
    assert "shopping-discount-commands" not in receivers


def test_a_registry_that_cannot_be_imported_is_named() -> None:
    from acme.runtime.errors import RegistryError

    with pytest.raises(RegistryError, match="no_such_registry_module"):
        catalog_receivers("no_such_registry_module")
