"""Message handlers of search-indexer: product events and rating updates into search-index."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from acme.runtime import SystemApp, current
from acme.systems.search import store
from acme.systems.search.domain import merge_fields
from generated.messages.product_created import ProductCreated
from generated.messages.product_deleted import ProductDeleted
from generated.messages.product_updated import ProductUpdated
from generated.messages.rating_updated import RatingUpdated
from generator.contracts import MessageContext

__all__ = ["NotIndexedYet", "SearchIndexer"]

logger = logging.getLogger("acme.search")


class NotIndexedYet(RuntimeError):
    """A partial update for a product the index has not seen: retried (its create is behind)."""


def _fields(model: Any) -> dict[str, Any]:
    """Event fields by their wire names; None (absent) stays None, variants become dicts."""
    values: dict[str, Any] = model.model_dump(by_alias=True, mode="json")
    return values


class SearchIndexer:
    """Implements `SearchIndexerHandlers`."""

    def __init__(self, app: SystemApp) -> None:
        self.app = app

    async def on_product_created(self, message: ProductCreated, context: MessageContext) -> None:
        product = message.product
        if product.product_id is None:
            logger.warning("product-created %s carries no productId; ignored", context.message_id)
            return
        await self._apply(str(product.product_id), _fields(product), message.occurred_at)

    async def on_product_updated(self, message: ProductUpdated, context: MessageContext) -> None:
        await self._apply(str(message.product_id), _fields(message.changes), message.occurred_at)

    async def on_product_deleted(self, message: ProductDeleted, context: MessageContext) -> None:
        tx = current()
        product_id = str(message.product_id)
        await store.ensure_fulltext(tx.conn)
        await store.delete_document(tx.conn, product_id)
        await store.record_tombstone(tx.conn, product_id, message.occurred_at)

    async def on_rating_updated(self, message: RatingUpdated, context: MessageContext) -> None:
        tx = current()
        written = await store.upsert_rating(
            tx.conn,
            str(message.product_id),
            message.average_rating,
            message.review_count,
            message.updated_at,
        )
        if not written:
            logger.info(
                "rating of %s at %s is not newer; ignored", message.product_id, message.updated_at
            )

    async def _apply(
        self, product_id: str, incoming: dict[str, Any], occurred_at: datetime
    ) -> None:
        tx = current()
        await store.ensure_fulltext(tx.conn)
        if await store.is_deleted(tx.conn, product_id):
            logger.info("product %s was deleted; late event ignored", product_id)
            return
        document = await store.get_document(tx.conn, product_id)
        merge = merge_fields(
            document.fields if document else {},
            document.times if document else {},
            incoming,
            occurred_at,
        )
        if not merge.changed:
            return  # duplicate or older than every field it carries
        if document is None and not merge.complete:
            raise NotIndexedYet(
                f"product {product_id} is not indexed yet and the event does not carry a whole "
                "product (sku, name, status); retrying until its product-created arrives"
            )
        await store.save_document(
            tx.conn,
            product_id,
            merge.fields,
            merge.times,
            exists=document is not None,
            now=tx.now(),
        )
