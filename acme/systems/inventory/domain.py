"""Inventory rules, free of I/O: stock moves, reservation lifecycle, expiry.

Every change to a product's stock is a `Move`: a signed change of `available`, `reserved`,
`sold` and `restocked`. Each move keeps `available + reserved + sold = restocked` (the
inventory-database `CHECK`), and the store applies a move only when no count would go
negative, which is what prevents overselling under concurrency.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

DEFAULT_HOLD = timedelta(minutes=15)
# Largest count a stock column holds (PostgreSQL INTEGER); a line asking for more can never
# be met and is reported short without touching the database.
MAX_UNITS = 2_147_483_647


class ReservationStatus(enum.StrEnum):
    HELD = "HELD"
    RELEASED = "RELEASED"
    CONSUMED = "CONSUMED"


class ReleaseReason(enum.StrEnum):
    CHECKOUT_FAILED = "CHECKOUT_FAILED"
    ORDER_CANCELLED = "ORDER_CANCELLED"
    EXPIRED = "EXPIRED"


@dataclass(frozen=True)
class Move:
    """Signed change of one product's counts."""

    available: int = 0
    reserved: int = 0
    sold: int = 0
    restocked: int = 0

    @property
    def keeps_invariant(self) -> bool:
        return self.available + self.reserved + self.sold == self.restocked


def reserve(quantity: int) -> Move:
    """Hold units for a checkout."""
    return Move(available=-quantity, reserved=quantity)


def release(quantity: int) -> Move:
    """Give held units back (compensation, cancellation, expiry)."""
    return Move(available=quantity, reserved=-quantity)


def consume(quantity: int) -> Move:
    """The order was confirmed: held units are sold."""
    return Move(reserved=-quantity, sold=quantity)


def retake(quantity: int) -> Move:
    """An order confirmed after its hold expired takes the units straight from available."""
    return Move(available=-quantity, sold=quantity)


def return_sold(quantity: int) -> Move:
    """A confirmed order was cancelled: its units are free to sell again."""
    return Move(available=quantity, sold=-quantity)


def restock(current_available: int, new_available: int) -> Move:
    """Staff set the available count; the difference is booked as (negative) restock."""
    delta = new_available - current_available
    return Move(available=delta, restocked=delta)


@dataclass(frozen=True, order=True)
class Line:
    product_id: str
    quantity: int


def merge_lines(items: Iterable[tuple[str, int]]) -> list[Line]:
    """One line per product (quantities summed), in product order.

    A fixed order means concurrent reservations lock stock rows in the same order, so two
    of them can never wait on each other (no deadlock on PostgreSQL)."""
    totals: dict[str, int] = {}
    for product_id, quantity in items:
        if quantity <= 0:
            raise ValueError(f"quantity of product {product_id} must be positive, got {quantity}")
        key = str(uuid.UUID(str(product_id)))
        totals[key] = totals.get(key, 0) + quantity
    return [Line(p, q) for p, q in sorted(totals.items())]


def hold_expires_at(now: datetime, hold: timedelta = DEFAULT_HOLD) -> datetime:
    return now + hold


def is_expired(expires_at: datetime, now: datetime) -> bool:
    return expires_at <= now


class ConfirmAction(enum.Enum):
    CONSUME = "consume"  # HELD -> CONSUMED
    RETAKE = "retake"  # RELEASED by expiry -> CONSUMED, units taken from available
    NOTHING = "nothing"


def on_order_confirmed(status: str, release_reason: str | None) -> ConfirmAction:
    if status == ReservationStatus.HELD:
        return ConfirmAction.CONSUME
    if status == ReservationStatus.RELEASED and release_reason == ReleaseReason.EXPIRED:
        return ConfirmAction.RETAKE
    # Already consumed (redelivery), or released by a cancellation/compensation that won.
    return ConfirmAction.NOTHING


class CancelAction(enum.Enum):
    RELEASE_HOLD = "release-hold"  # HELD -> RELEASED, reserved -> available
    RETURN_SOLD = "return-sold"  # CONSUMED -> RELEASED, sold -> available
    NOTHING = "nothing"


def on_order_cancelled(status: str) -> CancelAction:
    if status == ReservationStatus.HELD:
        return CancelAction.RELEASE_HOLD
    if status == ReservationStatus.CONSUMED:
        return CancelAction.RETURN_SOLD
    return CancelAction.NOTHING


def can_release(status: str) -> bool:
    """Only a HELD reservation gives units back; anything else is a no-op (idempotent)."""
    return status == ReservationStatus.HELD
