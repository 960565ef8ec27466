"""search-api: GET /search/products relevance, query syntax, filters, paging, visibility, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.systems.harness import SystemHarness, running_system
from tests.systems.search.helpers import index, names, product, search

CATALOG = [
    product(name="Red running shoe", category="shoes", price=8000, description="Light and fast"),
    product(
        name="Blue hiking boot", category="shoes", price=12000, description="A boot, not a shoe"
    ),
    product(
        name="Wool socks", category="socks", price=1500, description="Warm for running in winter"
    ),
    product(name="Running shorts", category="apparel", price=3000),
    product(name="Secret draft shoe", category="shoes", price=9000, status="DRAFT"),
    product(name="Old archived shoe", category="shoes", price=4000, status="ARCHIVED"),
    product(
        name="Rain jacket",
        category="apparel",
        price=15000,
        variants=[
            {
                "variantId": "0b5c8f2e-8a0c-4c6f-9d9e-2a7f1d3b4c5a",
                "sku": "RJ-XL",
                "attributes": {"size": "XL"},
            }
        ],
    ),
]


@pytest.fixture
async def system(tmp_path: Path, nats_url: str) -> AsyncIterator[SystemHarness]:
    async with running_system("search-system", data_dir=tmp_path, nats_url=nats_url) as h:
        await index(h, *CATALOG)
        yield h


async def test_results_are_ranked_by_relevance(system: SystemHarness) -> None:
    page = await search(system, query="shoe")
    # Name matches first; the boot only mentions a shoe in its description.
    assert names(page) == ["Red running shoe", "Blue hiking boot"]
    scores = [r["score"] for r in page["results"]]
    assert scores[0] > scores[1] > 0
    running = await search(system, query="running")
    assert names(running)[-1] == "Wool socks"  # description-only match ranks last
    assert set(names(running)) == {"Red running shoe", "Running shorts", "Wool socks"}


async def test_query_syntax_stemming_phrases_exclusion_and_or(system: SystemHarness) -> None:
    assert names(await search(system, query="shoes")) == ["Red running shoe", "Blue hiking boot"]
    assert names(await search(system, query='"running shoe"')) == ["Red running shoe"]
    assert names(await search(system, query="shoe -boot")) == ["Red running shoe"]
    assert set(names(await search(system, query="jacket or socks"))) == {
        "Rain jacket",
        "Wool socks",
    }
    assert names(await search(system, query="RJ-XL")) == ["Rain jacket"]  # a variant SKU
    assert (await search(system, query="!!! ???"))["total"] == 0  # nothing to match
    assert (await search(system, query='shoe" OR "'))["total"] >= 1  # stray quotes are harmless


async def test_filters_by_category_status_and_price(system: SystemHarness) -> None:
    assert names(await search(system, query="running", category="socks")) == ["Wool socks"]
    assert names(await search(system, query="shoe", minPrice=8001)) == ["Blue hiking boot"]
    assert names(await search(system, query="shoe", maxPrice=8000)) == ["Red running shoe"]
    both = await search(system, query="shoe", minPrice=8000, maxPrice=8000)
    assert names(both) == ["Red running shoe"]
    archived = await search(system, query="shoe", status="ARCHIVED", admin=True)
    assert names(archived) == ["Old archived shoe"]


async def test_shoppers_see_active_products_only_staff_see_all(system: SystemHarness) -> None:
    shopper = await search(system, query="shoe")
    assert "Secret draft shoe" not in names(shopper)
    assert (await search(system, query="secret", status="DRAFT"))["total"] == 0
    staff = await search(system, query="shoe", admin=True)
    assert {"Secret draft shoe", "Old archived shoe"} <= set(names(staff))
    drafts = await search(system, query="shoe", status="DRAFT", admin=True)
    assert names(drafts) == ["Secret draft shoe"]


async def test_paging_is_stable_and_counts_every_match(system: SystemHarness) -> None:
    pages: list[dict[str, Any]] = [
        await search(system, query="shoe", admin=True, page=n, pageSize=2) for n in (1, 2, 3)
    ]
    assert [p["total"] for p in pages] == [4, 4, 4]
    assert [p["page"] for p in pages] == [1, 2, 3] and all(p["pageSize"] == 2 for p in pages)
    seen = [name for p in pages for name in names(p)]
    assert len(seen) == 4 and len(set(seen)) == 4
    assert pages[2]["results"] == []
    assert seen == names(await search(system, query="shoe", admin=True, pageSize=10))


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({}, 422),  # query missing
        ({"query": ""}, 422),
        ({"query": "shoe", "pageSize": 101}, 422),
        ({"query": "shoe", "page": 0}, 422),
        ({"query": "shoe", "status": "SOLD"}, 422),
        ({"query": "shoe", "minPrice": -1}, 422),
        ({"query": "shoe", "minPrice": "cheap"}, 422),
        ({"query": "shoe", "minPrice": 10, "maxPrice": 5}, 400),
        ({"query": "   "}, 400),
    ],
)
async def test_bad_requests(system: SystemHarness, params: dict[str, Any], status: int) -> None:
    response = await system.client.get("/search/products", params=params)
    assert response.status_code == status, response.text
    assert response.json()["status"] == status
