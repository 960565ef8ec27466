"""The Fraud Detection simulator: its rules without I/O, then the running fraud-api."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from acme.runtime.embedded_nats import EmbeddedNats
from acme.simulators.fraud_detection.domain import FailReason, Rules, Verdict, screen
from acme.simulators.fraud_detection.settings import FraudSettings
from tests.systems.harness import SystemHarness, running_system

BLOCKED = uuid.UUID("00000000-0000-4000-8000-0000000000bb")
RULES = Rules(amount_threshold=1_000_000, velocity_limit=3, blocked_customers=frozenset({BLOCKED}))
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)

# -- rules ---------------------------------------------------------------------------------


def test_ordinary_payment_passes_with_a_low_score() -> None:
    verdict = screen(RULES, amount=10_000, customer_id=uuid.uuid4(), earlier=0)
    assert verdict == Verdict(True, 0.005)


def test_amount_at_the_threshold_passes_and_above_fails() -> None:
    assert screen(RULES, amount=1_000_000, customer_id=None, earlier=0).passed
    above = screen(RULES, amount=1_000_001, customer_id=None, earlier=0)
    assert (above.passed, above.reason) == (False, FailReason.HIGH_RISK_SCORE)
    assert 0.8 <= above.score < 0.81


def test_high_risk_score_reaches_one_at_twice_the_threshold() -> None:
    assert screen(RULES, amount=2_000_000, customer_id=None, earlier=0).score == 1.0
    assert screen(RULES, amount=9_000_000, customer_id=None, earlier=0).score == 1.0


def test_blocklist_wins_over_every_other_rule() -> None:
    verdict = screen(RULES, amount=5_000_000, customer_id=BLOCKED, earlier=10)
    assert verdict == Verdict(False, 1.0, FailReason.BLOCKLISTED)


def test_velocity_fails_once_the_limit_is_used_up() -> None:
    customer = uuid.uuid4()
    assert screen(RULES, amount=100, customer_id=customer, earlier=2).passed
    assert screen(RULES, amount=100, customer_id=customer, earlier=3) == Verdict(
        False, 0.9, FailReason.VELOCITY
    )


def test_anonymous_payments_skip_velocity() -> None:
    assert screen(RULES, amount=100, customer_id=None, earlier=99).passed


@pytest.mark.parametrize("amount", [0, 1, 500_000, 1_000_000])
@pytest.mark.parametrize("earlier", [0, 1, 2])
def test_scores_stay_in_the_unit_interval(amount: int, earlier: int) -> None:
    score = screen(RULES, amount=amount, customer_id=uuid.uuid4(), earlier=earlier).score
    assert 0.0 <= score < 0.8


def test_settings_read_rules_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_FRAUD_AMOUNT_THRESHOLD", "5000")
    monkeypatch.setenv("ACME_FRAUD_VELOCITY_LIMIT", "2")
    monkeypatch.setenv("ACME_FRAUD_VELOCITY_WINDOW_MINUTES", "1.5")
    monkeypatch.setenv("ACME_FRAUD_BLOCKED_CUSTOMERS", f'["{BLOCKED}"]')
    settings = FraudSettings()
    assert (settings.amount_threshold, settings.velocity_limit) == (5000, 2)
    assert settings.velocity_window_minutes == 1.5
    assert settings.blocked_customers == frozenset({BLOCKED})


def test_settings_refuse_a_non_positive_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_FRAUD_AMOUNT_THRESHOLD", "0")
    with pytest.raises(ValueError, match="amount_threshold"):
        FraudSettings()


# -- the running fraud-api -----------------------------------------------------------------


@pytest.fixture
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = EmbeddedNats(tmp_path_factory.mktemp("nats"))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def rules_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_FRAUD_VELOCITY_LIMIT", "3")
    monkeypatch.setenv("ACME_FRAUD_VELOCITY_WINDOW_MINUTES", "10")
    monkeypatch.setenv("ACME_FRAUD_BLOCKED_CUSTOMERS", f'["{BLOCKED}"]')


@pytest.fixture
async def fraud(tmp_path: Path, nats_url: str, rules_env: None) -> AsyncIterator[SystemHarness]:
    async with running_system("fraud-detection", data_dir=tmp_path, nats_url=nats_url) as h:
        yield h


def requested(
    amount: int = 2500,
    customer: uuid.UUID | None = None,
    at: datetime = T0,
    payment_id: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "paymentId": payment_id or str(uuid.uuid4()),
        "orderId": str(uuid.uuid4()),
        "amount": amount,
        "currency": "EUR",
        "requestedAt": at.isoformat(),
        "paymentMethod": "pm_card_visa",
    }
    if customer is not None:
        body["customerId"] = str(customer)
    return body


async def verdict_of(h: SystemHarness, payment: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Deliver a payment-requested and wait for the verdict on it (either kind)."""
    await h.deliver("payment-requested", payment)
    async with asyncio.timeout(10):
        while True:
            for kind in ("fraud-check-passed", "fraud-check-failed"):
                for captured in h.seen(kind):
                    if captured.body["paymentId"] == payment["paymentId"]:
                        return kind, captured.body
            await asyncio.sleep(0.02)


async def test_safe_payment_passes(fraud: SystemHarness) -> None:
    payment = requested(customer=uuid.uuid4())
    kind, body = await verdict_of(fraud, payment)
    assert kind == "fraud-check-passed"
    assert body["orderId"] == payment["orderId"]
    assert 0 <= body["score"] < 0.8


async def test_large_payment_fails_with_high_risk_score(fraud: SystemHarness) -> None:
    kind, body = await verdict_of(fraud, requested(amount=1_500_000))
    assert (kind, body["reason"]) == ("fraud-check-failed", "HIGH_RISK_SCORE")
    assert body["score"] == 0.9


async def test_blocklisted_customer_fails(fraud: SystemHarness) -> None:
    kind, body = await verdict_of(fraud, requested(customer=BLOCKED))
    assert (kind, body["reason"], body["score"]) == ("fraud-check-failed", "BLOCKLISTED", 1.0)


async def test_velocity_counts_payments_inside_the_window(fraud: SystemHarness) -> None:
    customer = uuid.uuid4()
    kinds = [
        (await verdict_of(fraud, requested(customer=customer, at=T0 + timedelta(minutes=i))))[0]
        for i in range(4)
    ]
    assert kinds == ["fraud-check-passed"] * 3 + ["fraud-check-failed"]
    assert fraud.seen("fraud-check-failed")[0].body["reason"] == "VELOCITY"
    # At 12:30 the window starts at 2:30: only the (failed) attempt at minute 3 is inside.
    later, body = await verdict_of(
        fraud, requested(customer=customer, at=T0 + timedelta(minutes=12, seconds=30))
    )
    assert later == "fraud-check-passed"
    assert body["score"] == round(0.5 * 2500 / 1_000_000 + 0.3 * 1 / 3, 4)


async def test_same_payment_twice_gets_the_same_verdict_once_counted(
    fraud: SystemHarness,
) -> None:
    customer = uuid.uuid4()
    payment = requested(customer=customer)
    first_kind, _ = await verdict_of(fraud, payment)
    await fraud.deliver("payment-requested", payment)  # new message id, same payment
    consumer = fraud.app.consumers["fraud-api"]
    async with asyncio.timeout(10):
        while sum(n for o, n in consumer.counts.items() if o.value == "handled") < 2:
            await asyncio.sleep(0.02)
    await fraud.quiet()
    # The answer is staged under the same message id as the first, so it is not sent again.
    assert len(fraud.seen(first_kind)) == 1
    # Counted once: two more payments still fit the limit of three.
    for minute in (1, 2):
        kind, _ = await verdict_of(
            fraud, requested(customer=customer, at=T0 + timedelta(minutes=minute))
        )
        assert kind == "fraud-check-passed"


async def test_velocity_history_survives_a_restart(
    tmp_path: Path, nats_url: str, rules_env: None, tmp_path_factory: pytest.TempPathFactory
) -> None:
    customer = uuid.uuid4()
    async with running_system("fraud-detection", data_dir=tmp_path, nats_url=nats_url) as h:
        for minute in range(3):
            kind, _ = await verdict_of(
                h, requested(customer=customer, at=T0 + timedelta(minutes=minute))
            )
            assert kind == "fraud-check-passed"
    # A fresh broker: only the simulator's own store carries the history over.
    broker = EmbeddedNats(tmp_path_factory.mktemp("nats2"))
    broker.start()
    try:
        async with running_system("fraud-detection", data_dir=tmp_path, nats_url=broker.url) as h:
            kind, body = await verdict_of(
                h, requested(customer=customer, at=T0 + timedelta(minutes=4))
            )
            assert (kind, body["reason"]) == ("fraud-check-failed", "VELOCITY")
    finally:
        broker.stop()
