"""The HTTP side of a system: JWT authorisation, problem+json errors, body limit, webhooks,
https channel adapters, health and introspection."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr

from acme.runtime import SystemApp, issue_token
from acme.runtime.settings import Settings

from .helpers import RecordingAdapter, build_app, eventually, scalar, sign, with_broker
from .specs import ChargeRequested, ShopServicePublisher


@pytest.fixture
def configured(settings: Settings, nats_url: str) -> Settings:
    return with_broker(settings, nats_url, max_body_bytes=2048)


@pytest.fixture
def adapter() -> RecordingAdapter:
    return RecordingAdapter(failures=2)


@pytest.fixture
async def app(configured: Settings, adapter: RecordingAdapter) -> AsyncIterator[SystemApp]:
    app = build_app(configured, adapter=adapter)
    await app.start()
    yield app
    await app.stop()


@pytest.fixture
async def client(app: SystemApp) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app.http_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://system.test") as client:
        yield client


def bearer(settings: Settings, subject: str, *roles: str, ttl: float = 60) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(subject, roles, ttl, settings=settings)}"}


async def test_secured_route_needs_a_valid_token(
    client: httpx.AsyncClient, configured: Settings
) -> None:
    body = {"orderId": "o-1", "amount": 3}
    missing = await client.post("/orders", json=body)
    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert missing.json()["detail"] == "a bearer token is required"

    forged = await client.post(
        "/orders", json=body, headers={"Authorization": "Bearer not.a.token"}
    )
    assert forged.status_code == 401

    other_key = configured.model_copy(update={"jwt_secret": SecretStr("x" * 40)})
    wrong_key = await client.post("/orders", json=body, headers=bearer(other_key, "c-1", "shopper"))
    assert wrong_key.status_code == 401

    past = datetime.now(UTC) - timedelta(hours=2)
    expired_token = issue_token("c-1", ["shopper"], 60, settings=configured, now=past)
    expired = await client.post(
        "/orders", json=body, headers={"Authorization": f"Bearer {expired_token}"}
    )
    assert expired.status_code == 401
    assert "expired" in expired.json()["detail"]


async def test_roles_are_enforced(client: httpx.AsyncClient, configured: Settings) -> None:
    shopper = await client.get("/admin/stats", headers=bearer(configured, "c-7", "shopper"))
    assert shopper.status_code == 403
    assert "requires role 'admin'" in shopper.json()["detail"]

    admin = await client.get("/admin/stats", headers=bearer(configured, "s-1", "admin", "ops"))
    assert admin.status_code == 200
    assert admin.json() == {"subject": "s-1", "roles": "admin,ops"}


async def test_public_route_knows_a_valid_caller(
    client: httpx.AsyncClient, configured: Settings
) -> None:
    assert (await client.get("/ping")).json() == {"subject": "anonymous"}
    known = await client.get("/ping", headers=bearer(configured, "c-9"))
    assert known.json() == {"subject": "c-9"}


async def test_http_write_commits_state_and_event_together(
    client: httpx.AsyncClient, app: SystemApp, configured: Settings
) -> None:
    response = await client.post(
        "/orders",
        json={"orderId": "o-http", "amount": 12},
        headers={**bearer(configured, "c-1", "shopper"), "X-Correlation-Id": "corr-http"},
    )
    assert response.status_code == 201, response.text
    assert response.json() == {"orderId": "o-http", "amount": 12}
    await eventually(
        lambda: scalar(
            app, "ledger-db", "SELECT correlation_id FROM entries WHERE order_id = 'o-http'"
        ),
        "corr-http",
    )


async def test_validation_errors_are_422_with_locations(
    client: httpx.AsyncClient, configured: Settings
) -> None:
    response = await client.post(
        "/orders", json={"orderId": "", "amount": -1}, headers=bearer(configured, "c", "shopper")
    )
    assert response.status_code == 422
    problem = response.json()
    assert problem["status"] == 422 and problem["code"] == "validation-error"
    locations = {tuple(e["loc"]) for e in problem["errors"]}
    assert locations == {("body", "orderId"), ("body", "amount")}

    not_json = await client.post(
        "/orders",
        content=b"{oops",
        headers={**bearer(configured, "c", "shopper"), "content-type": "application/json"},
    )
    assert not_json.status_code == 422


async def test_api_error_becomes_its_problem(
    client: httpx.AsyncClient, configured: Settings
) -> None:
    response = await client.post(
        "/orders",
        json={"orderId": "conflict", "amount": 1},
        headers=bearer(configured, "c", "admin"),
    )
    assert response.status_code == 409
    assert response.json()["code"] == "order-exists"
    assert response.headers["content-type"] == "application/problem+json"
    unknown = await client.get("/no/such/route")
    assert unknown.status_code == 404 and unknown.json()["code"] == "not-found"


async def test_body_over_the_limit_is_413(client: httpx.AsyncClient, configured: Settings) -> None:
    big = {"orderId": "o-big", "amount": 1, "pad": "x" * 4000}
    announced = await client.post("/orders", json=big, headers=bearer(configured, "c", "shopper"))
    assert announced.status_code == 413
    assert announced.json()["code"] == "payload-too-large"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while streaming
        for _ in range(10):
            yield b" " * 500

    streamed = await client.post(
        "/orders",
        content=chunks(),
        headers={**bearer(configured, "c", "shopper"), "content-type": "application/json"},
    )
    assert streamed.status_code == 413


def stripe_event(event_id: str, order_id: str, status: str = "succeeded") -> bytes:
    return json.dumps({"id": event_id, "data": {"orderId": order_id, "status": status}}).encode()


async def test_webhook_runs_the_handler_once_per_event(
    client: httpx.AsyncClient, app: SystemApp
) -> None:
    body = stripe_event("evt_1", "o-w")
    first = await client.post("/webhooks/test", content=body, headers={"x-signature": sign(body)})
    again = await client.post("/webhooks/test", content=body, headers={"x-signature": sign(body)})

    assert first.status_code == 200 and first.json()["handled"] == 1
    assert again.status_code == 200 and again.json()["duplicate"] == 1
    count = await scalar(app, "ledger-db", "SELECT count(*) FROM outcomes WHERE order_id = 'o-w'")
    assert count == 1


async def test_webhook_with_bad_signature_is_400(client: httpx.AsyncClient, app: SystemApp) -> None:
    body = stripe_event("evt_2", "o-bad")
    response = await client.post("/webhooks/test", content=body, headers={"x-signature": "0" * 64})
    assert response.status_code == 400
    assert response.json()["code"] == "webhook-rejected"
    assert await scalar(app, "ledger-db", "SELECT count(*) FROM outcomes") == 0


async def test_webhook_payload_failing_the_schema_is_400(client: httpx.AsyncClient) -> None:
    body = json.dumps({"id": "evt_3", "data": {"orderId": "o"}}).encode()  # no status
    response = await client.post(
        "/webhooks/test", content=body, headers={"x-signature": sign(body)}
    )
    assert response.status_code == 400


async def test_https_channel_goes_through_the_adapter_with_retries(
    app: SystemApp, adapter: RecordingAdapter
) -> None:
    async with app.transaction("shop-service", correlation_id="pay-1") as tx:
        message_id = await tx.publisher(ShopServicePublisher).charge_requested(
            ChargeRequested(order_id="o-pay", amount=99), key="charge:o-pay"
        )

    await eventually(lambda: _delivered(adapter), 1, timeout=15)
    row = adapter.delivered[0]
    assert adapter.calls == 3, "two failures, then delivered"
    assert row.message_id == message_id and row.channel_id == "stripe.api"
    assert row.json() == {"orderId": "o-pay", "amount": 99}
    assert row.headers["correlation-id"] == "pay-1"
    assert row.subject == "https://stripe.invalid/v1/charges"
    await eventually(
        lambda: scalar(
            app, "shop-db", "SELECT count(*) FROM message_outbox WHERE published_at IS NULL"
        ),
        0,
    )


async def _delivered(adapter: RecordingAdapter) -> int:
    return len(adapter.delivered)


async def test_health_readiness_and_introspection(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json()["status"] == "ok"
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True

    info = (await client.get("/_introspection")).json()
    services = {s["id"]: s for s in info["services"]}
    assert info["system"] == "test-system" and info["broker"] == "nats"
    ledger_subjects = {
        (s["subject"], s["kind"], s["running"]) for s in services["ledger-service"]["subscribes"]
    }
    assert ledger_subjects == {
        ("test.orders.order-placed", "events", True),
        ("replay.ledger-service", "events", True),
    }
    assert ("test.quotes.get-quote", "requests", True) in {
        (s["subject"], s["kind"], s["running"]) for s in services["quote-service"]["subscribes"]
    }
    assert services["ledger-service"]["webhooks"] == ["/webhooks/test"]
    published = {(p["channel"], p["message"]) for p in services["shop-service"]["publishes"]}
    assert published == {
        ("test.orders", "order-placed"),
        ("test.quotes", "get-quote"),
        ("stripe.api", "charge-requested"),
    }
