"""Helpers of the end-to-end tests (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pytest

from acme.client import AcmeClient, DeliveryAddress, Shopper
from benchmarks.embedded import RunningPlatform

T = TypeVar("T")

# Every test module here starts with this line: the e2e marker, and the session's loop.
E2E = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]


@dataclass(frozen=True)
class ShopperSession:
    shopper: Shopper
    client: AcmeClient

    @property
    def customer_id(self) -> uuid.UUID:
        return self.shopper.customer_id


@dataclass(frozen=True)
class StripeSandbox:
    """The Stripe sandbox's own view (`/_sandbox/state`), read directly, not via the gateway."""

    url: str

    async def state(self) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.url, timeout=10.0) as http:
            response = await http.get("/_sandbox/state")
            response.raise_for_status()
            state: dict[str, Any] = response.json()
            return state

    async def intent(self, intent_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """The PaymentIntent and its counters (charges, captures, refunds, amounts)."""
        state = await self.state()
        for intent in state["payment_intents"]:
            if intent["id"] == intent_id:
                return intent, state["counts"][intent_id]
        raise AssertionError(f"the Stripe sandbox has no PaymentIntent {intent_id}")


async def eventually(
    check: Callable[[], Awaitable[T]], *, timeout: float = 20.0, interval: float = 0.05
) -> T:
    """Retry an async check (it raises AssertionError until the state has settled).

    The platform is eventually consistent: a store that an event updates is right a moment
    after the HTTP answer. This waits for that moment; it does not measure it.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await check()
        except AssertionError:
            if time.monotonic() >= deadline:
                raise
        await asyncio.sleep(interval)


ADDRESS = DeliveryAddress(
    recipient_name="E2E Shopper",
    line1="1 Test Street",
    city="Springfield",
    postal_code="12345",
    country_code="US",
)


async def seed_product(admin: AcmeClient, *, price: int, stock: int) -> uuid.UUID:
    """An ACTIVE product with `stock` units available (as staff)."""
    tag = uuid.uuid4().hex[:10].upper()
    product = await admin.create_product(sku=f"E2E-{tag}", name=f"E2E product {tag}", price=price)
    assert product.product_id is not None
    level = await admin.set_stock(product.product_id, stock)
    assert (level.available, level.reserved) == (stock, 0)
    return product.product_id


def rows(conn: sqlite3.Connection, sql: str, *params: object) -> list[dict[str, Any]]:
    return [dict(row) for row in conn.execute(sql, params)]


def one(conn: sqlite3.Connection, sql: str, *params: object) -> dict[str, Any]:
    found = rows(conn, sql, *params)
    assert len(found) == 1, f"expected one row for {sql} {params}, found {found}"
    return found[0]


def dead_letters_of(platform: RunningPlatform, correlation_id: str) -> list[dict[str, Any]]:
    """Dead letters (every service's, in the runtime store) caused by one correlation id."""
    if not platform.store_path("runtime").exists():
        return []
    with platform.store("runtime") as conn:
        letters = rows(conn, "SELECT service, message_type, error, headers FROM dead_letters")
    return [x for x in letters if json.loads(x["headers"]).get("correlation-id") == correlation_id]
