"""PlatformMetrics arithmetic on synthetic messages at known times, and the live map."""

from __future__ import annotations

from typing import Any

import pytest

from acme.observe import (
    CatalogIndex,
    DeliveryRecord,
    PlatformMetrics,
    TraceRecorder,
    live_systems_map,
    percentile,
    watch,
)
from tests.observe.wire import Wire

T0 = 1_000.0


def test_percentile_is_nearest_rank() -> None:
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert percentile(values, 50) == 3.0
    assert percentile(values, 95) == 5.0
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 5.0
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) is None
    with pytest.raises(ValueError, match="outside"):
        percentile(values, 101)


@pytest.fixture
def recorder(catalog: CatalogIndex) -> TraceRecorder:
    """Three checkouts start 1 s apart; in each, checkout-api reacts to cart-checked-out
    after 20, 40 and 60 ms, and the orchestrator to checkout-started after 10 ms."""
    recorder = TraceRecorder(catalog)
    for i, reaction in enumerate((0.020, 0.040, 0.060)):
        wire = Wire(recorder, start=T0 + i, step=0)
        wire.send("cart-checked-out", after=0)
        wire.send("checkout-started", after=reaction)
        wire.send("reserve-inventory", after=0.010)
    return recorder


def test_reaction_latency_comes_from_causation(recorder: TraceRecorder) -> None:
    metrics = PlatformMetrics(recorder)
    samples = [s for s in metrics.latency_samples() if s.service == "checkout-api"]
    assert [round(s.seconds, 3) for s in samples] == [0.02, 0.04, 0.06]
    assert {(s.node, s.message_type, s.basis) for s in samples} == {
        ("checkout-system", "cart-checked-out", "reaction")
    }
    table = metrics.latencies()
    row = next(r for r in table if r["service"] == "checkout-api")
    assert (row["samples"], row["mean ms"], row["p50 ms"], row["max ms"]) == (
        3,
        "40.0",
        "40.0",
        "60.0",
    )


def test_only_the_first_reaction_counts_and_ambiguity_is_skipped(catalog: CatalogIndex) -> None:
    recorder = TraceRecorder(catalog)
    wire = Wire(recorder, start=T0, step=0)
    started = wire.send("checkout-started")
    wire.send("reserve-inventory", after=0.005)
    wire.send("checkout-failed", cause=started, after=0.100)  # a later effect of the same cause
    wire.send("order-created", cause=started, after=0.001)  # not sent by a receiver: ignored
    [sample] = PlatformMetrics(recorder).latency_samples()
    assert sample.service == "checkout-orchestrator"
    assert sample.seconds == pytest.approx(0.005)


def test_rates_over_a_window(recorder: TraceRecorder) -> None:
    # At T0+2.5 a 2 s window holds the 2nd and 3rd checkouts' messages (6 of them).
    nodes = PlatformMetrics(recorder, window=2.0).nodes(now=T0 + 2.5)
    checkout = nodes["checkout-system"]
    # checkout-system sends checkout-started and reserve-inventory: 4 in the window.
    assert checkout.sent == 4
    assert checkout.sent_per_second == pytest.approx(2.0)
    # It receives cart-checked-out and checkout-started (catalog receivers): 4 as well.
    assert checkout.received == 4
    assert nodes["cart-system"].sent == 2 and nodes["cart-system"].sent_per_second == 1.0
    assert nodes["inventory-system"].received == 2
    assert checkout.reaction_p50 == pytest.approx(0.010)
    # The window's checkout-api reactions are 40 and 60 ms; 95th percentile is 60.
    assert checkout.reaction_p95 == pytest.approx(0.060)


def test_rates_never_divide_by_more_than_was_recorded(catalog: CatalogIndex) -> None:
    recorder = TraceRecorder(catalog)
    wire = Wire(recorder, start=T0, step=0)
    wire.send("cart-checked-out")
    metrics = PlatformMetrics(list(recorder.messages), catalog=catalog, window=60.0)
    # 1 message recorded half a second ago is 2 msg/s, not 1/60.
    assert metrics.nodes(now=T0 + 0.5)["cart-system"].sent_per_second == pytest.approx(2.0)
    assert metrics.nodes(now=T0)["cart-system"].sent_per_second == 0.0
    with pytest.raises(ValueError, match="window"):
        PlatformMetrics(recorder, window=0)


def test_edges_between_systems(recorder: TraceRecorder) -> None:
    edges = PlatformMetrics(recorder, window=10.0).edges(now=T0 + 3)
    assert edges[("cart-system", "checkout-system")] == pytest.approx(1.0)
    assert edges[("checkout-system", "inventory-system")] == pytest.approx(1.0)
    # checkout-started stays inside checkout-system: no edge to itself.
    assert ("checkout-system", "checkout-system") not in edges


def test_failures_from_dead_letters_and_redeliveries(catalog: CatalogIndex) -> None:
    recorder = TraceRecorder(catalog)
    wire = Wire(recorder, start=T0)
    reserve = wire.chain("checkout-started", "reserve-inventory")[-1]
    wire.dead_letter(reserve, "inventory-service", "database is locked")
    wire.dead_letter(reserve, "inventory-service", "database is locked again")
    deliveries = [
        DeliveryRecord(
            T0,
            "s",
            "reserve-inventory",
            reserve.message_id,
            "c",
            "inventory-service",
            "inventory-service__s",
            attempt,
            T0 + 0.2,
            "nak",
        )
        for attempt in (1, 2, 3)
    ]
    metrics = PlatformMetrics(recorder.messages, deliveries=deliveries, catalog=catalog)
    inventory = metrics.nodes(now=T0 + 1)["inventory-system"]
    assert inventory.dead_letters == 2
    assert inventory.reasons == {"failed": 2}
    assert inventory.redeliveries == 2
    assert inventory.handler_p50 is None  # naks are not handled messages
    [row] = metrics.failures()
    assert (row["service"], row["message"], row["count"]) == (
        "inventory-service",
        "reserve-inventory",
        2,
    )
    assert row["last error"] == "database is locked again"


def test_handler_latency_from_acknowledged_deliveries(catalog: CatalogIndex) -> None:
    deliveries = [
        DeliveryRecord(
            T0 + i,
            "s",
            "reserve-inventory",
            f"m{i}",
            "c",
            "inventory-service",
            "inventory-service__s",
            1,
            T0 + i + seconds,
            "ack",
        )
        for i, seconds in enumerate((0.010, 0.030, 0.020))
    ]
    metrics = PlatformMetrics([], deliveries=deliveries, catalog=catalog)
    inventory = metrics.nodes(now=T0 + 5, window=10)["inventory-system"]
    assert inventory.handler_p50 == pytest.approx(0.020)
    assert inventory.handler_p95 == pytest.approx(0.030)
    assert inventory.received == 3


def test_timeline_and_durations(recorder: TraceRecorder) -> None:
    metrics = PlatformMetrics(recorder)
    timeline = metrics.timeline(bin_seconds=1.0)
    assert timeline.starts == [0.0, 1.0, 2.0]
    assert timeline.counts["cart-system"] == [1, 1, 1]
    assert timeline.counts["checkout-system"] == [2, 2, 2]
    assert timeline.total() == [3, 3, 3]
    assert timeline.table().columns == ("t", "cart-system", "checkout-system")

    durations = sorted(d for _, d in metrics.durations("cart-checked-out", ["reserve-inventory"]))
    assert durations == pytest.approx([0.030, 0.050, 0.070])
    assert metrics.durations("cart-checked-out", ["checkout-completed"]) == []
    with pytest.raises(ValueError, match="bin_seconds"):
        metrics.timeline(0)


def test_live_systems_map_annotates_the_catalog_map(recorder: TraceRecorder) -> None:
    view = live_systems_map(PlatformMetrics(recorder, window=10.0), now=T0 + 3)
    nodes = {n.id: n for n in view.diagram.nodes}
    assert "1.0/s out" in nodes["cart-system"].label
    assert "p50 10 ms" in nodes["checkout-system"].label
    assert nodes["checkout-system"].color == "#cdeccf"
    assert nodes["search-system"].label == "Search System"  # idle: left as documented
    labels = {(e.source, e.target): e.label for e in view.diagram.edges if not e.dashed}
    assert labels[("cart-system", "checkout-system")] == "1.0/s"
    assert view.stats["checkout-system"].sent == 6
    assert "Live systems map" in view.title and view.tables[0].title == "Per system, last 10 s"


def test_live_map_marks_failing_systems(catalog: CatalogIndex) -> None:
    recorder = TraceRecorder(catalog)
    wire = Wire(recorder, start=T0)
    wire.dead_letter(wire.send("reserve-inventory"), "inventory-service")
    view = live_systems_map(PlatformMetrics(recorder), now=T0 + 1)
    inventory = next(n for n in view.diagram.nodes if n.id == "inventory-system")
    assert inventory.color == "#f8c9c4" and "1 dead letter" in inventory.label


async def test_watch_redraws_a_bounded_number_of_times(recorder: TraceRecorder) -> None:
    shown: list[Any] = []
    cleared: list[int] = []
    last = await watch(
        PlatformMetrics(recorder),
        iterations=3,
        interval=0,
        show=shown.append,
        clear=lambda: cleared.append(1),
    )
    assert len(shown) == 3 and len(cleared) == 3
    assert last is shown[-1]
    with pytest.raises(ValueError, match="iterations"):
        await watch(PlatformMetrics(recorder), iterations=0)
