"""Message handlers of review-moderation-worker and rating-aggregator."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from acme.runtime import PermanentFailure, SystemApp, Tx, current
from acme.systems.reviews import domain, store
from acme.systems.reviews.domain import Summary
from generated.messages.rating_updated import RatingUpdated
from generated.messages.review_flagged import ReviewFlagged
from generated.messages.review_published import ReviewPublished
from generated.messages.review_rejected import ReviewRejected
from generated.messages.review_submitted import ReviewSubmitted
from generated.services.rating_aggregator import RatingAggregatorPublisher
from generated.services.review_moderation_worker import ReviewModerationWorkerPublisher
from generator.contracts import MessageContext


class ReviewModerationWorker:
    """Screens submitted reviews, takes down over-flagged ones (ReviewModerationWorkerHandlers)."""

    def __init__(self, blocklist: Iterable[str]) -> None:
        self._blocklist = frozenset(blocklist)

    async def on_review_submitted(self, message: ReviewSubmitted, context: MessageContext) -> None:
        tx = current()
        review = await store.review(tx.conn, message.review_id)
        if review is None:
            # review-api stores the review in the transaction that sends this event.
            raise PermanentFailure(f"review {message.review_id} is not in review-database")
        if review.status != "submitted":
            return  # decided already: the same review always gets the same decision
        decision = domain.moderate(review.body, self._blocklist)
        now = tx.now()
        if not await store.decide(
            tx.conn,
            review.review_id,
            from_status="submitted",
            outcome=decision.outcome,
            reason=decision.reason,
            now=now,
        ):
            return
        publisher = tx.publisher(ReviewModerationWorkerPublisher)
        key = f"{review.review_id}:screening"
        if decision.outcome == "published":
            await publisher.review_published(
                ReviewPublished(
                    review_id=review.review_id,
                    product_id=review.product_id,
                    customer_id=review.customer_id,
                    rating=review.rating,
                    published_at=now,
                ),
                key=key,
            )
        else:
            assert decision.reason is not None  # every rejection names its rule
            await publisher.review_rejected(
                ReviewRejected(
                    review_id=review.review_id,
                    product_id=review.product_id,
                    reason=decision.reason,
                    rejected_at=now,
                ),
                key=key,
            )

    async def on_review_flagged(self, message: ReviewFlagged, context: MessageContext) -> None:
        tx = current()
        review = await store.review(tx.conn, message.review_id)
        if review is None:
            raise PermanentFailure(f"flagged review {message.review_id} is not in review-database")
        # The stored count is the truth (events may be late); the threshold fires once,
        # because the review leaves `published`.
        if not domain.takes_down(review.status, review.flag_count):
            return
        now = tx.now()
        if not await store.decide(
            tx.conn,
            review.review_id,
            from_status="published",
            outcome="rejected",
            reason="policy_violation",
            now=now,
        ):
            return
        await tx.publisher(ReviewModerationWorkerPublisher).review_rejected(
            ReviewRejected(
                review_id=review.review_id,
                product_id=review.product_id,
                reason="policy_violation",
                rejected_at=now,
            ),
            key=f"{review.review_id}:takedown",
        )


def _rating_updated(product_id: UUID, summary: Summary, now: datetime) -> RatingUpdated:
    return RatingUpdated(
        product_id=product_id,
        average_rating=float(summary.average),
        review_count=summary.count,
        updated_at=now,
    )


class RatingAggregator:
    """Keeps rating summaries in rating-cache (RatingAggregatorHandlers)."""

    def __init__(self, app: SystemApp) -> None:
        self._app = app

    async def _rebuild_if_empty(self, tx: Tx) -> None:
        """A fresh cache is rebuilt from the published reviews before any event is applied."""
        if not await store.cache_is_empty(tx.conn):
            return
        async with self._app.store("review-database").connect() as conn:
            published = await store.published_ratings(conn)
        now = tx.now()
        changed: dict[UUID, Summary] = {}
        for review_id, product_id, rating in published:
            after = await store.count_contribution(tx.conn, review_id, product_id, rating, now)
            if after is not None:
                changed[product_id] = after
        publisher = tx.publisher(RatingAggregatorPublisher)
        for product_id, summary in changed.items():
            await publisher.rating_updated(_rating_updated(product_id, summary, now))

    async def _review_status(self, review_id: UUID) -> str | None:
        async with self._app.store("review-database").connect() as conn:
            return await store.review_status(conn, review_id)

    async def on_review_published(self, message: ReviewPublished, context: MessageContext) -> None:
        tx = current()
        await self._rebuild_if_empty(tx)
        # Published and rejected travel on different subjects: if the rejection overtook
        # this event, review-database already says so and the review must not be counted.
        status = await self._review_status(message.review_id)
        if status is not None and status != "published":
            return
        now = tx.now()
        after = await store.count_contribution(
            tx.conn, message.review_id, message.product_id, message.rating, now
        )
        if after is None:
            return  # counted already
        await tx.publisher(RatingAggregatorPublisher).rating_updated(
            _rating_updated(message.product_id, after, now)
        )

    async def on_review_rejected(self, message: ReviewRejected, context: MessageContext) -> None:
        tx = current()
        await self._rebuild_if_empty(tx)
        now = tx.now()
        withdrawn = await store.withdraw_contribution(tx.conn, message.review_id, now)
        if withdrawn is None:
            return  # rejected at first screening: never counted
        product_id, after = withdrawn
        await tx.publisher(RatingAggregatorPublisher).rating_updated(
            _rating_updated(product_id, after, now)
        )
