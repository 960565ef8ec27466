"""HTTP operations of review-api (implements ReviewApiHttpHandlers)."""

from __future__ import annotations

import uuid
from typing import Literal
from uuid import UUID

from acme.runtime import SystemApp
from acme.systems.reviews import store
from acme.systems.reviews.domain import Submission
from generated.http.review_api_models import ProductReviewsPage, PublishedReview
from generated.messages.flag_review import FlagReview
from generated.messages.review_flagged import ReviewFlagged
from generated.messages.review_helpful_voted import ReviewHelpfulVoted
from generated.messages.review_submitted import ReviewSubmitted
from generated.messages.submit_review import SubmitReview
from generated.messages.vote_review_helpful import VoteReviewHelpful
from generated.services.review_api import ReviewApiPublisher
from generator.contracts import ApiError, RequestContext

SERVICE = "review-api"
MAX_OFFSET = 1_000_000  # deeper pages are empty; only the total is asked for


def _same(subject: str | None, expected: UUID) -> bool:
    try:
        return subject is not None and UUID(subject) == expected
    except ValueError:
        return False  # a subject that is not a UUID is nobody's customer id


def _path_matches(path_id: str, body_id: UUID, name: str) -> None:
    if UUID(path_id) != body_id:
        raise ApiError(
            400, "path_body_mismatch", f"{name} in the path ({path_id}) differs from the body's"
        )


def _not_found(review_id: str) -> ApiError:
    return ApiError(404, "not_found", f"review {review_id} does not exist or is not published")


def _submitted(r: store.Review) -> ReviewSubmitted:
    return ReviewSubmitted(
        review_id=r.review_id,
        product_id=r.product_id,
        customer_id=r.customer_id,
        rating=r.rating,
        title=r.title,
        body=r.body,
        submitted_at=r.submitted_at,
    )


class ReviewApiHttp:
    def __init__(self, app: SystemApp) -> None:
        self._app = app

    async def submit_review(
        self, product_id: str, body: SubmitReview, request: RequestContext
    ) -> ReviewSubmitted:
        _path_matches(product_id, body.product_id, "productId")
        if not _same(request.subject, body.customer_id):
            raise ApiError(403, "forbidden", "customerId must be the signed-in customer")
        wanted = Submission(
            str(body.product_id), str(body.customer_id), body.rating, body.title, body.body
        )
        async with self._app.transaction(SERVICE, correlation_id=request.correlation_id) as tx:
            now = tx.now()
            stored = await store.insert_review(
                tx.conn,
                {
                    "review_id": str(body.review_id),
                    "product_id": str(body.product_id),
                    "customer_id": str(body.customer_id),
                    "rating": body.rating,
                    "title": body.title,
                    "body": body.body,
                    "status": "submitted",
                    "submitted_at": now,
                    "updated_at": now,
                },
            )
            if not stored:
                existing = await store.review(tx.conn, body.review_id)
                if existing is not None:
                    same = Submission(
                        str(existing.product_id),
                        str(existing.customer_id),
                        existing.rating,
                        existing.title,
                        existing.body,
                    )
                    if same == wanted:
                        return _submitted(existing)  # resubmitted: same answer, nothing sent
                    raise ApiError(
                        409, "review_id_taken", f"review {body.review_id} exists with other content"
                    )
                raise ApiError(
                    409,
                    "already_reviewed",
                    f"customer {body.customer_id} has already reviewed product {body.product_id}",
                )
            review = await store.review(tx.conn, body.review_id)
            assert review is not None  # inserted above, same transaction
            event = _submitted(review)
            await tx.publisher(ReviewApiPublisher).review_submitted(
                event, key=str(review.review_id)
            )
            return event

    async def flag_review(
        self, review_id: str, body: FlagReview, request: RequestContext
    ) -> ReviewFlagged:
        _path_matches(review_id, body.review_id, "reviewId")
        if request.subject is None or body.flagged_by != request.subject:
            raise ApiError(403, "forbidden", "flaggedBy must be the signed-in user")
        async with self._app.transaction(SERVICE, correlation_id=request.correlation_id) as tx:
            review = await store.review(tx.conn, body.review_id)
            if review is None or review.status != "published":
                raise _not_found(review_id)
            now = tx.now()
            added = await store.add_flag(
                tx.conn,
                {
                    "flag_id": str(uuid.uuid4()),
                    "review_id": str(body.review_id),
                    "flagged_by": body.flagged_by,
                    "reason": body.reason,
                    "notes": body.notes,
                    "flagged_at": now,
                },
            )
            if not added:
                raise ApiError(
                    409, "already_flagged", f"you have already flagged review {review_id}"
                )
            count = await store.count_flag(tx.conn, body.review_id, now)
            if count is None:
                raise _not_found(review_id)  # taken down meanwhile; the flag rolls back
            event = ReviewFlagged(
                review_id=review.review_id,
                product_id=review.product_id,
                reason=body.reason,
                flag_count=count,
                flagged_at=now,
            )
            await tx.publisher(ReviewApiPublisher).review_flagged(event)
            return event

    async def vote_review_helpful(
        self, review_id: str, body: VoteReviewHelpful, request: RequestContext
    ) -> ReviewHelpfulVoted:
        _path_matches(review_id, body.review_id, "reviewId")
        if not _same(request.subject, body.customer_id):
            raise ApiError(403, "forbidden", "customerId must be the signed-in customer")
        async with self._app.transaction(SERVICE, correlation_id=request.correlation_id) as tx:
            review = await store.review(tx.conn, body.review_id)
            if review is None or review.status != "published":
                raise _not_found(review_id)
            if review.customer_id == body.customer_id:
                raise ApiError(403, "own_review", "you cannot vote on your own review")
            now = tx.now()
            if body.vote == "helpful":
                changed = await store.add_vote(tx.conn, review.review_id, body.customer_id, now)
            else:
                changed = await store.remove_vote(tx.conn, review.review_id, body.customer_id, now)
            after = await store.review(tx.conn, review.review_id)
            assert after is not None
            event = ReviewHelpfulVoted(
                review_id=review.review_id,
                product_id=review.product_id,
                helpful_count=after.helpful_count,
                updated_at=now,
            )
            if changed:  # a repeated vote (or withdrawing none) changes and announces nothing
                await tx.publisher(ReviewApiPublisher).review_helpful_voted(event)
            return event

    async def get_product_reviews(
        self,
        product_id: str,
        page: int,
        page_size: int,
        sort: Literal["newest", "highest", "lowest", "most_helpful"],
        request: RequestContext,
    ) -> ProductReviewsPage:
        product = UUID(product_id)
        # An offset past any real page would also overflow the database's integer (page has
        # no upper bound in the catalog): ask for no rows, just the total.
        deep = (page - 1) * page_size > MAX_OFFSET
        async with self._app.store("review-database").connect() as conn:
            total, found = await store.published_page(
                conn,
                product,
                page=1 if deep else page,
                page_size=0 if deep else page_size,
                sort=sort,
            )
        async with self._app.store("rating-cache").connect() as conn:
            summary = await store.summary(conn, product)
        return ProductReviewsPage(
            product_id=product,
            page=page,
            page_size=page_size,
            total=total,
            average_rating=float(summary.average) if summary else None,
            review_count=summary.count if summary else None,
            reviews=[
                PublishedReview(
                    review_id=r.review_id,
                    customer_id=r.customer_id,
                    rating=r.rating,
                    title=r.title,
                    body=r.body,
                    helpful_count=r.helpful_count,
                    published_at=r.published_at or r.submitted_at,
                )
                for r in found
            ],
        )
