"""Queries on search-index: documents, tombstones, ratings, and the full-text structure.

The catalog's schema.sql is portable and cannot declare full text, so it is created here, on
first use in each process:
- SQLite: an FTS5 virtual table `search_fts` (porter stemming). Its rowid is derived from the
  product id, so the indexer replaces a product's row by rowid without scanning the table.
- PostgreSQL: a GIN expression index on a weighted tsvector of the document; queries use the
  same expression with `websearch_to_tsquery` and rank with `ts_rank`.
Both give a name or SKU match more weight than a description match.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    ColumnElement,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    cast,
    delete,
    func,
    insert,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import Label, TextClause
from sqlalchemy.sql.selectable import FromClause

from acme.systems.search.domain import (
    DOCUMENT_FIELDS,
    document_id,
    searchable_text,
    variant_text,
)
from generated.datastores.search_index import deleted_products, product_ratings, search_documents

__all__ = [
    "Document",
    "Hit",
    "SearchPage",
    "delete_document",
    "ensure_fulltext",
    "get_document",
    "is_deleted",
    "record_tombstone",
    "save_document",
    "search",
    "upsert_rating",
]

# SQLite full-text table; columns after document_id are weighted by bm25 in this order.
search_fts = Table(
    "search_fts",
    MetaData(),
    Column("rowid", Integer, primary_key=True),
    Column("document_id", String),
    Column("name", String),
    Column("sku", String),
    Column("category", String),
    Column("body", String),
)
BM25_WEIGHTS = (0.0, 10.0, 10.0, 4.0, 1.0)  # document_id (not indexed), name, sku, category, body

SQLITE_FTS_DDL = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS search_fts USING fts5("
    "document_id UNINDEXED, name, sku, category, body, "
    "tokenize = 'porter unicode61 remove_diacritics 2')"
)
PG_CONFIG = "english"
# One expression for the index and the queries, so PostgreSQL can use the index.
PG_VECTOR = (
    f"(setweight(to_tsvector('{PG_CONFIG}', coalesce(name, '')), 'A') || "
    f"setweight(to_tsvector('{PG_CONFIG}', coalesce(sku, '')), 'A') || "
    f"setweight(to_tsvector('{PG_CONFIG}', coalesce(category, '')), 'B') || "
    f"setweight(to_tsvector('{PG_CONFIG}', searchable_text), 'D'))"
)
PG_FTS_DDL = (
    "CREATE INDEX IF NOT EXISTS search_documents_fulltext "
    f"ON search_documents USING GIN ({PG_VECTOR})"
)


def fts_rowid(product_id: str) -> int:
    """A stable FTS5 rowid for a product: 60 bits of its UUID (collisions are negligible)."""
    return int(uuid.UUID(product_id).hex[:15], 16)


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def fulltext_exists(conn: AsyncConnection) -> bool:
    if conn.dialect.name == "sqlite":
        query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'search_fts'"
    else:
        query = "SELECT 1 FROM pg_indexes WHERE indexname = 'search_documents_fulltext'"
    return (await conn.execute(text(query))).first() is not None


async def ensure_fulltext(conn: AsyncConnection) -> None:
    """Create the full-text structure in `conn`'s transaction unless it exists."""
    if await fulltext_exists(conn):
        return
    await conn.exec_driver_sql(SQLITE_FTS_DDL if conn.dialect.name == "sqlite" else PG_FTS_DDL)


# -- documents ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Document:
    product_id: str
    fields: dict[str, Any]  # by event field name (price, variants as a list of dicts...)
    times: dict[str, datetime]


async def get_document(conn: AsyncConnection, product_id: str) -> Document | None:
    row = (
        await conn.execute(
            select(search_documents)
            .where(search_documents.c.product_id == product_id)
            .with_for_update()
        )
    ).first()
    if row is None:
        return None
    fields = {
        "sku": row.sku,
        "name": row.name,
        "description": row.description,
        "price": row.price_cents,
        "currency": row.currency,
        "category": row.category,
        "status": row.status,
        "variants": json.loads(row.variants),
    }
    times = {
        k: _utc(datetime.fromisoformat(v)) for k, v in json.loads(row.field_event_times).items()
    }
    return Document(product_id, fields, times)


async def save_document(
    conn: AsyncConnection,
    product_id: str,
    fields: Mapping[str, Any],
    times: Mapping[str, datetime],
    *,
    exists: bool,
    now: datetime,
) -> None:
    values = {
        "sku": fields["sku"],
        "name": fields["name"],
        "description": fields.get("description"),
        "price_cents": fields.get("price"),
        "currency": fields.get("currency"),
        "category": fields.get("category"),
        "status": fields["status"],
        "variants": json.dumps(fields.get("variants") or [], sort_keys=True),
        "searchable_text": searchable_text(fields),
        "source_event_at": max(times.values()),
        "field_event_times": json.dumps(
            {k: times[k].isoformat() for k in DOCUMENT_FIELDS if k in times}
        ),
        "indexed_at": now,
    }
    doc_id = document_id(product_id)
    if exists:
        await conn.execute(
            update(search_documents)
            .where(search_documents.c.product_id == product_id)
            .values(values)
        )
    else:
        await conn.execute(
            insert(search_documents).values(document_id=doc_id, product_id=product_id, **values)
        )
    if conn.dialect.name == "sqlite":
        rowid = fts_rowid(product_id)
        await conn.execute(delete(search_fts).where(search_fts.c.rowid == rowid))
        await conn.execute(
            insert(search_fts).values(
                rowid=rowid,
                document_id=doc_id,
                name=fields["name"],
                sku=fields["sku"],
                category=fields.get("category") or "",
                body=" ".join(p for p in (fields.get("description"), variant_text(fields)) if p),
            )
        )


async def delete_document(conn: AsyncConnection, product_id: str) -> None:
    await conn.execute(delete(search_documents).where(search_documents.c.product_id == product_id))
    if conn.dialect.name == "sqlite":
        await conn.execute(delete(search_fts).where(search_fts.c.rowid == fts_rowid(product_id)))


async def is_deleted(conn: AsyncConnection, product_id: str) -> bool:
    query = select(deleted_products.c.product_id).where(deleted_products.c.product_id == product_id)
    return (await conn.execute(query)).first() is not None


async def record_tombstone(conn: AsyncConnection, product_id: str, deleted_at: datetime) -> None:
    if not await is_deleted(conn, product_id):
        await conn.execute(
            insert(deleted_products).values(product_id=product_id, deleted_at=deleted_at)
        )


# -- ratings -----------------------------------------------------------------------------
async def upsert_rating(
    conn: AsyncConnection, product_id: str, average: float, count: int, updated_at: datetime
) -> bool:
    """Store the rating unless a newer one is stored; True when written."""
    stored = (
        await conn.execute(
            select(product_ratings.c.updated_at)
            .where(product_ratings.c.product_id == product_id)
            .with_for_update()
        )
    ).first()
    values = {
        "average_rating": Decimal(str(round(average, 2))),
        "review_count": count,
        "updated_at": updated_at,
    }
    if stored is None:
        await conn.execute(insert(product_ratings).values(product_id=product_id, **values))
        return True
    if _utc(stored.updated_at) >= updated_at:
        return False
    await conn.execute(
        update(product_ratings).where(product_ratings.c.product_id == product_id).values(values)
    )
    return True


# -- search ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Hit:
    product_id: str
    sku: str
    name: str
    category: str | None
    price: int | None
    currency: str | None
    score: float
    average_rating: float | None
    review_count: int | None


@dataclass(frozen=True)
class SearchPage:
    total: int
    hits: list[Hit]


async def search(
    conn: AsyncConnection,
    *,
    query: str,
    fts5_expression: str | None,
    category: str | None,
    statuses: Sequence[str] | None,
    min_price: int | None,
    max_price: int | None,
    limit: int,
    offset: int,
) -> SearchPage:
    """One page of matching documents, best first; ties by name then product id."""
    docs = search_documents
    filters: list[ColumnElement[bool]] = []
    if category is not None:
        filters.append(docs.c.category == category)
    if statuses is not None:
        filters.append(docs.c.status.in_(list(statuses)))
    if min_price is not None:
        filters.append(docs.c.price_cents >= min_price)
    if max_price is not None:
        filters.append(docs.c.price_cents <= max_price)

    score: Label[Any]
    source: FromClause
    match: ColumnElement[bool] | TextClause
    if conn.dialect.name == "sqlite":
        if fts5_expression is None:
            return SearchPage(0, [])
        weights = ", ".join(str(w) for w in BM25_WEIGHTS)
        # bm25 is lower for better matches; the API's score is higher for better ones.
        score = (-literal_column(f"bm25(search_fts, {weights})", Float)).label("score")
        source = search_fts.join(docs, docs.c.document_id == search_fts.c.document_id)
        match = text("search_fts MATCH :fts").bindparams(fts=fts5_expression)
    else:
        tsquery = func.websearch_to_tsquery(literal_column(f"'{PG_CONFIG}'"), query)
        vector: ColumnElement[Any] = literal_column(PG_VECTOR)
        score = func.ts_rank(vector, tsquery).label("score")
        source = docs
        match = vector.op("@@", return_type=Boolean)(tsquery)
    where = and_(match, *filters)

    total = (await conn.execute(select(func.count()).select_from(source).where(where))).scalar_one()
    rows = await conn.execute(
        select(
            docs.c.product_id,
            docs.c.sku,
            docs.c.name,
            docs.c.category,
            docs.c.price_cents,
            docs.c.currency,
            score,
            cast(product_ratings.c.average_rating, Float).label("average_rating"),
            product_ratings.c.review_count,
        )
        .select_from(
            source.outerjoin(product_ratings, product_ratings.c.product_id == docs.c.product_id)
        )
        .where(where)
        .order_by(score.desc(), docs.c.name, docs.c.product_id)
        .limit(limit)
        .offset(offset)
    )
    hits = [
        Hit(
            product_id=str(uuid.UUID(str(r.product_id))),
            sku=r.sku,
            name=r.name,
            category=r.category,
            price=r.price_cents,
            currency=r.currency,
            score=max(0.0, float(r.score)),
            average_rating=r.average_rating,
            review_count=r.review_count,
        )
        for r in rows
    ]
    return SearchPage(int(total), hits)
