"""Another shopper's attacks on a victim's data: one per owner-scoped operation.

An operation is owner-scoped when it reads or changes one shopper's cart, checkout, order,
payment or customer record (a path or query parameter naming it), or acts in a shopper's name
(a body field naming the acting customer). The victim's data is seeded by the test; each
attack is built from its ids and sent with ATTACKER's token.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tests.security.apis import Operation, operations
from tests.security.samples import Call, valid_call

__all__ = ["ATTACKER", "ATTACKS", "VICTIM", "Attack", "Victim", "by_id", "owner_scoped"]

VICTIM = str(uuid.uuid4())
ATTACKER = str(uuid.uuid4())
OWNED_PARAMETERS = {"cartId", "checkoutId", "customerId", "orderId", "paymentId"}
OWNER_FIELDS = {"customerId", "flaggedBy"}  # body fields naming the acting shopper


def owner_scoped(operation: Operation) -> bool:
    """Operations that read or change one shopper's data, or act in a shopper's name (staff-only
    operations are not: a shopper is refused them whoever owns the data)."""
    if not operation.secured or operation.admin_only:
        return False
    parameters = (*operation.parameters("path"), *operation.parameters("query"))
    names = {p["name"] for p in parameters}
    body = set((operation.body_schema() or {}).get("properties", {}))
    return bool(names & OWNED_PARAMETERS or body & OWNER_FIELDS)


@dataclass
class Victim:
    """The victim's data, seeded once, and views of it (by name) that no attack may change.
    The victim is VICTIM everywhere but in customer-api, where it is a registered customer."""

    customer_id: str = ""
    cart_id: str = ""
    product_id: str = ""
    checkout_id: str = ""
    order_id: str = ""
    payment_id: str = ""
    views: dict[str, Callable[[], Awaitable[Any]]] = field(default_factory=dict)


@functools.cache
def by_id(operation_id: str) -> Operation:
    """The catalog operation with this operationId (ids are unique across the catalog)."""
    [found] = [o for o in operations() if o.id == operation_id]
    return found


@dataclass(frozen=True)
class Attack:
    """`operation` sent by ATTACKER at the victim's data; `view` names what must not change."""

    operation: str
    how: str
    call: Callable[[Victim], Call]
    view: str | None = None

    def __str__(self) -> str:
        return f"{self.operation}: {self.how}"


def _body(call: Call, **changes: Any) -> Call:
    assert call.body is not None
    return call.with_body({**call.body, **changes})


ATTACKS = [
    Attack(
        "createCart",
        "a cart in the victim's name",
        lambda v: valid_call(by_id("createCart"), VICTIM),
    ),
    Attack(
        "getCart",
        "read",
        lambda v: valid_call(by_id("getCart"), ATTACKER, cartId=v.cart_id),
        "cart",
    ),
    Attack(
        "addItemToCart",
        "add a line",
        lambda v: _body(
            valid_call(by_id("addItemToCart"), ATTACKER, cartId=v.cart_id), productId=v.product_id
        ),
        "cart",
    ),
    Attack(
        "removeItemFromCart",
        "remove the line",
        lambda v: valid_call(
            by_id("removeItemFromCart"), ATTACKER, cartId=v.cart_id, productId=v.product_id
        ),
        "cart",
    ),
    Attack(
        "checkoutCart",
        "check out as oneself",
        lambda v: valid_call(by_id("checkoutCart"), ATTACKER, cartId=v.cart_id),
        "cart",
    ),
    Attack(
        "checkoutCart",
        "check out in the victim's name",
        lambda v: valid_call(by_id("checkoutCart"), VICTIM, cartId=v.cart_id),
        "cart",
    ),
    Attack(
        "getCheckout",
        "read",
        lambda v: valid_call(by_id("getCheckout"), ATTACKER, checkoutId=v.checkout_id),
    ),
    Attack(
        "listOrders",
        "list the victim's orders",
        lambda v: Call(by_id("listOrders"), {}, {"customerId": VICTIM}),
    ),
    Attack(
        "getOrder", "read", lambda v: valid_call(by_id("getOrder"), ATTACKER, orderId=v.order_id)
    ),
    Attack(
        "cancelOrder",
        "cancel",
        lambda v: valid_call(by_id("cancelOrder"), ATTACKER, orderId=v.order_id),
        "order",
    ),
    Attack(
        "changeOrderDeliveryAddress",
        "redirect the parcel",
        lambda v: valid_call(by_id("changeOrderDeliveryAddress"), ATTACKER, orderId=v.order_id),
        "order",
    ),
    Attack(
        "getPayment",
        "read",
        lambda v: valid_call(by_id("getPayment"), ATTACKER, paymentId=v.payment_id),
    ),
    Attack(
        "getCustomer",
        "read the profile",
        lambda v: valid_call(by_id("getCustomer"), ATTACKER, customerId=v.customer_id),
    ),
    Attack(
        "updateCustomer",
        "rename",
        lambda v: valid_call(by_id("updateCustomer"), ATTACKER, customerId=v.customer_id),
        "customer",
    ),
    Attack(
        "updateCustomer",
        "take over the email",
        lambda v: _body(
            valid_call(by_id("updateCustomer"), ATTACKER, customerId=v.customer_id),
            email="attacker@example.com",
        ),
        "customer",
    ),
    Attack(
        "listCustomerAddresses",
        "read the addresses",
        lambda v: valid_call(by_id("listCustomerAddresses"), ATTACKER, customerId=v.customer_id),
    ),
    Attack(
        "addCustomerAddress",
        "add an address",
        lambda v: valid_call(by_id("addCustomerAddress"), ATTACKER, customerId=v.customer_id),
        "customer",
    ),
    Attack(
        "submitReview",
        "review in the victim's name",
        lambda v: valid_call(by_id("submitReview"), VICTIM),
    ),
    Attack(
        "flagReview", "flag in the victim's name", lambda v: valid_call(by_id("flagReview"), VICTIM)
    ),
    Attack(
        "voteReviewHelpful",
        "vote in the victim's name",
        lambda v: valid_call(by_id("voteReviewHelpful"), VICTIM),
    ),
]
