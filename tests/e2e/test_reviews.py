"""review-submission end to end: shoppers review a product, moderation decides, ratings follow.

Review API stores the review (review-database) and announces it; the moderation worker
publishes or rejects it; the rating aggregator keeps the product's summary (rating-cache) and
announces it to search (search-index). Flags taken to the threshold send a published review
through moderation again, and its rating leaves the average.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from acme.client import AcmeClient, ApiError, FlagReason
from benchmarks.embedded import RunningPlatform

from .helpers import E2E, ShopperSession, eventually, key, norm, one, register_shopper, rows

pytestmark = E2E


def review_row(platform: RunningPlatform, review_id: uuid.UUID) -> dict[str, Any]:
    with platform.store("review-database") as conn:
        return one(
            conn,
            "SELECT status, rating, flag_count, helpful_count, published_at, rejected_at "
            f"FROM reviews WHERE {norm('review_id')} = ?",
            key(review_id),
        )


def decisions(platform: RunningPlatform, review_id: uuid.UUID) -> list[tuple[str, str | None]]:
    with platform.store("review-database") as conn:
        found = rows(
            conn,
            "SELECT outcome, reason FROM moderation_decisions "
            f"WHERE {norm('review_id')} = ? ORDER BY decided_at",
            key(review_id),
        )
    return [(r["outcome"], r["reason"]) for r in found]


def summary(platform: RunningPlatform, product_id: uuid.UUID) -> tuple[float, int, int]:
    """(average, count, sum) in rating-cache."""
    with platform.store("rating-cache") as conn:
        row = one(
            conn,
            "SELECT average_rating, review_count, rating_sum FROM rating_summaries "
            f"WHERE {norm('product_id')} = ?",
            key(product_id),
        )
    return float(row["average_rating"]), int(row["review_count"]), int(row["rating_sum"])


def counted(platform: RunningPlatform, product_id: uuid.UUID) -> set[str]:
    """Reviews whose rating is in the product's average (rating-cache contributions)."""
    with platform.store("rating-cache") as conn:
        found = rows(
            conn,
            f"SELECT review_id FROM rating_contributions WHERE {norm('product_id')} = ?",
            key(product_id),
        )
    return {key(r["review_id"]) for r in found}


def search_rating(platform: RunningPlatform, product_id: uuid.UUID) -> tuple[float, int]:
    with platform.store("search-index") as conn:
        row = one(
            conn,
            "SELECT average_rating, review_count FROM product_ratings "
            f"WHERE {norm('product_id')} = ?",
            key(product_id),
        )
    return float(row["average_rating"]), int(row["review_count"])


async def submit(who: ShopperSession, product_id: uuid.UUID, rating: int, body: str) -> uuid.UUID:
    accepted = await who.client.submit_review(
        product_id, who.customer_id, rating=rating, body=body, title=f"{rating} stars"
    )
    assert (accepted.product_id, accepted.customer_id) == (product_id, who.customer_id)
    return accepted.review_id


async def test_reviews_are_moderated_rated_and_taken_down_by_flags(
    platform: RunningPlatform, admin: AcmeClient, acme: AcmeClient
) -> None:
    word = f"zq{uuid.uuid4().hex[:10]}"
    product = await admin.create_product(sku=f"KETTLE-{word}", name=f"{word} kettle", price=3200)
    assert product.product_id is not None
    product_id = product.product_id
    ann, bob, cat, dan = [await register_shopper(acme, name) for name in "ABCD"]

    ann_review = await submit(ann, product_id, 5, "Boils fast and the handle stays cool.")
    bob_review = await submit(bob, product_id, 2, "The lid rattles and it is loud at night.")
    # Rule 1 of the moderation policy: a link makes it spam.
    spam = await submit(cat, product_id, 1, "Cheaper kettles at http://deals.example today")

    # Published and rejected; the summary counts the two published ratings only.
    async def moderated() -> None:
        assert review_row(platform, ann_review)["status"] == "published"
        assert review_row(platform, bob_review)["status"] == "published"
        assert review_row(platform, spam)["status"] == "rejected"
        assert summary(platform, product_id) == (3.5, 2, 7)
        assert search_rating(platform, product_id) == (3.5, 2)

    await eventually(moderated)
    assert decisions(platform, spam) == [("rejected", "spam")]
    assert decisions(platform, ann_review) == [("published", None)]
    assert counted(platform, product_id) == {key(ann_review), key(bob_review)}
    page = await acme.product_reviews(product_id, sort="highest")
    assert [r.review_id for r in page.reviews] == [ann_review, bob_review]
    assert (page.total, page.average_rating, page.review_count) == (2, 3.5, 2)
    [hit] = (await acme.search(word)).results or []
    assert (hit.product_id, hit.average_rating, hit.review_count) == (product_id, 3.5, 2)

    # A helpful vote counts once per shopper.
    voted = await dan.client.vote_review_helpful(ann_review, dan.customer_id)
    again = await dan.client.vote_review_helpful(ann_review, dan.customer_id)
    assert (voted.helpful_count, again.helpful_count) == (1, 1)
    assert review_row(platform, ann_review)["helpful_count"] == 1

    # Three flags take Bob's review down: re-moderated, rejected, out of the average.
    reasons: list[tuple[ShopperSession, FlagReason]] = [
        (ann, "abuse"),
        (cat, "off_topic"),
        (dan, "inappropriate"),
    ]
    flags = [
        await who.client.flag_review(bob_review, str(who.customer_id), reason)
        for who, reason in reasons
    ]
    assert [f.flag_count for f in flags] == [1, 2, 3]

    async def taken_down() -> None:
        assert review_row(platform, bob_review)["status"] == "rejected"
        assert summary(platform, product_id) == (5.0, 1, 5)
        assert search_rating(platform, product_id) == (5.0, 1)

    await eventually(taken_down)
    bob_row = review_row(platform, bob_review)
    assert bob_row["flag_count"] == 3 and bob_row["rejected_at"] is not None
    assert decisions(platform, bob_review) == [
        ("published", None),
        ("rejected", "policy_violation"),
    ]
    assert counted(platform, product_id) == {key(ann_review)}
    with platform.store("review-database") as conn:
        flaggers = rows(
            conn,
            f"SELECT flagged_by, reason FROM review_flags WHERE {norm('review_id')} = ?",
            key(bob_review),
        )
    assert sorted((f["flagged_by"], f["reason"]) for f in flaggers) == sorted(
        [
            (str(ann.customer_id), "abuse"),
            (str(cat.customer_id), "off_topic"),
            (str(dan.customer_id), "inappropriate"),
        ]
    )

    # What shoppers see now: Ann's review alone, with the new average, here and in search.
    page = await acme.product_reviews(product_id)
    assert [(r.review_id, r.helpful_count) for r in page.reviews] == [(ann_review, 1)]
    assert (page.total, page.average_rating, page.review_count) == (1, 5.0, 1)
    [hit] = (await acme.search(word)).results or []
    assert (hit.average_rating, hit.review_count) == (5.0, 1)
    # A rejected review cannot be flagged or voted on any more.
    with pytest.raises(ApiError) as gone:
        await bob.client.flag_review(bob_review, str(bob.customer_id), "other")
    assert gone.value.status == 404
    with pytest.raises(ApiError) as spam_gone:
        await dan.client.vote_review_helpful(spam, dan.customer_id)
    assert spam_gone.value.status == 404
