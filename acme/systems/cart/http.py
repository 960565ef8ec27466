"""HTTP operations of cart-api (implements generated.http.cart_api.CartApiHttpHandlers)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from acme.runtime import SystemApp
from acme.systems.cart import store
from acme.systems.cart.domain import (
    CartConflict,
    CartStatus,
    PricedLine,
    added_quantity,
    price_lines,
    remaining_quantity,
    require_open,
    sale_problem,
    totals,
)
from generated.messages.add_item_to_cart import AddItemToCart
from generated.messages.calculate_discount import CalculateDiscountRequest
from generated.messages.cart_checked_out import (
    CartCheckedOut,
    CartCheckedOutDeliveryAddress,
    CartCheckedOutItem,
)
from generated.messages.checkout_cart import CheckoutCart
from generated.messages.create_cart import CreateCart
from generated.messages.get_cart import GetCartResponse, GetCartResponseItem
from generated.services.cart_api import CartApiPublisher
from generator.contracts import ApiError, RequestContext

__all__ = ["CART_DATABASE", "DISCOUNT_TIMEOUT_SECONDS", "CartHttp", "cart_view"]

CART_DATABASE = "cart-database"
SERVICE = "cart-api"
# The catalog's promise: without a reply within 2 s the cart is checked out without a discount.
DISCOUNT_TIMEOUT_SECONDS = 2.0
DEFAULT_PAYMENT_METHOD = "pm_card_visa"

logger = logging.getLogger("acme.cart")


def canonical_id(value: str) -> str:
    """The stored form of an id: lower-case, hyphenated (path patterns already checked it)."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return value


def _conflict(exc: CartConflict) -> ApiError:
    return ApiError(409, "conflict", exc.reason)


def _not_found(cart_id: str) -> ApiError:
    return ApiError(404, "not_found", f"cart {cart_id} does not exist")


def authorize(cart: store.CartRow, request: RequestContext) -> None:
    """A cart belongs to the customer who created it; staff (admin) may act on any cart."""
    if request.is_admin:
        return
    if request.subject is None or canonical_id(request.subject) != cart.customer_id:
        raise ApiError(403, "forbidden", f"cart {cart.cart_id} belongs to another customer")


async def cart_view(conn: AsyncConnection, cart: store.CartRow) -> GetCartResponse:
    lines = await store.get_lines(conn, cart.cart_id)
    discounts = await store.get_discounts(conn, cart.cart_id)
    sums = totals((line.quantity * line.unit_price for line in lines), cart.discount_cents)
    return GetCartResponse(
        cart_id=uuid.UUID(cart.cart_id),
        customer_id=uuid.UUID(cart.customer_id) if cart.customer_id else None,
        status=CartStatus(cart.status).value,
        currency=cart.currency,
        items=[
            GetCartResponseItem(
                product_id=uuid.UUID(line.product_id),
                sku=line.sku,
                name=line.name,
                quantity=line.quantity,
                unit_price=line.unit_price,
                line_total=line.quantity * line.unit_price,
            )
            for line in lines
        ],
        subtotal=sums.subtotal,
        discount=sums.discount,
        total=sums.total,
        promotion_code=cart.promotion_code,
        applied_promotions=[d.promotion for d in discounts],
        checkout_id=uuid.UUID(cart.checkout_id) if cart.checkout_id else None,
        created_at=cart.created_at,
        updated_at=cart.updated_at,
    )


@dataclass(frozen=True)
class _Priced:
    cart: store.CartRow
    lines: list[PricedLine]


class CartHttp:
    """Implements `CartApiHttpHandlers`."""

    def __init__(self, app: SystemApp) -> None:
        self.app = app

    async def create_cart(self, body: CreateCart, request: RequestContext) -> GetCartResponse:
        customer_id = str(body.customer_id)
        if not request.is_admin and (
            request.subject is None or canonical_id(request.subject) != customer_id
        ):
            raise ApiError(
                403, "forbidden", "customerId must be the signed-in customer (or the caller staff)"
            )
        cart_id = str(uuid.uuid4())
        async with self.app.transaction(SERVICE, correlation_id=request.correlation_id) as tx:
            await store.insert_cart(
                tx.conn,
                cart_id=cart_id,
                customer_id=customer_id,
                currency=body.currency or "USD",
                now=tx.now(),
            )
            cart = await store.get_cart(tx.conn, cart_id)
            assert cart is not None
            return await cart_view(tx.conn, cart)

    async def get_cart(self, cart_id: str, request: RequestContext) -> GetCartResponse:
        cart_id = canonical_id(cart_id)
        async with self.app.store(CART_DATABASE).connect() as conn:
            cart = await store.get_cart(conn, cart_id)
            if cart is None:
                raise _not_found(cart_id)
            authorize(cart, request)
            return await cart_view(conn, cart)

    async def add_item_to_cart(
        self, cart_id: str, body: AddItemToCart, request: RequestContext
    ) -> GetCartResponse:
        cart_id = canonical_id(cart_id)
        if str(body.cart_id) != cart_id:
            raise ApiError(400, "bad_request", f"body cartId {body.cart_id} differs from the path")
        product_id = str(body.product_id)
        async with self.app.transaction(SERVICE, correlation_id=request.correlation_id) as tx:
            cart = await store.get_cart(tx.conn, cart_id, lock=True)
            if cart is None:
                raise _not_found(cart_id)
            authorize(cart, request)
            prices = await store.get_prices(tx.conn, [product_id])
            entry = prices.get(product_id)
            if entry is None:
                raise ApiError(
                    404, "not_found", f"product {product_id} is not in the cart's price list"
                )
            try:
                require_open(cart.status)
                problem = sale_problem(entry, cart.currency)
                if problem is not None:
                    raise CartConflict(f"product {product_id} {problem}")
                existing = {
                    line.product_id: line for line in await store.get_lines(tx.conn, cart_id)
                }
                current = existing.get(product_id)
                quantity = added_quantity(current.quantity if current else None, body.quantity)
            except CartConflict as exc:
                raise _conflict(exc) from None
            now = tx.now()
            # The line is (re)priced at today's price whenever it changes.
            await store.set_line(
                tx.conn,
                cart_id=cart_id,
                product_id=product_id,
                quantity=quantity,
                unit_price=entry.price_cents,
                now=now,
                new=current is None,
            )
            await store.touch(tx.conn, cart_id, now)
            cart = await store.get_cart(tx.conn, cart_id)
            assert cart is not None
            return await cart_view(tx.conn, cart)

    async def remove_item_from_cart(
        self, cart_id: str, product_id: str, quantity: int | None, request: RequestContext
    ) -> GetCartResponse:
        cart_id = canonical_id(cart_id)
        product_id = canonical_id(product_id)
        async with self.app.transaction(SERVICE, correlation_id=request.correlation_id) as tx:
            cart = await store.get_cart(tx.conn, cart_id, lock=True)
            if cart is None:
                raise _not_found(cart_id)
            authorize(cart, request)
            lines = {line.product_id: line for line in await store.get_lines(tx.conn, cart_id)}
            line = lines.get(product_id)
            if line is None:
                raise ApiError(
                    404, "not_found", f"cart {cart_id} has no line for product {product_id}"
                )
            try:
                require_open(cart.status)
            except CartConflict as exc:
                raise _conflict(exc) from None
            left = remaining_quantity(line.quantity, quantity)
            if left == 0:
                await store.delete_line(tx.conn, cart_id, product_id)
            else:
                await store.set_line(
                    tx.conn,
                    cart_id=cart_id,
                    product_id=product_id,
                    quantity=left,
                    unit_price=line.unit_price,
                    now=tx.now(),
                    new=False,
                )
            await store.touch(tx.conn, cart_id, tx.now())
            cart = await store.get_cart(tx.conn, cart_id)
            assert cart is not None
            return await cart_view(tx.conn, cart)

    async def checkout_cart(
        self, cart_id: str, body: CheckoutCart, request: RequestContext
    ) -> GetCartResponse:
        cart_id = canonical_id(cart_id)
        if str(body.cart_id) != cart_id:
            raise ApiError(400, "bad_request", f"body cartId {body.cart_id} differs from the path")
        # 1. Check and price without holding a write lock: the discount request can take seconds.
        async with self.app.store(CART_DATABASE).connect() as conn:
            priced = await self._priced(conn, cart_id, body, request)
        subtotal = sum(line.line_total for line in priced.lines)
        discount, applied = await self._discount(priced.cart, subtotal, body, request)
        # 2. Freeze and publish in one transaction, re-checking that nothing moved meanwhile.
        async with self.app.transaction(SERVICE, correlation_id=request.correlation_id) as tx:
            again = await self._priced(tx.conn, cart_id, body, request, lock=True)
            if again.lines != priced.lines:
                raise ApiError(
                    409,
                    "conflict",
                    "the cart or its prices changed while it was being checked out; try again",
                )
            sums = totals((line.line_total for line in again.lines), discount)
            checkout_id = str(uuid.uuid4())
            now = tx.now()
            frozen = await store.start_checkout(
                tx.conn,
                cart_id,
                open_status=CartStatus.OPEN.value,
                values={
                    "status": CartStatus.CHECKING_OUT.value,
                    "checkout_id": checkout_id,
                    "promotion_code": body.promotion_code,
                    "discount_cents": sums.discount,
                    "updated_at": now,
                },
            )
            if not frozen:
                raise ApiError(409, "conflict", "the cart is already being checked out")
            await store.freeze_lines(tx.conn, cart_id, again.lines)
            if applied and sums.discount > 0:
                await store.replace_discounts(
                    tx.conn,
                    cart_id=cart_id,
                    promotions=applied,
                    discount=sums.discount,
                    currency=again.cart.currency,
                    calculated_at=now,
                )
            else:
                await store.clear_discounts(tx.conn, cart_id)
            # Required by checkout-cart 2.0.0: a body without it was refused with 422 by the
            # generated router, before any stock is held or money moves.
            address = body.delivery_address
            await tx.publisher(CartApiPublisher).cart_checked_out(
                CartCheckedOut(
                    event_id=uuid.UUID(checkout_id),
                    occurred_at=now,
                    cart_id=uuid.UUID(cart_id),
                    customer_id=body.customer_id,
                    items=[
                        CartCheckedOutItem(
                            product_id=uuid.UUID(line.product_id),
                            quantity=line.quantity,
                            unit_price=line.unit_price,
                            sku=line.sku,
                        )
                        for line in again.lines
                    ],
                    subtotal=sums.subtotal,
                    discount=sums.discount,
                    total=sums.total,
                    currency=again.cart.currency,
                    payment_method=body.payment_method or DEFAULT_PAYMENT_METHOD,
                    delivery_address=CartCheckedOutDeliveryAddress.model_validate(
                        address.model_dump()
                    ),
                ),
                key=checkout_id,
            )
            # The row as the UPDATE above left it, without reading it back.
            cart = dataclasses.replace(
                again.cart,
                status=CartStatus.CHECKING_OUT.value,
                checkout_id=checkout_id,
                promotion_code=body.promotion_code,
                discount_cents=sums.discount,
                updated_at=now,
            )
            return await cart_view(tx.conn, cart)

    async def _priced(
        self,
        conn: AsyncConnection,
        cart_id: str,
        body: CheckoutCart,
        request: RequestContext,
        *,
        lock: bool = False,
    ) -> _Priced:
        cart = await store.get_cart(conn, cart_id, lock=lock)
        if cart is None:
            raise _not_found(cart_id)
        authorize(cart, request)
        if str(body.customer_id) != cart.customer_id:
            raise ApiError(
                403, "forbidden", f"customer {body.customer_id} does not own cart {cart_id}"
            )
        try:
            require_open(cart.status)
            lines = await store.get_lines(conn, cart_id)
            prices = await store.get_prices(conn, [line.product_id for line in lines])
            priced = price_lines([line.line for line in lines], prices, cart.currency)
        except CartConflict as exc:
            raise _conflict(exc) from None
        return _Priced(cart, priced)

    async def _discount(
        self, cart: store.CartRow, subtotal: int, body: CheckoutCart, request: RequestContext
    ) -> tuple[int, list[str]]:
        """Ask promotion-service; any failure or silence means no discount (never an error)."""
        question = CalculateDiscountRequest(
            cart_id=uuid.UUID(cart.cart_id),
            customer_id=body.customer_id,
            subtotal=subtotal,
            currency=cart.currency,
            promotion_code=body.promotion_code,
        )
        try:
            # write_lock=False: the transaction exists only to carry the request's headers.
            async with self.app.transaction(
                SERVICE, correlation_id=request.correlation_id, write_lock=False
            ) as tx:
                async with asyncio.timeout(DISCOUNT_TIMEOUT_SECONDS):
                    answer = await tx.publisher(CartApiPublisher).calculate_discount(question)
        except Exception as exc:  # timeout, no responder, remote failure: full price
            logger.warning(
                "cart %s checked out without a discount: calculate-discount failed: %s: %s",
                cart.cart_id,
                type(exc).__name__,
                exc,
            )
            return 0, []
        return answer.discount or 0, list(answer.applied_promotions or [])
