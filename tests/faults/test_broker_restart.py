"""Scenario 1: the broker restarts in the middle of a burst of checkouts.

Embedded, nats-server is stopped and started again on the same port and JetStream store
directory while checkouts are in flight; on a shared broker, the systems are cut off from it
(every connection dropped, new ones refused) for the same downtime. Relays must hold their
rows and publish them once the broker is back, consumers must reconnect and resume their
durable consumers, and a checkout must not need its saga deadline to finish.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.faults.invariants import Expectations
from tests.faults.platform import FaultPlatform
from tests.faults.scenario import FAULTS, conclude
from tests.faults.shop import Shop, in_flight, summary

pytestmark = FAULTS

CHECKOUTS = 20
STOCK = 16  # fewer units than checkouts: some must fail OUT_OF_STOCK, the rest complete
DOWNTIME = 5.0
SPREAD = 3.0


async def test_broker_restart_mid_burst(faults: FaultPlatform, shop: Shop) -> None:
    if (unsupported := faults.outage_unsupported) is not None:
        pytest.skip(f"the broker cannot be taken away from the systems: {unsupported}")
    expect = Expectations()
    product = await shop.product(expect, price=1500, stock=STOCK)
    prepared = await shop.carts(expect, product, CHECKOUTS)

    # Checkouts start over SPREAD seconds; the broker goes down a second in, so the later ones
    # are answered (or not) while it is away, and the earlier ones' sagas are under way.
    burst = asyncio.create_task(shop.burst(expect, prepared, spread=SPREAD))
    await asyncio.sleep(1.0)
    restarts = faults.outages
    running = in_flight(faults.stores, [a for a, _, _ in prepared])
    outage = await faults.broker_outage(DOWNTIME)
    attempts = await burst
    # After the restart the platform must work as before, not only finish old work.
    after = await shop.carts(expect, product, 2)
    attempts += await shop.burst(expect, after)

    verdict = await conclude(
        faults,
        "broker restart",
        f"{summary(attempts)}; {outage} with {running} checkouts in flight",
        expect,
    )
    assert faults.outages == restarts + 1
    # Only a missing unit may fail a checkout; a saga timing out would mean a stalled consumer.
    assert verdict.accepted == CHECKOUTS + 2, summary(attempts)
    assert verdict.outcomes["COMPLETED"] == STOCK, verdict.outcomes
    assert verdict.outcomes["FAILED:OUT_OF_STOCK"] == verdict.accepted - STOCK, verdict.outcomes
