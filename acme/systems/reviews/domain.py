"""Reviews rules without I/O: the moderation policy, the flag threshold, the rating math."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

Outcome = Literal["published", "rejected"]
RejectReason = Literal["spam", "abuse", "off_topic", "policy_violation"]

FLAG_THRESHOLD = 3  # a published review flagged this many times is taken down
MIN_BODY_LENGTH = 10

_URL = re.compile(r"https?://|www\.", re.IGNORECASE)
_WORD = re.compile(r"[\w']+")  # a hyphen separates words: "moron-proof" holds "moron"


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    reason: RejectReason | None = None


PUBLISH = Decision("published")


def mostly_capitals(text: str) -> bool:
    """More than half of the letters are upper case (texts without letters are not)."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return False
    return sum(c.isupper() for c in letters) * 2 > len(letters)


def blocked_words(text: str, blocklist: Iterable[str]) -> set[str]:
    """Blocklisted words that appear in `text` as whole words, case-insensitively."""
    words = {w.lower().strip("'") for w in _WORD.findall(text)}
    return words & {b.lower() for b in blocklist}


def moderate(body: str, blocklist: Iterable[str]) -> Decision:
    """The moderation policy (Review Moderation Worker page): the first matching rule decides."""
    if _URL.search(body):
        return Decision("rejected", "spam")
    if mostly_capitals(body):
        return Decision("rejected", "spam")
    if blocked_words(body, blocklist):
        return Decision("rejected", "abuse")
    if len(body.strip()) < MIN_BODY_LENGTH:
        return Decision("rejected", "off_topic")
    return PUBLISH


def takes_down(status: str, flag_count: int) -> bool:
    """A published review reaching the flag threshold is re-moderated and rejected."""
    return status == "published" and flag_count >= FLAG_THRESHOLD


_CENT = Decimal("0.01")


def average(rating_sum: int, count: int) -> Decimal:
    """Mean rating rounded half-up to two decimals; 0 when nothing is counted."""
    if count <= 0:
        return Decimal("0.00")
    return (Decimal(rating_sum) / Decimal(count)).quantize(_CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Summary:
    rating_sum: int = 0
    count: int = 0

    @property
    def average(self) -> Decimal:
        return average(self.rating_sum, self.count)

    def add(self, rating: int) -> Summary:
        return Summary(self.rating_sum + rating, self.count + 1)

    def remove(self, rating: int) -> Summary:
        if self.count <= 0 or self.rating_sum < rating:
            raise ValueError(f"cannot remove rating {rating} from {self}")
        return Summary(self.rating_sum - rating, self.count - 1)


@dataclass(frozen=True)
class Submission:
    """What makes two submissions of one review id the same submission."""

    product_id: str
    customer_id: str
    rating: int
    title: str | None
    body: str
