"""Runtime fault controls, so the fault suite can make the sandbox slow, failing or sloppy.

Faults live in memory only (a restarted sandbox starts healthy unless ACME_STRIPE_FAULTS says
otherwise). Every random decision comes from one generator seeded by `seed`, so a run with the
same seed and the same sequence of requests injects the same faults.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ErrorPhase = Literal["before", "after", "random"]


class FaultConfig(BaseModel):
    """Body of POST /_sandbox/faults. Posting replaces the whole configuration."""

    model_config = ConfigDict(extra="forbid")

    latency_ms: int = Field(default=0, ge=0, le=120_000, description="Delay before every API call.")
    error_rate: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Share of API calls answered with HTTP 500."
    )
    error_phase: ErrorPhase = Field(
        default="random",
        description=(
            "'before': the 500 replaces the call, nothing happens. 'after': the call runs and its "
            "result is saved under the Idempotency-Key, then the answer is lost and a 500 is sent "
            "instead (a retry with the same key gets the saved result). 'random': either."
        ),
    )
    fail_next: int = Field(
        default=0, ge=0, le=10_000, description="The next N API calls fail with 500 regardless."
    )
    duplicate_webhooks: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Share of webhook events delivered twice."
    )
    reorder_webhooks: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Share of webhook events held back so that the next one overtakes them.",
    )
    seed: int | None = Field(default=None, description="Seed of the fault decisions.")


@dataclass(frozen=True)
class CallFault:
    delay_s: float
    # None: no error; otherwise the phase in which the 500 is injected.
    error: Literal["before", "after"] | None


class Faults:
    def __init__(self, config: FaultConfig | None = None) -> None:
        self.injected_errors = 0
        self.configure(config or FaultConfig())

    def configure(self, config: FaultConfig) -> None:
        self.config = config
        self._fail_next = config.fail_next
        self._rng = random.Random(config.seed)

    def current(self) -> FaultConfig:
        return self.config.model_copy(update={"fail_next": self._fail_next})

    def for_call(self) -> CallFault:
        config = self.config
        fail = False
        if self._fail_next > 0:
            self._fail_next -= 1
            fail = True
        elif config.error_rate > 0 and self._rng.random() < config.error_rate:
            fail = True
        phase: Literal["before", "after"] | None = None
        if fail:
            self.injected_errors += 1
            if config.error_phase == "random":
                phase = "before" if self._rng.random() < 0.5 else "after"
            else:
                phase = config.error_phase
        return CallFault(config.latency_ms / 1000, phase)

    def duplicate_webhook(self) -> bool:
        rate = self.config.duplicate_webhooks
        return rate > 0 and self._rng.random() < rate

    def reorder_webhook(self) -> bool:
        rate = self.config.reorder_webhooks
        return rate > 0 and self._rng.random() < rate
