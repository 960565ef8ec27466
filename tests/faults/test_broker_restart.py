"""Scenario 1: the broker restarts in the middle of a burst of checkouts.

nats-server is stopped and started again on the same port and JetStream store directory
while checkouts are in flight. Relays must hold their rows and publish them once the broker is
back, consumers must reconnect and resume their durable consumers, and a checkout must not
need its saga deadline to finish.
"""

from __future__ import annotations

import asyncio

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
    expect = Expectations()
    product = await shop.product(expect, price=1500, stock=STOCK)
    prepared = await shop.carts(expect, product, CHECKOUTS)

    # Checkouts start over SPREAD seconds; the broker goes down a second in, so the later ones
    # are answered (or not) while it is away, and the earlier ones' sagas are under way.
    burst = asyncio.create_task(shop.burst(expect, prepared, spread=SPREAD))
    await asyncio.sleep(1.0)
    restarts = faults.broker.restarts
    running = in_flight(faults.data_dir, [a for a, _, _ in prepared])
    await faults.broker.restart(DOWNTIME)
    attempts = await burst
    # After the restart the platform must work as before, not only finish old work.
    after = await shop.carts(expect, product, 2)
    attempts += await shop.burst(expect, after)

    verdict = await conclude(
        faults,
        "broker restart",
        f"{summary(attempts)}; NATS down {DOWNTIME:g}s with {running} checkouts in flight",
        expect,
    )
    assert faults.broker.restarts == restarts + 1
    # Only a missing unit may fail a checkout; a saga timing out would mean a stalled consumer.
    assert verdict.accepted == CHECKOUTS + 2, summary(attempts)
    assert verdict.outcomes["COMPLETED"] == STOCK, verdict.outcomes
    assert verdict.outcomes["FAILED:OUT_OF_STOCK"] == verdict.accepted - STOCK, verdict.outcomes
