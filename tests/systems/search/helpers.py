"""Building product events and waiting for the search index, shared by the search tests."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.systems.harness import SystemHarness

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def product(**fields: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "productId": str(uuid.uuid4()),
        "sku": f"SKU-{uuid.uuid4().hex[:6]}",
        "name": "Plain item",
        "price": 1000,
        "currency": "EUR",
        "category": "misc",
        "status": "ACTIVE",
        "variants": [],
    }
    values.update(fields)
    return {k: v for k, v in values.items() if v is not None}


def created(values: dict[str, Any], when: float = 0) -> dict[str, Any]:
    return {"eventId": str(uuid.uuid4()), "occurredAt": at(when), "product": values}


def updated(product_id: str, when: float, **changes: Any) -> dict[str, Any]:
    return {
        "eventId": str(uuid.uuid4()),
        "occurredAt": at(when),
        "productId": product_id,
        "changes": changes,
    }


def deleted(product_id: str, when: float) -> dict[str, Any]:
    return {"eventId": str(uuid.uuid4()), "occurredAt": at(when), "productId": product_id}


async def wait_for(
    h: SystemHarness, sql: str, expected: Any, *, timeout: float = 10.0, **params: Any
) -> list[dict[str, Any]]:
    """Poll the search index until `sql` returns `expected` (handlers run asynchronously)."""
    rows: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(timeout):
            while (rows := await h.rows("search-index", sql, **params)) != expected:
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"{sql!r} returned {rows!r}, expected {expected!r}") from None
    return rows


async def handled(h: SystemHarness, count: int, *, timeout: float = 10.0) -> None:
    """Wait until the indexer has taken `count` messages in total (inbox rows)."""
    async with asyncio.timeout(timeout):
        while True:
            rows = await h.rows("search-index", "SELECT count(*) AS n FROM message_inbox")
            if rows[0]["n"] >= count:
                return
            await asyncio.sleep(0.05)


async def index(h: SystemHarness, *products: dict[str, Any]) -> None:
    """Deliver product-created for each product and wait until all are indexed."""
    before = (await h.rows("search-index", "SELECT count(*) AS n FROM search_documents"))[0]["n"]
    for values in products:
        await h.deliver("product-created", created(values))
    await wait_for(h, "SELECT count(*) AS n FROM search_documents", [{"n": before + len(products)}])


async def search(h: SystemHarness, *, admin: bool = False, **params: Any) -> dict[str, Any]:
    headers = h.auth(admin=True) if admin else {}
    response = await h.client.get("/search/products", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def names(page: dict[str, Any]) -> list[str]:
    return [r["name"] for r in page["results"]]
