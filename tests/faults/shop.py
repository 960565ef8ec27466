"""The workload of the fault scenarios: products, carts and bursts of checkouts over HTTP.

A burst first prepares its carts (one line each) and then checks them all out at once, so
that the fault lands among checkouts in flight. A checkout call that fails the way a network
or a restarting system fails (5xx, connection error) is retried like a client would; a 409
after such a retry means the first call did commit, and the cart names its checkout.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from acme.client import AcmeClient, ApiError, ClientError, Shopper
from tests.e2e.helpers import ADDRESS
from tests.faults.invariants import Expectations, Source, finished, hex_id
from tests.faults.platform import FaultPlatform

__all__ = ["Attempt", "Shop", "in_flight", "summary"]

RETRY_FOR = 60.0  # seconds a client keeps retrying one checkout call


@dataclass
class Attempt:
    cart_id: str
    product_id: str
    quantity: int
    checkout_id: str | None = None
    calls: int = 0  # checkout calls made (> 0: started)
    errors: list[str] = field(default_factory=list)


class Shop:
    """One staff client and a few shoppers, shared by every scenario of a session."""

    def __init__(self, platform: FaultPlatform, acme: AcmeClient, admin: AcmeClient) -> None:
        self.platform = platform
        self.acme = acme
        self.admin = admin
        self._shoppers: list[tuple[Shopper, AcmeClient]] = []

    async def shoppers(self, n: int) -> list[tuple[Shopper, AcmeClient]]:
        """`n` registered, signed-in shoppers (registered once, reused by later scenarios).

        Carts are spread over them; one shopper may hold many carts."""
        while len(self._shoppers) < n:
            tag = uuid.uuid4().hex[:12]
            shopper = await self.acme.register_shopper(
                f"faults-{tag}@example.com", f"pw-{tag}", "Fault Suite", wait=30.0
            )
            self._shoppers.append((shopper, self.acme.as_user(shopper.token)))
        return self._shoppers[:n]

    async def product(self, expect: Expectations, *, price: int, stock: int) -> str:
        tag = uuid.uuid4().hex[:10].upper()
        product = await self.admin.create_product(
            sku=f"FLT-{tag}", name=f"Fault product {tag}", price=price
        )
        assert product.product_id is not None
        level = await self.admin.set_stock(product.product_id, stock)
        assert (level.available, level.reserved) == (stock, 0), level
        product_id = hex_id(product.product_id)
        expect.products[product_id] = stock
        return product_id

    async def carts(
        self,
        expect: Expectations,
        product_id: str,
        n: int,
        *,
        quantity: int = 1,
        shoppers: int = 3,
        concurrency: int = 8,
    ) -> list[tuple[Attempt, Shopper, AcmeClient]]:
        """`n` carts holding `quantity` of the product, ready to check out."""
        people = await self.shoppers(shoppers)
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int) -> tuple[Attempt, Shopper, AcmeClient]:
            shopper, client = people[i % len(people)]
            async with gate:
                cart = await client.create_cart(shopper.customer_id)
                # the cart learns the product from its events: wait for it to arrive
                await client.add_item(cart.cart_id, product_id, quantity, wait=30.0)
            attempt = Attempt(hex_id(cart.cart_id), product_id, quantity)
            return attempt, shopper, client

        prepared = await asyncio.gather(*(one(i) for i in range(n)))
        expect.carts.update(a.cart_id for a, _, _ in prepared)
        return list(prepared)

    async def checkout(
        self, expect: Expectations, attempt: Attempt, shopper: Shopper, client: AcmeClient
    ) -> None:
        """POST /carts/{id}/checkout, retried through 5xx and connection errors."""
        deadline = time.monotonic() + RETRY_FOR
        delay = 0.2
        while True:
            attempt.calls += 1
            try:
                cart = await client.checkout(
                    attempt.cart_id,
                    shopper.customer_id,
                    delivery_address=ADDRESS,
                    correlation_id=str(uuid.uuid4()),
                )
            except ApiError as exc:
                attempt.errors.append(f"{exc.status} {exc.detail}")
                if exc.status == 409 and attempt.calls > 1:
                    # an earlier call committed before its answer was lost: the cart knows
                    seen = await client.get_cart(attempt.cart_id)
                    if seen.checkout_id is not None:
                        self._accept(expect, attempt, str(seen.checkout_id))
                    return
                if exc.status < 500 or time.monotonic() > deadline:
                    return
            except ClientError as exc:
                cause = type(exc.__cause__).__name__ if exc.__cause__ else "ClientError"
                attempt.errors.append(f"{cause}: {exc}")
                if time.monotonic() > deadline:
                    return
            else:
                assert cart.checkout_id is not None, "checkout answered without a checkoutId"
                self._accept(expect, attempt, str(cart.checkout_id))
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    @staticmethod
    def _accept(expect: Expectations, attempt: Attempt, checkout_id: str) -> None:
        attempt.checkout_id = hex_id(checkout_id)
        expect.checkouts.add(attempt.checkout_id)

    async def burst(
        self,
        expect: Expectations,
        prepared: list[tuple[Attempt, Shopper, AcmeClient]],
        *,
        spread: float = 0.0,
    ) -> list[Attempt]:
        """Check every prepared cart out, all at once or their starts spread evenly over
        `spread` seconds (so that a fault lands among calls, not only among sagas)."""

        async def one(i: int, attempt: Attempt, shopper: Shopper, client: AcmeClient) -> None:
            if spread:
                await asyncio.sleep(spread * i / len(prepared))
            await self.checkout(expect, attempt, shopper, client)

        await asyncio.gather(*(one(i, a, s, c) for i, (a, s, c) in enumerate(prepared)))
        return [a for a, _, _ in prepared]


def in_flight(source: Source, attempts: list[Attempt]) -> int:
    """Checkouts started and not finished yet (answered or not)."""
    started = [a for a in attempts if a.calls]
    return len(started) - finished(source, {a.checkout_id for a in started if a.checkout_id})


def summary(attempts: list[Attempt]) -> str:
    """E.g. "20 checkouts, 20 accepted, 2 retried (502 x2)": what the shoppers went through."""
    accepted = sum(1 for a in attempts if a.checkout_id)
    retried = sum(1 for a in attempts if a.calls > 1)
    text = f"{len(attempts)} checkouts, {accepted} accepted"
    if retried:
        causes = Counter(e.split(" ", 1)[0].rstrip(":") for a in attempts for e in a.errors)
        text += f", {retried} retried ({', '.join(f'{k} x{n}' for k, n in causes.most_common(3))})"
    return text
