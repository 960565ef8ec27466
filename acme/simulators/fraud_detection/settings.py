"""Fraud Detection simulator settings (environment variables prefixed `ACME_FRAUD_`).

Lists are given as JSON, e.g. `ACME_FRAUD_BLOCKED_CUSTOMERS='["3f2c...", "9a41..."]'`.
"""

from __future__ import annotations

from uuid import UUID

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class FraudSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ACME_FRAUD_", extra="ignore")

    amount_threshold: int = Field(
        default=1_000_000,
        gt=0,
        description="A payment above this many minor units fails with HIGH_RISK_SCORE.",
    )
    velocity_limit: int = Field(
        default=5,
        ge=1,
        description="Payments one customer may make within the window; the next fails (VELOCITY).",
    )
    velocity_window_minutes: float = Field(
        default=10.0, gt=0, description="Length of the velocity window."
    )
    blocked_customers: frozenset[UUID] = Field(
        default=frozenset(), description="Customer ids whose payments fail with BLOCKLISTED."
    )
