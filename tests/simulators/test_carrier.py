"""Carrier simulator: bookings, tracking events after clock-driven delays, seeded fates,
redelivery, refusal of bookings without a shipment id, and restarts that lose nothing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest

from acme.runtime.embedded_nats import EmbeddedNats
from acme.simulators.carrier.config import CarrierSettings
from acme.simulators.carrier.domain import FAILURE_REASONS, Odds, Schedule, decide
from tests.systems.harness import SystemHarness, running_system
from tests.systems.probes import START, FakeClock, eventually, sent, sent_once

CREATED_DELAY, DELIVERY_DELAY = 30.0, 600.0


@pytest.fixture
def nats_url(tmp_path: Path) -> Iterator[str]:
    server = EmbeddedNats(tmp_path / "nats")
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def carrier_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("ACME_CARRIER_CREATED_DELAY", str(CREATED_DELAY))
    monkeypatch.setenv("ACME_CARRIER_DELIVERY_DELAY", str(DELIVERY_DELAY))
    monkeypatch.setenv("ACME_CARRIER_POLL_INTERVAL", "0.05")
    monkeypatch.setenv("ACME_CARRIER_FAILURE_RATE", "0")
    monkeypatch.setenv("ACME_CARRIER_SEED", "42")
    return monkeypatch


def carrier(
    tmp_path: Path, nats_url: str, clock: FakeClock
) -> AbstractAsyncContextManager[SystemHarness]:
    return running_system("carrier", data_dir=tmp_path / "data", nats_url=nats_url, clock=clock)


@pytest.fixture
async def sim(
    tmp_path: Path, nats_url: str, carrier_env: pytest.MonkeyPatch
) -> AsyncIterator[tuple[SystemHarness, FakeClock]]:
    clock = FakeClock()
    async with carrier(tmp_path, nats_url, clock) as harness:
        yield harness, clock


def booking(shipment_id: uuid.UUID | None = None, **changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "orderId": str(uuid.uuid4()),
        "shipmentId": str(shipment_id or uuid.uuid4()),
        "carrier": "carrier",
        "service": "STANDARD",
        "parcelCount": 1,
        "destination": {
            "recipientName": "Alan Turing",
            "line1": "Bletchley Park",
            "city": "Milton Keynes",
            "postcode": "MK3 6EB",
            "country": "GB",
        },
    }
    payload.update(changes)
    return payload


def for_shipment(shipment_id: str) -> Any:
    return lambda body: body.get("shipmentId") == shipment_id


async def test_booking_is_tracked_created_then_delivered_on_the_clock(
    sim: tuple[SystemHarness, FakeClock],
) -> None:
    h, clock = sim
    command = booking()
    shipment_id = command["shipmentId"]
    await h.deliver("create-shipment", command)
    await eventually(
        lambda: h.rows("runtime-carrier", "SELECT outcome FROM carrier_bookings"),
        lambda rows: len(rows) == 1,
    )

    clock.advance(CREATED_DELAY - 1)
    await h.quiet(0.3)
    assert not sent(h, "shipment-created")

    clock.advance(1)
    created = await sent_once(h, "shipment-created", for_shipment(shipment_id))
    assert created.subject == "fulfilment.events.shipment-created"
    assert created.body["orderId"] == command["orderId"]
    assert created.body["carrier"] == "carrier"
    assert created.body["trackingNumber"].startswith("CS")
    assert created.body["createdAt"] == "2030-01-01T12:00:30Z"
    assert created.body["estimatedDelivery"] == "2030-01-01"

    clock.advance(DELIVERY_DELAY - 1)
    await h.quiet(0.3)
    assert not sent(h, "shipment-delivered")
    clock.advance(1)
    delivered = await sent_once(h, "shipment-delivered", for_shipment(shipment_id))
    assert delivered.body["orderId"] == command["orderId"]
    assert delivered.body["signedBy"] == "Alan Turing"
    assert delivered.body["deliveredAt"] == "2030-01-01T12:10:30Z"

    clock.advance(3600)
    await h.quiet(0.3)
    assert len(sent(h, "shipment-created")) == 1
    assert len(sent(h, "shipment-delivered")) == 1
    assert not sent(h, "shipment-failed")


async def test_failure_rate_one_fails_every_delivery_with_a_configured_reason(
    tmp_path: Path, nats_url: str, carrier_env: pytest.MonkeyPatch
) -> None:
    carrier_env.setenv("ACME_CARRIER_FAILURE_RATE", "1")
    carrier_env.setenv("ACME_CARRIER_FAILURE_REASONS", "LOST")
    clock = FakeClock()
    async with carrier(tmp_path, nats_url, clock) as h:
        command = booking()
        await h.deliver("create-shipment", command)
        await eventually(
            lambda: h.rows("runtime-carrier", "SELECT 1 FROM carrier_bookings"),
            lambda rows: len(rows) == 1,
        )
        clock.advance(CREATED_DELAY)
        await sent_once(h, "shipment-created", for_shipment(command["shipmentId"]))
        clock.advance(DELIVERY_DELAY)
        failed = await sent_once(h, "shipment-failed", for_shipment(command["shipmentId"]))
        assert failed.body["reason"] == "LOST"
        assert failed.body["failedAt"] == "2030-01-01T12:10:30Z"
        assert not sent(h, "shipment-delivered")


async def test_dropped_bookings_are_never_reported(
    tmp_path: Path, nats_url: str, carrier_env: pytest.MonkeyPatch
) -> None:
    carrier_env.setenv("ACME_CARRIER_DROP_RATE", "1")
    clock = FakeClock()
    async with carrier(tmp_path, nats_url, clock) as h:
        await h.deliver("create-shipment", booking())
        rows = await eventually(
            lambda: h.rows("runtime-carrier", "SELECT outcome FROM carrier_bookings"),
            lambda rows: len(rows) == 1,
        )
        assert rows[0]["outcome"] == "DROPPED"
        clock.advance(CREATED_DELAY + DELIVERY_DELAY + 1)
        await h.quiet(0.4)
        assert not sent(h, "shipment-created")
        assert not sent(h, "shipment-delivered")


async def test_redelivered_booking_is_booked_and_reported_once(
    sim: tuple[SystemHarness, FakeClock],
) -> None:
    h, clock = sim
    command = booking()
    await h.deliver("create-shipment", command)
    await h.deliver("create-shipment", command)  # a new message id, same shipment
    await eventually(
        lambda: h.rows("runtime-carrier", "SELECT 1 FROM carrier_bookings"),
        lambda rows: len(rows) == 1,
    )
    await h.quiet(0.2)
    rows = await h.rows("runtime-carrier", "SELECT shipment_id FROM carrier_bookings")
    assert len(rows) == 1
    clock.advance(CREATED_DELAY)
    await sent_once(h, "shipment-created", for_shipment(command["shipmentId"]))
    clock.advance(DELIVERY_DELAY)
    await sent_once(h, "shipment-delivered", for_shipment(command["shipmentId"]))


async def test_booking_without_shipment_id_is_refused(sim: tuple[SystemHarness, FakeClock]) -> None:
    h, _ = sim
    wire_id = await h.deliver("create-shipment", booking(shipmentId=None))
    letters = await eventually(
        lambda: h.rows(
            "runtime", "SELECT attempts, error FROM dead_letters WHERE message_id = :m", m=wire_id
        ),
        lambda rows: len(rows) == 1,
    )
    assert letters[0]["attempts"] == 1
    assert "no shipmentId to echo" in letters[0]["error"]
    assert await h.rows("runtime-carrier", "SELECT 1 FROM carrier_bookings") == []


async def test_a_restart_loses_no_pending_event(
    tmp_path: Path, nats_url: str, carrier_env: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    command = booking()
    async with carrier(tmp_path, nats_url, clock) as h:
        await h.deliver("create-shipment", command)
        await eventually(
            lambda: h.rows("runtime-carrier", "SELECT 1 FROM carrier_bookings"),
            lambda rows: len(rows) == 1,
        )
    # Down while the events fall due; the next process sends them in order.
    clock.advance(CREATED_DELAY + DELIVERY_DELAY + 5)
    async with carrier(tmp_path, nats_url, clock) as h:
        created = await sent_once(h, "shipment-created", for_shipment(command["shipmentId"]))
        delivered = await sent_once(h, "shipment-delivered", for_shipment(command["shipmentId"]))
        assert created.body["createdAt"] == "2030-01-01T12:00:30Z"
        assert delivered.body["deliveredAt"] == "2030-01-01T12:10:30Z"


async def outcomes(tmp_path: Path, shipment_ids: list[uuid.UUID]) -> dict[str, tuple[str, str]]:
    """Run a fresh carrier (own broker, own data) over `shipment_ids`;
    shipment id -> (tracking number, outcome)."""
    clock = FakeClock()
    server = EmbeddedNats(tmp_path / "nats")
    server.start()
    try:
        return await _run_outcomes(tmp_path, server.url, clock, shipment_ids)
    finally:
        server.stop()


async def _run_outcomes(
    tmp_path: Path, nats_url: str, clock: FakeClock, shipment_ids: list[uuid.UUID]
) -> dict[str, tuple[str, str]]:
    async with carrier(tmp_path, nats_url, clock) as h:
        for shipment_id in shipment_ids:
            await h.deliver("create-shipment", booking(shipment_id))
        await eventually(
            lambda: h.rows("runtime-carrier", "SELECT 1 FROM carrier_bookings"),
            lambda rows: len(rows) == len(shipment_ids),
        )
        clock.advance(CREATED_DELAY)
        await h.published("shipment-created", count=len(shipment_ids))
        clock.advance(DELIVERY_DELAY)
        finals = await eventually(lambda: _finals(h), lambda found: len(found) == len(shipment_ids))
        tracking = {
            c.body["shipmentId"]: c.body["trackingNumber"] for c in sent(h, "shipment-created")
        }
        return {sid: (tracking[sid], outcome) for sid, outcome in finals.items()}


async def _finals(h: SystemHarness) -> dict[str, str]:
    found = {c.body["shipmentId"]: "DELIVERED" for c in sent(h, "shipment-delivered")}
    found.update({c.body["shipmentId"]: c.body["reason"] for c in sent(h, "shipment-failed")})
    return found


async def test_seeded_runs_give_every_shipment_the_same_fate(
    tmp_path: Path, carrier_env: pytest.MonkeyPatch
) -> None:
    carrier_env.setenv("ACME_CARRIER_FAILURE_RATE", "0.5")
    shipment_ids = [uuid.uuid4() for _ in range(8)]
    first = await outcomes(tmp_path / "one", shipment_ids)
    # Another process, another data dir, bookings in the opposite order: same fates.
    second = await outcomes(tmp_path / "two", list(reversed(shipment_ids)))
    assert first == second
    odds = Odds(0.5, seed=42)
    for sid in shipment_ids:
        fate = decide(sid, odds)
        expected = "DELIVERED" if fate.outcome == "DELIVERED" else fate.failure_reason
        assert first[str(sid)] == (fate.tracking_number, expected)


# -- pure rules -------------------------------------------------------------------------------


def test_decide_is_a_function_of_seed_and_shipment() -> None:
    sid = uuid.uuid4()
    assert decide(sid, Odds(0.3, seed=1)) == decide(sid, Odds(0.3, seed=1))
    tracking = {decide(sid, Odds(0.3, seed=s)).tracking_number for s in range(10)}
    assert len(tracking) > 1


def test_failure_and_drop_rates_are_obeyed() -> None:
    ids = [uuid.UUID(int=n) for n in range(2000)]
    assert {decide(i, Odds(0.0, seed=5)).outcome for i in ids} == {"DELIVERED"}
    assert {decide(i, Odds(1.0, seed=5)).outcome for i in ids} == {"FAILED"}
    assert {decide(i, Odds(0.0, drop_rate=1.0, seed=5)).outcome for i in ids} == {"DROPPED"}
    fates = [decide(i, Odds(0.25, drop_rate=0.1, seed=5)) for i in ids]
    failed = sum(f.outcome == "FAILED" for f in fates) / len(ids)
    dropped = sum(f.outcome == "DROPPED" for f in fates) / len(ids)
    assert 0.21 < failed < 0.29
    assert 0.07 < dropped < 0.13
    assert {f.failure_reason for f in fates if f.outcome == "FAILED"} == set(FAILURE_REASONS)
    assert all(f.failure_reason is None for f in fates if f.outcome != "FAILED")


def test_schedule() -> None:
    schedule = Schedule(created_delay=60, delivery_delay=86400)
    assert schedule.created_at(START).isoformat() == "2030-01-01T12:01:00+00:00"
    assert schedule.outcome_at(START).isoformat() == "2030-01-02T12:01:00+00:00"
    assert schedule.estimated_delivery(START).isoformat() == "2030-01-02"


def test_settings_from_environment_and_their_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_CARRIER_FAILURE_RATE", "0.2")
    monkeypatch.setenv("ACME_CARRIER_SEED", "7")
    monkeypatch.setenv("ACME_CARRIER_FAILURE_REASONS", "LOST, DAMAGED")
    settings = CarrierSettings(_env_file=None)
    assert (settings.failure_rate, settings.seed, settings.reasons) == (0.2, 7, ("LOST", "DAMAGED"))
    with pytest.raises(ValueError, match="exceed 1"):
        CarrierSettings(failure_rate=0.8, drop_rate=0.5, _env_file=None)
    with pytest.raises(ValueError, match="unknown: STOLEN"):
        CarrierSettings(failure_reasons="LOST,STOLEN", _env_file=None)
    with pytest.raises(ValueError, match="less than or equal to 1"):
        CarrierSettings(failure_rate=1.5, _env_file=None)
