"""A small catalog model built in code, covering every case the renderers distinguish.

- broker sends and receives on a parameterised channel, and a routed channel;
- a request/response exchange sent and received on the broker;
- client requests over an HTTP gateway (served by an OpenAPI document, not by handlers);
- a send to an HTTPS API (gets a publisher) and an external sender's webhook (gets a handler);
- a message with an older version, a message without a JSON Schema, a send without a channel;
- a data store with schema.sql, a flow, a service without a system, a service with nothing.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import importlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from generator._model import (
    Catalog,
    Channel,
    ChannelParameter,
    ChannelUse,
    Container,
    Domain,
    Flow,
    FlowLink,
    FlowStep,
    HttpOperation,
    Message,
    MessageUse,
    Pointer,
    Relationship,
    Service,
    Source,
    Specification,
    System,
)
from generator._render import RenderResult, render_catalog

ORDERS = "domains/Ordering/systems/oms/services/OrderService"


def _closed(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": required,
        "properties": properties,
    }


UUID = {"type": "string", "format": "uuid", "description": "Identifier."}

ORDER_CREATED = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "urn:acme:event:order-created:1.0.0",
    "title": "OrderCreated",
    "description": "An order was placed.",
    **_closed(
        {
            "orderId": {**UUID, "description": "Order id."},
            "items": {
                "type": "array",
                "description": "Lines of the order.",
                "items": _closed(
                    {
                        "productId": UUID,
                        "quantity": {"type": "integer", "minimum": 1, "description": "Units."},
                    },
                    ["productId", "quantity"],
                ),
            },
            "total": {"type": "integer", "minimum": 0, "description": "Minor units."},
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$", "description": "ISO 4217."},
            "status": {"type": "string", "enum": ["CREATED", "CONFIRMED"], "description": "State."},
            "createdAt": {"type": "string", "format": "date-time", "description": "When."},
        },
        ["orderId", "items", "total", "currency", "status", "createdAt"],
    ),
}
ORDER_CREATED_0_6 = _closed({"orderId": UUID, "total": {"type": "integer"}}, ["orderId"])

GET_ORDER = _closed(
    {
        "request": _closed({"orderId": UUID}, ["orderId"]),
        "response": _closed(
            {
                "orderId": UUID,
                "status": {"type": "string", "enum": ["CREATED", "CONFIRMED", "CANCELLED"]},
                "lines": {
                    "type": "array",
                    "items": _closed({"sku": {"type": "string"}}, ["sku"]),
                },
            },
            ["orderId", "status"],
        ),
    },
    ["request", "response"],
)
CALCULATE_DISCOUNT = _closed(
    {
        "request": _closed({"cartId": UUID, "subtotal": {"type": "integer"}}, ["cartId"]),
        "response": _closed({"discount": {"type": "integer", "minimum": 0}}, ["discount"]),
    },
    ["request", "response"],
)
CREATE_ORDER = _closed({"orderId": UUID, "cartId": UUID}, ["orderId", "cartId"])
CANCEL_ORDER = _closed(
    {"orderId": UUID, "reason": {"type": "string", "description": "Why."}}, ["orderId"]
)
PAYMENT_REQUESTED = _closed({"paymentId": UUID, "amount": {"type": "integer"}}, ["paymentId"])
PAYMENT_SUCCEEDED = _closed({"paymentId": UUID}, ["paymentId"])

GET_ORDER_RESPONSE_REF = "../../../../queries/get-order/schema.json#/properties/response"
OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Order Service API", "version": "1.0.0", "description": "Orders over HTTP"},
    "security": [{"bearerAuth": []}],
    "paths": {
        "/orders": {
            "get": {
                "operationId": "listOrders",
                "summary": "List the caller's orders",
                "parameters": [
                    {
                        "name": "status",
                        "in": "query",
                        "schema": {"type": "string", "enum": ["CREATED", "CANCELLED"]},
                    },
                    {
                        "name": "pageSize",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "Orders",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/OrderPage"}
                            }
                        },
                    }
                },
            }
        },
        "/orders/{orderId}": {
            "parameters": [
                {
                    "name": "orderId",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "format": "uuid"},
                }
            ],
            "get": {
                "operationId": "getOrder",
                "summary": "Get one order",
                "x-roles": ["customer", "admin"],
                "responses": {
                    "200": {
                        "description": "The order",
                        "content": {
                            "application/json": {"schema": {"$ref": GET_ORDER_RESPONSE_REF}}
                        },
                    },
                    "404": {"description": "No such order"},
                },
            },
            "delete": {
                "operationId": "deleteOrder",
                "summary": "Forget an order",
                "security": [],
                "responses": {"204": {"description": "Gone"}},
            },
        },
        "/orders/{orderId}/cancel": {
            "post": {
                "operationId": "cancelOrder",
                "summary": "Cancel an order",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "commands/cancel-order/schema.json"}
                        }
                    },
                },
                "parameters": [
                    {
                        "name": "orderId",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "format": "uuid"},
                    }
                ],
                "responses": {
                    "202": {
                        "description": "Accepted",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["accepted"],
                                    "properties": {"accepted": {"type": "boolean"}},
                                }
                            }
                        },
                    },
                    "409": {"description": "Cannot cancel"},
                },
            }
        },
    },
    "components": {
        "schemas": {
            "OrderPage": {
                "type": "object",
                "required": ["orders"],
                "properties": {
                    "orders": {"type": "array", "items": {"$ref": "#/components/schemas/OrderRow"}},
                    "nextCursor": {"type": "string"},
                },
            },
            "OrderRow": {
                "type": "object",
                "required": ["orderId"],
                "properties": {"orderId": {"type": "string", "format": "uuid"}},
            },
        }
    },
}

SCHEMA_SQL = """-- Orders of the order service.
CREATE TABLE IF NOT EXISTS orders (
    id UUID PRIMARY KEY,
    customer_id UUID NOT NULL,
    status TEXT NOT NULL DEFAULT 'CREATED', -- see the order lifecycle
    total BIGINT NOT NULL,
    note VARCHAR(200),
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS orders_customer ON orders (customer_id);
CREATE TABLE IF NOT EXISTS message_inbox (
    consumer TEXT NOT NULL,
    message_id TEXT NOT NULL,
    PRIMARY KEY (consumer, message_id)
);
"""


def _src(path: str, line: int = 1) -> Source:
    return Source(path, line)


def _use(message_id: str, channel: str | None = None, **params: str) -> MessageUse:
    channels = (ChannelUse(Pointer(channel), tuple(sorted(params.items()))),) if channel else ()
    return MessageUse(Pointer(message_id), channels, _src("x.mdx", 7))


def _message(
    kind: str, id: str, name: str, folder: str, schema: dict[str, Any] | None, **extra: Any
) -> Message:
    return Message(
        kind=kind,  # type: ignore[arg-type]
        id=id,
        name=name,
        version=extra.pop("version", "1.0.0"),
        source=_src(f"{folder}/index.mdx"),
        summary=extra.pop("summary", f"{name} happened."),
        schema_path=extra.pop("schema_path", f"{folder}/schema.json"),
        schema=copy.deepcopy(schema) if schema is not None else None,
        **extra,
    )


def _channel(id: str, address: str, protocol: str, **extra: Any) -> Channel:
    return Channel(
        kind="channel",
        id=id,
        name=id,
        version="1.0.0",
        source=_src(f"channels/{id}/index.mdx"),
        address=address,
        protocols=(protocol,),
        **extra,
    )


def _service(id: str, name: str, folder: str, **extra: Any) -> Service:
    return Service(
        kind="service",
        id=id,
        name=name,
        version="1.0.0",
        source=_src(f"{folder}/index.mdx"),
        summary=f"{name} does its job",
        **extra,
    )


def shop_catalog(root: Path = Path("catalog")) -> Catalog:
    """The fixture catalog; `root` only names the catalog folder (nothing is read from it)."""
    messages = (
        _message(
            "event",
            "order-created",
            "Order Created",
            f"{ORDERS}/events/order-created",
            ORDER_CREATED,
        ),
        _message(
            "event",
            "order-created",
            "Order Created",
            f"{ORDERS}/events/order-created/versioned/0.6.0",
            ORDER_CREATED_0_6,
            version="0.6.0",
            is_latest=False,
        ),
        _message(
            "command",
            "create-order",
            "Create Order",
            f"{ORDERS}/commands/create-order",
            CREATE_ORDER,
        ),
        _message(
            "command",
            "cancel-order",
            "Cancel Order",
            f"{ORDERS}/commands/cancel-order",
            CANCEL_ORDER,
            operation=HttpOperation("POST", "/orders/{orderId}/cancel"),
        ),
        _message(
            "query",
            "get-order",
            "Get Order",
            "domains/Ordering/queries/get-order",
            GET_ORDER,
            operation=HttpOperation("GET", "/orders/{orderId}"),
        ),
        _message(
            "query",
            "calculate-discount",
            "Calculate Discount",
            "domains/Shopping/services/Promotions/queries/calculate-discount",
            CALCULATE_DISCOUNT,
        ),
        _message(
            "command",
            "payment-requested",
            "Payment Requested",
            f"{ORDERS}/commands/payment-requested",
            PAYMENT_REQUESTED,
        ),
        _message(
            "event",
            "payment-succeeded",
            "Payment Succeeded",
            "domains/Ordering/systems/stripe/services/Webhooks/events/payment-succeeded",
            PAYMENT_SUCCEEDED,
        ),
        _message(
            "event",
            "legacy-note",
            "Legacy Note",
            f"{ORDERS}/events/legacy-note",
            None,
            schema_path=f"{ORDERS}/events/legacy-note/schema.avsc",
        ),
    )
    channels = (
        _channel(
            "ordering.events",
            "ordering.events.{message}",
            "nats",
            delivery_guarantee="at-least-once",
            parameters=(ChannelParameter("message", "id of the message carried"),),
            routes=(Pointer("ordering.audit"),),
        ),
        _channel("ordering.audit", "ordering.audit", "nats"),
        _channel(
            "ordering.commands",
            "ordering.commands.{message}",
            "nats",
            parameters=(ChannelParameter("message"),),
        ),
        _channel("discount.commands", "shopping-discount-commands", "nats"),
        _channel("http.gateway", "/api", "http", delivery_guarantee="at-most-once"),
        _channel("stripe.api", "/v1", "https", delivery_guarantee="at-least-once"),
        _channel("payments.outcomes", "/webhooks/stripe", "https"),
    )
    services = (
        _service(
            "order-service",
            "Order Service",
            ORDERS,
            sends=(
                _use("order-created", "ordering.events", message="order-created"),
                _use("calculate-discount", "discount.commands"),
                _use("payment-requested", "stripe.api"),
            ),
            receives=(
                _use("create-order", "ordering.commands", message="create-order"),
                _use("cancel-order", "http.gateway"),
                _use("cancel-order", "ordering.commands", message="cancel-order"),
                _use("get-order", "http.gateway"),
                _use("payment-succeeded", "payments.outcomes"),
            ),
            writes_to=(Pointer("order-database"),),
            reads_from=(Pointer("order-database"),),
            specifications=(Specification("openapi", f"{ORDERS}/openapi.yml", None, OPENAPI),),
        ),
        _service(
            "order-auditor",
            "Order Auditor",
            "domains/Ordering/systems/oms/services/Auditor",
            receives=(_use("order-created", "ordering.audit"),),
        ),
        _service(
            "promotion-service",
            "Promotion Service",
            "domains/Shopping/services/Promotions",
            receives=(_use("calculate-discount", "discount.commands"),),
        ),
        _service(
            "storefront",
            "Storefront",
            "services/Storefront",
            sends=(_use("get-order", "http.gateway"), _use("cancel-order", "http.gateway")),
        ),
        _service(
            "stripe-webhooks",
            "Stripe Webhooks",
            "domains/Ordering/systems/stripe/services/Webhooks",
            sends=(_use("payment-succeeded", "payments.outcomes"),),
        ),
        _service(
            "legacy-service",
            "Legacy Service",
            "domains/Shopping/services/Legacy",
            sends=(_use("legacy-note"),),
        ),
        _service("idle-service", "Idle Service", "domains/Shopping/services/Idle"),
    )
    systems = (
        System(
            kind="system",
            id="oms",
            name="Order Management System",
            version="1.0.0",
            source=_src("domains/Ordering/systems/oms/index.mdx"),
            summary="Keeps orders",
            services=(Pointer("order-service"), Pointer("order-auditor")),
            containers=(Pointer("order-database"),),
            relationships=(Relationship(Pointer("stripe"), "charges through"),),
        ),
        System(
            kind="system",
            id="stripe",
            name="Stripe",
            version="1.0.0",
            scope="external",
            source=_src("domains/Ordering/systems/stripe/index.mdx"),
            summary="Payments",
            services=(Pointer("stripe-webhooks"),),
        ),
    )
    domains = (
        Domain(
            kind="domain",
            id="ordering",
            name="Ordering",
            version="1.0.0",
            source=_src("domains/Ordering/index.mdx"),
            summary="Orders",
            systems=(Pointer("oms"), Pointer("stripe")),
            flows=(Pointer("place-order"),),
        ),
        Domain(
            kind="domain",
            id="shopping",
            name="Shopping",
            version="1.0.0",
            source=_src("domains/Shopping/index.mdx"),
            summary="Carts",
            services=(
                Pointer("promotion-service"),
                Pointer("legacy-service"),
                Pointer("idle-service"),
            ),
        ),
    )
    containers = (
        Container(
            kind="container",
            id="order-database",
            name="Order Database",
            version="1.0.0",
            source=_src("domains/Ordering/systems/oms/containers/order-database/index.mdx"),
            summary="Orders and their history",
            container_type="database",
            technology="postgres@16",
            authoritative=True,
            sql_path="domains/Ordering/systems/oms/containers/order-database/schema.sql",
            sql=SCHEMA_SQL,
        ),
    )
    flows = (
        Flow(
            kind="flow",
            id="place-order",
            name="Place an order",
            version="1.0.0",
            source=_src("domains/Ordering/flows/place-order/index.mdx"),
            summary="Checkout",
            steps=(
                FlowStep(
                    "start",
                    "Shopper checks out",
                    _src("f.mdx", 5),
                    actor="Shopper",
                    next=(FlowLink("create"),),
                ),
                FlowStep(
                    "create",
                    "Create the order",
                    _src("f.mdx", 9),
                    message=Pointer("create-order"),
                    next=(FlowLink("created", "ok"), FlowLink("end", "rejected")),
                ),
                FlowStep(
                    "created", "Order created", _src("f.mdx", 14), message=Pointer("order-created")
                ),
                FlowStep("end", "Stop", _src("f.mdx", 18)),
            ),
        ),
    )
    return Catalog(
        root=root,
        domains=domains,
        systems=systems,
        services=services,
        messages=messages,
        channels=channels,
        flows=flows,
        containers=containers,
        config={"title": "Shop"},
    )


# --- rendering the fixture once per test session ---------------------------------------------

PACKAGE = "shopgen"  # not "generated": tests must not shadow the repository's package


@functools.cache
def rendered() -> RenderResult:
    """The fixture catalog rendered under the package name `PACKAGE` (cached: it takes a second)."""
    return render_catalog(shop_catalog(), package_name=PACKAGE)


def write_package(result: RenderResult, parent: Path, package: str = PACKAGE) -> Path:
    """Write rendered files as an importable package `parent/package`; returns its folder."""
    root = parent / package
    for path, text in result.files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return root


@contextlib.contextmanager
def imported(parent: Path, package: str = PACKAGE) -> Iterator[Callable[[str], ModuleType]]:
    """Make `parent` importable; yields ``load("messages.order_created")``; forgets it after."""
    sys.path.insert(0, str(parent))
    try:
        yield lambda name: importlib.import_module(f"{package}.{name}" if name else package)
    finally:
        sys.path.remove(str(parent))
        for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
            del sys.modules[name]
