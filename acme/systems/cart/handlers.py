"""Message handlers of cart-api (implements generated.services.cart_api.CartApiHandlers)."""

from __future__ import annotations

import logging
import uuid

from acme.runtime import current
from acme.runtime.db import utc
from acme.systems.cart import store
from acme.systems.cart.domain import (
    CartStatus,
    PriceUpdate,
    ProductStatus,
    after_checkout_outcome,
    apply_price_update,
)
from generated.messages.checkout_completed import CheckoutCompleted
from generated.messages.checkout_failed import CheckoutFailed
from generated.messages.discount_calculated import DiscountCalculated
from generated.messages.product_created import ProductCreated
from generated.messages.product_deleted import ProductDeleted
from generated.messages.product_updated import ProductUpdated
from generator.contracts import MessageContext

__all__ = ["CartMessages"]

logger = logging.getLogger("acme.cart")


class CartMessages:
    """Implements `CartApiHandlers`: the price list, discount records and checkout outcomes."""

    async def on_product_created(self, message: ProductCreated, context: MessageContext) -> None:
        product = message.product
        if product.product_id is None:
            logger.warning("product-created %s names no productId: ignored", context.message_id)
            return
        await self._price(
            PriceUpdate(
                product_id=str(product.product_id),
                occurred_at=message.occurred_at,
                price_cents=product.price,
                currency=product.currency,
                status=product.status,
                sku=product.sku,
                name=product.name,
            )
        )

    async def on_product_updated(self, message: ProductUpdated, context: MessageContext) -> None:
        changes = message.changes
        await self._price(
            PriceUpdate(
                product_id=str(message.product_id),
                occurred_at=message.occurred_at,
                price_cents=changes.price,
                currency=changes.currency,
                status=changes.status,
                name=changes.name,
            )
        )

    async def on_product_deleted(self, message: ProductDeleted, context: MessageContext) -> None:
        await self._price(
            PriceUpdate(
                product_id=str(message.product_id),
                occurred_at=message.occurred_at,
                status=ProductStatus.DELETED.value,
            )
        )

    async def _price(self, change: PriceUpdate) -> None:
        tx = current()
        existing = (await store.get_prices(tx.conn, [change.product_id])).get(change.product_id)
        entry = apply_price_update(existing, change)
        if entry is None:
            logger.info(
                "price list: event of %s for product %s not applied (older than stored, "
                "deleted product, or unknown product without price and currency)",
                change.occurred_at.isoformat(),
                change.product_id,
            )
            return
        await store.save_price(tx.conn, entry, exists=existing is not None, now=tx.now())

    async def on_discount_calculated(
        self, message: DiscountCalculated, context: MessageContext
    ) -> None:
        """Record the promotions of the calculation the cart's checkout actually applied.

        The checkout wrote the same rows from the reply already; this durable record only
        replaces them when it is about a frozen cart, carries the discount that was applied and
        is newer than what is stored. A calculation whose reply came too late (the cart went on
        without a discount) or that belongs to an earlier attempt therefore changes nothing.
        """
        tx = current()
        cart_id = str(message.cart_id)
        cart = await store.get_cart(tx.conn, cart_id)
        if cart is None:
            logger.info("discount-calculated for unknown cart %s: ignored", cart_id)
            return
        if cart.status not in (CartStatus.CHECKING_OUT, CartStatus.CHECKED_OUT):
            return
        if message.discount != cart.discount_cents or message.currency != cart.currency:
            return
        stored = await store.get_discounts(tx.conn, cart_id)
        at = utc(message.occurred_at)
        assert at is not None
        if any(d.calculated_at >= at for d in stored):
            return
        await store.replace_discounts(
            tx.conn,
            cart_id=cart_id,
            promotions=list(message.applied_promotions or []),
            discount=message.discount,
            currency=message.currency,
            calculated_at=at,
        )

    async def on_checkout_completed(
        self, message: CheckoutCompleted, context: MessageContext
    ) -> None:
        await self._outcome(str(message.cart_id), str(message.checkout_id), completed=True)

    async def on_checkout_failed(self, message: CheckoutFailed, context: MessageContext) -> None:
        await self._outcome(str(message.cart_id), str(message.checkout_id), completed=False)

    async def _outcome(self, cart_id: str, checkout_id: str, *, completed: bool) -> None:
        tx = current()
        cart = await store.get_cart(tx.conn, cart_id)
        if cart is None:
            logger.warning("checkout %s ended for unknown cart %s: ignored", checkout_id, cart_id)
            return
        target = after_checkout_outcome(cart.status, cart.checkout_id, checkout_id, completed)
        if target is None:
            logger.info(
                "checkout %s of cart %s ended, but the cart is %s waiting for %s: ignored",
                checkout_id,
                cart_id,
                cart.status,
                cart.checkout_id,
            )
            return
        values: dict[str, object] = {"status": target.value, "updated_at": tx.now()}
        if target is CartStatus.OPEN:
            values["discount_cents"] = 0  # reopened: the next checkout asks for it again
        ended = await store.end_checkout(
            tx.conn,
            cart_id,
            str(uuid.UUID(checkout_id)),
            checking_out_status=CartStatus.CHECKING_OUT.value,
            values=values,
        )
        if ended and target is CartStatus.OPEN:
            await store.clear_discounts(tx.conn, cart_id)
