"""Warehouse rules: parcels, job states, address changes, the simulated picking time."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from acme.systems.warehouse import domain
from acme.systems.warehouse.config import WarehouseSettings
from acme.systems.warehouse.domain import Address, Line, PickingClock

P1, P2 = uuid.uuid4(), uuid.uuid4()


@pytest.mark.parametrize(
    ("quantities", "parcels"),
    [([1], 1), ([10], 1), ([11], 2), ([3, 7], 1), ([3, 8], 2), ([25], 3), ([], 1)],
)
def test_up_to_ten_units_per_parcel(quantities: list[int], parcels: int) -> None:
    assert domain.parcel_count(quantities) == parcels


def test_lines_of_one_product_are_merged() -> None:
    merged = domain.merge_lines([Line(P1, 2), Line(P2, 1), Line(P1, 3)])
    assert sorted((x.product_id, x.quantity) for x in merged) == sorted([(P1, 5), (P2, 1)])


def test_a_line_without_units_cannot_be_picked() -> None:
    with pytest.raises(domain.UnpickableOrder, match="quantity 0"):
        domain.merge_lines([Line(P1, 0)])


@pytest.mark.parametrize(
    ("status", "cancel", "pack", "close"),
    [
        ("CREATED", True, True, True),
        ("PICKING", True, True, True),
        ("PACKED", False, False, True),
        ("CANCELLED", False, False, False),
        ("CLOSED", False, False, False),
    ],
)
def test_job_transitions(status: str, cancel: bool, pack: bool, close: bool) -> None:
    assert domain.can_cancel(status) is cancel
    assert domain.can_pack(status) is pack
    assert domain.can_close(status) is close


def test_address_changes_need_a_newer_revision_and_an_unpacked_job() -> None:
    assert domain.accepts_address("CREATED", 1, 2)
    assert domain.accepts_address("PICKING", 2, 3)
    assert not domain.accepts_address("PICKING", 3, 3)
    assert not domain.accepts_address("CREATED", 3, 2)
    assert not domain.accepts_address("PACKED", 1, 2)
    assert not domain.accepts_address("CANCELLED", 1, 2)


def test_merged_address_keeps_label_lines_the_change_leaves_out() -> None:
    old = Address("1 Old Road", "Leeds", "LS1 1AA", "GB", recipient_name="Ann", line2="Flat 2")
    new = domain.merge_address(
        old, line1="9 New Street", city=None, postcode="LS2 2BB", country=None,
        recipient_name="Ann Lee", line2=None,
    )  # fmt: skip
    assert new == Address("9 New Street", "Leeds", "LS2 2BB", "GB", "Ann Lee", None)


def test_seeded_picking_time_depends_only_on_seed_and_job() -> None:
    job_a, job_b = uuid.uuid4(), uuid.uuid4()
    first = PickingClock(1.0, 5.0, seed=7)
    again = PickingClock(1.0, 5.0, seed=7)
    assert first.delay(job_a) == again.delay(job_a)
    assert first.delay(job_b) == again.delay(job_b)
    assert first.delay(job_a) != first.delay(job_b)
    assert PickingClock(1.0, 5.0, seed=8).delay(job_a) != first.delay(job_a)
    for _ in range(20):
        assert 1.0 <= PickingClock(1.0, 5.0, seed=None).delay(uuid.uuid4()) <= 5.0


def test_due_time_is_now_plus_delay() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    clock = PickingClock(2.0, 2.0, seed=1)
    assert clock.due_at(uuid.uuid4(), now) == now + timedelta(seconds=2)


def test_picking_delay_bounds_are_checked() -> None:
    with pytest.raises(ValueError, match="min <= max"):
        PickingClock(5.0, 1.0)
    with pytest.raises(ValueError, match="PICKING_DELAY_MAX"):
        WarehouseSettings(picking_delay_min=5.0, picking_delay_max=1.0, _env_file=None)


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_WAREHOUSE_PICKING_DELAY_MIN", "0.5")
    monkeypatch.setenv("ACME_WAREHOUSE_PICKING_DELAY_MAX", "4")
    monkeypatch.setenv("ACME_WAREHOUSE_PICKING_SEED", "42")
    settings = WarehouseSettings(_env_file=None)
    assert (settings.picking_delay_min, settings.picking_delay_max) == (0.5, 4.0)
    assert settings.picking_seed == 42
