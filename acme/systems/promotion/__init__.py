"""Promotion System (catalog: domains/Shopping/systems/promotion-system): promotion-service.

It answers the Cart API's `calculate-discount` request/reply on `shopping-discount-commands` and
publishes `discount-calculated` on `shopping.events` for every answer it computes (through the
outbox, in the reply's transaction). Promotions live in `promotion-database` (`promotions` plus at
most one `eligibility_rules` row each); there is no API to manage them. When the `promotions` table
is empty at start-up, the promotions of `domain.SEED_PROMOTIONS` are written: WELCOME10 (10 %),
SAVE5 (5.00 off from 25.00), BIG20 (20 % from 100.00), SPRING2024 (expired) and PAUSED (inactive).

Discount rules, applied in this order to the request's promotion code:
1. No code, or a code that matches no promotion (codes are case-insensitive, stored upper-case):
   discount 0, no applied promotion. Never an error: checkout goes on at full price.
2. `active` false: 0.
3. Validity window: the promotion applies from `starts_at` (inclusive) until `ends_at`
   (exclusive; NULL = no end). Outside it: 0.
4. Minimum spend: with an eligibility rule whose `min_spend_cents` is set, the subtotal must be at
   least that amount, else 0.
5. Customer segment: a rule with a `customer_segment` restricts the promotion to that segment. The
   Promotion System holds no customer data, so such a promotion is not granted (0) rather than
   granted to everyone.
6. Amount: `PERCENTAGE` takes `value` percent of the subtotal (capped at 100 %) rounded down to a
   whole minor unit; `FIXED_AMOUNT` takes `value` minor units of the cart's currency (promotions
   are single-currency). The discount never exceeds the subtotal; a zero subtotal earns 0.
One code per request, so at most one promotion is applied.
"""

from __future__ import annotations

import logging

from acme.runtime import SystemApp
from acme.systems.promotion import store
from acme.systems.promotion.domain import SEED_PROMOTIONS
from acme.systems.promotion.handlers import PromotionService

__all__ = ["PromotionSeeder", "create"]

logger = logging.getLogger("acme.promotion")


class PromotionSeeder:
    """Writes the seed promotions once per process, when the table is empty.

    The runtime has no start-up hook, so this runs as a periodic task with a short interval
    and does nothing after its first successful run.
    """

    def __init__(self, app: SystemApp) -> None:
        self.app = app
        self.done = False

    async def __call__(self) -> None:
        if self.done:
            return
        # A write transaction from the start: two processes seeding at once queue, and the
        # second one finds the rows.
        async with self.app.transaction("promotion-service") as tx:
            if await store.count_promotions(tx.conn) == 0:
                for promotion in SEED_PROMOTIONS:
                    await store.insert_promotion(tx.conn, promotion)
                logger.info("seeded %d promotions", len(SEED_PROMOTIONS))
        self.done = True


def create(app: SystemApp) -> None:
    app.handle("promotion-service", PromotionService(app))
    app.every(0.2, PromotionSeeder(app), name="seed-promotions")
