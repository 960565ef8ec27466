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


@pytest.fixture
def admin_env(platform: RunningPlatform, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_ADMIN_EMAIL", platform.admin_email)
    monkeypatch.setenv("ACME_ADMIN_PASSWORD", platform.admin_password)


@pytest.mark.usefixtures("admin_env")
async def test_demo_fulfilment_follows_the_order_to_its_end(platform: RunningPlatform) -> None:
    code, out, err = await run_cli("demo", "fulfilment", "--url", platform.gateway_url)

    assert code == 0, err
    assert "FULFILLING" in out  # a progress line, as the order moved
    # The session's carrier fails half of the deliveries (conftest): either end is shown.
    assert ("Order delivered" in out and "COMPLETED" in out) or (
        "Delivery failed: order on hold" in out and "ADDRESS_VERIFICATION" in out
    ), out


@pytest.mark.usefixtures("admin_env")
async def test_demo_cancel_shows_the_cancelled_order_and_the_stock_back(
    platform: RunningPlatform,
) -> None:
    code, out, err = await run_cli("demo", "cancel", "--url", platform.gateway_url)

    assert code == 0, err
    assert "Order cancelled" in out
    assert "CANCELLED" in out and "CUSTOMER_REQUESTED" in out
    assert "stock after the order: 18 available, 0 reserved" in out  # 2 of 20 sold
    assert "stock returned: 20 available, 0 reserved" in out


@pytest.mark.usefixtures("admin_env")
async def test_demo_search_shows_the_index_following_the_catalog(
    platform: RunningPlatform,
) -> None:
    code, out, err = await run_cli("demo", "search", "--url", platform.gateway_url)

    assert code == 0, err
    created, rest = out.split("2. updated", 1)
    updated, deleted = rest.split("3. deleted", 1)
    assert "1. created" in created
    assert created.index("desk lamp") < created.index("Linen lamp shade")
    assert updated.index("linen shade") < updated.index("Brass desk lamp")
    assert "linen shade" in deleted and "desk lamp" not in deleted


@pytest.mark.usefixtures("admin_env")
async def test_demo_review_publishes_rates_and_takes_down(platform: RunningPlatform) -> None:
    code, out, err = await run_cli("demo", "review", "--url", platform.gateway_url)

    assert code == 0, err
    assert "Published: average 4.00 from 1 review(s)" in out
    assert "average 4.0 from 1 review(s)" in out  # in search
    assert "flag 3 by" in out
    assert "Taken down after 3 flags" in out
    assert "average - from 0 review(s)" in out
    assert "no rating any more" in out


@pytest.mark.usefixtures("admin_env")
async def test_demo_review_of_spam_is_never_shown(platform: RunningPlatform) -> None:
    code, out, err = await run_cli(
        "demo",
        "review",
        "--url",
        platform.gateway_url,
        "--body",
        "Best prices at http://spam.example",
        "--timeout",
        "3",
    )

    assert code == 1
    assert "was not published within 3s" in err
    assert "Published" not in out
