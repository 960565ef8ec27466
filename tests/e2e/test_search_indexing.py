"""product-search-indexing end to end: staff edit products over HTTP, shoppers find them.

Product API writes the product and its event in one transaction (product-database, outbox),
the relay publishes it, search-indexer applies it to search-index, search-api answers. Every
step is checked in its store: the product row, the drained outbox, the search document, the
full-text row and the tombstone of a deleted product.
"""

from __future__ import annotations

import uuid

import pytest

from acme.client import AcmeClient, ApiError
from acme.systems.search.store import PG_CONFIG, PG_VECTOR
from benchmarks.embedded import RunningPlatform
from generated.messages.search_products import SearchProductsResponse

from .helpers import E2E, eventually, key, norm, outbox_types, rows, unpublished_outbox

pytestmark = E2E


def search_document(platform: RunningPlatform, product_id: uuid.UUID) -> dict[str, object] | None:
    with platform.store("search-index") as conn:
        found = rows(
            conn,
            "SELECT sku, name, description, category, status, price_cents, currency "
            f"FROM search_documents WHERE {norm('product_id')} = ?",
            key(product_id),
        )
    assert len(found) <= 1, found
    return found[0] if found else None


def fulltext_names(platform: RunningPlatform, product_id: uuid.UUID) -> list[str]:
    """Names in the full-text index for the product's document (what searches match): the
    FTS5 table's rows on SQLite; on PostgreSQL, where the index is an expression over the
    document row, the document's name when its text vector matches that name."""
    document_id = f"product:{uuid.UUID(str(product_id))}"
    with platform.store("search-index") as conn:
        if conn.dialect == "sqlite":
            found = rows(conn, "SELECT name FROM search_fts WHERE document_id = ?", document_id)
        else:
            found = rows(
                conn,
                "SELECT name FROM search_documents WHERE document_id = ? "
                f"AND {PG_VECTOR} @@ plainto_tsquery('{PG_CONFIG}', name)",
                document_id,
            )
    return [str(r["name"]) for r in found]


def product_row(platform: RunningPlatform, product_id: uuid.UUID) -> dict[str, object] | None:
    with platform.store("product-database") as conn:
        found = rows(
            conn,
            "SELECT name, description, price_cents, status FROM products "
            f"WHERE {norm('product_id')} = ?",
            key(product_id),
        )
    return found[0] if found else None


def ids(page: SearchProductsResponse) -> list[uuid.UUID]:
    return [r.product_id for r in page.results or [] if r.product_id is not None]


async def test_created_updated_and_deleted_products_follow_in_search(
    platform: RunningPlatform, admin: AcmeClient, acme: AcmeClient
) -> None:
    # A word no other test uses, so the searches see only this test's products.
    word = f"zq{uuid.uuid4().hex[:10]}"
    lamp = await admin.create_product(
        sku=f"LAMP-{word}",
        name=f"{word} desk lamp",
        description="Brass lamp with a linen shade.",
        price=4500,
        category="lighting",
    )
    shade = await admin.create_product(
        sku=f"SHADE-{word}",
        name="Linen lamp shade",
        description=f"Spare shade that fits the {word} desk lamp.",
        price=1500,
        category="lighting",
    )
    assert lamp.product_id is not None and shade.product_id is not None
    lamp_id, shade_id = lamp.product_id, shade.product_id

    # Created: both are found, the name match (weighted above the description) first.
    async def both_found() -> SearchProductsResponse:
        page = await acme.search(word)
        assert ids(page) == [lamp_id, shade_id], page
        return page

    page = await eventually(both_found)
    assert page.total == 2
    results = page.results or []
    scores = [r.score or 0.0 for r in results]
    assert scores[0] > scores[1]
    assert [(r.price, r.currency, r.category) for r in results] == [
        (4500, "USD", "lighting"),
        (1500, "USD", "lighting"),
    ]
    assert ids(await acme.search(word, max_price=2000)) == [shade_id]
    assert ids(await acme.search(word, category="kitchen")) == []
    document = search_document(platform, lamp_id)
    assert document is not None
    assert (document["name"], document["status"], document["price_cents"]) == (
        f"{word} desk lamp",
        "ACTIVE",
        4500,
    )
    assert fulltext_names(platform, lamp_id) == [f"{word} desk lamp"]

    # Updated: the word moves from the lamp's name to the shade's, so the order flips; the
    # lamp's new price is what the price filter sees.
    await admin.update_product(
        lamp_id, name="Brass desk lamp", description=f"The {word} lamp, in brass.", price=3900
    )
    await admin.update_product(shade_id, name=f"{word} linen shade")

    async def reranked() -> None:
        assert ids(await acme.search(word)) == [shade_id, lamp_id]
        assert ids(await acme.search(word, min_price=3000, max_price=4000)) == [lamp_id]

    await eventually(reranked)
    document = search_document(platform, lamp_id)
    assert document is not None
    assert (document["name"], document["price_cents"]) == ("Brass desk lamp", 3900)
    assert document["description"] == f"The {word} lamp, in brass."
    assert fulltext_names(platform, lamp_id) == ["Brass desk lamp"]

    # Archived: staff still find it, shoppers do not.
    await admin.update_product(shade_id, status="ARCHIVED")

    async def archived() -> None:
        assert ids(await acme.search(word)) == [lamp_id]

    await eventually(archived)
    assert ids(await admin.search(word, status="ARCHIVED")) == [shade_id]
    assert ids(await acme.search(word, status="ARCHIVED")) == []

    # Deleted: gone from the catalog and from the index, with a tombstone against late events.
    await admin.delete_product(lamp_id, reason="DISCONTINUED")
    with pytest.raises(ApiError) as missing:
        await acme.get_product(lamp_id)
    assert missing.value.status == 404

    async def gone() -> None:
        assert ids(await admin.search(word)) == [shade_id]
        assert search_document(platform, lamp_id) is None

    await eventually(gone)
    assert fulltext_names(platform, lamp_id) == []
    with platform.store("search-index") as conn:
        tombstones = rows(
            conn,
            f"SELECT deleted_at FROM deleted_products WHERE {norm('product_id')} = ?",
            key(lamp_id),
        )
    assert len(tombstones) == 1

    # Product store: the lamp is gone, the shade holds its last state; every event was
    # staged in the outbox with its change and published (nothing left waiting).
    assert product_row(platform, lamp_id) is None
    shade_row = product_row(platform, shade_id)
    assert shade_row is not None
    assert (shade_row["name"], shade_row["status"]) == (f"{word} linen shade", "ARCHIVED")
    assert outbox_types(platform, "product-database", str(lamp_id)) == [
        "product-created",
        "product-updated",
        "product-deleted",
    ]
    assert outbox_types(platform, "product-database", str(shade_id)) == [
        "product-created",
        "product-updated",
        "product-updated",
    ]

    async def drained() -> None:
        for product_id in (lamp_id, shade_id):
            assert unpublished_outbox(platform, "product-database", str(product_id)) == []

    await eventually(drained)
