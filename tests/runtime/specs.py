"""A small hand-built host, shaped like generated code, for the runtime tests.

shop-service publishes order-placed (broker), asks get-quote (request/reply) and sends
charge-requested to an https channel; ledger-service consumes order-placed and a webhook;
quote-service answers get-quote. Handler behaviour is steered by the order id.
"""

# No `from __future__ import annotations` here, as in generated http modules: FastAPI must
# evaluate `Depends(authorizer.dependency(...))`, whose names are local to build_router.
import uuid
from typing import Annotated, Protocol

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text

from acme.runtime import current
from acme.runtime.errors import PermanentFailure
from acme.runtime.registry import DatastoreSpec, HostSpec, ServiceBinding
from generator.contracts import (
    ApiError,
    Authorizer,
    ChannelBinding,
    Incoming,
    MessageContext,
    MessageSpec,
    OperationSpec,
    Outbox,
    Outgoing,
    RequestContext,
    ServiceSpec,
)


class OrderPlaced(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    order_id: str = Field(alias="orderId")
    amount: int = Field(ge=0)


class QuoteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    quantity: int = Field(ge=1)


class QuoteResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    price: int


class ChargeRequested(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    order_id: str = Field(alias="orderId")
    amount: int


class PaymentOutcome(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    order_id: str = Field(alias="orderId")
    status: str


class PlaceOrder(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    order_id: str = Field(alias="orderId", min_length=1, max_length=64)
    amount: int = Field(ge=0)


ORDER_PLACED = MessageSpec("order-placed", "1.2.0", "event", "Order Placed", OrderPlaced)
GET_QUOTE = MessageSpec("get-quote", "1.0.0", "query", "Get Quote", QuoteRequest, QuoteResponse)
CHARGE_REQUESTED = MessageSpec(
    "charge-requested", "1.0.0", "command", "Charge Requested", ChargeRequested
)
PAYMENT_OUTCOME = MessageSpec(
    "payment-outcome", "1.0.0", "event", "Payment Outcome", PaymentOutcome
)

ORDERS = ChannelBinding("test.orders", "test.orders.order-placed", "nats")
QUOTES = ChannelBinding("test.quotes", "test.quotes.get-quote", "nats")
STRIPE = ChannelBinding("stripe.api", "https://stripe.invalid/v1/charges", "https")
WEBHOOK = ChannelBinding("payments.outcomes", "/webhooks/test", "http")

SEND_ORDER_PLACED = Outgoing(ORDER_PLACED, ORDERS, "order_placed")
SEND_GET_QUOTE = Outgoing(GET_QUOTE, QUOTES, "get_quote")
SEND_CHARGE = Outgoing(CHARGE_REQUESTED, STRIPE, "charge_requested")
RECEIVE_ORDER_PLACED = Incoming(ORDER_PLACED, ORDERS, "on_order_placed")
RECEIVE_PAYMENT_OUTCOME = Incoming(PAYMENT_OUTCOME, WEBHOOK, "on_payment_outcome")
RECEIVE_GET_QUOTE = Incoming(GET_QUOTE, QUOTES, "on_get_quote")

PLACE_ORDER = OperationSpec(
    "placeOrder", "POST", "/orders", security=("bearerAuth",), roles=("shopper", "admin")
)
ADMIN_STATS = OperationSpec(
    "adminStats", "GET", "/admin/stats", security=("bearerAuth",), roles=("admin",)
)
PING = OperationSpec("ping", "GET", "/ping")

SHOP = ServiceSpec(
    id="shop-service",
    name="Shop Service",
    version="1.0.0",
    system="test-system",
    domain="testing",
    sends=(SEND_ORDER_PLACED, SEND_GET_QUOTE, SEND_CHARGE),
    operations=(PLACE_ORDER, ADMIN_STATS, PING),
    writes_to=("shop-db",),
    source="tests/runtime/specs.py",
)
LEDGER = ServiceSpec(
    id="ledger-service",
    name="Ledger Service",
    version="1.0.0",
    system="test-system",
    domain="testing",
    receives=(RECEIVE_ORDER_PLACED, RECEIVE_PAYMENT_OUTCOME),
    writes_to=("ledger-db",),
    source="tests/runtime/specs.py",
)
QUOTE = ServiceSpec(
    id="quote-service",
    name="Quote Service",
    version="1.0.0",
    system="test-system",
    domain="testing",
    receives=(RECEIVE_GET_QUOTE,),
    source="tests/runtime/specs.py",
)

LEDGER_DDL = (
    "CREATE TABLE entries (entry_id TEXT PRIMARY KEY, order_id TEXT NOT NULL, "
    "amount INTEGER NOT NULL, attempt INTEGER NOT NULL, correlation_id TEXT NOT NULL)",
    "CREATE INDEX entries_order ON entries (order_id)",
    "CREATE TABLE outcomes (order_id TEXT NOT NULL, status TEXT NOT NULL)",
)
SHOP_DDL = ("CREATE TABLE orders (order_id TEXT PRIMARY KEY, amount INTEGER NOT NULL)",)


# -- what the generator would emit ---------------------------------------------------------
class LedgerServiceHandlers(Protocol):
    async def on_order_placed(self, message: OrderPlaced, context: MessageContext) -> None: ...

    async def on_payment_outcome(
        self, message: PaymentOutcome, context: MessageContext
    ) -> None: ...


class QuoteServiceHandlers(Protocol):
    async def on_get_quote(
        self, message: QuoteRequest, context: MessageContext
    ) -> QuoteResponse: ...


class ShopServicePublisher:
    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    async def order_placed(self, payload: OrderPlaced, *, key: str | None = None) -> str:
        return await self._outbox.put(SEND_ORDER_PLACED, payload, key=key)

    async def charge_requested(self, payload: ChargeRequested, *, key: str | None = None) -> str:
        return await self._outbox.put(SEND_CHARGE, payload, key=key)

    async def get_quote(self, payload: QuoteRequest) -> QuoteResponse:
        reply = await self._outbox.request(SEND_GET_QUOTE, payload)
        return QuoteResponse.model_validate(reply.model_dump(by_alias=True))


class ShopServiceHttpHandlers(Protocol):
    async def place_order(self, body: PlaceOrder, request: RequestContext) -> OrderPlaced: ...

    async def admin_stats(self, request: RequestContext) -> dict[str, str]: ...

    async def ping(self, request: RequestContext) -> dict[str, str]: ...


def build_shop_router(handlers: ShopServiceHttpHandlers, authorizer: Authorizer) -> APIRouter:
    router = APIRouter()

    @router.post("/orders", status_code=201)
    async def place_order(
        body: PlaceOrder,
        request: Annotated[RequestContext, Depends(authorizer.dependency(PLACE_ORDER))],
    ) -> OrderPlaced:
        return await handlers.place_order(body, request)

    @router.get("/admin/stats")
    async def admin_stats(
        request: Annotated[RequestContext, Depends(authorizer.dependency(ADMIN_STATS))],
    ) -> dict[str, str]:
        return await handlers.admin_stats(request)

    @router.get("/ping")
    async def ping(
        request: Annotated[RequestContext, Depends(authorizer.dependency(PING))],
    ) -> dict[str, str]:
        return await handlers.ping(request)

    return router


# -- what a system developer would write -----------------------------------------------------
class Ledger:
    """order ids steer behaviour: `fail-*` always raises, `flaky<N>-*` fails N times,
    `perm-*` raises PermanentFailure."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.healthy = False  # set True to make `fail-*` succeed (after a fix, before replay)

    async def on_order_placed(self, message: OrderPlaced, context: MessageContext) -> None:
        tx = current()
        self.calls[message.order_id] = self.calls.get(message.order_id, 0) + 1
        await tx.conn.execute(
            text(
                "INSERT INTO entries (entry_id, order_id, amount, attempt, correlation_id) "
                "VALUES (:e, :o, :a, :n, :c)"
            ),
            {
                "e": str(uuid.uuid4()),
                "o": message.order_id,
                "a": message.amount,
                "n": context.delivery_attempt,
                "c": context.correlation_id,
            },
        )
        oid = message.order_id
        if oid.startswith("fail-") and not self.healthy:
            raise RuntimeError(f"ledger cannot book {oid}")
        if oid.startswith("perm-"):
            raise PermanentFailure(f"{oid} can never be booked")
        if oid.startswith("flaky"):
            times = int(oid[5 : oid.index("-")])
            if self.calls[oid] <= times:
                raise ConnectionError(f"transient failure {self.calls[oid]} of {times}")

    async def on_payment_outcome(self, message: PaymentOutcome, context: MessageContext) -> None:
        await current().conn.execute(
            text("INSERT INTO outcomes (order_id, status) VALUES (:o, :s)"),
            {"o": message.order_id, "s": message.status},
        )


class Quotes:
    async def on_get_quote(self, message: QuoteRequest, context: MessageContext) -> QuoteResponse:
        if message.quantity == 13:
            raise ValueError("unlucky quantity")
        return QuoteResponse(price=message.quantity * 10)


class ShopHttp:
    def __init__(self, app: object) -> None:
        from acme.runtime import SystemApp

        assert isinstance(app, SystemApp)
        self.app = app

    async def place_order(self, body: PlaceOrder, request: RequestContext) -> OrderPlaced:
        if body.order_id == "conflict":
            raise ApiError(409, "order-exists", "order conflict already exists")
        async with self.app.transaction(
            "shop-service", correlation_id=request.correlation_id
        ) as tx:
            await tx.conn.execute(
                text("INSERT INTO orders (order_id, amount) VALUES (:o, :a)"),
                {"o": body.order_id, "a": body.amount},
            )
            event = OrderPlaced(order_id=body.order_id, amount=body.amount)
            await tx.publisher(ShopServicePublisher).order_placed(event)
        return event

    async def admin_stats(self, request: RequestContext) -> dict[str, str]:
        return {"subject": request.subject or "", "roles": ",".join(sorted(request.roles))}

    async def ping(self, request: RequestContext) -> dict[str, str]:
        return {"subject": request.subject or "anonymous"}


def host(*, with_webhook: bool = True, with_charge: bool = True) -> HostSpec:
    shop = SHOP
    ledger = LEDGER
    if not with_charge:
        shop = ServiceSpec(**{**SHOP.__dict__, "sends": (SEND_ORDER_PLACED, SEND_GET_QUOTE)})
    if not with_webhook:
        ledger = ServiceSpec(**{**LEDGER.__dict__, "receives": (RECEIVE_ORDER_PLACED,)})
    return HostSpec(
        id="test-system",
        services=(
            ServiceBinding(shop, None, ShopServiceHttpHandlers, build_shop_router),
            ServiceBinding(ledger, LedgerServiceHandlers),
            ServiceBinding(QUOTE, QuoteServiceHandlers),
        ),
        containers=("shop-db", "ledger-db"),
        datastores={
            "shop-db": DatastoreSpec("shop-db", SHOP_DDL),
            "ledger-db": DatastoreSpec("ledger-db", LEDGER_DDL),
        },
    )
