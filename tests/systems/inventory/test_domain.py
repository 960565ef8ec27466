"""Inventory rules without I/O: stock moves keep the invariant, lifecycle decisions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from acme.systems.inventory import domain
from acme.systems.inventory.domain import CancelAction, ConfirmAction, Move

A = "00000000-0000-4000-8000-00000000000a"
B = "00000000-0000-4000-8000-00000000000b"


@pytest.mark.parametrize(
    "move",
    [
        domain.reserve(3),
        domain.release(3),
        domain.consume(3),
        domain.retake(3),
        domain.return_sold(3),
        domain.restock(5, 12),
        domain.restock(12, 5),
    ],
)
def test_every_move_keeps_available_reserved_sold_equal_to_restocked(move: Move) -> None:
    assert move.keeps_invariant


def test_a_move_that_loses_units_is_detected() -> None:
    assert not Move(available=-1).keeps_invariant


def test_replaying_moves_on_counts_keeps_the_invariant_and_never_goes_negative() -> None:
    counts = {"available": 0, "reserved": 0, "sold": 0, "restocked": 0}

    def apply(move: Move) -> None:
        for name in counts:
            counts[name] += getattr(move, name)
        assert min(counts["available"], counts["reserved"], counts["sold"]) >= 0
        assert counts["available"] + counts["reserved"] + counts["sold"] == counts["restocked"]

    for move in (
        domain.restock(0, 10),
        domain.reserve(4),
        domain.consume(4),
        domain.reserve(2),
        domain.release(2),
        domain.return_sold(4),
        domain.restock(10, 7),
    ):
        apply(move)
    assert counts == {"available": 7, "reserved": 0, "sold": 0, "restocked": 7}


def test_restock_books_the_difference_both_ways() -> None:
    assert domain.restock(5, 12) == Move(available=7, restocked=7)
    assert domain.restock(12, 5) == Move(available=-7, restocked=-7)


def test_merge_lines_sums_duplicates_and_orders_by_product() -> None:
    lines = domain.merge_lines([(B, 1), (A, 2), (B, 3)])
    assert lines == [domain.Line(A, 2), domain.Line(B, 4)]


def test_merge_lines_normalises_uuid_spelling() -> None:
    upper = A.upper()
    assert domain.merge_lines([(upper, 1), (A, 1)]) == [domain.Line(A, 2)]


@pytest.mark.parametrize("bad", [0, -2])
def test_merge_lines_refuses_non_positive_quantities(bad: int) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        domain.merge_lines([(A, bad)])


def test_merge_lines_refuses_a_product_id_that_is_not_a_uuid() -> None:
    with pytest.raises(ValueError):
        domain.merge_lines([("not-a-uuid", 1)])


def test_hold_lasts_fifteen_minutes_by_default() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    expires = domain.hold_expires_at(now)
    assert expires - now == timedelta(minutes=15)
    assert not domain.is_expired(expires, expires - timedelta(seconds=1))
    assert domain.is_expired(expires, expires)


@pytest.mark.parametrize(
    ("status", "reason", "action"),
    [
        ("HELD", None, ConfirmAction.CONSUME),
        ("RELEASED", "EXPIRED", ConfirmAction.RETAKE),
        ("RELEASED", "CHECKOUT_FAILED", ConfirmAction.NOTHING),
        ("RELEASED", "ORDER_CANCELLED", ConfirmAction.NOTHING),
        ("CONSUMED", None, ConfirmAction.NOTHING),
    ],
)
def test_order_confirmed_decision(status: str, reason: str | None, action: ConfirmAction) -> None:
    assert domain.on_order_confirmed(status, reason) is action


@pytest.mark.parametrize(
    ("status", "action"),
    [
        ("HELD", CancelAction.RELEASE_HOLD),
        ("CONSUMED", CancelAction.RETURN_SOLD),
        ("RELEASED", CancelAction.NOTHING),
    ],
)
def test_order_cancelled_decision(status: str, action: CancelAction) -> None:
    assert domain.on_order_cancelled(status) is action


def test_only_a_held_reservation_can_be_released() -> None:
    assert domain.can_release("HELD")
    assert not domain.can_release("RELEASED")
    assert not domain.can_release("CONSUMED")


def test_line_ids_are_canonical_uuids() -> None:
    (line,) = domain.merge_lines([(uuid.UUID(A), 1)])  # type: ignore[list-item]
    assert line.product_id == A
