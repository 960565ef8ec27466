"""Scenario 3: every message delivered three times, the copies late and out of order.

While a burst of checkouts runs, the duplicating relay publishes each message the platform
publishes twice more with the same message id. The inboxes must absorb every copy: one
order per checkout, one charge per payment, each unit sold once, and no copy dead-lettered.
"""

from __future__ import annotations

from tests.faults.duplicator import Duplicator
from tests.faults.invariants import Expectations, settle
from tests.faults.platform import FaultPlatform
from tests.faults.scenario import FAULTS, SEED, SETTLE, conclude
from tests.faults.shop import Shop, summary

pytestmark = FAULTS

CHECKOUTS = 15
STOCK = 12


async def test_every_message_three_times_out_of_order(faults: FaultPlatform, shop: Shop) -> None:
    expect = Expectations()
    product = await shop.product(expect, price=1800, stock=STOCK)
    prepared = await shop.carts(expect, product, CHECKOUTS)

    async with Duplicator(faults.stores, faults.broker_url, copies=2, seed=SEED) as copies:
        attempts = await shop.burst(expect, prepared)
        # Copies keep flowing while the platform settles, so the last messages are tripled too.
        await settle(
            faults.stores,
            faults.broker_url,
            faults.stripe_state,
            expect,
            consumers=faults.consumers,
            timeout=SETTLE,
        )
    assert not copies.errors, copies.errors[:5]

    verdict = await conclude(
        faults,
        "3x delivery, reordered",
        f"{summary(attempts)}; {copies.published} copies of {copies.messages} messages",
        expect,
    )
    assert copies.messages > 0 and copies.published == 2 * copies.messages
    assert verdict.outcomes["COMPLETED"] == STOCK, verdict.outcomes
    assert verdict.outcomes["FAILED:OUT_OF_STOCK"] == verdict.accepted - STOCK, verdict.outcomes
