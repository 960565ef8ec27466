"""Inventory System settings (environment variables prefixed `ACME_INVENTORY_`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class InventorySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ACME_INVENTORY_", extra="ignore")

    hold_seconds: float = Field(
        default=15 * 60, gt=0, description="How long a reservation holds stock before it expires."
    )
    sweep_interval_seconds: float = Field(
        default=30.0, gt=0, description="How often expired reservations are released."
    )
    sweep_batch: int = Field(
        default=200, ge=1, description="Expired reservations released per transaction."
    )
