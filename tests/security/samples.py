"""One valid request per catalog operation, so that what a security test changes (the token,
the size, one field) is the only reason for the answer it gets.

`valid_call(operation, subject)` fills every path parameter with a fresh UUID (they are all
UUIDs in the catalog; a test may fix some), the required query parameters, and a body built
by SAMPLE_BODIES that names `subject` wherever the catalog wants the caller's own id.
test_http_security checks that each body is valid against the catalog's schema and that every
operation has one.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import httpx

from tests.security.apis import Operation

__all__ = ["ADDRESS", "SAMPLE_BODIES", "SAMPLE_QUERIES", "Call", "invalid_value", "valid_call"]

ADDRESS = {"line1": "1 Main St", "city": "Springfield", "postalCode": "12345", "countryCode": "US"}


def _now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass(frozen=True)
class Sample:
    """What a body sample may use: the call's path parameters and the caller's id."""

    path: Mapping[str, str]
    subject: str


SAMPLE_BODIES: dict[str, Callable[[Sample], dict[str, Any]]] = {
    "createCart": lambda s: {"customerId": s.subject, "currency": "USD"},
    "addItemToCart": lambda s: {
        "cartId": s.path["cartId"],
        "productId": str(uuid.uuid4()),
        "quantity": 1,
    },
    "checkoutCart": lambda s: {
        "cartId": s.path["cartId"],
        "customerId": s.subject,
        "deliveryAddress": ADDRESS,
    },
    "registerCustomer": lambda s: {
        "email": f"shopper-{uuid.uuid4().hex[:12]}@example.com",
        "password": "correct horse battery staple",
        "name": "Sam Shopper",
    },
    "updateCustomer": lambda s: {"customerId": s.path["customerId"], "name": "Renamed"},
    "addCustomerAddress": lambda s: {"customerId": s.path["customerId"], **ADDRESS},
    "setStockLevel": lambda s: {"productId": s.path["productId"], "available": 5},
    "authenticateCustomer": lambda s: {
        "email": "nobody@example.com",
        "password": "not the password",
    },
    "cancelOrder": lambda s: {"orderId": s.path["orderId"], "reason": "CUSTOMER_REQUESTED"},
    "changeOrderDeliveryAddress": lambda s: {
        "orderId": s.path["orderId"],
        "deliveryAddress": {**ADDRESS, "line1": "2 Other St"},
    },
    "releaseOrderHold": lambda s: {
        "orderId": s.path["orderId"],
        "resolution": "address verified by phone",
        "nextStatus": "CONFIRMED",
    },
    "createProduct": lambda s: {
        "sku": f"SKU-{uuid.uuid4().hex[:10]}",
        "name": "Desk lamp",
        "price": 2500,
        "currency": "USD",
    },
    "reindexCatalog": lambda s: {"reindexId": str(uuid.uuid4()), "requestedAt": _now()},
    "updateProduct": lambda s: {"productId": s.path["productId"], "name": "Desk lamp II"},
    "submitReview": lambda s: {
        "reviewId": str(uuid.uuid4()),
        "productId": s.path["productId"],
        "customerId": s.subject,
        "rating": 5,
        "body": "Bright and sturdy.",
        "submittedAt": _now(),
    },
    "flagReview": lambda s: {
        "reviewId": s.path["reviewId"],
        "flaggedBy": s.subject,
        "reason": "spam",
        "flaggedAt": _now(),
    },
    "voteReviewHelpful": lambda s: {
        "reviewId": s.path["reviewId"],
        "customerId": s.subject,
        "vote": "helpful",
        "votedAt": _now(),
    },
}
"""operationId -> body of a valid request (operations with a request body only)."""

SAMPLE_QUERIES: dict[str, dict[str, Any]] = {
    "searchProducts": {"query": "lamp"},
}
"""operationId -> its required query parameters."""


@dataclass(frozen=True)
class Call:
    operation: Operation
    path: dict[str, str]
    query: dict[str, Any] = field(default_factory=dict)
    body: dict[str, Any] | None = None

    @property
    def url(self) -> str:
        url = self.operation.spec.path
        for name, value in self.path.items():
            url = url.replace("{" + name + "}", value)
        return url

    def with_body(self, body: dict[str, Any] | None) -> Call:
        return replace(self, body=body)

    async def send(
        self,
        client: httpx.AsyncClient,
        *,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        content: Any = None,
    ) -> httpx.Response:
        """Send the call; `content` (raw bytes or a stream) replaces the JSON body."""
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        if content is not None:
            sent.setdefault("Content-Type", "application/json")
            return await client.request(
                self.operation.spec.method,
                self.url,
                params=self.query,
                headers=sent,
                content=content,
            )
        return await client.request(
            self.operation.spec.method,
            self.url,
            params=self.query,
            headers=sent,
            json=self.body,
        )


def valid_call(operation: Operation, subject: str, **path: str) -> Call:
    """A valid request for `operation` by `subject`; `path` fixes some path parameters."""
    params = {
        p["name"]: path.get(p["name"], str(uuid.uuid4())) for p in operation.parameters("path")
    }
    unknown = set(path) - set(params)
    if unknown:
        raise ValueError(f"{operation} has no path parameter {sorted(unknown)}")
    body = None
    if operation.body_schema() is not None:
        if operation.id not in SAMPLE_BODIES:
            raise LookupError(f"tests/security/samples.py: add a body sample for {operation}")
        body = SAMPLE_BODIES[operation.id](Sample(params, subject))
    required = {p["name"] for p in operation.parameters("query") if p.get("required")}
    query = dict(SAMPLE_QUERIES.get(operation.id, {}))
    missing = required - set(query)
    if missing:
        raise LookupError(f"tests/security/samples.py: add {sorted(missing)} for {operation}")
    return Call(operation, params, query, body)


def invalid_value(schema: Mapping[str, Any]) -> str | None:
    """A query or path value the parameter's schema rejects, if it constrains values."""
    if "enum" in schema:
        return "NOT-AN-OPTION"
    if schema.get("type") == "integer":
        return "not-a-number"
    if schema.get("format") == "uuid":
        return "not-a-uuid"
    if schema.get("minLength"):
        return ""
    return None
