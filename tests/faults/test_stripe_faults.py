"""Scenario 6: the Stripe sandbox answers slowly, fails with 500s, sends webhooks twice and
out of order.

The sandbox's fault controls are set for the whole scenario (settle time included): every API
call is delayed, a share of them answered with HTTP 500 either before the call takes effect
or after (the charge happened, the answer is lost), and webhook events are duplicated and
reordered. Retries carry the payment's idempotency key, so no intent is charged or captured
twice, and the webhook inbox drops the duplicate events.
"""

from __future__ import annotations

from tests.faults.invariants import Expectations, settle
from tests.faults.platform import FaultPlatform
from tests.faults.scenario import FAULTS, SEED, SETTLE, conclude
from tests.faults.shop import Shop, summary

pytestmark = FAULTS

CHECKOUTS = 12
FAULT_CONFIG = {
    "latency_ms": 300,
    "error_rate": 0.4,
    "error_phase": "random",
    "duplicate_webhooks": 0.5,
    "reorder_webhooks": 0.5,
    "seed": SEED,
}


async def test_stripe_slow_failing_and_sloppy_webhooks(faults: FaultPlatform, shop: Shop) -> None:
    expect = Expectations()
    product = await shop.product(expect, price=2500, stock=CHECKOUTS)
    prepared = await shop.carts(expect, product, CHECKOUTS)
    before = await faults.stripe_state()

    await faults.stripe_faults(**FAULT_CONFIG)
    try:
        attempts = await shop.burst(expect, prepared)
        await settle(
            faults.data_dir, faults.broker_url, faults.stripe_state, expect, timeout=SETTLE
        )
        after = await faults.stripe_state()
    finally:
        await faults.stripe_faults()  # healthy again for whatever runs next

    injected = {
        name: after["requests"][name] - before["requests"][name]
        for name in ("faults_before", "faults_after", "replayed")
    }
    duplicated_posts = after["webhooks"]["posts"] - before["webhooks"]["posts"]
    verdict = await conclude(
        faults,
        "Stripe slow/500/webhooks",
        f"{summary(attempts)}; Stripe +{FAULT_CONFIG['latency_ms']}ms, "
        f"{injected['faults_before']}+{injected['faults_after']} 500s (before+after), "
        f"{injected['replayed']} idempotent replays",
        expect,
    )
    # The faults did happen: 500s of both kinds, answers replayed for a retried key.
    assert injected["faults_before"] > 0 and injected["faults_after"] > 0, injected
    assert injected["replayed"] > 0, injected
    new_events = [e for e in after["events"] if e["id"] not in {x["id"] for x in before["events"]}]
    assert duplicated_posts > len(new_events), "no webhook was delivered twice"
    assert verdict.outcomes["COMPLETED"] == CHECKOUTS, verdict.outcomes
