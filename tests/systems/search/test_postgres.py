"""The PostgreSQL full-text path of the search system (weighted tsvector + GIN index,
websearch_to_tsquery, ts_rank): the same API and index behaviour as on SQLite.

Runs with ACME_EXTERNAL=1 against the PostgreSQL server on 127.0.0.1:5432 (user postgres);
each run uses fresh databases and drops them afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest

from tests.systems.harness import SystemHarness, running_system
from tests.systems.search.helpers import (
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

pytestmark = [
    pytest.mark.external,
    pytest.mark.skipif(
        os.environ.get("ACME_EXTERNAL") != "1",
        reason="needs PostgreSQL on 127.0.0.1:5432: set ACME_EXTERNAL=1",
    ),
]

SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
async def system(tmp_path: Path, nats_url: str) -> AsyncIterator[SystemHarness]:
    prefix = f"acme_search_test_{uuid.uuid4().hex[:8]}"
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{prefix}_{{store}}"
    try:
        async with running_system(
            "search-system", data_dir=tmp_path, nats_url=nats_url, database_url=url
        ) as h:
            yield h
    finally:
        conn = await asyncpg.connect(SERVER)
        try:
            for name in await conn.fetch(
                "SELECT datname FROM pg_database WHERE datname LIKE $1", prefix + "%"
            ):
                await conn.execute(f'DROP DATABASE IF EXISTS "{name["datname"]}" WITH (FORCE)')
        finally:
            await conn.close()


async def test_postgres_full_text_search_and_index_maintenance(system: SystemHarness) -> None:
    shoe = product(name="Red running shoe", category="shoes", price=8000)
    boot = product(name="Blue hiking boot", category="shoes", price=12000, description="Not a shoe")
    socks = product(name="Wool socks", category="socks", price=1500, description="For running")
    draft = product(name="Draft shoe", category="shoes", status="DRAFT")
    await index(system, shoe, boot, socks, draft)

    indexes = await system.rows(
        "search-index",
        "SELECT indexdef FROM pg_indexes WHERE indexname = 'search_documents_fulltext'",
    )
    assert "gin" in indexes[0]["indexdef"].lower() and "to_tsvector" in indexes[0]["indexdef"]

    # Relevance (name weighs more than description), stemming, web-search syntax.
    ranked = await search(system, query="shoes")
    assert names(ranked) == ["Red running shoe", "Blue hiking boot"]
    assert ranked["results"][0]["score"] > ranked["results"][1]["score"] > 0
    assert names(await search(system, query="shoe -boot")) == ["Red running shoe"]
    assert names(await search(system, query='"running shoe"')) == ["Red running shoe"]
    assert set(names(await search(system, query="boot or socks"))) == {
        "Blue hiking boot",
        "Wool socks",
    }
    # Filters, visibility, paging.
    assert names(await search(system, query="running", category="socks")) == ["Wool socks"]
    assert names(await search(system, query="shoe", minPrice=9000)) == ["Blue hiking boot"]
    assert "Draft shoe" in names(await search(system, query="shoe", admin=True))
    first = await search(system, query="shoe", admin=True, pageSize=2)
    second = await search(system, query="shoe", admin=True, pageSize=2, page=2)
    assert first["total"] == 3 and len(first["results"]) == 2 and len(second["results"]) == 1
    assert not set(names(first)) & set(names(second))

    # Update, an older update after it, redelivery, delete and a late create.
    pid = shoe["productId"]
    await system.deliver("product-updated", updated(pid, 20, name="Red trail shoe", price=8500))
    await system.deliver("product-updated", updated(pid, 10, price=7000))
    wire = await system.deliver("product-updated", updated(pid, 30, price=9000))
    await system.deliver("product-updated", updated(pid, 30, price=9000), id=wire)
    await handled(system, 7)
    await wait_for(
        system,
        "SELECT name, price_cents FROM search_documents WHERE sku = :sku",
        [{"name": "Red trail shoe", "price_cents": 9000}],
        sku=shoe["sku"],
    )
    assert names(await search(system, query="trail")) == ["Red trail shoe"]
    await system.deliver("product-deleted", deleted(pid, 40))
    await system.deliver("product-created", created(shoe))
    await handled(system, 9)
    await system.quiet(0.3)
    assert (await search(system, query="trail"))["total"] == 0

    await system.deliver(
        "rating-updated",
        {
            "productId": socks["productId"],
            "averageRating": 3.5,
            "reviewCount": 2,
            "updatedAt": "2030-01-01T00:00:00Z",
        },
    )
    await wait_for(system, "SELECT review_count FROM product_ratings", [{"review_count": 2}])
    [hit] = (await search(system, query="socks"))["results"]
    assert hit["averageRating"] == 3.5 and hit["reviewCount"] == 2
