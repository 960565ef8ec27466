"""Fraud Detection simulator (external system; catalog: domains/Payments/systems/fraud-detection).

fraud-api screens every payment-requested published by the Payment API and answers
fraud-check-passed or fraud-check-failed on payments.events. The rules are deterministic and
documented in `domain.py` (blocklist, amount threshold, per-customer velocity), configured by
`FraudSettings` (ACME_FRAUD_AMOUNT_THRESHOLD, ..._VELOCITY_LIMIT, ..._VELOCITY_WINDOW_MINUTES,
..._BLOCKED_CUSTOMERS). Velocity history is kept in the simulator's own small store (a table in
its runtime store), not in memory, so it survives restarts and counts each payment once.
The catalog's payment-requested carries no e-mail address, so the blocklist is by customer id.
"""

from __future__ import annotations

from acme.runtime import SystemApp
from acme.simulators.fraud_detection.handlers import FraudApiHandlers
from acme.simulators.fraud_detection.settings import FraudSettings


def create(app: SystemApp, settings: FraudSettings | None = None) -> None:
    app.handle("fraud-api", FraudApiHandlers(settings or FraudSettings()))
