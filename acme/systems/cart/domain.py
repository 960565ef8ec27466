"""Cart rules without I/O: lifecycle, what may be sold, pricing and the local price list."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

__all__ = [
    "MAX_LINE_QUANTITY",
    "CartConflict",
    "CartStatus",
    "Line",
    "PriceEntry",
    "PriceUpdate",
    "PricedLine",
    "Totals",
    "added_quantity",
    "after_checkout_outcome",
    "apply_price_update",
    "price_lines",
    "remaining_quantity",
    "require_open",
    "sale_problem",
    "totals",
]

# Far above any real basket; keeps quantity x price inside a 32-bit INTEGER column.
MAX_LINE_QUANTITY = 10_000


class CartStatus(enum.StrEnum):
    OPEN = "OPEN"  # editable
    CHECKING_OUT = "CHECKING_OUT"  # frozen while Ordering runs the checkout
    CHECKED_OUT = "CHECKED_OUT"  # an order was placed: final
    ABANDONED = "ABANDONED"  # left alone until retention removes it


class ProductStatus(enum.StrEnum):
    DRAFT = "DRAFT"
    ACTIVE = "ACTIVE"
    ARCHIVED = "ARCHIVED"
    DELETED = "DELETED"  # local tombstone written on product-deleted


class CartConflict(Exception):
    """The cart's state forbids the change (HTTP 409); `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class PriceEntry:
    """One product of the cart's own price list."""

    product_id: str
    price_cents: int
    currency: str
    status: str
    source_event_at: datetime
    sku: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class Line:
    product_id: str
    quantity: int
    unit_price: int


@dataclass(frozen=True)
class PricedLine:
    product_id: str
    quantity: int
    unit_price: int
    sku: str | None
    name: str | None

    @property
    def line_total(self) -> int:
        return self.quantity * self.unit_price


@dataclass(frozen=True)
class Totals:
    subtotal: int
    discount: int
    total: int


def require_open(status: str) -> None:
    if status != CartStatus.OPEN:
        raise CartConflict(f"the cart is {status}; only an OPEN cart can be changed")


def sale_problem(entry: PriceEntry | None, currency: str) -> str | None:
    """Why the product cannot go into (or be checked out from) a cart in `currency`."""
    if entry is None:
        return "is not in the price list"
    if entry.status != ProductStatus.ACTIVE:
        return f"is {entry.status.lower()} and cannot be sold"
    if entry.currency != currency:
        return f"is priced in {entry.currency}, the cart in {currency}"
    return None


def added_quantity(existing: int | None, adding: int) -> int:
    """Quantity of a line after adding `adding` units (a new line when `existing` is None)."""
    quantity = (existing or 0) + adding
    if quantity > MAX_LINE_QUANTITY:
        raise CartConflict(
            f"a line may hold at most {MAX_LINE_QUANTITY} units (it would hold {quantity})"
        )
    return quantity


def remaining_quantity(existing: int, removing: int | None) -> int:
    """Units left on a line after removing `removing` (None: all); 0 means drop the line."""
    if removing is None or removing >= existing:
        return 0
    return existing - removing


def price_lines(
    lines: Sequence[Line], prices: Mapping[str, PriceEntry], currency: str
) -> list[PricedLine]:
    """Re-price every line from the price list; a line that can no longer be sold is a
    conflict naming every such product, so the shopper can fix the cart in one go."""
    if not lines:
        raise CartConflict("the cart is empty")
    problems: list[str] = []
    priced: list[PricedLine] = []
    for line in lines:
        entry = prices.get(line.product_id)
        problem = sale_problem(entry, currency)
        if problem is not None or entry is None:
            problems.append(f"product {line.product_id} {problem}")
            continue
        priced.append(
            PricedLine(line.product_id, line.quantity, entry.price_cents, entry.sku, entry.name)
        )
    if problems:
        raise CartConflict("; ".join(problems))
    return priced


def totals(line_totals: Iterable[int], discount: int) -> Totals:
    subtotal = sum(line_totals)
    granted = max(0, min(discount, subtotal))  # a discount never makes the total negative
    return Totals(subtotal, granted, subtotal - granted)


def after_checkout_outcome(
    status: str, cart_checkout_id: str | None, checkout_id: str, completed: bool
) -> CartStatus | None:
    """The cart's next status when its checkout ends; None when the message is not about the
    checkout the cart is waiting for (stale, duplicate or for another attempt)."""
    if status != CartStatus.CHECKING_OUT or cart_checkout_id != checkout_id:
        return None
    return CartStatus.CHECKED_OUT if completed else CartStatus.OPEN


@dataclass(frozen=True)
class PriceUpdate:
    """What a product event says about a product; None fields are unchanged."""

    product_id: str
    occurred_at: datetime
    price_cents: int | None = None
    currency: str | None = None
    status: str | None = None
    sku: str | None = None
    name: str | None = None


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def apply_price_update(current: PriceEntry | None, update: PriceUpdate) -> PriceEntry | None:
    """The price-list entry after `update`, or None when nothing should be written: the event
    is older than what is stored (events may arrive out of order), or it names a product the
    list does not know without a price and currency to sell it at."""
    at = _aware(update.occurred_at)
    if current is not None:
        if at <= _aware(current.source_event_at):
            return None
        if current.status == ProductStatus.DELETED:
            return None  # a deleted product never comes back under the same id
        return replace(
            current,
            price_cents=current.price_cents if update.price_cents is None else update.price_cents,
            currency=update.currency or current.currency,
            status=update.status or current.status,
            sku=update.sku if update.sku is not None else current.sku,
            name=update.name if update.name is not None else current.name,
            source_event_at=at,
        )
    if update.status == ProductStatus.DELETED:
        # Tombstone: a late product-created for a deleted product must not make it sellable.
        return PriceEntry(update.product_id, 0, "XXX", ProductStatus.DELETED, at)
    if update.price_cents is None or update.currency is None:
        return None
    return PriceEntry(
        update.product_id,
        update.price_cents,
        update.currency,
        update.status or ProductStatus.ACTIVE,
        at,
        update.sku,
        update.name,
    )
