"""Message handlers of product-worker (reindex-catalog) and the product event builders shared
with the HTTP API."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from acme.runtime import SystemApp, Tx, current
from acme.runtime.errors import ConfigurationError
from acme.runtime.outbox import TxOutbox
from acme.systems.product_catalog import store
from acme.systems.product_catalog.domain import Product, Variant
from generated.messages.product_created import ProductCreated
from generated.messages.product_deleted import ProductDeleted
from generated.messages.product_updated import ProductUpdated
from generated.messages.reindex_catalog import ReindexCatalog
from generated.services import product_search_publisher
from generated.services.product_search_publisher import ProductSearchPublisherPublisher
from generator.contracts import MessageContext, Outgoing

__all__ = [
    "ProductWorker",
    "product_created",
    "product_deleted",
    "product_updated",
    "product_events_publisher",
]

logger = logging.getLogger("acme.product-catalog")


def product_created(product: Product, now: datetime) -> ProductCreated:
    fields: dict[str, Any] = {"productId": product.product_id, **product.fields()}
    return ProductCreated.model_validate(
        {"eventId": str(uuid.uuid4()), "occurredAt": now, "product": _drop_none(fields)}
    )


def product_updated(
    product_id: str, changes: dict[str, Any], now: datetime, *, event_id: str | None = None
) -> ProductUpdated:
    wire = {k: _wire(v) for k, v in changes.items()}
    return ProductUpdated.model_validate(
        {
            "eventId": event_id or str(uuid.uuid4()),
            "occurredAt": now,
            "productId": product_id,
            "changes": _drop_none(wire),
        }
    )


def product_deleted(product_id: str, reason: str | None, now: datetime) -> ProductDeleted:
    return ProductDeleted.model_validate(
        {
            "eventId": str(uuid.uuid4()),
            "occurredAt": now,
            "productId": product_id,
            **({"reason": reason} if reason else {}),
        }
    )


def _wire(value: Any) -> Any:
    if isinstance(value, tuple) and all(isinstance(v, Variant) for v in value):
        return [v.as_dict() for v in value]
    return value


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    # Optional event fields are absent rather than null: the schemas type them as plain strings.
    return {k: v for k, v in values.items() if v is not None}


async def _no_requests(tx: Tx, outgoing: Outgoing, payload: BaseModel) -> BaseModel:
    raise ConfigurationError(f"{outgoing.message.id}: product events have no request/reply")


def product_events_publisher(tx: Tx) -> ProductSearchPublisherPublisher:
    """The product-search-publisher's generated publisher, writing to `tx`'s connection.

    The catalog makes product-search-publisher (the outbox relay) the sender of the product
    events, while product-worker stages them. The runtime only checks a publisher against the
    service of its own transaction and joins transactions of the same service only, so this
    binds the relay's publisher to a sibling Tx that shares the worker's connection: the run's
    bookkeeping, the inbox row and every event still commit together. Staged rows are counted
    on `tx` so the relay is woken at commit.
    """
    if tx.service.id == product_search_publisher.SERVICE.id:
        return tx.publisher(ProductSearchPublisherPublisher)
    sibling = Tx(
        service=product_search_publisher.SERVICE,
        store=tx.store,
        conn=tx.conn,
        correlation_id=tx.correlation_id,
        causation_id=tx.causation_id,
        traceparent=tx.traceparent,
        context=tx.context,
        clock=tx.clock,
    )

    def staged() -> None:
        tx.staged += 1

    sibling.outbox = TxOutbox(sibling, _no_requests, staged)
    return sibling.publisher(ProductSearchPublisherPublisher)


class ProductWorker:
    """Implements `ProductWorkerHandlers`: re-publishes the catalog on reindex-catalog."""

    def __init__(self, app: SystemApp) -> None:
        self.app = app

    async def on_reindex_catalog(self, message: ReindexCatalog, context: MessageContext) -> None:
        tx = current()
        reindex_id = str(message.reindex_id)
        run = await store.get_run(tx.conn, reindex_id)
        if run is not None and run.status == "COMPLETED":
            logger.info("reindex %s already completed; redelivery ignored", reindex_id)
            return
        statuses: list[str] | None
        if run is None:
            # Sent straight to the worker (e.g. replayed from the dead letters): record it now.
            await store.insert_run(
                tx.conn,
                reindex_id,
                statuses=message.statuses,
                requested_by=message.requested_by,
                requested_at=message.requested_at,
            )
            statuses = list(message.statuses) if message.statuses else None
        else:
            statuses = list(run.statuses) if run.statuses else None
        publisher = product_events_publisher(tx)
        products = await store.list_products(tx.conn, statuses)
        now = tx.now()
        for product in products:
            # One id per (run, product): a retried run stages the same messages.
            key = f"reindex:{reindex_id}:{product.product_id}"
            event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, key))
            await publisher.product_updated(
                product_updated(product.product_id, product.fields(), now, event_id=event_id),
                key=key,
            )
        await store.complete_run(tx.conn, reindex_id, published=len(products), now=now)
        logger.info("reindex %s re-published %d product(s)", reindex_id, len(products))
