"""Cart System (catalog: domains/Shopping/systems/cart-system): cart-api.

Over HTTP (`openapi.yml` of the Cart API) shoppers create carts, add and remove lines and check a
cart out; on the broker the Cart API keeps its own price list and learns how checkouts end.

- Prices come only from `product_prices`, fed by product-created / product-updated /
  product-deleted (newest event wins by `occurredAt`; a deleted product leaves a tombstone so a
  late event cannot make it sellable again). Only `ACTIVE` products in the cart's currency can be
  added or checked out; a line holds at most 10 000 units.
- Checkout (`POST /carts/{cartId}/checkout`): re-price every line, ask promotion-service with
  `calculate-discount` (request/reply, 2 s; silence or failure = no discount), then in one
  transaction freeze the cart as `CHECKING_OUT`, record the discount and publish
  `cart-checked-out` whose `eventId` is the new checkout id. A second checkout of a frozen cart is
  409, so a double click never starts two checkouts.
- `checkout-completed` closes the cart (`CHECKED_OUT`); `checkout-failed` reopens it (`OPEN`,
  discount cleared). Either only applies to the checkout the cart is waiting for.
- `discount-calculated` is the durable record of the applied promotions (`cart_discounts`); see
  `CartMessages.on_discount_calculated` for when it replaces what the checkout wrote.
"""

from __future__ import annotations

from acme.runtime import SystemApp
from acme.systems.cart.handlers import CartMessages
from acme.systems.cart.http import CartHttp

__all__ = ["create"]


def create(app: SystemApp) -> None:
    app.handle("cart-api", CartMessages())
    app.serve("cart-api", CartHttp(app))
