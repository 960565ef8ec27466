"""Helpers of the end-to-end tests (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pytest

from acme.client import AcmeClient, Shopper

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
