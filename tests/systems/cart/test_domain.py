"""Cart rules without I/O: lifecycle, sellability, pricing, the local price list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from acme.systems.cart.domain import (
    MAX_LINE_QUANTITY,
    CartConflict,
    CartStatus,
    Line,
    PriceEntry,
    PriceUpdate,
    ProductStatus,
    added_quantity,
    after_checkout_outcome,
    apply_price_update,
    price_lines,
    remaining_quantity,
    require_open,
    sale_problem,
    totals,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)
P1 = "00000000-0000-4000-8000-000000000001"
P2 = "00000000-0000-4000-8000-000000000002"


def entry(product_id: str = P1, price: int = 1000, **kw: object) -> PriceEntry:
    values: dict[str, object] = {
        "product_id": product_id,
        "price_cents": price,
        "currency": "USD",
        "status": "ACTIVE",
        "source_event_at": T0,
    }
    values.update(kw)
    return PriceEntry(**values)  # type: ignore[arg-type]


def test_only_open_carts_change() -> None:
    require_open("OPEN")
    for status in ("CHECKING_OUT", "CHECKED_OUT", "ABANDONED"):
        with pytest.raises(CartConflict, match=status):
            require_open(status)


def test_sale_problems_name_the_reason() -> None:
    assert sale_problem(entry(), "USD") is None
    assert sale_problem(None, "USD") == "is not in the price list"
    assert sale_problem(entry(status="ARCHIVED"), "USD") == "is archived and cannot be sold"
    assert sale_problem(entry(status="DRAFT"), "USD") == "is draft and cannot be sold"
    assert sale_problem(entry(status="DELETED"), "USD") == "is deleted and cannot be sold"
    assert sale_problem(entry(), "EUR") == "is priced in USD, the cart in EUR"


def test_quantities() -> None:
    assert added_quantity(None, 2) == 2
    assert added_quantity(3, 2) == 5
    with pytest.raises(CartConflict, match="at most"):
        added_quantity(MAX_LINE_QUANTITY, 1)
    assert remaining_quantity(5, 2) == 3
    assert remaining_quantity(5, 5) == 0
    assert remaining_quantity(5, 9) == 0
    assert remaining_quantity(5, None) == 0


def test_price_lines_uses_todays_price_and_reports_every_problem() -> None:
    lines = [Line(P1, 2, 900), Line(P2, 1, 500)]
    priced = price_lines(lines, {P1: entry(P1, 1000, sku="S1"), P2: entry(P2, 450)}, "USD")
    assert [(p.product_id, p.unit_price, p.line_total, p.sku) for p in priced] == [
        (P1, 1000, 2000, "S1"),
        (P2, 450, 450, None),
    ]
    with pytest.raises(CartConflict) as caught:
        price_lines(lines, {P1: entry(P1, status="ARCHIVED")}, "USD")
    assert P1 in caught.value.reason and P2 in caught.value.reason
    with pytest.raises(CartConflict, match="empty"):
        price_lines([], {}, "USD")


def test_totals_clamp_the_discount() -> None:
    sums = totals([1000, 500], 200)
    assert (sums.subtotal, sums.discount, sums.total) == (1500, 200, 1300)
    assert totals([300], 500).total == 0
    assert totals([300], -5).discount == 0


@pytest.mark.parametrize(
    ("status", "waiting_for", "completed", "expected"),
    [
        ("CHECKING_OUT", "c1", True, CartStatus.CHECKED_OUT),
        ("CHECKING_OUT", "c1", False, CartStatus.OPEN),
        ("CHECKING_OUT", "c0", True, None),  # outcome of another attempt
        ("OPEN", "c1", False, None),  # duplicate failure after reopening
        ("CHECKED_OUT", "c1", True, None),  # duplicate completion
    ],
)
def test_checkout_outcome(
    status: str, waiting_for: str, completed: bool, expected: CartStatus | None
) -> None:
    assert after_checkout_outcome(status, waiting_for, "c1", completed) is expected


def test_price_update_creates_an_entry_only_with_price_and_currency() -> None:
    created = apply_price_update(
        None, PriceUpdate(P1, T0, price_cents=500, currency="USD", sku="SKU-1", name="Mug")
    )
    assert created == PriceEntry(P1, 500, "USD", "ACTIVE", T0, "SKU-1", "Mug")
    assert apply_price_update(None, PriceUpdate(P1, T0, name="no price")) is None


def test_price_update_applies_only_newer_events() -> None:
    current = entry(price=1000, sku="S", name="Old")
    later = T0 + timedelta(minutes=1)
    updated = apply_price_update(current, PriceUpdate(P1, later, price_cents=800, name="New"))
    assert updated is not None
    assert (updated.price_cents, updated.name, updated.sku, updated.source_event_at) == (
        800,
        "New",
        "S",
        later,
    )
    assert apply_price_update(current, PriceUpdate(P1, T0, price_cents=1)) is None
    assert apply_price_update(current, PriceUpdate(P1, T0 - timedelta(1), price_cents=1)) is None


def test_deletion_is_final() -> None:
    tombstone = apply_price_update(None, PriceUpdate(P1, T0, status="DELETED"))
    assert tombstone is not None and tombstone.status == ProductStatus.DELETED
    late_create = PriceUpdate(
        P1, T0 + timedelta(1), price_cents=100, currency="USD", status="ACTIVE"
    )
    assert apply_price_update(tombstone, late_create) is None
    deleted = apply_price_update(entry(), PriceUpdate(P1, T0 + timedelta(1), status="DELETED"))
    assert deleted is not None and deleted.status == "DELETED" and deleted.price_cents == 1000
