"""Queries on user-directory (generated tables: credentials, sessions)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import and_, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from acme.systems.identity_provider.domain import Account, AccountStatus, after_failure, parse_roles
from generated.datastores.user_directory import credentials, sessions

__all__ = [
    "get_by_customer",
    "get_by_email",
    "insert_account",
    "insert_session",
    "record_failure",
    "record_success",
    "revoke_sessions",
    "update_account",
]


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _account(row: Any) -> Account:
    return Account(
        account_id=str(row.account_id),
        customer_id=str(row.customer_id),
        email=row.email,
        password_hash=row.password_hash,
        roles=parse_roles(row.roles),
        status=cast(AccountStatus, row.status),
        failed_attempts=row.failed_attempts,
        locked_until=_utc(row.locked_until),
        email_event_at=_utc(row.email_event_at),
        status_event_at=_utc(row.status_event_at),
    )


async def get_by_email(
    conn: AsyncConnection, email: str, *, for_update: bool = False
) -> Account | None:
    query = select(credentials).where(credentials.c.email == email)
    if for_update:
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return _account(row) if row is not None else None


async def get_by_customer(
    conn: AsyncConnection, customer_id: str, *, for_update: bool = False
) -> Account | None:
    query = select(credentials).where(credentials.c.customer_id == customer_id)
    if for_update:
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return _account(row) if row is not None else None


async def insert_account(
    conn: AsyncConnection,
    *,
    account_id: str,
    customer_id: str,
    email: str,
    password_hash: str,
    roles: tuple[str, ...],
    now: datetime,
) -> None:
    await conn.execute(
        insert(credentials).values(
            account_id=account_id,
            customer_id=customer_id,
            email=email,
            password_hash=password_hash,
            provider="PASSWORD",
            roles=" ".join(roles),
            status="ACTIVE",
            failed_attempts=0,
            created_at=now,
            updated_at=now,
        )
    )


async def update_account(
    conn: AsyncConnection, account_id: str, values: Mapping[str, Any], now: datetime
) -> None:
    await conn.execute(
        update(credentials)
        .where(credentials.c.account_id == account_id)
        .values(**values, updated_at=now)
    )


async def record_failure(
    conn: AsyncConnection, account_id: str, now: datetime
) -> tuple[int, datetime | None]:
    """Count one more failed sign-in (atomically); lock the account on the fifth in a row.
    Returns the stored (counter, lock end)."""
    await conn.execute(
        update(credentials)
        .where(credentials.c.account_id == account_id)
        .values(failed_attempts=credentials.c.failed_attempts + 1)
    )
    failures = (
        await conn.execute(
            select(credentials.c.failed_attempts).where(credentials.c.account_id == account_id)
        )
    ).scalar_one()
    counter, locked_until = after_failure(int(failures), now)
    if locked_until is not None:
        await conn.execute(
            update(credentials)
            .where(credentials.c.account_id == account_id)
            .values(failed_attempts=counter, locked_until=locked_until)
        )
    return counter, locked_until


async def record_success(
    conn: AsyncConnection, account_id: str, *, new_hash: str | None, now: datetime
) -> None:
    values: dict[str, Any] = {"failed_attempts": 0, "locked_until": None}
    if new_hash is not None:
        values["password_hash"] = new_hash
        values["updated_at"] = now
    await conn.execute(
        update(credentials).where(credentials.c.account_id == account_id).values(values)
    )


async def insert_session(
    conn: AsyncConnection,
    *,
    session_id: str,
    account_id: str,
    authenticated_at: datetime,
    expires_at: datetime,
    ip_address: str | None = None,
) -> None:
    await conn.execute(
        insert(sessions).values(
            session_id=session_id,
            account_id=account_id,
            method="PASSWORD",
            ip_address=ip_address,
            authenticated_at=authenticated_at,
            expires_at=expires_at,
        )
    )


async def revoke_sessions(conn: AsyncConnection, account_id: str, now: datetime) -> int:
    result = await conn.execute(
        update(sessions)
        .where(and_(sessions.c.account_id == account_id, sessions.c.revoked_at.is_(None)))
        .values(revoked_at=now)
    )
    return int(result.rowcount or 0)
