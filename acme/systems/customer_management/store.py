"""Queries on customer-database (generated tables: customers, customer_addresses)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from acme.systems.customer_management.domain import CustomerStatus, Profile
from generated.datastores.customer_database import customer_addresses, customers, message_outbox

__all__ = [
    "add_address",
    "email_taken",
    "get_profile",
    "insert_customer",
    "list_addresses",
    "prune_published",
    "update_customer",
]


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _profile(row: Any) -> Profile:
    return Profile(
        customer_id=str(row.customer_id),
        email=row.email,
        name=row.name,
        status=cast(CustomerStatus, row.status),
        registered_at=_utc(row.registered_at),
    )


async def get_profile(
    conn: AsyncConnection, customer_id: str, *, for_update: bool = False
) -> Profile | None:
    query = select(customers).where(customers.c.customer_id == customer_id)
    if for_update:
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return _profile(row) if row is not None else None


async def email_taken(
    conn: AsyncConnection, email: str, *, by_other_than: str | None = None
) -> bool:
    query = select(customers.c.customer_id).where(customers.c.email == email)
    if by_other_than is not None:
        query = query.where(customers.c.customer_id != by_other_than)
    return (await conn.execute(query)).first() is not None


async def insert_customer(conn: AsyncConnection, profile: Profile) -> None:
    await conn.execute(
        insert(customers).values(
            customer_id=profile.customer_id,
            email=profile.email,
            name=profile.name,
            status=profile.status,
            registered_at=profile.registered_at,
            updated_at=profile.registered_at,
        )
    )


async def update_customer(
    conn: AsyncConnection, customer_id: str, changes: Mapping[str, Any], now: datetime
) -> None:
    await conn.execute(
        update(customers)
        .where(customers.c.customer_id == customer_id)
        .values(**changes, updated_at=now)
    )


async def list_addresses(conn: AsyncConnection, customer_id: str) -> list[dict[str, Any]]:
    """Saved addresses, default first, then oldest first (wire field names)."""
    rows = await conn.execute(
        select(customer_addresses)
        .where(customer_addresses.c.customer_id == customer_id)
        .order_by(
            customer_addresses.c.is_default.desc(),
            customer_addresses.c.created_at,
            customer_addresses.c.address_id,
        )
    )
    return [_address(r) for r in rows]


def _address(row: Any) -> dict[str, Any]:
    return {
        "addressId": str(row.address_id),
        "customerId": str(row.customer_id),
        "recipientName": row.recipient_name,
        "line1": row.line1,
        "line2": row.line2,
        "city": row.city,
        "postalCode": row.postal_code,
        "countryCode": row.country_code,
        "isDefault": bool(row.is_default),
        "createdAt": _utc(row.created_at),
    }


async def has_addresses(conn: AsyncConnection, customer_id: str) -> bool:
    query = select(customer_addresses.c.address_id).where(
        customer_addresses.c.customer_id == customer_id
    )
    return (await conn.execute(query.limit(1))).first() is not None


async def add_address(conn: AsyncConnection, values: Mapping[str, Any]) -> None:
    """Insert an address; a new default takes the flag from the customer's other addresses."""
    if values["is_default"]:
        await conn.execute(
            update(customer_addresses)
            .where(
                and_(
                    customer_addresses.c.customer_id == values["customer_id"],
                    customer_addresses.c.is_default.is_(True),
                )
            )
            .values(is_default=False)
        )
    await conn.execute(insert(customer_addresses).values(**values))


async def prune_published(conn: AsyncConnection, message_type: str) -> int:
    """Delete published outbox rows of one message type (those carrying password hashes)."""
    result = await conn.execute(
        delete(message_outbox).where(
            and_(
                message_outbox.c.message_type == message_type,
                message_outbox.c.published_at.is_not(None),
            )
        )
    )
    return int(result.rowcount or 0)
