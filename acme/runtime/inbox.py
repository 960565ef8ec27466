"""Idempotent consumers: a `message_inbox` row per (consumer, message id), written in the
same transaction as the handler's effects. A second delivery of the same message finds the
row and is acknowledged without running the handler again."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from acme.runtime.db import insert_ignore, message_inbox

__all__ = ["claim", "purge", "seen"]


async def claim(
    conn: AsyncConnection, *, consumer: str, message_id: str, message_type: str, now: datetime
) -> bool:
    """Record the message for `consumer`; False when it was already processed (or is being
    processed by a concurrent transaction that then commits)."""
    return await insert_ignore(
        conn,
        message_inbox,
        {
            "consumer": consumer,
            "message_id": message_id,
            "message_type": message_type,
            "received_at": now,
        },
    )


async def seen(conn: AsyncConnection, *, consumer: str, message_id: str) -> bool:
    row = await conn.execute(
        select(message_inbox.c.message_id).where(
            message_inbox.c.consumer == consumer, message_inbox.c.message_id == message_id
        )
    )
    return row.first() is not None


async def purge(conn: AsyncConnection, *, older_than: datetime | timedelta, now: datetime) -> int:
    """Forget inbox rows older than the retention (redeliveries cannot be that late)."""
    cutoff = now - older_than if isinstance(older_than, timedelta) else older_than
    result = await conn.execute(delete(message_inbox).where(message_inbox.c.received_at < cutoff))
    return int(result.rowcount or 0)
