"""Queries on review-database and rating-cache (generated tables)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from acme.runtime.db import insert_ignore, utc
from acme.systems.reviews.domain import Summary
from generated.datastores.rating_cache import rating_contributions, rating_summaries
from generated.datastores.review_database import (
    moderation_decisions,
    review_flags,
    review_votes,
    reviews,
)

Sort = Literal["newest", "highest", "lowest", "most_helpful"]


@dataclass(frozen=True)
class Review:
    review_id: UUID
    product_id: UUID
    customer_id: UUID
    rating: int
    title: str | None
    body: str
    status: str
    helpful_count: int
    flag_count: int
    submitted_at: datetime
    published_at: datetime | None


def _review(row: Any) -> Review:
    submitted = utc(row.submitted_at)
    assert submitted is not None  # NOT NULL
    return Review(
        review_id=UUID(row.review_id),
        product_id=UUID(row.product_id),
        customer_id=UUID(row.customer_id),
        rating=row.rating,
        title=row.title,
        body=row.body,
        status=row.status,
        helpful_count=row.helpful_count,
        flag_count=row.flag_count,
        submitted_at=submitted,
        published_at=utc(row.published_at),
    )


# -- review-database: reviews -----------------------------------------------------------------


async def review(conn: AsyncConnection, review_id: UUID) -> Review | None:
    row = (await conn.execute(select(reviews).where(reviews.c.review_id == str(review_id)))).first()
    return _review(row) if row else None


async def review_of(conn: AsyncConnection, product_id: UUID, customer_id: UUID) -> Review | None:
    row = (
        await conn.execute(
            select(reviews).where(
                and_(
                    reviews.c.product_id == str(product_id),
                    reviews.c.customer_id == str(customer_id),
                )
            )
        )
    ).first()
    return _review(row) if row else None


async def insert_review(conn: AsyncConnection, values: dict[str, Any]) -> bool:
    """False when the review id, or the (product, customer) pair, is taken."""
    return await insert_ignore(conn, reviews, values)


async def decide(
    conn: AsyncConnection,
    review_id: UUID,
    *,
    from_status: str,
    outcome: str,
    reason: str | None,
    now: datetime,
) -> bool:
    """Move the review from `from_status` to the decision's status and record the decision."""
    stamp = {"published_at": now} if outcome == "published" else {"rejected_at": now}
    result = await conn.execute(
        update(reviews)
        .where(and_(reviews.c.review_id == str(review_id), reviews.c.status == from_status))
        .values(status=outcome, updated_at=now, **stamp)
    )
    if result.rowcount != 1:
        return False
    await conn.execute(
        moderation_decisions.insert().values(
            moderation_decision_id=str(uuid.uuid4()),
            review_id=str(review_id),
            outcome=outcome,
            reason=reason,
            decided_at=now,
        )
    )
    return True


async def decisions(conn: AsyncConnection, review_id: UUID) -> list[tuple[str, str | None]]:
    rows = await conn.execute(
        select(moderation_decisions.c.outcome, moderation_decisions.c.reason)
        .where(moderation_decisions.c.review_id == str(review_id))
        .order_by(moderation_decisions.c.decided_at)
    )
    return [(r.outcome, r.reason) for r in rows]


_ORDER = {
    "newest": (reviews.c.published_at.desc(),),
    "highest": (reviews.c.rating.desc(), reviews.c.published_at.desc()),
    "lowest": (reviews.c.rating.asc(), reviews.c.published_at.desc()),
    "most_helpful": (reviews.c.helpful_count.desc(), reviews.c.published_at.desc()),
}


async def published_page(
    conn: AsyncConnection, product_id: UUID, *, page: int, page_size: int, sort: Sort
) -> tuple[int, list[Review]]:
    """Total published reviews of the product, and one page of them in `sort` order."""
    visible = and_(reviews.c.product_id == str(product_id), reviews.c.status == "published")
    total = (await conn.execute(select(func.count()).select_from(reviews).where(visible))).scalar()
    rows = await conn.execute(
        select(reviews)
        .where(visible)
        # review_id last: a stable order, so pages never overlap or skip ties
        .order_by(*_ORDER[sort], reviews.c.review_id)
        .limit(page_size)
        .offset((page - 1) * page_size)
    )
    return int(total or 0), [_review(r) for r in rows]


async def published_ratings(conn: AsyncConnection) -> list[tuple[UUID, UUID, int]]:
    """(review id, product id, rating) of every published review (to rebuild the cache)."""
    rows = await conn.execute(
        select(reviews.c.review_id, reviews.c.product_id, reviews.c.rating).where(
            reviews.c.status == "published"
        )
    )
    return [(UUID(r.review_id), UUID(r.product_id), r.rating) for r in rows]


async def review_status(conn: AsyncConnection, review_id: UUID) -> str | None:
    return (
        await conn.execute(select(reviews.c.status).where(reviews.c.review_id == str(review_id)))
    ).scalar()


# -- review-database: flags and votes ---------------------------------------------------------


async def add_flag(conn: AsyncConnection, values: dict[str, Any]) -> bool:
    """False when this person has already flagged the review."""
    return await insert_ignore(conn, review_flags, values)


async def count_flag(conn: AsyncConnection, review_id: UUID, now: datetime) -> int | None:
    """Add one to a published review's flag count; its new count, or None if not published."""
    result = await conn.execute(
        update(reviews)
        .where(and_(reviews.c.review_id == str(review_id), reviews.c.status == "published"))
        .values(flag_count=reviews.c.flag_count + 1, updated_at=now)
    )
    if result.rowcount != 1:
        return None
    count = (
        await conn.execute(
            select(reviews.c.flag_count).where(reviews.c.review_id == str(review_id))
        )
    ).scalar()
    return int(count or 0)


async def add_vote(
    conn: AsyncConnection, review_id: UUID, customer_id: UUID, now: datetime
) -> bool:
    added = await insert_ignore(
        conn,
        review_votes,
        {
            "vote_id": str(uuid.uuid4()),
            "review_id": str(review_id),
            "customer_id": str(customer_id),
            "voted_at": now,
        },
    )
    if added:
        await _bump_helpful(conn, review_id, +1, now)
    return added


async def remove_vote(
    conn: AsyncConnection, review_id: UUID, customer_id: UUID, now: datetime
) -> bool:
    result = await conn.execute(
        delete(review_votes).where(
            and_(
                review_votes.c.review_id == str(review_id),
                review_votes.c.customer_id == str(customer_id),
            )
        )
    )
    removed = result.rowcount == 1
    if removed:
        await _bump_helpful(conn, review_id, -1, now)
    return removed


async def _bump_helpful(conn: AsyncConnection, review_id: UUID, by: int, now: datetime) -> None:
    await conn.execute(
        update(reviews)
        .where(reviews.c.review_id == str(review_id))
        .values(helpful_count=reviews.c.helpful_count + by, updated_at=now)
    )


# -- rating-cache -----------------------------------------------------------------------------


async def summary(conn: AsyncConnection, product_id: UUID) -> Summary | None:
    row = (
        await conn.execute(
            select(rating_summaries.c.rating_sum, rating_summaries.c.review_count).where(
                rating_summaries.c.product_id == str(product_id)
            )
        )
    ).first()
    return Summary(row.rating_sum, row.review_count) if row else None


async def cache_is_empty(conn: AsyncConnection) -> bool:
    return (await conn.execute(select(rating_summaries.c.product_id).limit(1))).first() is None


async def count_contribution(
    conn: AsyncConnection, review_id: UUID, product_id: UUID, rating: int, now: datetime
) -> Summary | None:
    """Count a review's rating once; the product's new summary, or None if already counted."""
    counted = await insert_ignore(
        conn,
        rating_contributions,
        {
            "review_id": str(review_id),
            "product_id": str(product_id),
            "rating": rating,
            "counted_at": now,
        },
    )
    if not counted:
        return None
    return await _change_summary(conn, product_id, rating, +1, now)


async def withdraw_contribution(
    conn: AsyncConnection, review_id: UUID, now: datetime
) -> tuple[UUID, Summary] | None:
    """Take a counted review out; (product, new summary), or None if it was never counted."""
    row = (
        await conn.execute(
            select(rating_contributions.c.product_id, rating_contributions.c.rating).where(
                rating_contributions.c.review_id == str(review_id)
            )
        )
    ).first()
    if row is None:
        return None
    result = await conn.execute(
        delete(rating_contributions).where(rating_contributions.c.review_id == str(review_id))
    )
    if result.rowcount != 1:
        return None
    product_id = UUID(row.product_id)
    return product_id, await _change_summary(conn, product_id, row.rating, -1, now)


async def _change_summary(
    conn: AsyncConnection, product_id: UUID, rating: int, sign: int, now: datetime
) -> Summary:
    # Increment in SQL, then read back: the UPDATE holds the row lock until commit, so
    # concurrent changes to one product queue up instead of overwriting each other.
    await insert_ignore(
        conn,
        rating_summaries,
        {
            "product_id": str(product_id),
            "average_rating": 0,
            "review_count": 0,
            "rating_sum": 0,
            "updated_at": now,
        },
    )
    key = rating_summaries.c.product_id == str(product_id)
    await conn.execute(
        update(rating_summaries)
        .where(key)
        .values(
            rating_sum=rating_summaries.c.rating_sum + sign * rating,
            review_count=rating_summaries.c.review_count + sign,
        )
    )
    row = (
        await conn.execute(
            select(rating_summaries.c.rating_sum, rating_summaries.c.review_count).where(key)
        )
    ).one()
    after = Summary(row.rating_sum, row.review_count)
    await conn.execute(
        update(rating_summaries).where(key).values(average_rating=after.average, updated_at=now)
    )
    return after
