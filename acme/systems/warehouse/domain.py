"""Warehouse rules without I/O: the picking job's states, parcels, picking time, addresses."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

JobStatus = Literal["CREATED", "PICKING", "PACKED", "CANCELLED", "CLOSED"]

UNITS_PER_PARCEL = 10

# A job can be cancelled, re-addressed or reported packed only while it is still in the warehouse.
OPEN_STATUSES: tuple[JobStatus, ...] = ("CREATED", "PICKING")


class UnpickableOrder(ValueError):
    """An order-confirmed event that lacks what a picking job needs."""


@dataclass(frozen=True)
class Address:
    """The parts of a delivery address printed on a parcel label."""

    line1: str
    city: str
    postcode: str
    country: str
    recipient_name: str | None = None
    line2: str | None = None


@dataclass(frozen=True)
class Line:
    product_id: UUID
    quantity: int


def merge_lines(lines: Iterable[Line]) -> list[Line]:
    """One line per product (the job's items are keyed by product), quantities added up."""
    totals: dict[UUID, int] = {}
    for line in lines:
        if line.quantity < 1:
            raise UnpickableOrder(
                f"line for product {line.product_id} has quantity {line.quantity}"
            )
        totals[line.product_id] = totals.get(line.product_id, 0) + line.quantity
    return [Line(product_id, quantity) for product_id, quantity in totals.items()]


def parcel_count(quantities: Iterable[int]) -> int:
    """Up to ten units per parcel, and at least one parcel."""
    units = sum(quantities)
    return max(1, math.ceil(units / UNITS_PER_PARCEL))


def can_cancel(status: str) -> bool:
    return status in OPEN_STATUSES


def can_pack(status: str) -> bool:
    return status in OPEN_STATUSES


def can_close(status: str) -> bool:
    # A cancelled job stays cancelled; anything else ends when the order completes.
    return status in ("CREATED", "PICKING", "PACKED")


def accepts_address(status: str, current_revision: int, new_revision: int) -> bool:
    """Newer revisions win, and only while the parcels have not been announced for shipping."""
    return status in OPEN_STATUSES and new_revision > current_revision


def merge_address(
    current: Address,
    *,
    line1: str | None,
    city: str | None,
    postcode: str | None,
    country: str | None,
    recipient_name: str | None,
    line2: str | None,
) -> Address:
    """The new address replaces the old one; a label line the change leaves out (the event makes
    every field optional) keeps its previous value, because a parcel cannot go without it."""
    return replace(
        current,
        line1=line1 or current.line1,
        city=city or current.city,
        postcode=postcode or current.postcode,
        country=country or current.country,
        recipient_name=recipient_name,
        line2=line2,
    )


@dataclass(frozen=True)
class PickingClock:
    """Simulated picking time: uniform between `minimum` and `maximum` seconds.

    With a seed the time depends only on (seed, job id), so a seeded run is reproducible
    whatever order the jobs arrive in; without one it is random.
    """

    minimum: float
    maximum: float
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.minimum < 0 or self.maximum < self.minimum:
            raise ValueError(
                f"picking delay must satisfy 0 <= min <= max, got {self.minimum}..{self.maximum}"
            )

    def delay(self, job_id: UUID) -> float:
        rng = random.Random(f"{self.seed}:{job_id}") if self.seed is not None else random.Random()
        return rng.uniform(self.minimum, self.maximum)

    def due_at(self, job_id: UUID, now: datetime) -> datetime:
        return now + timedelta(seconds=self.delay(job_id))
