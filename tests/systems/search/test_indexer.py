"""search-indexer: every message it receives, and an index that stays right under updates,
deletes, redelivery and reordering."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest

from tests.systems.harness import SystemHarness, running_system
from tests.systems.search.helpers import (
    at,
    created,
    deleted,
    handled,
    index,
    names,
    product,
    search,
    updated,
    wait_for,
)

DOC = "SELECT name, price_cents, status, category FROM search_documents"


@pytest.fixture
async def system(tmp_path: Path, nats_url: str) -> AsyncIterator[SystemHarness]:
    # Patient retries: an update that overtakes its create must survive until the create lands.
    async with running_system(
        "search-system",
        data_dir=tmp_path,
        nats_url=nats_url,
        max_attempts=8,
        retry_base_delay=0.1,
        retry_max_delay=0.5,
    ) as h:
        yield h


async def test_product_created_writes_a_searchable_document(system: SystemHarness) -> None:
    shoe = product(
        name="Trail shoe",
        description="Grippy sole for muddy paths",
        category="shoes",
        price=8999,
        variants=[
            {
                "variantId": "6d1f0a43-3d9c-4a39-9a0e-1f0a4c1c2b11",
                "sku": "TS-42",
                "attributes": {"size": "42", "colour": "teal"},
            }
        ],
    )
    await system.deliver("product-created", created(shoe))
    rows = await wait_for(
        system,
        DOC,
        [{"name": "Trail shoe", "price_cents": 8999, "status": "ACTIVE", "category": "shoes"}],
    )
    assert rows
    [doc] = await system.rows(
        "search-index", "SELECT document_id, searchable_text FROM search_documents"
    )
    assert doc["document_id"] == f"product:{shoe['productId']}"
    for word in ("Trail shoe", shoe["sku"], "shoes", "muddy", "TS-42", "teal"):
        assert word in doc["searchable_text"]
    page = await search(system, query="teal")  # a variant attribute finds the product
    assert page["results"][0]["productId"] == shoe["productId"]
    assert page["results"][0]["price"] == 8999


async def test_product_updated_applies_changed_fields_and_rebuilds_the_text(
    system: SystemHarness,
) -> None:
    item = product(name="Canvas bag", price=2500)
    await index(system, item)
    await system.deliver("product-updated", updated(item["productId"], 10, name="Leather satchel"))
    await wait_for(
        system,
        DOC,
        [{"name": "Leather satchel", "price_cents": 2500, "status": "ACTIVE", "category": "misc"}],
    )
    assert names(await search(system, query="satchel")) == ["Leather satchel"]
    assert (await search(system, query="canvas"))["total"] == 0


async def test_product_deleted_removes_the_document_and_leaves_a_tombstone(
    system: SystemHarness,
) -> None:
    item = product(name="Doomed lamp")
    await index(system, item)
    await system.deliver("product-deleted", deleted(item["productId"], 5))
    await wait_for(system, "SELECT count(*) AS n FROM search_documents", [{"n": 0}])
    assert len(await system.rows("search-index", "SELECT product_id FROM deleted_products")) == 1
    assert (await search(system, query="lamp"))["total"] == 0


async def test_the_same_message_twice_changes_nothing(system: SystemHarness) -> None:
    item = product(name="Desk", price=10000)
    event = created(item)
    wire_id = await system.deliver("product-created", event)
    await wait_for(system, "SELECT count(*) AS n FROM search_documents", [{"n": 1}])
    [before] = await system.rows(
        "search-index", "SELECT indexed_at, field_event_times FROM search_documents"
    )
    # Same message id: the inbox drops it. Same event under a new id: nothing is newer.
    await system.deliver("product-created", event, id=wire_id)
    await system.deliver("product-created", event)
    await handled(system, 2)
    await system.quiet(0.3)
    [after] = await system.rows(
        "search-index", "SELECT indexed_at, field_event_times FROM search_documents"
    )
    assert after == before
    assert (await search(system, query="desk"))["total"] == 1


async def test_an_older_update_after_a_newer_one_does_not_roll_back(system: SystemHarness) -> None:
    item = product(name="Lamp", price=1000)
    await index(system, item)
    pid = item["productId"]
    await system.deliver("product-updated", updated(pid, 20, price=3000))
    await wait_for(system, "SELECT price_cents FROM search_documents", [{"price_cents": 3000}])
    # Older: its price is stale, but its name was never changed later, so the name applies.
    await system.deliver("product-updated", updated(pid, 10, price=2000, name="Desk lamp"))
    await wait_for(
        system,
        "SELECT name, price_cents FROM search_documents",
        [{"name": "Desk lamp", "price_cents": 3000}],
    )
    await system.quiet(0.2)
    assert await system.rows("search-index", "SELECT price_cents FROM search_documents") == [
        {"price_cents": 3000}
    ]
    [doc] = await system.rows("search-index", "SELECT source_event_at FROM search_documents")
    assert doc["source_event_at"] == datetime.fromisoformat(at(20))


async def test_events_after_a_delete_do_not_resurrect_the_product(system: SystemHarness) -> None:
    item = product(name="Ghost chair")
    await index(system, item)
    pid = item["productId"]
    await system.deliver("product-deleted", deleted(pid, 30))
    await wait_for(system, "SELECT count(*) AS n FROM search_documents", [{"n": 0}])
    await system.deliver("product-updated", updated(pid, 10, name="Ghost chair v2"))
    await system.deliver("product-created", created(item))  # redelivered create
    await system.deliver(
        "product-updated", updated(pid, 40, **{k: v for k, v in item.items() if k != "productId"})
    )
    await handled(system, 5)
    await system.quiet(0.3)
    assert await system.rows("search-index", "SELECT name FROM search_documents") == []


async def test_a_delete_before_the_create_still_wins(system: SystemHarness) -> None:
    item = product(name="Phantom")
    await system.deliver("product-deleted", deleted(item["productId"], 10))
    await handled(system, 1)
    await system.deliver("product-created", created(item, 0))
    await handled(system, 2)
    await system.quiet(0.2)
    assert await system.rows("search-index", "SELECT name FROM search_documents") == []


async def test_an_update_that_overtakes_its_create_is_retried_until_the_create_lands(
    system: SystemHarness,
) -> None:
    item = product(name="Early bird", price=500)
    pid = item["productId"]
    await system.deliver("product-updated", updated(pid, 10, price=700))
    await system.quiet(0.3)  # the update is failing and being retried meanwhile
    assert await system.rows("search-index", "SELECT name FROM search_documents") == []
    await system.deliver("product-created", created(item, 0))
    await wait_for(
        system,
        "SELECT name, price_cents FROM search_documents",
        [{"name": "Early bird", "price_cents": 700}],
    )


async def test_a_reindex_copy_rebuilds_a_missing_document(system: SystemHarness) -> None:
    item = product(name="Rebuilt rug", description="Wool")
    full = {k: v for k, v in item.items() if k != "productId"}
    await system.deliver("product-updated", updated(item["productId"], 50, **full))
    await wait_for(
        system,
        "SELECT name, price_cents FROM search_documents",
        [{"name": "Rebuilt rug", "price_cents": 1000}],
    )
    assert names(await search(system, query="wool")) == ["Rebuilt rug"]


async def test_rating_updated_is_shown_with_results_and_older_ratings_are_ignored(
    system: SystemHarness,
) -> None:
    item = product(name="Rated kettle")
    pid = item["productId"]
    # The rating may arrive before the product: it is kept and joined in later.
    await system.deliver(
        "rating-updated",
        {"productId": pid, "averageRating": 4.25, "reviewCount": 4, "updatedAt": at(20)},
    )
    await wait_for(system, "SELECT review_count FROM product_ratings", [{"review_count": 4}])
    await index(system, item)
    [hit] = (await search(system, query="kettle"))["results"]
    assert hit["averageRating"] == 4.25 and hit["reviewCount"] == 4
    await system.deliver(
        "rating-updated",
        {"productId": pid, "averageRating": 1.0, "reviewCount": 1, "updatedAt": at(10)},
    )
    await system.deliver(
        "rating-updated",
        {"productId": pid, "averageRating": 4.5, "reviewCount": 6, "updatedAt": at(30)},
    )
    await wait_for(system, "SELECT review_count FROM product_ratings", [{"review_count": 6}])
    [hit] = (await search(system, query="kettle"))["results"]
    assert hit["averageRating"] == 4.5 and hit["reviewCount"] == 6
