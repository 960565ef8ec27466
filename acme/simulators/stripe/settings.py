"""Configuration of the Stripe sandbox, read from the environment (or passed in by tests)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_WEBHOOK_SECRET = "whsec_acme_local_sandbox"
DB_FILE_NAME = "stripe_sandbox.sqlite3"

# The events Acme's webhook endpoint subscribes to, as its `enabled_events` would list them in
# Stripe's dashboard: the ones the Payment Processing System decodes (a test keeps the two lists
# equal). Stripe sends an endpoint nothing else, and neither does the sandbox by default.
ACME_WEBHOOK_EVENTS = (
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "refund.created",
    "refund.updated",
)
_EVENT_TYPE = re.compile(r"^(\*|[a-z_]+(\.[a-z_]+)+)$")


class SandboxSettings(BaseSettings):
    """Every field can be set with an `ACME_STRIPE_<FIELD>` environment variable.

    The data folder is shared with the rest of the platform, hence `ACME_DATA_DIR`.
    """

    model_config = SettingsConfigDict(env_prefix="ACME_STRIPE_", extra="ignore")

    host: str = "127.0.0.1"
    # 0 asks the OS for a free port; the chosen one is announced on the ACME-READY line.
    port: int = Field(default=0, ge=0, le=65535)
    data_dir: Path = Field(
        default=Path("data"),
        validation_alias=AliasChoices("ACME_DATA_DIR", "data_dir"),
    )
    # Keep everything in memory (tests); nothing survives a restart.
    in_memory: bool = False

    webhook_url: str | None = None
    webhook_secret: str = DEFAULT_WEBHOOK_SECRET
    # Comma-separated event types delivered to the endpoint, `*` for every event (Stripe's
    # `enabled_events`). Events of other types are still created and listed, never POSTed.
    webhook_events: str = ",".join(ACME_WEBHOOK_EVENTS)
    # Bounded retries of a failed delivery: attempt n waits base * 2**(n-1), capped at max.
    webhook_max_attempts: int = Field(default=8, ge=1, le=50)
    webhook_retry_base_ms: int = Field(default=500, ge=0)
    webhook_retry_max_ms: int = Field(default=30_000, ge=0)
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    # How long a delivery held back by the reorder fault waits for a later event to overtake it.
    reorder_window_ms: int = Field(default=200, ge=0)

    # Faults active from start-up, as the JSON body of POST /_sandbox/faults.
    faults: str | None = None

    @field_validator("webhook_url")
    @classmethod
    def _check_webhook_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"ACME_STRIPE_WEBHOOK_URL must be an http(s) URL, got {value!r}")
        return value

    @field_validator("webhook_events")
    @classmethod
    def _check_webhook_events(cls, value: str) -> str:
        return ",".join(parse_event_types(value))

    @field_validator("faults")
    @classmethod
    def _check_faults(cls, value: str | None) -> str | None:
        if value:
            from acme.simulators.stripe.faults import FaultConfig

            FaultConfig.model_validate_json(value)  # fails early with the field at fault
        return value or None

    @property
    def webhook_event_types(self) -> tuple[str, ...]:
        return parse_event_types(self.webhook_events)

    @property
    def db_path(self) -> Path:
        return self.data_dir / DB_FILE_NAME


def parse_event_types(value: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """`"a.b, c.d"` or a list of types -> the types, checked; ValueError names a bad one."""
    items = value.split(",") if isinstance(value, str) else list(value)
    types = tuple(dict.fromkeys(t.strip() for t in items if t.strip()))
    if not types:
        raise ValueError("ACME_STRIPE_WEBHOOK_EVENTS lists no event type (use * for all)")
    for event_type in types:
        if not _EVENT_TYPE.match(event_type):
            raise ValueError(
                f"ACME_STRIPE_WEBHOOK_EVENTS: {event_type!r} is not a Stripe event type "
                "(like payment_intent.succeeded) or *"
            )
    return types
