"""Queries on product-database (generated tables: products, product_variants, reindex_runs)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from acme.systems.product_catalog.domain import Product, ProductStatus, Variant
from generated.datastores.product_database import product_variants, products, reindex_runs

__all__ = [
    "ReindexRun",
    "complete_run",
    "delete_product",
    "get_product",
    "get_run",
    "insert_product",
    "insert_run",
    "list_products",
    "replace_variants",
    "skus_in_use",
    "update_product",
]


@dataclass(frozen=True)
class ReindexRun:
    reindex_id: str
    status: str
    statuses: tuple[str, ...] | None
    requested_by: str | None
    requested_at: datetime
    products_published: int
    completed_at: datetime | None


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _product(row: Any, variants: Sequence[Variant]) -> Product:
    return Product(
        product_id=str(row.product_id),
        sku=row.sku,
        name=row.name,
        description=row.description,
        price=row.price_cents,
        currency=row.currency,
        category=row.category,
        status=cast(ProductStatus, row.status),
        variants=tuple(variants),
    )


async def _variants_of(
    conn: AsyncConnection, product_ids: Sequence[str]
) -> dict[str, list[Variant]]:
    found: dict[str, list[Variant]] = {pid: [] for pid in product_ids}
    if not product_ids:
        return found
    rows = await conn.execute(
        select(product_variants)
        .where(product_variants.c.product_id.in_(product_ids))
        .order_by(product_variants.c.product_id, product_variants.c.position)
    )
    for row in rows:
        found.setdefault(str(row.product_id), []).append(
            Variant(str(row.variant_id), row.sku, json.loads(row.attributes))
        )
    return found


async def get_product(
    conn: AsyncConnection, product_id: str, *, for_update: bool = False
) -> Product | None:
    query = select(products).where(products.c.product_id == product_id)
    if for_update:
        query = query.with_for_update()  # PostgreSQL: serialise writers of one product
    row = (await conn.execute(query)).first()
    if row is None:
        return None
    variants = await _variants_of(conn, [product_id])
    return _product(row, variants.get(product_id, []))


async def list_products(
    conn: AsyncConnection, statuses: Sequence[str] | None = None
) -> list[Product]:
    """Every product (in the given statuses), oldest first; locked against writers until the
    transaction ends on PostgreSQL, so that a reindex copy is never older than a later update."""
    query = select(products).order_by(products.c.created_at, products.c.product_id)
    if statuses:
        query = query.where(products.c.status.in_(list(statuses)))
    query = query.with_for_update(read=True)
    rows = (await conn.execute(query)).all()
    variants = await _variants_of(conn, [str(r.product_id) for r in rows])
    return [_product(r, variants.get(str(r.product_id), [])) for r in rows]


async def skus_in_use(
    conn: AsyncConnection, skus: Sequence[str], *, except_product: str | None = None
) -> list[str]:
    """Which of `skus` another product uses, as its SKU or a variant SKU."""
    if not skus:
        return []
    product_query = select(products.c.sku).where(products.c.sku.in_(list(skus)))
    variant_query = select(product_variants.c.sku).where(product_variants.c.sku.in_(list(skus)))
    if except_product is not None:
        product_query = product_query.where(products.c.product_id != except_product)
        variant_query = variant_query.where(product_variants.c.product_id != except_product)
    taken = set((await conn.execute(product_query)).scalars())
    taken.update((await conn.execute(variant_query)).scalars())
    return [s for s in skus if s in taken]


async def insert_product(conn: AsyncConnection, product: Product, now: datetime) -> None:
    await conn.execute(
        insert(products).values(
            product_id=product.product_id,
            sku=product.sku,
            name=product.name,
            description=product.description,
            price_cents=product.price,
            currency=product.currency,
            category=product.category,
            status=product.status,
            created_at=now,
            updated_at=now,
        )
    )
    await replace_variants(conn, product.product_id, product.variants)


_COLUMNS = {
    "name": "name",
    "description": "description",
    "price": "price_cents",
    "currency": "currency",
    "category": "category",
    "status": "status",
}


async def update_product(
    conn: AsyncConnection, product_id: str, changes: dict[str, Any], now: datetime
) -> None:
    values = {_COLUMNS[k]: v for k, v in changes.items() if k in _COLUMNS}
    values["updated_at"] = now
    await conn.execute(update(products).where(products.c.product_id == product_id).values(values))
    if "variants" in changes:
        await replace_variants(conn, product_id, changes["variants"])


async def replace_variants(
    conn: AsyncConnection, product_id: str, variants: Sequence[Variant]
) -> None:
    await conn.execute(delete(product_variants).where(product_variants.c.product_id == product_id))
    if variants:
        await conn.execute(
            insert(product_variants),
            [
                {
                    "variant_id": v.variant_id,
                    "product_id": product_id,
                    "sku": v.sku,
                    "attributes": json.dumps(dict(v.attributes), sort_keys=True),
                    "position": position,
                }
                for position, v in enumerate(variants)
            ],
        )


async def delete_product(conn: AsyncConnection, product_id: str) -> bool:
    # Variants first: SQLite enforces the cascade only with foreign keys on, so do not rely on it.
    await conn.execute(delete(product_variants).where(product_variants.c.product_id == product_id))
    result = await conn.execute(delete(products).where(products.c.product_id == product_id))
    return bool(result.rowcount)


async def count_products(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.count()).select_from(products))).scalar_one())


# -- reindex runs ---------------------------------------------------------------------------
def _run(row: Any) -> ReindexRun:
    statuses = json.loads(row.statuses) if row.statuses else None
    return ReindexRun(
        reindex_id=str(row.reindex_id),
        status=row.status,
        statuses=tuple(statuses) if statuses else None,
        requested_by=row.requested_by,
        requested_at=_utc(row.requested_at),
        products_published=row.products_published,
        completed_at=_utc(row.completed_at) if row.completed_at else None,
    )


async def get_run(conn: AsyncConnection, reindex_id: str) -> ReindexRun | None:
    row = (
        await conn.execute(select(reindex_runs).where(reindex_runs.c.reindex_id == reindex_id))
    ).first()
    return _run(row) if row is not None else None


async def insert_run(
    conn: AsyncConnection,
    reindex_id: str,
    *,
    statuses: Sequence[str] | None,
    requested_by: str | None,
    requested_at: datetime,
) -> None:
    await conn.execute(
        insert(reindex_runs).values(
            reindex_id=reindex_id,
            status="ACCEPTED",
            statuses=json.dumps(sorted(set(statuses))) if statuses else None,
            requested_by=requested_by,
            requested_at=requested_at.astimezone(UTC),
            products_published=0,
        )
    )


async def complete_run(
    conn: AsyncConnection, reindex_id: str, *, published: int, now: datetime
) -> bool:
    """ACCEPTED/RUNNING -> COMPLETED; False when the run was already completed."""
    result = await conn.execute(
        update(reindex_runs)
        .where(reindex_runs.c.reindex_id == reindex_id)
        .where(or_(reindex_runs.c.status == "ACCEPTED", reindex_runs.c.status == "RUNNING"))
        .values(status="COMPLETED", products_published=published, completed_at=now)
    )
    return bool(result.rowcount)
