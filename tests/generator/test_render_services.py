"""services/: spec, handler Protocol, typed publisher and routes, as the catalog wires them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
from pydantic import BaseModel
from render_fixture import imported, rendered, write_package

from generator.contracts import (
    HandlerContractError,
    MessageContext,
    Outgoing,
    check_handlers,
)

Load = Callable[[str], ModuleType]
ID = "3f1e4a52-8c4b-4f7e-9a51-0f9b3d2c1a00"


@pytest.fixture(scope="module")
def load(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Load]:
    parent = tmp_path_factory.mktemp("services")
    write_package(rendered(), parent)
    with imported(parent) as loader:
        yield loader


def _bindings(entries: tuple[Any, ...]) -> dict[str, tuple[str | None, str, str]]:
    return {
        e.message.id: (e.channel.channel_id, e.channel.address, e.channel.protocol) for e in entries
    }


def test_sends_fill_channel_parameters_and_keep_https_sends(load: Load) -> None:
    service = load("services.order_service").SERVICE
    assert _bindings(service.sends) == {
        "order-created": ("ordering.events", "ordering.events.order-created", "nats"),
        "calculate-discount": ("discount.commands", "shopping-discount-commands", "nats"),
        "payment-requested": ("stripe.api", "/v1", "https"),
    }
    assert service.sends[0].channel.delivery_guarantee == "at-least-once"


def test_receives_skip_client_http_requests_but_keep_webhooks(load: Load) -> None:
    service = load("services.order_service").SERVICE
    # cancel-order over http.gateway and get-order are served by the http module.
    assert _bindings(service.receives) == {
        "create-order": ("ordering.commands", "ordering.commands.create-order", "nats"),
        "cancel-order": ("ordering.commands", "ordering.commands.cancel-order", "nats"),
        "payment-succeeded": ("payments.outcomes", "/webhooks/stripe", "https"),
    }
    assert [i.handler for i in service.receives] == [
        "on_create_order",
        "on_cancel_order",
        "on_payment_succeeded",
    ]


def test_routed_receive_listens_where_the_sender_publishes(load: Load) -> None:
    (incoming,) = load("services.order_auditor").SERVICE.receives
    assert incoming.channel.channel_id == "ordering.audit"
    assert incoming.channel.address == "ordering.events.order-created"


def test_service_spec_membership_and_operations(load: Load) -> None:
    spec = load("services.order_service").SERVICE
    assert (spec.id, spec.system, spec.domain) == ("order-service", "oms", "ordering")
    assert spec.writes_to == ("order-database",) and spec.reads_from == ("order-database",)
    assert [op.operation_id for op in spec.operations] == [
        "listOrders",
        "getOrder",
        "deleteOrder",
        "cancelOrder",
    ]
    promotion = load("services.promotion_service").SERVICE
    assert (promotion.system, promotion.domain) == (None, "shopping")


def test_client_and_idle_services_get_no_contract(load: Load) -> None:
    for name in ("storefront", "idle_service"):
        module = load(f"services.{name}")
        assert module.SERVICE.sends == () and module.SERVICE.receives == ()
        assert module.routes(object()) == ()
        assert not [n for n in vars(module) if n.endswith(("Handlers", "Publisher"))]


def test_send_without_channel_uses_default_subject_and_warns(load: Load) -> None:
    (outgoing,) = load("services.legacy_service").SERVICE.sends
    assert outgoing.channel.channel_id is None
    assert outgoing.channel.address == "ordering.events.legacy-note"
    assert any("names no channel" in w.message for w in rendered().warnings)


class FakeOutbox:
    def __init__(self) -> None:
        self.put_calls: list[tuple[Outgoing, BaseModel, str | None]] = []
        self.requests: list[tuple[Outgoing, BaseModel]] = []
        self.reply: BaseModel | None = None

    async def put(self, outgoing: Outgoing, payload: BaseModel, *, key: str | None = None) -> str:
        self.put_calls.append((outgoing, payload, key))
        return "message-1"

    async def request(self, outgoing: Outgoing, payload: BaseModel) -> BaseModel:
        self.requests.append((outgoing, payload))
        assert self.reply is not None
        return self.reply


async def test_publisher_puts_events_on_their_outgoing(load: Load) -> None:
    module = load("services.order_service")
    outbox = FakeOutbox()
    payload = load("messages.order_created").OrderCreated.model_validate(
        {
            "orderId": ID,
            "items": [],
            "total": 0,
            "currency": "EUR",
            "status": "CREATED",
            "createdAt": "2026-01-01T00:00:00Z",
        }
    )
    publisher = module.OrderServicePublisher(outbox)
    assert await publisher.order_created(payload, key="k1") == "message-1"
    ((outgoing, sent, key),) = outbox.put_calls
    assert outgoing is module.SEND_ORDER_CREATED and sent is payload and key == "k1"
    assert not hasattr(publisher, "create_order")  # receives never become publishers


async def test_exchange_publisher_returns_the_typed_reply(load: Load) -> None:
    module = load("services.order_service")
    messages = load("messages.calculate_discount")
    outbox = FakeOutbox()

    class Reply(BaseModel):  # what a transport hands back: any model with the wire fields
        discount: int

    outbox.reply = Reply(discount=150)
    request = messages.CalculateDiscountRequest(cart_id=ID, subtotal=1000)
    reply = await module.OrderServicePublisher(outbox).calculate_discount(request)
    assert isinstance(reply, messages.CalculateDiscountResponse)
    assert reply.discount == 150
    assert outbox.requests[0][0] is module.SEND_CALCULATE_DISCOUNT


def test_routes_bind_each_incoming_to_its_handler(load: Load) -> None:
    module = load("services.order_service")

    class Handlers:
        async def on_create_order(self, message: Any, context: MessageContext) -> None: ...
        async def on_cancel_order(self, message: Any, context: MessageContext) -> None: ...
        async def on_payment_succeeded(self, message: Any, context: MessageContext) -> None: ...

    handlers = Handlers()
    routes = module.routes(handlers)
    assert [(r.incoming.handler, r.handler.__name__) for r in routes] == [
        ("on_create_order", "on_create_order"),
        ("on_cancel_order", "on_cancel_order"),
        ("on_payment_succeeded", "on_payment_succeeded"),
    ]
    check_handlers(module.OrderServiceHandlers, handlers, service=module.SERVICE)


def test_exchange_handler_returns_the_response_type(load: Load) -> None:
    module = load("services.promotion_service")
    hints = module.PromotionServiceHandlers.on_calculate_discount.__annotations__
    assert hints["message"] == "CalculateDiscountRequest"
    assert hints["return"] == "CalculateDiscountResponse"


def test_missing_handler_names_the_catalog_change(load: Load) -> None:
    module = load("services.order_service")

    class Incomplete:
        async def on_create_order(self, message: Any, context: MessageContext) -> None: ...

    with pytest.raises(HandlerContractError, match="on_cancel_order.*receives cancel-order"):
        check_handlers(module.OrderServiceHandlers, Incomplete(), service=module.SERVICE)
