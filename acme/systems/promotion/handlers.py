"""Message handlers of promotion-service: answer calculate-discount, record discount-calculated."""

from __future__ import annotations

import logging
import uuid

from acme.runtime import SystemApp, current
from acme.systems.promotion import store
from acme.systems.promotion.domain import DiscountDecision, Skip, evaluate, normalise_code
from generated.messages.calculate_discount import (
    CalculateDiscountRequest,
    CalculateDiscountResponse,
)
from generated.messages.discount_calculated import DiscountCalculated
from generated.services.promotion_service import PromotionServicePublisher
from generator.contracts import MessageContext

__all__ = ["PROMOTION_DATABASE", "PromotionService"]

PROMOTION_DATABASE = "promotion-database"
logger = logging.getLogger("acme.promotion")


class PromotionService:
    """Implements `PromotionServiceHandlers`."""

    def __init__(self, app: SystemApp) -> None:
        self.app = app

    async def on_calculate_discount(
        self, message: CalculateDiscountRequest, context: MessageContext
    ) -> CalculateDiscountResponse:
        tx = current()
        subtotal = message.subtotal or 0
        code = normalise_code(message.promotion_code)
        if code is None:
            decision = DiscountDecision(0, skipped=Skip.NO_CODE)
        else:
            # Read on a connection of its own: the reply's transaction then starts with its
            # outbox write, so on SQLite it never has to upgrade a read snapshot to a writer.
            async with self.app.store(PROMOTION_DATABASE).connect() as conn:
                promotion = await store.find_promotion(conn, code)
            decision = evaluate(promotion, subtotal=subtotal, now=tx.now())
        if decision.skipped is not None and code is not None:
            logger.info(
                "code %r on cart %s earns nothing: %s", code, message.cart_id, decision.skipped
            )
        reply = CalculateDiscountResponse(
            discount=decision.discount, applied_promotions=list(decision.applied)
        )
        if message.cart_id is not None and message.currency is not None:
            await tx.publisher(PromotionServicePublisher).discount_calculated(
                DiscountCalculated(
                    event_id=uuid.uuid4(),
                    occurred_at=tx.now(),
                    cart_id=message.cart_id,
                    discount=decision.discount,
                    currency=message.currency,
                    applied_promotions=list(decision.applied),
                )
            )
        else:
            # discount-calculated needs both; the reply alone still answers the caller.
            logger.warning(
                "calculate-discount %s without cartId or currency: replied, nothing recorded",
                context.message_id,
            )
        return reply
