"""The carrier's dice, without I/O: what happens to a parcel, decided when it is booked.

A booking's fate depends only on (seed, shipment id) when a seed is set, so a seeded run is
reproducible whatever order bookings arrive in, and a redelivered booking gets the same fate.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal
from uuid import UUID

Outcome = Literal["DELIVERED", "FAILED", "DROPPED"]
FailureReason = Literal["FAILED_DELIVERY", "LOST", "DAMAGED", "RETURNED_TO_SENDER"]
FAILURE_REASONS: tuple[FailureReason, ...] = (
    "FAILED_DELIVERY",
    "LOST",
    "DAMAGED",
    "RETURNED_TO_SENDER",
)


@dataclass(frozen=True)
class Odds:
    failure_rate: float
    drop_rate: float = 0.0
    reasons: tuple[str, ...] = FAILURE_REASONS
    seed: int | None = None

    def __post_init__(self) -> None:
        if not (0 <= self.failure_rate <= 1 and 0 <= self.drop_rate <= 1):
            raise ValueError("failure and drop rates must be between 0 and 1")
        if self.failure_rate + self.drop_rate > 1:
            raise ValueError("failure rate + drop rate must not exceed 1")
        if not self.reasons or set(self.reasons) - set(FAILURE_REASONS):
            raise ValueError(f"failure reasons must be some of {', '.join(FAILURE_REASONS)}")


@dataclass(frozen=True)
class Fate:
    tracking_number: str
    outcome: Outcome
    failure_reason: str | None


def decide(shipment_id: UUID, odds: Odds) -> Fate:
    rng = random.Random(f"{odds.seed}:{shipment_id}") if odds.seed is not None else random.Random()
    tracking = "CS" + "".join(rng.choice(string.digits) for _ in range(10))
    roll = rng.random()
    if roll < odds.drop_rate:
        return Fate(tracking, "DROPPED", None)
    if roll < odds.drop_rate + odds.failure_rate:
        return Fate(tracking, "FAILED", rng.choice(odds.reasons))
    return Fate(tracking, "DELIVERED", None)


@dataclass(frozen=True)
class Schedule:
    """When the tracking events of a booking made at `booked_at` are due."""

    created_delay: float
    delivery_delay: float

    def created_at(self, booked_at: datetime) -> datetime:
        return booked_at + timedelta(seconds=self.created_delay)

    def outcome_at(self, booked_at: datetime) -> datetime:
        return self.created_at(booked_at) + timedelta(seconds=self.delivery_delay)

    def estimated_delivery(self, booked_at: datetime) -> date:
        return self.outcome_at(booked_at).date()
