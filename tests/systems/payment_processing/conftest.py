"""The Payment Processing System on embedded NATS, wired to the real Stripe sandbox.

The sandbox (acme.simulators.stripe, in memory) and the system's HTTP app are both served on
free ports in the test's event loop, so the official SDK calls the sandbox over HTTP and the
sandbox posts signed webhooks to POST /webhooks/stripe like Stripe would.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
import uvicorn

from acme.simulators.stripe import DEFAULT_WEBHOOK_SECRET, SandboxSettings, create_app
from acme.systems.payment_processing import store
from tests.systems.harness import Captured, SystemHarness, running_system

HOST = "payment-processing-system"
DB = "payment-database"
API_KEY = "sk_test_acme_payment_tests"


class Served:
    """An ASGI app under uvicorn on a free port, inside the running event loop."""

    def __init__(self, app: Any, *, lifespan: Literal["on", "off"]) -> None:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="warning", lifespan=lifespan
        )
        self.server = uvicorn.Server(config)
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> str:
        self.task = asyncio.create_task(self.server.serve())
        async with asyncio.timeout(10):
            while not self.server.started:
                if self.task.done():
                    self.task.result()
                await asyncio.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aexit__(self, *exc: object) -> None:
        self.server.should_exit = True
        if self.task is not None:
            await self.task


@dataclass
class Rig:
    """A running payment system, its sandbox, and shortcuts to drive a payment."""

    h: SystemHarness
    sandbox: httpx.AsyncClient  # the sandbox's own API (/_sandbox/...)
    webhook_url: str | None

    async def authorize(
        self,
        *,
        amount: int = 4200,
        payment_method: str = "pm_card_visa",
        customer_id: str | None = None,
    ) -> dict[str, Any]:
        """authorize-payment as the saga sends it; returns the payment-requested it causes."""
        order_id = str(uuid.uuid4())
        await self.h.deliver(
            "authorize-payment",
            {
                "cartId": str(uuid.uuid4()),
                "checkoutId": str(uuid.uuid4()),
                "orderId": order_id,
                "customerId": customer_id or str(uuid.uuid4()),
                "amount": amount,
                "currency": "EUR",
                "paymentMethod": payment_method,
            },
        )
        (requested,) = await self.h.published(
            "payment-requested", where=lambda b: b["orderId"] == order_id
        )
        return requested.body

    async def pass_fraud(self, requested: dict[str, Any]) -> None:
        await self.h.deliver(
            "fraud-check-passed",
            {
                "paymentId": requested["paymentId"],
                "orderId": requested["orderId"],
                "score": 0.01,
                "checkedAt": "2030-01-01T12:00:00Z",
            },
        )

    async def outcome(self, kind: str, payment_id: str, timeout: float = 15.0) -> Captured:
        (found,) = await self.h.published(
            kind, where=lambda b: b["paymentId"] == payment_id, timeout=timeout
        )
        return found

    async def payment(self, payment_id: str) -> store.Payment:
        async with self.h.app.store(DB).connect() as conn:
            found = await store.payment_by_id(conn, payment_id)
        assert found is not None
        return found

    async def state(self) -> dict[str, Any]:
        response = await self.sandbox.get("/_sandbox/state")
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    async def intents_of(self, payment_id: str) -> list[dict[str, Any]]:
        return [
            i
            for i in (await self.state())["payment_intents"]
            if i["metadata"].get("payment_id") == payment_id
        ]

    async def faults(self, **config: Any) -> None:
        (await self.sandbox.post("/_sandbox/faults", json=config)).raise_for_status()

    def count(self, service: str, outcome: str) -> int:
        counts = self.h.app.consumers[service].counts
        return sum(n for o, n in counts.items() if o.value == outcome)


@pytest.fixture
async def sandbox_url() -> AsyncIterator[str]:
    settings = SandboxSettings(
        in_memory=True,
        webhook_secret=DEFAULT_WEBHOOK_SECRET,
        webhook_max_attempts=5,
        webhook_retry_base_ms=20,
        webhook_retry_max_ms=200,
    )
    async with Served(create_app(settings), lifespan="on") as url:
        yield url


async def _rig(
    tmp_path: Path,
    nats_url: str,
    api_base: str,
    sandbox_url: str,
    monkeypatch: pytest.MonkeyPatch,
    *,
    webhooks: bool,
    **settings: Any,
) -> AsyncIterator[Rig]:
    monkeypatch.setenv("ACME_STRIPE_API_BASE", api_base)
    monkeypatch.setenv("ACME_STRIPE_API_KEY", API_KEY)
    monkeypatch.setenv("ACME_STRIPE_WEBHOOK_SECRET", DEFAULT_WEBHOOK_SECRET)
    async with (
        running_system(HOST, data_dir=tmp_path, nats_url=nats_url, **settings) as h,
        Served(h.app.http_app, lifespan="off") as system_url,
        httpx.AsyncClient(base_url=sandbox_url, timeout=10) as sandbox,
    ):
        webhook_url = f"{system_url}/webhooks/stripe" if webhooks else None
        (await sandbox.post("/_sandbox/webhook", json={"url": webhook_url})).raise_for_status()
        yield Rig(h=h, sandbox=sandbox, webhook_url=webhook_url)


@pytest.fixture
async def rig(
    tmp_path: Path, nats_url: str, sandbox_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Rig]:
    """Stripe calls and webhooks both live."""
    async for rig in _rig(tmp_path, nats_url, sandbox_url, sandbox_url, monkeypatch, webhooks=True):
        yield rig


@pytest.fixture
async def rig_without_webhooks(
    tmp_path: Path, nats_url: str, sandbox_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Rig]:
    """Stripe calls live, webhooks off: only the synchronous answers report outcomes."""
    async for rig in _rig(
        tmp_path, nats_url, sandbox_url, sandbox_url, monkeypatch, webhooks=False
    ):
        yield rig


@pytest.fixture
async def rig_stripe_down(
    tmp_path: Path, nats_url: str, sandbox_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Rig]:
    """Stripe unreachable (calls keep failing and are retried): payments stay CHARGING until a
    webhook, posted by the test, reports the outcome."""
    async for rig in _rig(
        tmp_path,
        nats_url,
        "http://127.0.0.1:9",
        sandbox_url,
        monkeypatch,
        webhooks=False,
        shutdown_timeout=0.5,  # the Stripe calls left in the outbox cannot be flushed anyway
    ):
        yield rig
