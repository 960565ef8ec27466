"""What every scenario module shares: its marks, and how a scenario ends."""

from __future__ import annotations

import pytest

from tests.faults.invariants import Expectations, Verdict, settle
from tests.faults.platform import FaultPlatform
from tests.faults.report import record

__all__ = ["FAULTS", "SEED", "SETTLE", "conclude"]

# Every scenario module starts with `pytestmark = FAULTS`: the faults marker, the e2e marker
# (so `make test-fast` skips it) and the session's event loop, where the platform lives.
FAULTS = [pytest.mark.faults, pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]
# Random choices (kill points, copy order, Stripe faults) are seeded: a failure replays.
SEED = 20240607
# Seconds the platform gets to settle after a scenario before what is wrong counts as wrong.
SETTLE = 120.0


async def conclude(
    faults: FaultPlatform,
    scenario: str,
    operations: str,
    expect: Expectations,
    *,
    timeout: float = SETTLE,
) -> Verdict:
    """Wait for the platform to settle, record the row of the table, assert the invariants."""
    verdict = await settle(
        faults.stores,
        faults.broker_url,
        faults.stripe_state,
        expect,
        consumers=faults.consumers,
        timeout=timeout,
    )
    record(scenario, operations, verdict)
    assert verdict.ok, f"{scenario}: invariants violated\n{verdict.explain()}"
    return verdict
