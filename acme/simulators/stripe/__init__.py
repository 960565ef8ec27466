"""Local Stripe sandbox: our own stand-in for Stripe's v1 API, spoken to by the official SDK.

Point the unmodified `stripe` SDK at it and it answers like Stripe in test mode: PaymentIntents
(create, confirm, capture, cancel), Refunds, Idempotency-Key semantics, the documented test payment
methods (`pm_card_visa`, `pm_card_chargeDeclined`, ...) and signed webhooks. `/_sandbox/*` adds what
the real service cannot do: injected faults and a view of its whole state for tests.

Run it with `python -m acme.simulators.stripe --port 0`; build it in-process with `create_app`.
"""

from acme.simulators.stripe.app import create_app
from acme.simulators.stripe.faults import FaultConfig
from acme.simulators.stripe.settings import DEFAULT_WEBHOOK_SECRET, SandboxSettings
from acme.simulators.stripe.webhooks import sign

__all__ = ["DEFAULT_WEBHOOK_SECRET", "FaultConfig", "SandboxSettings", "create_app", "sign"]
