"""Scenario 2: `kill -9` of each system on a checkout's path, at a seeded random moment.

For each system in turn (in a seeded order), a few checkouts start and, a seeded random delay
later, the system's process is killed with SIGKILL: no shutdown, no flush, transactions cut
off wherever they were. The supervisor restarts it; the next system's turn begins once it is
ready again. Whatever the killed process had consumed but not acknowledged comes back after
the ack wait, whatever it had committed but not published is published by its next run.
"""

from __future__ import annotations

import asyncio
import random

from tests.faults.invariants import Expectations, finished
from tests.faults.platform import FaultPlatform
from tests.faults.scenario import FAULTS, SEED, conclude
from tests.faults.shop import Attempt, Shop, summary

pytestmark = FAULTS

# The systems a checkout passes through (promotion prices the cart during the checkout call).
SYSTEMS = (
    "cart-system",
    "promotion-system",
    "checkout-system",
    "inventory-system",
    "fraud-detection",
    "payment-processing-system",
    "order-management-system",
)
PER_KILL = 3
MAX_DELAY = 1.5  # seconds after the checkouts start, the latest moment of a kill


async def test_kill9_each_system_mid_checkout(faults: FaultPlatform, shop: Shop) -> None:
    rng = random.Random(SEED)
    expect = Expectations()
    product = await shop.product(expect, price=2100, stock=len(SYSTEMS) * PER_KILL)
    attempts: list[Attempt] = []
    kills: list[str] = []
    running_at_kill = 0
    for system in rng.sample(SYSTEMS, len(SYSTEMS)):
        prepared = await shop.carts(expect, product, PER_KILL)
        burst = asyncio.create_task(shop.burst(expect, prepared))
        delay = rng.uniform(0.05, MAX_DELAY)
        await asyncio.sleep(delay)
        ours = {a.checkout_id for a, _, _ in prepared if a.checkout_id}
        # checkouts of this turn not finished yet (answered or not) when the kill lands
        running_at_kill += len(prepared) - finished(faults.data_dir, ours)
        pid = faults.kill9(system)
        new_pid = await faults.wait_ready(system, not_pid=pid)
        assert new_pid != pid
        kills.append(f"{system}@{delay:.2f}s")
        attempts += await burst

    await conclude(
        faults,
        "kill -9 each system",
        f"{summary(attempts)}; {len(kills)} systems SIGKILLed, {running_at_kill} unfinished",
        expect,
    )
    assert len(kills) == len(SYSTEMS), kills
