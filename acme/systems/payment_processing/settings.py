"""Stripe settings of the Payment Processing System (environment variables `ACME_STRIPE_*`).

The same variable names configure the Stripe sandbox, so one `ACME_STRIPE_WEBHOOK_SECRET` is
both the sandbox's signing secret and the secret the webhook is verified with.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_API_KEY = "sk_test_acme_local"
DEFAULT_WEBHOOK_SECRET = "whsec_acme_local_sandbox"


class PaymentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ACME_STRIPE_", extra="ignore")

    api_key: SecretStr = Field(
        default=SecretStr(DEFAULT_API_KEY),
        description="Stripe secret key (a test-mode key for real Stripe).",
    )
    api_base: str | None = Field(
        default=None,
        description="Base URL of the Stripe API; set to the local sandbox's URL, unset = Stripe.",
    )
    webhook_secret: SecretStr = Field(
        default=SecretStr(DEFAULT_WEBHOOK_SECRET),
        description="Signing secret the Stripe-Signature header is verified with.",
    )
    webhook_tolerance_seconds: int = Field(
        default=300, gt=0, description="Oldest signature timestamp accepted (replay protection)."
    )
    timeout_seconds: float = Field(default=30.0, gt=0, description="Timeout of one Stripe call.")
    max_network_retries: int = Field(
        default=0,
        ge=0,
        description="SDK-level retries; 0 because the outbox relay already retries with back-off.",
    )
