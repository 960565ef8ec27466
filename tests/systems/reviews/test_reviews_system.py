"""The `reviews` host on the real runtime: review-api over HTTP with its error codes, the
moderation worker's rules and take-down, the rating aggregator's math, redelivery."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.systems.harness import SystemHarness, running_system
from tests.systems.probes import FakeClock, eventually, sent, sent_once

GOOD = "Solid kettle, boils a litre in two minutes."


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def rv(nats_url: str, tmp_path: Path, clock: FakeClock) -> AsyncIterator[SystemHarness]:
    async with running_system(
        "reviews", data_dir=tmp_path, nats_url=nats_url, clock=clock
    ) as harness:
        yield harness


def review_body(product: uuid.UUID, customer: uuid.UUID, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "reviewId": str(uuid.uuid4()),
        "productId": str(product),
        "customerId": str(customer),
        "rating": 4,
        "title": "Does the job",
        "body": GOOD,
        "submittedAt": "2030-01-01T12:00:00Z",
    }
    body.update(changes)
    return body


async def submit(
    h: SystemHarness, product: uuid.UUID, customer: uuid.UUID, **changes: Any
) -> httpx.Response:
    body = review_body(product, customer, **changes)
    return await h.client.post(
        f"/products/{product}/reviews", json=body, headers=h.auth(str(customer))
    )


def for_review(review_id: str) -> Any:
    return lambda body: body.get("reviewId") == review_id


def for_product(product: uuid.UUID) -> Any:
    return lambda body: body.get("productId") == str(product)


async def status_of(h: SystemHarness, review_id: str) -> str | None:
    rows = await h.rows(
        "review-database",
        "SELECT status FROM reviews WHERE review_id = :r",
        r=uuid.UUID(review_id).hex,
    )
    return str(rows[0]["status"]) if rows else None


async def published_review(
    h: SystemHarness, product: uuid.UUID, rating: int = 4, body: str = GOOD
) -> tuple[str, uuid.UUID]:
    """Submit a review that passes moderation; wait until it is published. (id, author)"""
    customer = uuid.uuid4()
    response = await submit(h, product, customer, rating=rating, body=body)
    assert response.status_code == 202, response.text
    review_id = response.json()["reviewId"]
    await eventually(lambda: status_of(h, review_id), lambda s: s == "published")
    return review_id, customer


async def counted(h: SystemHarness, product: uuid.UUID, reviews: int) -> None:
    """Wait until the rating aggregator announced `reviews` counted reviews of `product`."""
    await h.published(
        "rating-updated", where=lambda b: for_product(product)(b) and b["reviewCount"] == reviews
    )


async def summary(h: SystemHarness, product: uuid.UUID) -> tuple[int, int] | None:
    rows = await h.rows(
        "rating-cache",
        "SELECT rating_sum, review_count FROM rating_summaries WHERE product_id = :p",
        p=product.hex,
    )
    return (rows[0]["rating_sum"], rows[0]["review_count"]) if rows else None


# -- submit-review --------------------------------------------------------------------------


async def test_submitted_review_is_moderated_published_and_rated(rv: SystemHarness) -> None:
    product, customer = uuid.uuid4(), uuid.uuid4()
    response = await submit(rv, product, customer, rating=5)
    assert response.status_code == 202
    body = response.json()
    review_id = body["reviewId"]
    assert (body["productId"], body["customerId"], body["rating"]) == (
        str(product),
        str(customer),
        5,
    )
    submitted = await sent_once(rv, "review-submitted", for_review(review_id))
    assert submitted.body["body"] == GOOD

    published = await sent_once(rv, "review-published", for_review(review_id))
    assert published.body["rating"] == 5
    assert published.body["customerId"] == str(customer)
    decisions = await rv.rows(
        "review-database",
        "SELECT outcome, reason FROM moderation_decisions WHERE review_id = :r",
        r=uuid.UUID(review_id).hex,
    )
    assert decisions == [{"outcome": "published", "reason": None}]

    rating = await sent_once(rv, "rating-updated", for_product(product))
    assert (rating.body["averageRating"], rating.body["reviewCount"]) == (5.0, 1)
    assert await summary(rv, product) == (5, 1)

    page = (await rv.client.get(f"/products/{product}/reviews")).json()
    assert page["total"] == 1
    assert (page["averageRating"], page["reviewCount"]) == (5.0, 1)
    assert page["reviews"][0]["reviewId"] == review_id
    assert page["reviews"][0]["helpfulCount"] == 0


@pytest.mark.parametrize(
    ("text_", "reason"),
    [
        ("Cheaper at https://elsewhere.example.test, trust me", "spam"),
        ("WORST KETTLE I HAVE EVER OWNED", "spam"),
        ("The seller is a total idiot, avoid", "abuse"),
        ("meh", "off_topic"),
    ],
)
async def test_moderation_rejects_by_the_documented_rules(
    rv: SystemHarness, text_: str, reason: str
) -> None:
    product = uuid.uuid4()
    response = await submit(rv, product, uuid.uuid4(), body=text_)
    assert response.status_code == 202
    review_id = response.json()["reviewId"]
    rejected = await sent_once(rv, "review-rejected", for_review(review_id))
    assert rejected.body["reason"] == reason
    assert await status_of(rv, review_id) == "rejected"
    await rv.quiet(0.3)
    assert not sent(rv, "review-published")
    assert not sent(rv, "rating-updated")  # never counted, nothing to take out
    page = (await rv.client.get(f"/products/{product}/reviews")).json()
    assert (page["total"], page["reviews"], page.get("averageRating")) == (0, [], None)


async def test_resubmitting_the_same_review_answers_again_and_sends_nothing(
    rv: SystemHarness,
) -> None:
    product, customer = uuid.uuid4(), uuid.uuid4()
    body = review_body(product, customer)
    headers = rv.auth(str(customer))
    first = await rv.client.post(f"/products/{product}/reviews", json=body, headers=headers)
    again = await rv.client.post(f"/products/{product}/reviews", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (202, 202)
    assert first.json() == again.json()
    await sent_once(rv, "review-published", for_review(body["reviewId"]))
    await rv.quiet(0.3)
    assert len(sent(rv, "review-submitted")) == 1

    changed = await rv.client.post(
        f"/products/{product}/reviews", json={**body, "rating": 1}, headers=headers
    )
    assert changed.status_code == 409
    assert changed.json()["code"] == "review_id_taken"


async def test_a_customer_reviews_a_product_once(rv: SystemHarness) -> None:
    product, customer = uuid.uuid4(), uuid.uuid4()
    assert (await submit(rv, product, customer)).status_code == 202
    second = await submit(rv, product, customer)
    assert second.status_code == 409
    assert second.json()["code"] == "already_reviewed"
    # Another product is fine.
    assert (await submit(rv, uuid.uuid4(), customer)).status_code == 202


async def test_submit_review_errors(rv: SystemHarness) -> None:
    product, customer = uuid.uuid4(), uuid.uuid4()
    url = f"/products/{product}/reviews"
    body = review_body(product, customer)
    mine = rv.auth(str(customer))

    assert (await rv.client.post(url, json=body)).status_code == 401
    other = await rv.client.post(url, json=body, headers=rv.auth(str(uuid.uuid4())))
    assert other.status_code == 403
    mismatch = await rv.client.post(
        url, json={**body, "productId": str(uuid.uuid4())}, headers=mine
    )
    assert mismatch.status_code == 400
    assert mismatch.json()["code"] == "path_body_mismatch"
    for bad in ({"rating": 6}, {"rating": 0}, {"body": "x" * 5001}, {"customerId": "nope"}):
        response = await rv.client.post(url, json={**body, **bad}, headers=mine)
        assert response.status_code == 422, bad
    not_uuid = await rv.client.post("/products/abc/reviews", json=body, headers=mine)
    assert not_uuid.status_code == 422
    await rv.quiet(0.2)
    assert not sent(rv, "review-submitted")


# -- flag-review and the take-down -----------------------------------------------------------


def flag_body(review_id: str, by: str, reason: str = "inappropriate") -> dict[str, Any]:
    return {
        "reviewId": review_id,
        "flaggedBy": by,
        "reason": reason,
        "flaggedAt": "2030-01-01T12:00:00Z",
    }


async def flag(h: SystemHarness, review_id: str, by: str | None = None) -> httpx.Response:
    by = by or str(uuid.uuid4())
    return await h.client.post(
        f"/reviews/{review_id}/flags", json=flag_body(review_id, by), headers=h.auth(by)
    )


async def test_three_flags_take_a_published_review_out_of_the_average(rv: SystemHarness) -> None:
    product = uuid.uuid4()
    # one review counted after the other, so the averages on the way up are known
    high, _ = await published_review(rv, product, rating=5)
    await counted(rv, product, 1)
    await published_review(rv, product, rating=4)
    await counted(rv, product, 2)
    await published_review(rv, product, rating=4)
    await counted(rv, product, 3)
    assert await summary(rv, product) == (13, 3)
    page = (await rv.client.get(f"/products/{product}/reviews")).json()
    assert (page["averageRating"], page["reviewCount"]) == (4.33, 3)

    for n in (1, 2):
        response = await flag(rv, high)
        assert response.status_code == 202
        assert response.json()["flagCount"] == n
    await rv.quiet(0.3)
    assert await status_of(rv, high) == "published"  # two flags change nothing

    third = await flag(rv, high)
    assert third.status_code == 202
    flagged = await sent_once(
        rv, "review-flagged", lambda b: for_review(high)(b) and b["flagCount"] == 3
    )
    assert flagged.body["productId"] == str(product)
    rejected = await sent_once(rv, "review-rejected", for_review(high))
    assert rejected.body["reason"] == "policy_violation"
    await eventually(lambda: summary(rv, product), lambda s: s == (8, 2))
    await rv.quiet(0.2)
    history = [
        (c.body["averageRating"], c.body["reviewCount"])
        for c in sent(rv, "rating-updated", for_product(product))
    ]
    assert history == [(5.0, 1), (4.5, 2), (4.33, 3), (4.0, 2)]
    decisions = await rv.rows(
        "review-database",
        "SELECT outcome, reason FROM moderation_decisions WHERE review_id = :r "
        "ORDER BY decided_at, outcome",
        r=uuid.UUID(high).hex,
    )
    assert [(d["outcome"], d["reason"]) for d in decisions] == [
        ("published", None),
        ("rejected", "policy_violation"),
    ]
    page = (await rv.client.get(f"/products/{product}/reviews")).json()
    assert page["total"] == 2
    assert high not in [r["reviewId"] for r in page["reviews"]]
    assert (page["averageRating"], page["reviewCount"]) == (4.0, 2)

    # The review is gone: further flags find nothing to flag.
    assert (await flag(rv, high)).status_code == 404


async def test_flag_review_errors(rv: SystemHarness) -> None:
    product = uuid.uuid4()
    review_id, _ = await published_review(rv, product)
    flagger = str(uuid.uuid4())
    url = f"/reviews/{review_id}/flags"
    body = flag_body(review_id, flagger)

    assert (await rv.client.post(url, json=body)).status_code == 401
    assert (
        await rv.client.post(url, json=body, headers=rv.auth(str(uuid.uuid4())))
    ).status_code == 403
    other = str(uuid.uuid4())
    mismatch = await rv.client.post(
        f"/reviews/{other}/flags", json=flag_body(review_id, flagger), headers=rv.auth(flagger)
    )
    assert mismatch.status_code == 400
    unknown = await rv.client.post(
        f"/reviews/{other}/flags", json=flag_body(other, flagger), headers=rv.auth(flagger)
    )
    assert unknown.status_code == 404
    bad_reason = await rv.client.post(
        url, json={**body, "reason": "boring"}, headers=rv.auth(flagger)
    )
    assert bad_reason.status_code == 422

    assert (await rv.client.post(url, json=body, headers=rv.auth(flagger))).status_code == 202
    twice = await rv.client.post(url, json=body, headers=rv.auth(flagger))
    assert twice.status_code == 409
    assert twice.json()["code"] == "already_flagged"

    # Staff flag with their own subject.
    staff = "staff-7"
    response = await rv.client.post(
        url, json=flag_body(review_id, staff), headers={
            "Authorization": f"Bearer {rv.token(staff, ('admin',))}"
        },
    )  # fmt: skip
    assert response.status_code == 202
    assert response.json()["flagCount"] == 2


async def test_unpublished_reviews_cannot_be_flagged_or_voted(rv: SystemHarness) -> None:
    product = uuid.uuid4()
    response = await submit(rv, product, uuid.uuid4(), body="bad")
    review_id = response.json()["reviewId"]
    await eventually(lambda: status_of(rv, review_id), lambda s: s == "rejected")
    assert (await flag(rv, review_id)).status_code == 404
    voter = uuid.uuid4()
    vote = await rv.client.post(
        f"/reviews/{review_id}/helpful",
        json=vote_body(review_id, voter, "helpful"),
        headers=rv.auth(str(voter)),
    )
    assert vote.status_code == 404


# -- vote-review-helpful ---------------------------------------------------------------------


def vote_body(review_id: str, voter: uuid.UUID, vote: str) -> dict[str, Any]:
    return {
        "reviewId": review_id,
        "customerId": str(voter),
        "vote": vote,
        "votedAt": "2030-01-01T12:00:00Z",
    }


async def test_helpful_votes_add_once_and_withdraw(rv: SystemHarness) -> None:
    product = uuid.uuid4()
    review_id, _ = await published_review(rv, product)
    voter = uuid.uuid4()
    url = f"/reviews/{review_id}/helpful"
    headers = rv.auth(str(voter))

    first = await rv.client.post(url, json=vote_body(review_id, voter, "helpful"), headers=headers)
    assert first.status_code == 200
    assert first.json()["helpfulCount"] == 1
    voted = await sent_once(rv, "review-helpful-voted", for_review(review_id))
    assert voted.body["helpfulCount"] == 1

    again = await rv.client.post(url, json=vote_body(review_id, voter, "helpful"), headers=headers)
    assert again.json()["helpfulCount"] == 1
    await rv.quiet(0.3)
    assert len(sent(rv, "review-helpful-voted")) == 1  # no change, no event

    second_voter = uuid.uuid4()
    response = await rv.client.post(
        url, json=vote_body(review_id, second_voter, "helpful"), headers=rv.auth(str(second_voter))
    )
    assert response.json()["helpfulCount"] == 2

    removed = await rv.client.post(url, json=vote_body(review_id, voter, "remove"), headers=headers)
    assert removed.status_code == 200
    assert removed.json()["helpfulCount"] == 1
    await rv.published("review-helpful-voted", count=3)
    page = (await rv.client.get(f"/products/{product}/reviews")).json()
    assert page["reviews"][0]["helpfulCount"] == 1


async def test_vote_errors(rv: SystemHarness) -> None:
    product = uuid.uuid4()
    review_id, author = await published_review(rv, product)
    voter = uuid.uuid4()
    url = f"/reviews/{review_id}/helpful"
    body = vote_body(review_id, voter, "helpful")

    assert (await rv.client.post(url, json=body)).status_code == 401
    assert (
        await rv.client.post(url, json=body, headers=rv.auth(str(uuid.uuid4())))
    ).status_code == 403
    own = await rv.client.post(
        url, json=vote_body(review_id, author, "helpful"), headers=rv.auth(str(author))
    )
    assert own.status_code == 403
    assert own.json()["code"] == "own_review"
    other = str(uuid.uuid4())
    mismatch = await rv.client.post(
        f"/reviews/{other}/helpful", json=body, headers=rv.auth(str(voter))
    )
    assert mismatch.status_code == 400
    unknown = await rv.client.post(
        f"/reviews/{other}/helpful",
        json=vote_body(other, voter, "helpful"),
        headers=rv.auth(str(voter)),
    )
    assert unknown.status_code == 404
    bad = await rv.client.post(url, json={**body, "vote": "love"}, headers=rv.auth(str(voter)))
    assert bad.status_code == 422
    await rv.quiet(0.2)
    assert not sent(rv, "review-helpful-voted")


# -- get-product-reviews ---------------------------------------------------------------------


async def test_reviews_page_paging_and_sort_orders(rv: SystemHarness, clock: FakeClock) -> None:
    product = uuid.uuid4()
    ids = {}
    for rating in (3, 5, 1, 4):
        review_id, _ = await published_review(rv, product, rating=rating)
        ids[rating] = review_id
        clock.advance(60)  # published a minute apart
    # Helpful votes on the 1-star review make it the most helpful.
    for _ in range(2):
        voter = uuid.uuid4()
        response = await rv.client.post(
            f"/reviews/{ids[1]}/helpful",
            json=vote_body(ids[1], voter, "helpful"),
            headers=rv.auth(str(voter)),
        )
        assert response.status_code == 200
    await eventually(lambda: summary(rv, product), lambda s: s == (13, 4))

    async def order(sort: str, **params: Any) -> list[str]:
        response = await rv.client.get(
            f"/products/{product}/reviews", params={"sort": sort, **params}
        )
        assert response.status_code == 200, response.text
        return [r["reviewId"] for r in response.json()["reviews"]]

    assert await order("highest") == [ids[5], ids[4], ids[3], ids[1]]
    assert await order("lowest") == [ids[1], ids[3], ids[4], ids[5]]
    assert (await order("most_helpful"))[0] == ids[1]
    assert await order("newest") == [ids[4], ids[1], ids[5], ids[3]]

    first = (
        await rv.client.get(
            f"/products/{product}/reviews", params={"sort": "highest", "pageSize": 3}
        )
    ).json()
    second = (
        await rv.client.get(
            f"/products/{product}/reviews", params={"sort": "highest", "pageSize": 3, "page": 2}
        )
    ).json()
    assert (first["total"], first["page"], first["pageSize"]) == (4, 1, 3)
    assert [r["reviewId"] for r in first["reviews"]] == [ids[5], ids[4], ids[3]]
    assert [r["reviewId"] for r in second["reviews"]] == [ids[1]]
    assert (first["averageRating"], first["reviewCount"]) == (3.25, 4)
    beyond = await order("highest", page=9)
    assert beyond == []


async def test_reviews_page_validation_and_empty_product(rv: SystemHarness) -> None:
    product = uuid.uuid4()
    empty = await rv.client.get(f"/products/{product}/reviews")
    assert empty.status_code == 200
    assert empty.json() == {
        "productId": str(product),
        "page": 1,
        "pageSize": 20,
        "total": 0,
        "reviews": [],
    }
    for params in ({"pageSize": 0}, {"pageSize": 101}, {"page": 0}, {"sort": "random"}):
        response = await rv.client.get(f"/products/{product}/reviews", params=params)
        assert response.status_code == 422, params
    assert (await rv.client.get("/products/not-a-uuid/reviews")).status_code == 422


# -- messages delivered directly --------------------------------------------------------------


async def test_redelivered_review_submitted_is_not_screened_again(rv: SystemHarness) -> None:
    product = uuid.uuid4()
    review_id, _ = await published_review(rv, product)
    submitted = await sent_once(rv, "review-submitted", for_review(review_id))
    await rv.deliver("review-submitted", submitted.body)
    await rv.quiet(0.4)
    decisions = await rv.rows(
        "review-database",
        "SELECT outcome FROM moderation_decisions WHERE review_id = :r",
        r=uuid.UUID(review_id).hex,
    )
    assert len(decisions) == 1
    assert len(sent(rv, "review-published")) == 1


async def test_review_flagged_below_the_threshold_changes_nothing(rv: SystemHarness) -> None:
    product = uuid.uuid4()
    review_id, _ = await published_review(rv, product)
    # The event claims three flags, but the stored count (0) is what counts.
    await rv.deliver(
        "review-flagged",
        {
            "reviewId": review_id,
            "productId": str(product),
            "reason": "spam",
            "flagCount": 3,
            "flaggedAt": "2030-01-01T12:00:00Z",
        },
    )
    await rv.quiet(0.4)
    assert await status_of(rv, review_id) == "published"
    assert not sent(rv, "review-rejected")


def published_event(review_id: uuid.UUID, product: uuid.UUID, rating: int) -> dict[str, Any]:
    return {
        "reviewId": str(review_id),
        "productId": str(product),
        "rating": rating,
        "publishedAt": "2030-01-01T12:00:00Z",
    }


def rejected_event(review_id: uuid.UUID, product: uuid.UUID, reason: str) -> dict[str, Any]:
    return {
        "reviewId": str(review_id),
        "productId": str(product),
        "reason": reason,
        "rejectedAt": "2030-01-01T13:00:00Z",
    }


async def test_rating_math_on_published_and_rejected_events(rv: SystemHarness) -> None:
    product = uuid.uuid4()
    reviews = [uuid.uuid4() for _ in range(3)]
    for review_id, rating in zip(reviews, (2, 3, 5), strict=True):
        await rv.deliver("review-published", published_event(review_id, product, rating))
    updates = await rv.published(
        "rating-updated", where=lambda b: for_product(product)(b) and b["reviewCount"] == 3
    )
    assert updates[-1].body["averageRating"] == 3.33
    # Redelivered publication: counted once.
    await rv.deliver("review-published", published_event(reviews[0], product, 2))
    await rv.quiet(0.3)
    assert await summary(rv, product) == (10, 3)
    assert len(sent(rv, "rating-updated", for_product(product))) == 3

    # Rejected at first screening (never counted): nothing changes.
    await rv.deliver("review-rejected", rejected_event(uuid.uuid4(), product, "spam"))
    await rv.quiet(0.3)
    assert len(sent(rv, "rating-updated", for_product(product))) == 3

    # A counted review taken down leaves the average. The three publications may be counted
    # in any order (consumers run side by side), so the way up passed a count of 2 already,
    # with an average that depends on which two came first: wait for the second count of 2.
    await rv.deliver("review-rejected", rejected_event(reviews[2], product, "policy_violation"))
    after = await rv.published(
        "rating-updated",
        where=lambda b: for_product(product)(b) and b["reviewCount"] == 2,
        count=2,
    )
    assert len(after) == 2
    assert after[-1].body["averageRating"] == 2.5
    for review_id in reviews[:2]:
        await rv.deliver("review-rejected", rejected_event(review_id, product, "policy_violation"))
    last = await rv.published(
        "rating-updated", where=lambda b: for_product(product)(b) and b["reviewCount"] == 0
    )
    assert last[-1].body["averageRating"] == 0.0
    assert await summary(rv, product) == (0, 0)


async def insert_review(h: SystemHarness, product: uuid.UUID, rating: int, status: str) -> str:
    review_id = uuid.uuid4()
    async with h.app.store("review-database").begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO reviews (review_id, product_id, customer_id, rating, body, status, "
                "submitted_at, published_at) VALUES (:r, :p, :c, :rating, 'fine kettle indeed', "
                ":s, '2030-01-01 10:00:00', '2030-01-01 10:00:00')"
            ),
            {"r": review_id.hex, "p": product.hex, "c": uuid.uuid4().hex, "rating": rating,
             "s": status},
        )  # fmt: skip
    return str(review_id)


async def test_an_empty_cache_is_rebuilt_from_published_reviews(rv: SystemHarness) -> None:
    product = uuid.uuid4()
    await insert_review(rv, product, 5, "published")
    await insert_review(rv, product, 3, "published")
    await insert_review(rv, product, 1, "rejected")
    assert await rv.rows("rating-cache", "SELECT * FROM rating_summaries") == []

    other = uuid.uuid4()
    await rv.deliver("review-published", published_event(uuid.uuid4(), other, 4))
    rebuilt = await rv.published(
        "rating-updated", where=lambda b: for_product(product)(b) and b["reviewCount"] == 2
    )
    assert rebuilt[-1].body["averageRating"] == 4.0
    await rv.published("rating-updated", where=for_product(other))
    assert await summary(rv, product) == (8, 2)
    assert await summary(rv, other) == (4, 1)


async def test_a_publication_overtaken_by_its_rejection_is_not_counted(
    rv: SystemHarness,
) -> None:
    product = uuid.uuid4()
    # Seed the cache so no rebuild interferes, then a review already rejected in the database.
    await rv.deliver("review-published", published_event(uuid.uuid4(), uuid.uuid4(), 3))
    await rv.published("rating-updated")
    review_id = await insert_review(rv, product, 5, "rejected")
    await rv.deliver("review-rejected", rejected_event(uuid.UUID(review_id), product, "spam"))
    await rv.deliver("review-published", published_event(uuid.UUID(review_id), product, 5))
    await rv.quiet(0.5)
    assert await summary(rv, product) is None
    assert not sent(rv, "rating-updated", for_product(product))
