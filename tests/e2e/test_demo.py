"""The README's documented command, `acme demo checkout`, against the running platform."""

from __future__ import annotations

import asyncio
import io

import pytest

from acme.cli import main
from benchmarks.embedded import RunningPlatform

from .helpers import E2E

pytestmark = E2E


async def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    # The command runs its own event loop: give it a thread, the platform keeps this one.
    code = await asyncio.to_thread(main, list(args), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


async def test_demo_checkout_prints_the_confirmed_order(
    platform: RunningPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACME_ADMIN_EMAIL", platform.admin_email)
    monkeypatch.setenv("ACME_ADMIN_PASSWORD", platform.admin_password)

    code, out, err = await run_cli("demo", "checkout", "--url", platform.gateway_url)

    assert code == 0, err
    assert "Order confirmed" in out
    assert "ORD-" in out
    assert "(COMPLETED)" in out
    assert "25.00 USD" in out  # 2 × 12.50, the defaults


async def test_demo_checkout_reports_a_declined_card(
    platform: RunningPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACME_ADMIN_EMAIL", platform.admin_email)
    monkeypatch.setenv("ACME_ADMIN_PASSWORD", platform.admin_password)

    code, out, err = await run_cli(
        "demo",
        "checkout",
        "--url",
        platform.gateway_url,
        "--payment-method",
        "pm_card_chargeDeclined",
    )

    assert code == 1
    assert "FAILED: PAYMENT_DECLINED" in err
    assert "Order confirmed" not in out


async def test_demo_checkout_rejects_a_malformed_payment_method(platform: RunningPlatform) -> None:
    code, out, err = await run_cli(
        "demo", "checkout", "--url", platform.gateway_url, "--payment-method", "visa"
    )

    assert code == 2
    assert "not a Stripe payment method id" in err
    assert "seeded product" not in out  # nothing was created
