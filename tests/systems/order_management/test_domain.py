"""Order rules without I/O: lifecycle, cancellation policy, holds, archiving."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from acme.systems.order_management.domain import (
    CANCELLABLE,
    HoldReason,
    OrderConflict,
    OrderForbidden,
    OrderStatus,
    archive_due,
    can_move,
    check_cancellation,
    confirmation_number,
    hold_reason_for,
    record_checksum,
    retention_category,
)

S = OrderStatus


@pytest.mark.parametrize(
    ("current", "target", "allowed"),
    [
        (S.CREATED, S.CONFIRMED, True),
        (S.CONFIRMED, S.AWAITING_FULFILMENT, True),
        (S.AWAITING_FULFILMENT, S.FULFILLING, True),
        (S.FULFILLING, S.COMPLETED, True),
        (S.FULFILLING, S.ON_HOLD, True),
        (S.ON_HOLD, S.AWAITING_FULFILMENT, True),
        (S.ON_HOLD, S.COMPLETED, True),
        (S.COMPLETED, S.ARCHIVED, True),
        (S.CANCELLED, S.ARCHIVED, True),
        (S.FULFILLING, S.CANCELLED, False),
        (S.COMPLETED, S.CANCELLED, False),
        (S.AWAITING_FULFILMENT, S.COMPLETED, False),
        (S.ARCHIVED, S.COMPLETED, False),
        (S.CANCELLED, S.FULFILLING, False),
        (S.ON_HOLD, S.ON_HOLD, False),
    ],
)
def test_lifecycle(current: OrderStatus, target: OrderStatus, allowed: bool) -> None:
    assert can_move(current, target) is allowed


def test_unknown_status_moves_nowhere() -> None:
    assert can_move("LOST", S.CONFIRMED) is False


def test_shopper_cancels_own_order_for_customer_reasons_only() -> None:
    check_cancellation("CONFIRMED", is_owner=True, is_staff=False, reason="CUSTOMER_REQUESTED")
    with pytest.raises(OrderForbidden, match="another customer"):
        check_cancellation("CONFIRMED", is_owner=False, is_staff=False, reason="CUSTOMER_REQUESTED")
    with pytest.raises(OrderForbidden, match="CUSTOMER_REQUESTED"):
        check_cancellation("CONFIRMED", is_owner=True, is_staff=False, reason="FRAUD")


def test_staff_and_platform_cancel_any_order_for_any_reason() -> None:
    check_cancellation("ON_HOLD", is_owner=False, is_staff=True, reason="FRAUD")
    check_cancellation(
        "AWAITING_FULFILMENT", is_owner=False, is_staff=False, reason="PAYMENT_FAILED", system=True
    )


@pytest.mark.parametrize("status", [s for s in S if s not in CANCELLABLE])
def test_cannot_cancel_from_fulfilment_on(status: OrderStatus) -> None:
    with pytest.raises(OrderConflict, match="Cannot cancel"):
        check_cancellation(status, is_owner=True, is_staff=True, reason="CUSTOMER_REQUESTED")


def test_hold_reasons() -> None:
    assert hold_reason_for("FAILED_DELIVERY") is HoldReason.ADDRESS_VERIFICATION
    for failure in ("LOST", "DAMAGED", "RETURNED_TO_SENDER"):
        assert hold_reason_for(failure) is HoldReason.INVENTORY_RECHECK


def test_confirmation_number() -> None:
    assert confirmation_number(1) == "ORD-00000001"
    assert confirmation_number(99_999_999) == "ORD-99999999"
    with pytest.raises(ValueError, match="does not fit"):
        confirmation_number(100_000_000)


def test_archive_due_after_the_delay_only_for_finished_orders() -> None:
    done = datetime(2025, 1, 1, tzinfo=UTC)
    delay = timedelta(days=30)
    assert archive_due("COMPLETED", done, done + delay, delay)
    assert not archive_due("COMPLETED", done, done + delay - timedelta(seconds=1), delay)
    assert archive_due("CANCELLED", done.replace(tzinfo=None), done + delay, delay)
    assert not archive_due("FULFILLING", done, done + 2 * delay, delay)
    assert not archive_due("COMPLETED", None, done + 2 * delay, delay)


def test_retention_and_checksum() -> None:
    assert retention_category("pi_123") == "FINANCIAL_RECORD"
    assert retention_category(None) == "STANDARD"
    record = {"b": 1, "a": [1, 2], "c": "é"}
    expected = hashlib.sha256('{"a":[1,2],"b":1,"c":"é"}'.encode()).hexdigest()
    assert record_checksum(record) == expected
    assert record_checksum({"c": "é", "a": [1, 2], "b": 1}) == expected
