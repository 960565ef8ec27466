"""Scenario 2: `kill -9` of each system's process, at a seeded random moment of a checkout.

For each system in turn (in a seeded order), checkouts start and, a seeded random delay
later, the system's process is killed with SIGKILL: no shutdown, no flush, transactions cut
off wherever they were. The supervisor restarts it; the next system's turn begins once it is
ready again. Whatever the killed process had consumed but not acknowledged comes back after
the ack wait, whatever it had committed but not published is published by its next run.
"""

from __future__ import annotations

import asyncio
import random

from tests.faults.invariants import Expectations
from tests.faults.platform import FaultPlatform
from tests.faults.scenario import FAULTS, SEED, conclude
from tests.faults.shop import Attempt, Shop, in_flight, summary

pytestmark = FAULTS

# The systems a checkout passes through (promotion prices the cart during the checkout call)
# get three checkouts in flight when they die; the others (fulfilment after the order, the
# catalog, search, identity...) one.
CHECKOUT_PATH = {
    "cart-system",
    "promotion-system",
    "checkout-system",
    "inventory-system",
    "fraud-detection",
    "payment-processing-system",
    "order-management-system",
}
MAX_DELAY = 0.8  # seconds after the checkouts start, the latest moment of a kill


async def test_kill9_each_system_mid_checkout(faults: FaultPlatform, shop: Shop) -> None:
    rng = random.Random(SEED)
    systems = sorted(faults.systems())
    assert set(systems) >= CHECKOUT_PATH, set(systems)
    expect = Expectations()
    product = await shop.product(expect, price=2100, stock=3 * len(systems))
    attempts: list[Attempt] = []
    kills: list[str] = []
    running_at_kill = 0
    for system in rng.sample(systems, len(systems)):
        prepared = await shop.carts(expect, product, 3 if system in CHECKOUT_PATH else 1)
        burst = asyncio.create_task(shop.burst(expect, prepared))
        delay = rng.uniform(0.05, MAX_DELAY)
        await asyncio.sleep(delay)
        running_at_kill += in_flight(faults.stores, [a for a, _, _ in prepared])
        pid = faults.kill9(system)
        new_pid = await faults.wait_ready(system, not_pid=pid)
        assert new_pid != pid
        kills.append(f"{system}@{delay:.2f}s")
        attempts += await burst

    await conclude(
        faults,
        "kill -9 each system",
        f"{summary(attempts)}; {len(kills)} systems SIGKILLed, {running_at_kill} in flight",
        expect,
    )
    assert len(kills) == len(systems), kills
