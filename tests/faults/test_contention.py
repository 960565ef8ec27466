"""Scenario 5: 100 concurrent checkouts compete for the last unit of a product.

All 100 carts are checked out at once. Exactly one checkout may win the unit and become an
order; the 99 others must fail OUT_OF_STOCK with nothing held, charged or sold.
"""

from __future__ import annotations

from tests.faults.invariants import Expectations
from tests.faults.platform import FaultPlatform
from tests.faults.scenario import FAULTS, conclude
from tests.faults.shop import Shop, summary

pytestmark = FAULTS

CHECKOUTS = 100


async def test_hundred_checkouts_for_one_unit(faults: FaultPlatform, shop: Shop) -> None:
    expect = Expectations()
    product = await shop.product(expect, price=4900, stock=1)
    prepared = await shop.carts(expect, product, CHECKOUTS, shoppers=5)

    attempts = await shop.burst(expect, prepared)

    verdict = await conclude(
        faults, "100 checkouts, 1 unit", f"{summary(attempts)} at once", expect
    )
    assert verdict.accepted == CHECKOUTS, summary(attempts)
    assert verdict.outcomes == {"COMPLETED": 1, "FAILED:OUT_OF_STOCK": CHECKOUTS - 1}, (
        verdict.outcomes
    )
