"""Promotion rules, without I/O: which promotion applies to a cart and how much it takes off.

The rules are documented in the package docstring (`acme.systems.promotion`); this module is
their only implementation.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = [
    "DiscountDecision",
    "Promotion",
    "PromotionType",
    "SEED_PROMOTIONS",
    "Skip",
    "evaluate",
    "normalise_code",
]


class PromotionType(enum.StrEnum):
    PERCENTAGE = "PERCENTAGE"  # `value` whole percent of the subtotal
    FIXED_AMOUNT = "FIXED_AMOUNT"  # `value` minor units of the cart's currency


class Skip(enum.StrEnum):
    """Why a promotion code earned nothing (logged; the reply is simply a zero discount)."""

    NO_CODE = "no promotion code given"
    UNKNOWN = "unknown promotion code"
    INACTIVE = "promotion is switched off"
    NOT_STARTED = "promotion has not started yet"
    EXPIRED = "promotion has expired"
    BELOW_MINIMUM_SPEND = "subtotal is below the minimum spend"
    SEGMENT_RESTRICTED = "promotion is restricted to a customer segment"
    NOTHING_TO_DISCOUNT = "subtotal is zero"


@dataclass(frozen=True)
class Promotion:
    code: str
    type: PromotionType
    value: int
    starts_at: datetime
    ends_at: datetime | None = None
    active: bool = True
    min_spend_cents: int | None = None
    customer_segment: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class DiscountDecision:
    discount: int
    applied: tuple[str, ...] = ()
    skipped: Skip | None = None


def normalise_code(code: str | None) -> str | None:
    """Codes are case-insensitive and stored upper-case; blank means no code."""
    if code is None:
        return None
    cleaned = code.strip().upper()
    return cleaned or None


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def evaluate(promotion: Promotion | None, *, subtotal: int, now: datetime) -> DiscountDecision:
    """The discount `promotion` grants on `subtotal` at `now` (None: the code is unknown)."""
    if promotion is None:
        return DiscountDecision(0, skipped=Skip.UNKNOWN)
    if not promotion.active:
        return DiscountDecision(0, skipped=Skip.INACTIVE)
    now = _aware(now)
    if now < _aware(promotion.starts_at):
        return DiscountDecision(0, skipped=Skip.NOT_STARTED)
    # The window is half-open: a promotion ending at midnight is over at midnight.
    if promotion.ends_at is not None and now >= _aware(promotion.ends_at):
        return DiscountDecision(0, skipped=Skip.EXPIRED)
    if promotion.min_spend_cents is not None and subtotal < promotion.min_spend_cents:
        return DiscountDecision(0, skipped=Skip.BELOW_MINIMUM_SPEND)
    if promotion.customer_segment:
        # Segment membership is not known to the Promotion System (no customer data here), so
        # a segment-restricted promotion is never granted rather than granted to everyone.
        return DiscountDecision(0, skipped=Skip.SEGMENT_RESTRICTED)
    if subtotal <= 0:
        return DiscountDecision(0, skipped=Skip.NOTHING_TO_DISCOUNT)
    if promotion.type is PromotionType.PERCENTAGE:
        amount = subtotal * min(promotion.value, 100) // 100  # rounded down to a minor unit
    else:
        amount = promotion.value
    amount = min(amount, subtotal)
    if amount <= 0:
        return DiscountDecision(0, skipped=Skip.NOTHING_TO_DISCOUNT)
    return DiscountDecision(amount, (promotion.code,))


_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)

# Written when the promotions table is empty at start-up, so a fresh platform has codes to try.
SEED_PROMOTIONS: tuple[Promotion, ...] = (
    Promotion(
        "WELCOME10",
        PromotionType.PERCENTAGE,
        10,
        _EPOCH,
        description="10% off any order.",
    ),
    Promotion(
        "SAVE5",
        PromotionType.FIXED_AMOUNT,
        500,
        _EPOCH,
        min_spend_cents=2500,
        description="5.00 off orders of 25.00 or more.",
    ),
    Promotion(
        "BIG20",
        PromotionType.PERCENTAGE,
        20,
        _EPOCH,
        min_spend_cents=10000,
        description="20% off orders of 100.00 or more.",
    ),
    Promotion(
        "SPRING2024",
        PromotionType.PERCENTAGE,
        15,
        _EPOCH,
        ends_at=datetime(2024, 6, 1, tzinfo=UTC),
        description="Expired spring campaign (kept to show expiry).",
    ),
    Promotion(
        "PAUSED",
        PromotionType.FIXED_AMOUNT,
        1000,
        _EPOCH,
        active=False,
        description="Switched-off promotion (kept to show the active flag).",
    ),
)
