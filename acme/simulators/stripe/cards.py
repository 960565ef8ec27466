"""Stripe's documented test payment methods and how each one behaves when charged."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Decline:
    code: str
    decline_code: str
    message: str
    outcome_type: str  # Charge.outcome.type: issuer_declined or blocked etc.


@dataclass(frozen=True)
class SandboxCard:
    payment_method: str
    brand: str
    last4: str
    funding: str = "credit"
    decline: Decline | None = None

    def payment_method_object(self, created: int) -> dict[str, Any]:
        return {
            "id": self.payment_method,
            "object": "payment_method",
            "type": "card",
            "card": self.card_details(),
            "billing_details": {"address": None, "email": None, "name": None, "phone": None},
            "created": created,
            "customer": None,
            "livemode": False,
            "metadata": {},
        }

    def card_details(self) -> dict[str, Any]:
        return {
            "brand": self.brand,
            "last4": self.last4,
            "funding": self.funding,
            "exp_month": 12,
            "exp_year": 2034,
            "country": "US",
        }


_DECLINED = Decline(
    "card_declined", "generic_decline", "Your card was declined.", "issuer_declined"
)
_INSUFFICIENT = Decline(
    "card_declined", "insufficient_funds", "Your card has insufficient funds.", "issuer_declined"
)
_EXPIRED = Decline("expired_card", "expired_card", "Your card has expired.", "issuer_declined")
_PROCESSING = Decline(
    "processing_error",
    "processing_error",
    "An error occurred while processing your card. Try again in a little bit.",
    "issuer_declined",
)

TEST_CARDS: dict[str, SandboxCard] = {
    card.payment_method: card
    for card in (
        SandboxCard("pm_card_visa", "visa", "4242"),
        SandboxCard("pm_card_visa_debit", "visa", "5556", funding="debit"),
        SandboxCard("pm_card_mastercard", "mastercard", "4444"),
        SandboxCard("pm_card_mastercard_debit", "mastercard", "8210", funding="debit"),
        SandboxCard("pm_card_amex", "amex", "8431"),
        SandboxCard("pm_card_chargeDeclined", "visa", "0002", decline=_DECLINED),
        SandboxCard(
            "pm_card_chargeDeclinedInsufficientFunds", "visa", "9995", decline=_INSUFFICIENT
        ),
        SandboxCard("pm_card_chargeDeclinedExpiredCard", "visa", "0069", decline=_EXPIRED),
        SandboxCard("pm_card_chargeDeclinedProcessingError", "visa", "0119", decline=_PROCESSING),
    )
}
