"""The discount rules of the Promotion System, without I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from acme.systems.promotion.domain import (
    SEED_PROMOTIONS,
    Promotion,
    PromotionType,
    Skip,
    evaluate,
    normalise_code,
)

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
START = NOW - timedelta(days=10)


def percent(value: int, **kw: object) -> Promotion:
    return Promotion("P", PromotionType.PERCENTAGE, value, START, **kw)  # type: ignore[arg-type]


def fixed(value: int, **kw: object) -> Promotion:
    return Promotion("F", PromotionType.FIXED_AMOUNT, value, START, **kw)  # type: ignore[arg-type]


def test_percentage_is_rounded_down_to_a_minor_unit() -> None:
    decision = evaluate(percent(10), subtotal=1999, now=NOW)
    assert decision.discount == 199
    assert decision.applied == ("P",)
    assert decision.skipped is None


def test_percentage_above_100_takes_the_whole_subtotal_only() -> None:
    assert evaluate(percent(150), subtotal=1000, now=NOW).discount == 1000


def test_fixed_amount_never_exceeds_the_subtotal() -> None:
    assert evaluate(fixed(500), subtotal=3000, now=NOW).discount == 500
    assert evaluate(fixed(500), subtotal=300, now=NOW).discount == 300


def test_unknown_code_earns_nothing() -> None:
    decision = evaluate(None, subtotal=1000, now=NOW)
    assert (decision.discount, decision.applied, decision.skipped) == (0, (), Skip.UNKNOWN)


def test_inactive_promotion_earns_nothing() -> None:
    assert evaluate(percent(10, active=False), subtotal=1000, now=NOW).skipped is Skip.INACTIVE


def test_validity_window_is_start_inclusive_end_exclusive() -> None:
    starts_now = Promotion("S", PromotionType.PERCENTAGE, 10, NOW)
    assert evaluate(starts_now, subtotal=1000, now=NOW).discount == 100
    early = evaluate(starts_now, subtotal=1000, now=NOW - timedelta(seconds=1))
    assert early.skipped is Skip.NOT_STARTED
    ends_now = percent(10, ends_at=NOW)
    assert evaluate(ends_now, subtotal=1000, now=NOW).skipped is Skip.EXPIRED
    assert evaluate(ends_now, subtotal=1000, now=NOW - timedelta(seconds=1)).discount == 100


def test_minimum_spend_is_inclusive() -> None:
    promotion = fixed(500, min_spend_cents=2500)
    assert evaluate(promotion, subtotal=2499, now=NOW).skipped is Skip.BELOW_MINIMUM_SPEND
    assert evaluate(promotion, subtotal=2500, now=NOW).discount == 500


def test_segment_restricted_promotion_is_not_granted() -> None:
    decision = evaluate(percent(10, customer_segment="VIP"), subtotal=1000, now=NOW)
    assert decision.skipped is Skip.SEGMENT_RESTRICTED
    assert decision.discount == 0


def test_zero_subtotal_earns_nothing() -> None:
    assert evaluate(percent(10), subtotal=0, now=NOW).skipped is Skip.NOTHING_TO_DISCOUNT
    # 10 % of 5 cents rounds down to nothing: no promotion is reported as applied.
    tiny = evaluate(percent(10), subtotal=5, now=NOW)
    assert (tiny.discount, tiny.applied) == (0, ())


def test_naive_times_are_read_as_utc() -> None:
    naive = Promotion("N", PromotionType.PERCENTAGE, 10, START.replace(tzinfo=None))
    assert evaluate(naive, subtotal=1000, now=NOW.replace(tzinfo=None)).discount == 100


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("welcome10", "WELCOME10"), ("  Save5 ", "SAVE5"), ("   ", None), (None, None)],
)
def test_codes_are_case_insensitive(raw: str | None, expected: str | None) -> None:
    assert normalise_code(raw) == expected


def test_seed_promotions_show_each_rule() -> None:
    by_code = {p.code: p for p in SEED_PROMOTIONS}
    assert evaluate(by_code["WELCOME10"], subtotal=5000, now=NOW).discount == 500
    assert evaluate(by_code["SAVE5"], subtotal=2000, now=NOW).discount == 0
    assert evaluate(by_code["BIG20"], subtotal=10000, now=NOW).discount == 2000
    assert evaluate(by_code["SPRING2024"], subtotal=5000, now=NOW).skipped is Skip.EXPIRED
    assert evaluate(by_code["PAUSED"], subtotal=5000, now=NOW).skipped is Skip.INACTIVE
