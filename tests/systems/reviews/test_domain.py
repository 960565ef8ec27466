"""Reviews rules: the moderation policy in its order, the flag threshold, the rating math."""

from __future__ import annotations

from decimal import Decimal

import pytest

from acme.systems.reviews import domain
from acme.systems.reviews.config import DEFAULT_BLOCKLIST, ReviewsSettings
from acme.systems.reviews.domain import Decision, Summary

BLOCK = frozenset({"idiot", "moron"})


@pytest.mark.parametrize(
    ("body", "decision"),
    [
        ("Great kettle, boils fast and looks good.", Decision("published")),
        ("Buy cheaper at http://example.test today", Decision("rejected", "spam")),
        ("Details on HTTPS://shop.example.test", Decision("rejected", "spam")),
        ("see www.example.test for more", Decision("rejected", "spam")),
        ("THIS KETTLE IS THE BEST EVER", Decision("rejected", "spam")),
        ("Only the designer is an idiot, kettle fine", Decision("rejected", "abuse")),
        ("MORON-proof design, works well", Decision("rejected", "abuse")),
        ("YOU IDIOT, THIS IS BROKEN", Decision("rejected", "spam")),  # rule 2 before rule 3
        ("Whoever made this is a Moron.", Decision("rejected", "abuse")),
        ("Idiotic lid, but it works fine overall", Decision("published")),  # whole words only
        ("Nice.", Decision("rejected", "off_topic")),
        ("   ok    ", Decision("rejected", "off_topic")),
        ("", Decision("rejected", "off_topic")),
        ("idiot", Decision("rejected", "abuse")),  # abuse is checked before length
        ("http://x", Decision("rejected", "spam")),  # spam before length
    ],
)
def test_moderation_rules_in_order(body: str, decision: Decision) -> None:
    assert domain.moderate(body, BLOCK) == decision


def test_capitals_rule_counts_letters_only() -> None:
    assert domain.mostly_capitals("ABC def G")  # 4 of 7 letters
    assert not domain.mostly_capitals("ABC defg")  # 3 of 7
    assert not domain.mostly_capitals("AB cd")  # exactly half is not more than half
    assert not domain.mostly_capitals("12345 !!!")  # no letters


def test_blocklist_matches_whole_words_case_insensitively() -> None:
    assert domain.blocked_words("You IDIOT!", BLOCK) == {"idiot"}
    assert domain.blocked_words("idiotic", BLOCK) == set()


@pytest.mark.parametrize(
    ("status", "flags", "down"),
    [("published", 2, False), ("published", 3, True), ("published", 4, True),
     ("submitted", 3, False), ("rejected", 5, False)],
)  # fmt: skip
def test_flag_threshold(status: str, flags: int, down: bool) -> None:
    assert domain.takes_down(status, flags) is down


def test_average_rounds_half_up_to_two_decimals() -> None:
    assert domain.average(13, 3) == Decimal("4.33")
    assert domain.average(14, 3) == Decimal("4.67")
    assert domain.average(9, 8) == Decimal("1.13")  # 1.125 rounds up
    assert domain.average(0, 0) == Decimal("0.00")


def test_summary_add_and_remove() -> None:
    summary = Summary().add(5).add(4).add(4)
    assert (summary.rating_sum, summary.count, summary.average) == (13, 3, Decimal("4.33"))
    after = summary.remove(5)
    assert (after.rating_sum, after.count, after.average) == (8, 2, Decimal("4.00"))
    assert after.remove(4).remove(4).average == Decimal("0.00")
    with pytest.raises(ValueError, match="cannot remove"):
        Summary().remove(3)


def test_blocklist_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ReviewsSettings(_env_file=None).words == frozenset(DEFAULT_BLOCKLIST)
    monkeypatch.setenv("ACME_REVIEWS_BLOCKLIST", " Rubbish , Junk ")
    assert ReviewsSettings(_env_file=None).words == {"rubbish", "junk"}
    with pytest.raises(ValueError, match="single words"):
        ReviewsSettings(blocklist="two words", _env_file=None)
