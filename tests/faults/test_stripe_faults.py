"""Scenario 6: the Stripe sandbox answers slowly, fails with 500s, sends webhooks twice and
out of order.

The sandbox's fault controls are set for the whole scenario (settle time included): every API
call is delayed, a share of them answered with HTTP 500 either before the call takes effect
or after (the charge happened, the answer is lost), and webhook events are duplicated and
reordered. Retries carry the payment's idempotency key, so no intent is charged or captured
twice, and the webhook inbox drops the duplicate events.
"""

from __future__ import annotations

from tests.e2e.helpers import eventually
from tests.faults.invariants import Expectations, finished, settle
from tests.faults.platform import FaultPlatform
from tests.faults.scenario import FAULTS, SEED, SETTLE, conclude
from tests.faults.shop import Shop, summary

pytestmark = FAULTS

CHECKOUTS = 12
FAULTS_COMMON = {
    "latency_ms": 300,
    "error_rate": 0.3,
    "fail_next": 1,  # at least one 500 of each phase, whatever the dice say
    "duplicate_webhooks": 0.5,
    "reorder_webhooks": 0.5,
    "seed": SEED,
}


async def test_stripe_slow_failing_and_sloppy_webhooks(faults: FaultPlatform, shop: Shop) -> None:
    expect = Expectations()
    product = await shop.product(expect, price=2500, stock=CHECKOUTS)
    prepared = await shop.carts(expect, product, CHECKOUTS)
    half = CHECKOUTS // 2
    before = await faults.stripe_state()

    try:
        # First half: the 500 comes after the call took effect (the charge is made, the answer
        # lost); second half: before it (nothing happened). Both are retried with the same key.
        await faults.stripe_faults(**FAULTS_COMMON, error_phase="after")
        attempts = await shop.burst(expect, prepared[:half])
        await _finished(faults, expect)
        await faults.stripe_faults(**FAULTS_COMMON, error_phase="before")
        attempts += await shop.burst(expect, prepared[half:])
        await settle(
            faults.stores,
            faults.broker_url,
            faults.stripe_state,
            expect,
            consumers=faults.consumers,
            timeout=SETTLE,
        )
        after = await faults.stripe_state()
    finally:
        await faults.stripe_faults()  # healthy again for whatever runs next

    injected = {
        name: after["requests"][name] - before["requests"][name]
        for name in ("faults_before", "faults_after", "replayed")
    }
    posts = after["webhooks"]["posts"] - before["webhooks"]["posts"]
    # events of a type the endpoint does not subscribe to are stored, never POSTed
    earlier = {event["id"] for event in before["events"]}
    events = sum(
        1 for e in after["events"] if e["id"] not in earlier and e["status"] != "not_enabled"
    )
    verdict = await conclude(
        faults,
        "Stripe slow/500/webhooks",
        f"{summary(attempts)}; Stripe +{FAULTS_COMMON['latency_ms']}ms, "
        f"{injected['faults_after']}+{injected['faults_before']} 500s (after+before the call), "
        f"{posts - events} extra webhook posts",
        expect,
    )
    # The faults did happen: 500s of both kinds, answers replayed for a retried key, webhook
    # events posted more than once.
    assert injected["faults_before"] > 0 and injected["faults_after"] > 0, injected
    assert injected["replayed"] > 0, injected
    assert posts > events, f"{posts} webhook posts for {events} events: none duplicated"
    assert verdict.outcomes["COMPLETED"] == CHECKOUTS, verdict.outcomes


async def _finished(faults: FaultPlatform, expect: Expectations) -> None:
    async def all_finished() -> None:
        assert finished(faults.stores, expect.checkouts) == len(expect.checkouts)

    await eventually(all_finished, timeout=SETTLE, interval=0.5)
