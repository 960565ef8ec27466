"""Dead letters: messages a service could not process, kept with their error.

Each one is stored in the `dead_letters` table of the shared `runtime` store (listable with no
broker running) and published to `deadletter.<service>` with the original headers plus the
error. Replay sends the original message to `replay.<service>`, which only that service
consumes; it keeps its message id, so services that already processed it stay unaffected.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from acme.runtime.db import Stores, dead_letters, utc
from acme.runtime.settings import RUNTIME_STORE, Settings
from acme.runtime.transport import Transport, create_transport
from acme.runtime.wire import (
    DEAD_LETTER_ERROR,
    DEAD_LETTER_REASON,
    DEAD_LETTER_SERVICE,
    MESSAGE_ID,
    MESSAGE_TYPE,
    loads_headers,
    text_of,
)

__all__ = [
    "DEADLETTER_PREFIX",
    "REPLAY_PREFIX",
    "DeadLetter",
    "DeadLetterBox",
    "list_dead_letters",
    "replay",
    "replay_dead_letters",
]

DEADLETTER_PREFIX = "deadletter."
REPLAY_PREFIX = "replay."
_NAMESPACE = uuid.UUID("0b8f6f8e-2a55-4c59-8a44-5bb8f3bd1c37")
_MAX_ERROR = 4000


@dataclass(frozen=True)
class DeadLetter:
    id: str
    service: str
    message_id: str
    subject: str
    message_type: str | None
    headers: Mapping[str, str]
    payload: str
    reason: str  # "invalid": poison, never retried; "failed": the handler failed N times
    error: str
    attempts: int
    dead_at: datetime
    replayed_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "service": self.service,
            "message_id": self.message_id,
            "subject": self.subject,
            "message_type": self.message_type,
            "headers": dict(self.headers),
            "payload": self.payload,
            "reason": self.reason,
            "error": self.error,
            "attempts": self.attempts,
            "dead_at": self.dead_at.isoformat(),
            "replayed_at": self.replayed_at.isoformat() if self.replayed_at else None,
        }


def dead_letter_id(service: str, message_id: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{service}\x1f{message_id}"))


def _row_to_dead_letter(row: Any) -> DeadLetter:  # a RowMapping of dead_letters
    return DeadLetter(
        id=row["id"],
        service=row["service"],
        message_id=row["message_id"],
        subject=row["subject"],
        message_type=row["message_type"],
        headers=loads_headers(row["headers"]),
        payload=row["payload"],
        reason=row["reason"],
        error=row["error"],
        attempts=int(row["attempts"]),
        dead_at=utc(row["dead_at"]) or datetime.now(UTC),
        replayed_at=utc(row["replayed_at"]),
    )


class DeadLetterBox:
    """Where the runtime puts messages that must not be retried any more."""

    def __init__(
        self,
        engine: AsyncEngine,
        transport: Transport | None,
        clock: Callable[[], datetime],
        logger: logging.Logger | None = None,
    ) -> None:
        self.engine = engine
        self.transport = transport
        self.clock = clock
        self.logger = logger or logging.getLogger("acme.deadletter")

    async def record(
        self,
        *,
        service: str,
        subject: str,
        headers: Mapping[str, str],
        body: bytes,
        reason: str,
        error: str,
        attempts: int,
    ) -> DeadLetter:
        message_id = headers.get(MESSAGE_ID) or f"no-id-{uuid.uuid5(_NAMESPACE, text_of(body))}"
        letter = DeadLetter(
            id=dead_letter_id(service, message_id),
            service=service,
            message_id=message_id,
            subject=subject,
            message_type=headers.get(MESSAGE_TYPE),
            headers=dict(headers),
            payload=text_of(body),
            reason=reason,
            error=error[:_MAX_ERROR],
            attempts=attempts,
            dead_at=self.clock(),
            replayed_at=None,
        )
        async with self.engine.begin() as conn:
            # One row per (service, message): a replayed message that fails again replaces it.
            await conn.execute(delete(dead_letters).where(dead_letters.c.id == letter.id))
            await conn.execute(
                insert(dead_letters).values(
                    id=letter.id,
                    service=service,
                    message_id=message_id,
                    subject=subject,
                    message_type=letter.message_type,
                    headers=json.dumps(dict(headers), sort_keys=True),
                    payload=letter.payload,
                    reason=reason,
                    error=letter.error,
                    attempts=attempts,
                    dead_at=letter.dead_at,
                    replayed_at=None,
                )
            )
        self.logger.error(
            "dead letter: %s could not process %s %s from %s (%s after %d attempt(s)): %s",
            service,
            letter.message_type,
            message_id,
            subject,
            reason,
            attempts,
            letter.error.splitlines()[0] if letter.error else "",
        )
        if self.transport is not None:
            copy = {
                **headers,
                DEAD_LETTER_SERVICE: service,
                DEAD_LETTER_REASON: reason,
                DEAD_LETTER_ERROR: letter.error.replace("\r", " ").replace("\n", " ")[:1000],
            }
            try:
                await self.transport.publish(DEADLETTER_PREFIX + service, body, copy)
            except Exception:
                # The table row is the record of truth; the broker copy is for subscribers.
                self.logger.exception("publishing dead letter %s to the broker failed", letter.id)
        return letter


async def _runtime_engine(settings: Settings) -> tuple[Stores, AsyncEngine]:
    stores = Stores(settings)
    engine = await stores.open(RUNTIME_STORE, metadata=(dead_letters.metadata,))
    return stores, engine


async def list_dead_letters(
    settings: Settings | None = None,
    *,
    service: str | None = None,
    include_replayed: bool = False,
    limit: int = 100,
) -> list[DeadLetter]:
    """Dead letters, newest first, read from the runtime store (no broker needed)."""
    settings = settings or Settings()
    stores, engine = await _runtime_engine(settings)
    try:
        query = select(dead_letters).order_by(dead_letters.c.dead_at.desc()).limit(limit)
        if service:
            query = query.where(dead_letters.c.service == service)
        if not include_replayed:
            query = query.where(dead_letters.c.replayed_at.is_(None))
        async with engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_row_to_dead_letter(r) for r in rows]
    finally:
        await stores.dispose()


async def replay_dead_letters(
    settings: Settings | None = None,
    *,
    ids: Sequence[str] = (),
    service: str | None = None,
    transport: Transport | None = None,
) -> list[DeadLetter]:
    """Send dead letters back to their service; `ids` are dead-letter ids or message ids.

    With no ids, every not-yet-replayed dead letter (of `service`, if given) is replayed.
    Returns the replayed letters. Raises LookupError naming ids that match nothing.
    """
    settings = settings or Settings()
    stores, engine = await _runtime_engine(settings)
    own_transport = transport is None
    try:
        query = select(dead_letters).order_by(dead_letters.c.dead_at)
        if ids:
            query = query.where(
                or_(dead_letters.c.id.in_(list(ids)), dead_letters.c.message_id.in_(list(ids)))
            )
        else:
            query = query.where(dead_letters.c.replayed_at.is_(None))
        if service:
            query = query.where(dead_letters.c.service == service)
        async with engine.connect() as conn:
            letters = [_row_to_dead_letter(r) for r in (await conn.execute(query)).mappings()]
        if ids:
            found = {x for letter in letters for x in (letter.id, letter.message_id)}
            missing = [i for i in ids if i not in found]
            if missing:
                raise LookupError("no dead letter with id " + ", ".join(missing))
        if not letters:
            return []
        if transport is None:
            transport = create_transport(settings.resolved_broker_url(), settings)
            await transport.connect()
        replayed: list[DeadLetter] = []
        for letter in letters:
            await transport.publish(
                REPLAY_PREFIX + letter.service,
                letter.payload.encode(),
                dict(letter.headers),
                dedupe_id=f"{letter.message_id}:replay:{uuid.uuid4()}",
            )
            async with engine.begin() as conn:
                await conn.execute(
                    update(dead_letters)
                    .where(dead_letters.c.id == letter.id)
                    .values(replayed_at=datetime.now(UTC))
                )
            replayed.append(letter)
        return replayed
    finally:
        if own_transport and transport is not None:
            await transport.close()
        await stores.dispose()


async def replay(settings: Settings | None, ids: Sequence[str]) -> list[DeadLetter]:
    """`acme dlq replay` entry point: replay the given dead letters (ids or message ids)."""
    return await replay_dead_letters(settings, ids=ids)
