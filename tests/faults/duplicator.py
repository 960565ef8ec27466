"""A test-only duplicating relay: every message the platform publishes arrives three times.

It watches every store's outbox (read-only, SQLite or PostgreSQL) for rows the relays have
published and publishes each one `copies` more times through the runtime's own transport, with
the same headers and so the same message id; only the broker's own de-duplication id differs,
or JetStream would drop the copies. The copies of a batch go out shuffled and each after a
random delay, so a consumer also gets a message after ones that were published later (out of
order, as far as a broker that keeps each stream in order can be made to deliver out of order).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from types import TracebackType
from typing import Any

from acme.runtime.settings import Settings
from acme.runtime.transport import Transport, create_transport
from acme.runtime.wire import MESSAGE_ID, PROTOCOL_HEADER, loads_headers, public_headers
from benchmarks.embedded import Stores

__all__ = ["Duplicator"]

log = logging.getLogger("tests.faults.duplicator")


class Duplicator:
    def __init__(
        self,
        stores: Stores,
        broker_url: str,
        *,
        copies: int = 2,
        seed: int = 0,
        max_delay: float = 0.5,
        poll: float = 0.1,
    ) -> None:
        self.stores = stores
        self.broker_url = broker_url
        self.copies = copies
        self.max_delay = max_delay
        self.poll = poll
        self._rng = random.Random(seed)
        self._seen: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._sends: set[asyncio.Task[None]] = set()
        self._transport: Transport | None = None
        self.messages = 0  # distinct messages copied
        self.published = 0  # copies published
        self.errors: list[str] = []

    async def __aenter__(self) -> Duplicator:
        self._transport = create_transport(self.broker_url, Settings(), log)
        await self._transport.connect()
        self._seen = {row["message_id"] for row in self._published()}  # earlier traffic: not ours
        self._task = asyncio.create_task(self._run(), name="duplicator")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.drain()

    async def drain(self) -> None:
        """Stop watching; wait for the copies already scheduled to go out."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._sends:
            await asyncio.gather(*self._sends, return_exceptions=True)
        if self._transport is not None:
            await self._transport.close()
            self._transport = None

    def _published(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for store in self.stores.names():
            conn = self.stores.reader(store)
            if "message_outbox" in conn.tables():
                rows += conn.rows(
                    "SELECT message_id, subject, headers, payload FROM message_outbox "
                    "WHERE published_at IS NOT NULL"
                )
        return rows

    async def _run(self) -> None:
        while True:
            fresh = [r for r in self._published() if r["message_id"] not in self._seen]
            self._rng.shuffle(fresh)
            for row in fresh:
                self._seen.add(row["message_id"])
                headers = loads_headers(row["headers"])
                if headers.get(PROTOCOL_HEADER, "nats") in {"http", "https"}:
                    continue  # calls to Stripe, not broker messages
                self.messages += 1
                for n in range(1, self.copies + 1):
                    delay = self._rng.uniform(0, self.max_delay)
                    task = asyncio.create_task(self._send(row, headers, n, delay))
                    self._sends.add(task)
                    task.add_done_callback(self._sends.discard)
            await asyncio.sleep(self.poll)

    async def _send(
        self, row: dict[str, Any], headers: dict[str, str], n: int, delay: float
    ) -> None:
        await asyncio.sleep(delay)
        assert self._transport is not None
        message_id = headers.get(MESSAGE_ID, row["message_id"])
        try:
            await self._transport.publish(
                row["subject"],
                str(row["payload"]).encode(),
                public_headers(headers),
                dedupe_id=f"{message_id}:copy-{n}",
            )
        except Exception as exc:  # reported by the scenario, which then fails
            self.errors.append(f"{row['subject']} {message_id}: {type(exc).__name__}: {exc}")
        else:
            self.published += 1
