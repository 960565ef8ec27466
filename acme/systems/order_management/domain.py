"""Order rules without I/O: the lifecycle, the cancellation policy, holds and archiving."""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = [
    "ADDRESS_CHANGEABLE",
    "CANCELLABLE",
    "HOLD_REVIEW_PERIOD",
    "CancellationReason",
    "HoldReason",
    "OrderConflict",
    "OrderForbidden",
    "OrderStatus",
    "archive_due",
    "can_move",
    "check_cancellation",
    "confirmation_number",
    "hold_reason_for",
    "record_checksum",
    "retention_category",
]


class OrderStatus(enum.StrEnum):
    CREATED = "CREATED"
    CONFIRMED = "CONFIRMED"
    AWAITING_FULFILMENT = "AWAITING_FULFILMENT"
    FULFILLING = "FULFILLING"
    ON_HOLD = "ON_HOLD"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"
    ARCHIVED = "ARCHIVED"


class HoldReason(enum.StrEnum):
    PAYMENT_REVIEW = "PAYMENT_REVIEW"
    FRAUD_REVIEW = "FRAUD_REVIEW"
    ADDRESS_VERIFICATION = "ADDRESS_VERIFICATION"
    INVENTORY_RECHECK = "INVENTORY_RECHECK"


class CancellationReason(enum.StrEnum):
    CUSTOMER_REQUESTED = "CUSTOMER_REQUESTED"
    PAYMENT_FAILED = "PAYMENT_FAILED"
    OUT_OF_STOCK = "OUT_OF_STOCK"
    FRAUD = "FRAUD"


S = OrderStatus

# Every transition the lifecycle allows (decision 12 of the catalog, plus release of a hold).
_MOVES: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.CREATED: frozenset({S.CONFIRMED, S.CANCELLED}),
    # CONFIRMED -> FULFILLING: a hold released to CONFIRMED may be packed straight away.
    S.CONFIRMED: frozenset({S.AWAITING_FULFILMENT, S.FULFILLING, S.CANCELLED}),
    S.AWAITING_FULFILMENT: frozenset({S.FULFILLING, S.CANCELLED}),
    S.FULFILLING: frozenset({S.ON_HOLD, S.COMPLETED}),
    # A parcel may still arrive while its order is held after a failed delivery attempt.
    S.ON_HOLD: frozenset({S.CONFIRMED, S.AWAITING_FULFILMENT, S.COMPLETED, S.CANCELLED}),
    S.COMPLETED: frozenset({S.ARCHIVED}),
    S.CANCELLED: frozenset({S.ARCHIVED}),
    S.ARCHIVED: frozenset(),
}

CANCELLABLE = frozenset({S.CREATED, S.CONFIRMED, S.AWAITING_FULFILMENT, S.ON_HOLD})
ADDRESS_CHANGEABLE = CANCELLABLE  # before fulfilment, and while on hold
TERMINAL = frozenset({S.COMPLETED, S.CANCELLED})
HOLD_REVIEW_PERIOD = timedelta(days=3)


class OrderConflict(Exception):
    """The order's status forbids the change (HTTP 409)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class OrderForbidden(Exception):
    """The caller may not do this to the order (HTTP 403)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def can_move(current: str, target: OrderStatus) -> bool:
    try:
        return target in _MOVES[OrderStatus(current)]
    except ValueError:
        return False


def check_cancellation(
    status: str, *, is_owner: bool, is_staff: bool, reason: str, system: bool = False
) -> None:
    """The cancellation policy. A shopper may cancel their own order, for the reason
    CUSTOMER_REQUESTED; staff any order for any reason; the platform (the checkout saga undoing
    a late order) any order. In every case only while the order is CREATED, CONFIRMED,
    AWAITING_FULFILMENT or ON_HOLD: from FULFILLING on the parcel is on its way."""
    if not (system or is_staff):
        if not is_owner:
            raise OrderForbidden("the order belongs to another customer")
        if reason != CancellationReason.CUSTOMER_REQUESTED:
            raise OrderForbidden(f"a shopper cancels with reason CUSTOMER_REQUESTED, not {reason}")
    if status not in CANCELLABLE:
        raise OrderConflict(f"Cannot cancel: the order is {status}")


def hold_reason_for(shipment_failure: str) -> HoldReason:
    """A delivery that failed at the door needs the address checked; a lost, damaged or
    returned parcel needs the stock checked before anything is sent again."""
    if shipment_failure == "FAILED_DELIVERY":
        return HoldReason.ADDRESS_VERIFICATION
    return HoldReason.INVENTORY_RECHECK


def confirmation_number(counter: int) -> str:
    if not 1 <= counter <= 99_999_999:
        raise ValueError(f"confirmation counter {counter} does not fit ORD-nnnnnnnn")
    return f"ORD-{counter:08d}"


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def archive_due(status: str, terminal_at: datetime | None, now: datetime, delay: timedelta) -> bool:
    if status not in TERMINAL or terminal_at is None:
        return False
    return _aware(terminal_at) + delay <= _aware(now)


def retention_category(payment_authorization_id: str | None) -> str:
    """Orders paid for are financial records; the rest are kept as standard records."""
    return "FINANCIAL_RECORD" if payment_authorization_id else "STANDARD"


def record_checksum(record: Mapping[str, Any]) -> str:
    """SHA-256 of the order's canonical JSON (sorted keys, no whitespace, UTF-8)."""
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
