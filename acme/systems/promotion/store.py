"""Queries on promotion-database (tables from generated.datastores.promotion_database)."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from acme.systems.promotion.domain import Promotion, PromotionType
from generated.datastores.promotion_database import eligibility_rules, promotions

__all__ = ["count_promotions", "find_promotion", "insert_promotion"]


async def find_promotion(conn: AsyncConnection, code: str) -> Promotion | None:
    """The promotion with `code` (already normalised upper-case), with its eligibility rule."""
    row = (
        await conn.execute(
            select(
                promotions.c.code,
                promotions.c.type,
                promotions.c.value,
                promotions.c.starts_at,
                promotions.c.ends_at,
                promotions.c.active,
                promotions.c.description,
                eligibility_rules.c.min_spend_cents,
                eligibility_rules.c.customer_segment,
            )
            .select_from(
                promotions.outerjoin(
                    eligibility_rules,
                    eligibility_rules.c.promotion_id == promotions.c.promotion_id,
                )
            )
            # Codes written by hand in the database may be in any case.
            .where(func.upper(promotions.c.code) == code)
        )
    ).first()
    if row is None:
        return None
    return Promotion(
        code=str(row.code).upper(),
        type=PromotionType(row.type),
        value=int(row.value),
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        active=bool(row.active),
        min_spend_cents=row.min_spend_cents,
        customer_segment=row.customer_segment,
        description=row.description,
    )


async def count_promotions(conn: AsyncConnection) -> int:
    return int(await conn.scalar(select(func.count()).select_from(promotions)) or 0)


async def insert_promotion(conn: AsyncConnection, promotion: Promotion) -> None:
    promotion_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"acme:promotion:{promotion.code}"))
    await conn.execute(
        promotions.insert().values(
            promotion_id=promotion_id,
            code=promotion.code,
            description=promotion.description,
            type=promotion.type.value,
            value=promotion.value,
            starts_at=promotion.starts_at,
            ends_at=promotion.ends_at,
            active=promotion.active,
        )
    )
    if promotion.min_spend_cents is not None or promotion.customer_segment is not None:
        await conn.execute(
            eligibility_rules.insert().values(
                promotion_id=promotion_id,
                min_spend_cents=promotion.min_spend_cents,
                customer_segment=promotion.customer_segment,
            )
        )
