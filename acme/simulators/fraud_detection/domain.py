"""The simulator's screening rules: deterministic, so tests and demos can aim for a verdict.

Rules, first match wins (amounts in minor units, score from 0 = safe to 1 = fraud):

1. BLOCKLISTED: the customer id is in `blocked_customers` -> fail, score 1.0.
2. HIGH_RISK_SCORE: amount > `amount_threshold` -> fail, score 0.8 rising to 1.0 at twice the
   threshold.
3. VELOCITY: the customer already made `velocity_limit` payments whose `requestedAt` lies in
   the `velocity_window_minutes` before this one -> fail, score 0.9.
4. Otherwise pass, score = 0.5 x amount / threshold + 0.3 x earlier payments / limit (< 0.8).

Payments without a customer id skip rules 1 and 3.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from uuid import UUID


class FailReason(enum.StrEnum):
    HIGH_RISK_SCORE = "HIGH_RISK_SCORE"
    BLOCKLISTED = "BLOCKLISTED"
    VELOCITY = "VELOCITY"


@dataclass(frozen=True)
class Rules:
    amount_threshold: int
    velocity_limit: int
    blocked_customers: frozenset[UUID] = frozenset()


@dataclass(frozen=True)
class Verdict:
    passed: bool
    score: float
    reason: FailReason | None = None


def screen(rules: Rules, *, amount: int, customer_id: UUID | None, earlier: int) -> Verdict:
    """The verdict on one payment; `earlier` = the customer's payments inside the window."""
    if customer_id is not None and customer_id in rules.blocked_customers:
        return Verdict(False, 1.0, FailReason.BLOCKLISTED)
    threshold = rules.amount_threshold
    if amount > threshold:
        excess = min(1.0, (amount - threshold) / threshold)
        return Verdict(False, round(0.8 + 0.2 * excess, 4), FailReason.HIGH_RISK_SCORE)
    if customer_id is not None and earlier >= rules.velocity_limit:
        return Verdict(False, 0.9, FailReason.VELOCITY)
    usage = min(earlier, rules.velocity_limit) / rules.velocity_limit
    return Verdict(True, round(0.5 * amount / threshold + 0.3 * usage, 4))
