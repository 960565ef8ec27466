"""promotion-service on the broker: calculate-discount request/reply and discount-calculated."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from acme.runtime.wire import REPLY_ERROR, message_headers
from acme.systems.promotion import store
from acme.systems.promotion.domain import Promotion, PromotionType
from generated.services.promotion_service import RECEIVE_CALCULATE_DISCOUNT
from tests.systems.harness import SystemHarness, running_system

SUBJECT = RECEIVE_CALCULATE_DISCOUNT.channel.address


@pytest.fixture
async def system(tmp_path: Path, nats_url: str) -> AsyncIterator[SystemHarness]:
    async with running_system("promotion-system", data_dir=tmp_path, nats_url=nats_url) as h:
        await seeded(h)
        yield h


async def seeded(h: SystemHarness) -> None:
    async with asyncio.timeout(10):
        while not (await h.rows("promotion-database", "SELECT code FROM promotions")):
            await asyncio.sleep(0.05)


async def ask(h: SystemHarness, request: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    headers = message_headers(
        message_id=str(uuid.uuid4()),
        message_type="calculate-discount",
        message_version="1.0.0",
        correlation_id=str(uuid.uuid4()),
        causation_id=None,
        traceparent=None,
    )
    assert h.app.transport is not None
    reply = await h.app.transport.request(SUBJECT, json.dumps(request).encode(), headers, 5.0)
    body = json.loads(reply.body) if reply.body else {}
    return body, reply.headers


async def test_seeds_promotions_once_when_the_table_is_empty(system: SystemHarness) -> None:
    rows = await system.rows(
        "promotion-database",
        "SELECT p.code, p.type, p.value, p.active, r.min_spend_cents FROM promotions p "
        "LEFT JOIN eligibility_rules r ON r.promotion_id = p.promotion_id ORDER BY p.code",
    )
    by_code = {r["code"]: r for r in rows}
    assert set(by_code) == {"BIG20", "PAUSED", "SAVE5", "SPRING2024", "WELCOME10"}
    assert by_code["WELCOME10"]["type"] == "PERCENTAGE"
    assert by_code["WELCOME10"]["value"] == 10
    assert by_code["SAVE5"]["min_spend_cents"] == 2500
    assert not by_code["PAUSED"]["active"]


async def test_no_seed_when_promotions_exist(tmp_path: Path, nats_url: str) -> None:
    async with running_system("promotion-system", data_dir=tmp_path, nats_url=nats_url) as h:
        await seeded(h)
        async with h.app.transaction("promotion-service") as tx:
            await tx.conn.exec_driver_sql("DELETE FROM eligibility_rules")
            await tx.conn.exec_driver_sql("DELETE FROM promotions")
            await store.insert_promotion(
                tx.conn,
                Promotion(
                    "ONLYONE", PromotionType.FIXED_AMOUNT, 100, datetime(2024, 1, 1, tzinfo=UTC)
                ),
            )
    async with running_system("promotion-system", data_dir=tmp_path, nats_url=nats_url) as h:
        await h.quiet(0.6)  # the seeder ran at least twice
        codes = await h.rows("promotion-database", "SELECT code FROM promotions")
        assert codes == [{"code": "ONLYONE"}]


async def test_percentage_code_replies_and_publishes_discount_calculated(
    system: SystemHarness,
) -> None:
    cart_id = str(uuid.uuid4())
    request = {
        "cartId": cart_id,
        "customerId": str(uuid.uuid4()),
        "subtotal": 4999,
        "currency": "EUR",
        "promotionCode": "welcome10",
    }
    reply, headers = await ask(system, request)
    assert REPLY_ERROR not in headers
    assert reply == {"discount": 499, "appliedPromotions": ["WELCOME10"]}
    [event] = await system.published("discount-calculated", where=lambda b: b["cartId"] == cart_id)
    assert event.subject == "shopping.events.discount-calculated"
    assert event.body["discount"] == 499
    assert event.body["currency"] == "EUR"
    assert event.body["appliedPromotions"] == ["WELCOME10"]


@pytest.mark.parametrize(
    ("code", "subtotal"),
    [
        ("NOPE", 5000),  # unknown
        ("SAVE5", 2499),  # below minimum spend
        ("SPRING2024", 5000),  # expired
        ("PAUSED", 5000),  # inactive
        (None, 5000),  # no code at all
    ],
)
async def test_ineligible_codes_reply_zero_not_an_error(
    system: SystemHarness, code: str | None, subtotal: int
) -> None:
    cart_id = str(uuid.uuid4())
    request: dict[str, Any] = {"cartId": cart_id, "subtotal": subtotal, "currency": "USD"}
    if code is not None:
        request["promotionCode"] = code
    reply, headers = await ask(system, request)
    assert REPLY_ERROR not in headers
    assert reply == {"discount": 0, "appliedPromotions": []}
    [event] = await system.published("discount-calculated", where=lambda b: b["cartId"] == cart_id)
    assert event.body["discount"] == 0


async def test_fixed_amount_from_minimum_spend(system: SystemHarness) -> None:
    reply, _ = await ask(
        system,
        {
            "cartId": str(uuid.uuid4()),
            "subtotal": 2500,
            "currency": "USD",
            "promotionCode": "SAVE5",
        },
    )
    assert reply == {"discount": 500, "appliedPromotions": ["SAVE5"]}


async def test_promotion_window_follows_the_clock(tmp_path: Path, nats_url: str) -> None:
    """A promotion written with a future start applies once the (injected) clock reaches it."""
    now = [datetime(2025, 1, 1, tzinfo=UTC)]
    async with running_system(
        "promotion-system", data_dir=tmp_path, nats_url=nats_url, clock=lambda: now[0]
    ) as h:
        await seeded(h)
        async with h.app.transaction("promotion-service") as tx:
            await store.insert_promotion(
                tx.conn,
                Promotion(
                    "LATER",
                    PromotionType.PERCENTAGE,
                    50,
                    now[0] + timedelta(days=1),
                    ends_at=now[0] + timedelta(days=2),
                ),
            )
        request = {
            "cartId": str(uuid.uuid4()),
            "subtotal": 1000,
            "currency": "USD",
            "promotionCode": "later",
        }
        assert (await ask(h, request))[0]["discount"] == 0
        now[0] += timedelta(days=1, hours=1)
        assert (await ask(h, request))[0]["discount"] == 500
        now[0] += timedelta(days=1)
        assert (await ask(h, request))[0]["discount"] == 0


async def test_request_without_cart_or_currency_replies_but_records_nothing(
    system: SystemHarness,
) -> None:
    reply, headers = await ask(system, {"subtotal": 1000, "promotionCode": "WELCOME10"})
    assert REPLY_ERROR not in headers
    assert reply == {"discount": 100, "appliedPromotions": ["WELCOME10"]}
    await system.quiet(0.5)
    assert system.seen("discount-calculated") == []


async def test_malformed_request_gets_an_error_reply(system: SystemHarness) -> None:
    _, headers = await ask(system, {"subtotal": -5, "currency": "usd"})
    assert "invalid request" in headers[REPLY_ERROR]
    await system.quiet(0.3)
    assert system.seen("discount-calculated") == []
