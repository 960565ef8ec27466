"""Settings of the warehouse system (environment variables prefixed `ACME_WAREHOUSE_`)."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class WarehouseSettings(BaseSettings):
    """How long simulated picking takes and how often the picking worker looks for due jobs."""

    model_config = SettingsConfigDict(
        env_prefix="ACME_WAREHOUSE_", env_file=".env", extra="ignore", validate_default=True
    )

    picking_delay_min: float = Field(
        default=1.0, ge=0, description="Shortest simulated picking time, in seconds."
    )
    picking_delay_max: float = Field(
        default=3.0, ge=0, description="Longest simulated picking time, in seconds."
    )
    picking_seed: int | None = Field(
        default=None,
        description="Seed of the picking times; set, every job of a given id takes the same time.",
    )
    poll_interval: float = Field(
        default=0.5, gt=0, description="Seconds between two looks for jobs whose picking is due."
    )

    @model_validator(mode="after")
    def _ordered(self) -> WarehouseSettings:
        if self.picking_delay_max < self.picking_delay_min:
            raise ValueError(
                "ACME_WAREHOUSE_PICKING_DELAY_MAX "
                f"({self.picking_delay_max}) is below ACME_WAREHOUSE_PICKING_DELAY_MIN "
                f"({self.picking_delay_min})"
            )
        return self
