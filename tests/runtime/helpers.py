"""Building and driving the test host (see specs.py) on the embedded NATS."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from sqlalchemy import text

from acme.runtime import OutboxRow, SystemApp, WebhookRejected
from acme.runtime.settings import Settings
from acme.runtime.transport import Delivery, Transport, create_transport

from .specs import RECEIVE_PAYMENT_OUTCOME, Ledger, PaymentOutcome, Quotes, ShopHttp, host

WEBHOOK_KEY = b"whsec-test"


def sign(body: bytes) -> str:
    return hmac.new(WEBHOOK_KEY, body, hashlib.sha256).hexdigest()


async def decode_outcome(request: Request) -> list[tuple[Any, ...]]:
    """A Stripe-like webhook: HMAC signature header, event id as dedup key."""
    body = await request.body()
    if not hmac.compare_digest(request.headers.get("x-signature", ""), sign(body)):
        raise WebhookRejected("bad signature")
    event = json.loads(body)
    payload = PaymentOutcome.model_validate(event["data"])
    return [(RECEIVE_PAYMENT_OUTCOME, payload, event["id"], {"correlation-id": event["id"]})]


class RecordingAdapter:
    """An https channel adapter that fails its first `failures` calls."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.calls = 0
        self.delivered: list[OutboxRow] = []

    async def __call__(self, row: OutboxRow) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError(f"stripe unavailable (call {self.calls})")
        self.delivered.append(row)


def with_broker(settings: Settings, url: str, **changes: Any) -> Settings:
    return settings.model_copy(update={"broker_url": url, **changes})


def build_app(
    settings: Settings,
    *,
    ledger: Ledger | None = None,
    adapter: Callable[[OutboxRow], Awaitable[None]] | None = None,
    with_webhook: bool = True,
    with_charge: bool = True,
) -> SystemApp:
    app = SystemApp(host(with_webhook=with_webhook, with_charge=with_charge), settings)
    app.handle("ledger-service", ledger or Ledger())
    app.handle("quote-service", Quotes())
    app.serve("shop-service", ShopHttp(app))
    if with_webhook:
        app.webhook("payments.outcomes", decode_outcome)
    if with_charge:
        app.channel_adapter("stripe.api", adapter or RecordingAdapter())
    return app


async def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


async def eventually(
    probe: Callable[[], Awaitable[Any]], expected: Any, timeout: float = 10.0
) -> None:
    """Await `probe()` until it returns `expected`; fail with the last value seen."""
    last: Any = None
    try:
        async with asyncio.timeout(timeout):
            while (last := await probe()) != expected:
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"expected {expected!r}, still {last!r} after {timeout}s") from None


async def scalar(app: SystemApp, store: str, sql: str, **params: Any) -> Any:
    async with app.store(store).connect() as conn:
        return await conn.scalar(text(sql), params)


async def raw_publisher(url: str, settings: Settings) -> Transport:
    transport = create_transport(url, settings)
    await transport.connect()
    return transport


async def listen(
    url: str, settings: Settings, subject: str, group: str
) -> tuple[Transport, list[Delivery]]:
    got: list[Delivery] = []

    async def on_message(delivery: Delivery) -> None:
        got.append(delivery)
        await delivery.ack()

    transport = create_transport(url, settings)
    transport.subscribe(subject, group, on_message)
    await transport.start()
    return transport, got


async def crash(app: SystemApp) -> None:
    """Stop like `kill -9` would, as far as the outbox is concerned: no flush."""
    for relay in app.relays.values():
        relay.stop()
    await app.stop_intake()
    for task in app._relay_tasks:
        task.cancel()
    await asyncio.gather(*app._relay_tasks, return_exceptions=True)
    if app.transport is not None:
        await app.transport.close()
    await app.stores.dispose()
