"""Test helpers for systems: a clock moved by hand, polling, distinct published messages.

SystemApp takes `clock=` (and `running_system` passes it on), so delays that a system keeps
as timestamps (picking times, carrier outcomes) are driven without waiting for real time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from tests.systems.harness import Captured, SystemHarness

T = TypeVar("T")

START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    """Stands still until `advance` moves it."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


async def eventually(
    probe: Callable[[], Awaitable[T]],
    check: Callable[[T], bool],
    *,
    timeout: float = 10.0,
    interval: float = 0.05,
) -> T:
    """Poll `probe()` until `check(value)` holds; fail with the last value seen."""
    value = await probe()
    try:
        async with asyncio.timeout(timeout):
            while not check(value):
                await asyncio.sleep(interval)
                value = await probe()
    except TimeoutError:
        raise AssertionError(
            f"condition not met within {timeout}s; last value: {value!r}"
        ) from None
    return value


def distinct(captured: list[Captured]) -> list[Captured]:
    """One entry per message id: a message published again under its id (an outbox row the
    relay resends, or a staged message with the same key) is still one message."""
    seen: dict[str, Captured] = {}
    for c in captured:
        seen.setdefault(c.headers.get("message-id", str(id(c))), c)
    return list(seen.values())


def sent(
    h: SystemHarness, message_id: str, where: Callable[[dict[str, Any]], bool] | None = None
) -> list[Captured]:
    """Distinct messages of type `message_id` seen so far (matching `where`)."""
    return distinct([c for c in h.seen(message_id) if where is None or where(c.body)])


async def sent_once(
    h: SystemHarness,
    message_id: str,
    where: Callable[[dict[str, Any]], bool] | None = None,
    *,
    timeout: float = 10.0,
) -> Captured:
    """Wait for a message of type `message_id` (matching `where`); exactly one must be there."""
    await h.published(message_id, where=where, timeout=timeout)
    found = sent(h, message_id, where)
    assert len(found) == 1, f"expected one {message_id}, got {[c.body for c in found]}"
    return found[0]
