"""compare(trace, flow) on synthetic traces of the checkout, against the real catalog's flows.

The traces carry the runtime's wire headers and catalog subjects; what varies is which
messages they hold. A deliberately broken copy of the catalog shows that a documented step
the code does not perform is flagged.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from acme.observe import CatalogIndex, TraceRecorder, compare
from generator.analyst import NotInCatalog, open_catalog
from tests.observe.wire import Wire

REPO = Path(__file__).resolve().parents[2]

# What the checkout code publishes on the success path, in order (payment-requested and the
# fraud screening happen inside the Payments domain and are not steps of the saga).
SAGA_SUCCESS = (
    "cart-checked-out",
    "checkout-started",
    "reserve-inventory",
    "inventory-reserved",
    "authorize-payment",
    "payment-authorized",
    "create-order",
    "order-created",
    "checkout-completed",
)


@pytest.fixture
def recorder(catalog: CatalogIndex) -> TraceRecorder:
    return TraceRecorder(catalog)


def run(recorder: TraceRecorder, *message_types: str) -> Wire:
    wire = Wire(recorder)
    wire.chain(*message_types)
    return wire


def test_a_trace_that_follows_the_flow_has_every_step_on_its_path(
    recorder: TraceRecorder,
) -> None:
    wire = run(recorder, *SAGA_SUCCESS)
    result = compare(recorder.trace(wire.correlation_id), "checkout-saga")

    assert result.ok, result
    assert not result.missing and not result.undocumented
    happened = {r.step for r in result.happened}
    assert {"reserve_inventory", "inventory_reserved", "saga_complete"} <= happened
    # The failure branches were not taken, and that is not a deviation.
    assert {r.step for r in result.not_taken} == {
        "inventory_unavailable",
        "payment_declined",
        "deadline_passed",
        "compensate_release",
        "checkout_failed",
    }
    assert result.status_of("checkout_database") == "not observable"
    # Times are relative to the trace's first message (10 ms apart in the synthetic run).
    row = next(r for r in result.rows if r.step == "order_created")
    assert row.since_start == pytest.approx(0.07)
    assert row.messages[0].message_type == "order-created"


def test_a_message_missing_from_the_taken_path_is_flagged(recorder: TraceRecorder) -> None:
    wire = run(recorder, *(t for t in SAGA_SUCCESS if t != "create-order"))
    result = compare(recorder.trace(wire.correlation_id), "checkout-saga")

    assert not result.ok
    assert [r.step for r in result.missing] == ["create_order"]
    assert result.status_of("order_created") == "happened"


def test_an_untaken_branch_is_not_missing(recorder: TraceRecorder) -> None:
    # Out of stock: the saga ends early; the payment and order steps were never due.
    wire = run(
        recorder,
        "cart-checked-out",
        "checkout-started",
        "reserve-inventory",
        "inventory-unavailable",
        "checkout-failed",
    )
    result = compare(recorder.trace(wire.correlation_id), "checkout-saga")

    assert result.ok, result
    for step in ("inventory_reserved", "authorize_payment", "create_order", "compensate_release"):
        assert result.status_of(step) == "not taken", step
    fork = next(f for f in result.forks if f.step == "reserve_inventory")
    assert (fork.kind, fork.taken) == ("alternatives", ("inventory_unavailable",))


def test_a_step_missing_on_the_failure_path_is_missing_not_untaken(
    recorder: TraceRecorder,
) -> None:
    # Declined payment, but the held stock was never released: the compensation is missing.
    wire = run(
        recorder,
        "cart-checked-out",
        "checkout-started",
        "reserve-inventory",
        "inventory-reserved",
        "authorize-payment",
        "payment-declined",
        "checkout-failed",
    )
    result = compare(recorder.trace(wire.correlation_id), "checkout-saga")

    assert [r.step for r in result.missing] == ["compensate_release"]
    assert result.status_of("payment_authorized") == "not taken"
    assert result.status_of("create_order") == "not taken"


def test_a_trace_that_stops_before_a_fork_expects_the_first_documented_branch(
    recorder: TraceRecorder,
) -> None:
    wire = run(recorder, "cart-checked-out", "checkout-started", "reserve-inventory")
    result = compare(recorder.trace(wire.correlation_id), "checkout-saga")

    assert result.status_of("inventory_reserved") == "missing"
    assert result.status_of("inventory_unavailable") == "not taken"
    fork = next(f for f in result.forks if f.step == "reserve_inventory")
    assert "no alternative happened" in fork.note


def test_an_undocumented_message_is_reported(recorder: TraceRecorder) -> None:
    wire = Wire(recorder)
    for message_type in SAGA_SUCCESS:
        wire.send(message_type)
        if message_type == "authorize-payment":
            wire.send("payment-requested")  # Payments' internal step, not in the saga
    result = compare(recorder.trace(wire.correlation_id), "checkout-saga")

    assert not result.missing
    assert [(r.target, r.status) for r in result.undocumented] == [
        ("payment-requested", "undocumented")
    ]
    assert "from payment-api" in result.undocumented[0].detail
    assert not result.ok


def test_a_parallel_fork_expects_every_branch(recorder: TraceRecorder) -> None:
    # place-an-order: order-created fans out to order-confirmed (order service) and
    # checkout-completed (orchestrator); different services react, so both are due.
    wire = run(recorder, *SAGA_SUCCESS)
    trace = recorder.trace(wire.correlation_id)
    result = compare(trace, "place-an-order")

    fork = next(f for f in result.forks if f.step == "order_created")
    assert fork.kind == "parallel"
    assert result.status_of("order_confirmed") == "missing"
    assert result.status_of("checkout_failed") == "not taken"
    # Steps a broker cannot see are not called missing.
    assert result.status_of("checkout_cart_command") == "not observable"
    assert result.status_of("shopper_checks_out") == "not observable"
    assert result.status_of("cart_api") == "happened"

    # Read as alternatives on request, the same trace took the other branch.
    overridden = compare(trace, "place-an-order", forks={"order_created": "alternatives"})
    assert overridden.status_of("order_confirmed") == "not taken"
    assert not overridden.missing


def test_dead_letters_are_reported_with_the_service_that_gave_up(
    recorder: TraceRecorder,
) -> None:
    wire = Wire(recorder)
    sent = wire.chain("cart-checked-out", "checkout-started", "reserve-inventory")
    wire.dead_letter(sent[-1], "inventory-service", "database is locked")
    result = compare(recorder.trace(wire.correlation_id), "checkout-saga")

    assert [r.target for r in result.dead_letters] == ["reserve-inventory"]
    assert "inventory-service" in result.dead_letters[0].detail
    assert "database is locked" in result.dead_letters[0].detail
    assert "dead-lettered by inventory-service" in next(
        r.detail for r in result.rows if r.step == "reserve_inventory"
    )


def test_html_highlights_problems(recorder: TraceRecorder) -> None:
    wire = run(recorder, *(t for t in SAGA_SUCCESS if t != "create-order"))
    html = compare(recorder.trace(wire.correlation_id), "checkout-saga")._repr_html_()

    missing_row = next(line for line in html.split("<tr") if "create_order" in line)
    assert "#fbd9d9" in missing_row
    assert "<script" not in html


def test_bad_arguments_are_named(recorder: TraceRecorder) -> None:
    wire = run(recorder, "cart-checked-out")
    trace = recorder.trace(wire.correlation_id)
    with pytest.raises(NotInCatalog, match="checkout-sagga"):
        compare(trace, "checkout-sagga")
    with pytest.raises(KeyError, match="no_such_step"):
        compare(trace, "checkout-saga", forks={"no_such_step": "parallel"})
    with pytest.raises(ValueError, match="sideways"):
        compare(trace, "checkout-saga", forks={"orchestrator": "sideways"})  # type: ignore[dict-item]


# --- the deliberately broken flow -------------------------------------------------------

SAGA_PAGE = "domains/Ordering/systems/checkout-system/flows/CheckoutSaga/index.mdx"
ORIGINAL_LINK = """- id: create_order
  title: Create Order
  message: {id: create-order, version: "1.0.0"}
  next_step: {id: order_created, label: Order created}
"""
# The copy documents that the order service releases a hold before confirming the order;
# the checkout code does no such thing.
BROKEN_LINK = """- id: create_order
  title: Create Order
  message: {id: create-order, version: "1.0.0"}
  next_step: {id: hold_released, label: Release the payment hold}
- id: hold_released
  title: Order Hold Released
  message: {id: order-hold-released, version: "1.0.0"}
  next_step: {id: order_created, label: Order created}
"""


@pytest.fixture(scope="module")
def broken_catalog(tmp_path_factory: pytest.TempPathFactory) -> CatalogIndex:
    copy = tmp_path_factory.mktemp("broken") / "catalog"
    shutil.copytree(REPO / "catalog", copy)
    page = copy / SAGA_PAGE
    text = page.read_text(encoding="utf-8")
    assert ORIGINAL_LINK in text, "the checkout saga page changed: update this test's edit"
    page.write_text(text.replace(ORIGINAL_LINK, BROKEN_LINK), encoding="utf-8")
    return CatalogIndex(open_catalog(copy))


def test_a_deliberately_broken_flow_is_flagged(
    recorder: TraceRecorder, broken_catalog: CatalogIndex
) -> None:
    wire = run(recorder, *SAGA_SUCCESS)
    trace = recorder.trace(wire.correlation_id)

    assert compare(trace, "checkout-saga").ok  # the real catalog matches the code
    broken = compare(trace, "checkout-saga", broken_catalog)

    assert not broken.ok
    assert [(r.step, r.target) for r in broken.missing] == [
        ("hold_released", "order-hold-released")
    ]
    assert "hold_released" in broken.path
    assert "missing" in repr(broken)
