"""Settings of the carrier simulator (environment variables prefixed `ACME_CARRIER_`)."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from acme.simulators.carrier.domain import FAILURE_REASONS


class CarrierSettings(BaseSettings):
    """How the simulated carrier behaves: delays, odds of failure, and the seed of its dice."""

    model_config = SettingsConfigDict(
        env_prefix="ACME_CARRIER_", env_file=".env", extra="ignore", validate_default=True
    )

    failure_rate: float = Field(
        default=0.1, ge=0, le=1, description="Share of bookings that end in shipment-failed."
    )
    drop_rate: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Share of bookings the carrier silently loses (no tracking event at all).",
    )
    failure_reasons: str = Field(
        default=",".join(FAILURE_REASONS),
        description="Comma-separated reasons a failed delivery is given, drawn uniformly.",
    )
    created_delay: float = Field(
        default=2.0, ge=0, description="Seconds from booking to shipment-created."
    )
    delivery_delay: float = Field(
        default=5.0,
        ge=0,
        description="Seconds from shipment-created to shipment-delivered or shipment-failed.",
    )
    seed: int | None = Field(
        default=None,
        description="Seed of the outcomes; set, a shipment id always gets the same fate.",
    )
    poll_interval: float = Field(
        default=0.5, gt=0, description="Seconds between two looks for tracking events due."
    )
    carrier_name: str = Field(
        default="carrier", min_length=1, description="Name reported when a booking names none."
    )

    @field_validator("failure_reasons")
    @classmethod
    def _known_reasons(cls, value: str) -> str:
        reasons = [r.strip() for r in value.split(",") if r.strip()]
        unknown = sorted(set(reasons) - set(FAILURE_REASONS))
        if not reasons or unknown:
            raise ValueError(
                f"ACME_CARRIER_FAILURE_REASONS must list some of {', '.join(FAILURE_REASONS)}"
                + (f"; unknown: {', '.join(unknown)}" if unknown else "")
            )
        return ",".join(reasons)

    @model_validator(mode="after")
    def _rates_fit(self) -> CarrierSettings:
        if self.failure_rate + self.drop_rate > 1:
            raise ValueError(
                f"ACME_CARRIER_FAILURE_RATE ({self.failure_rate}) + ACME_CARRIER_DROP_RATE "
                f"({self.drop_rate}) exceed 1"
            )
        return self

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(self.failure_reasons.split(","))
