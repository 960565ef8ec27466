"""Product Catalog System (catalog: domains/Catalog/systems/product-catalog-system).

The system of record for products. Pages implemented: ProductAPI (openapi.yml: create, read,
change, delete, reindex), ProductWorker (reindex-catalog), ProductSearchPublisher (the product
events) and the product-database container.

- product-api serves `/products`. Reads are public, except that a DRAFT product is visible to
  staff only; writes need a staff token (role `admin`). Every write changes `products` /
  `product_variants` and stages product-created, product-updated (only the changed fields) or
  product-deleted in the same transaction. SKUs share one namespace across products and
  variants: a taken SKU answers 409, a SKU repeated inside one request 400.
- Product events belong to product-search-publisher, the outbox relay: the runtime's relay of
  product-database publishes them on `catalog.product-events`; this package only stages them
  through the generated `ProductSearchPublisherPublisher`.
- `POST /products/reindex` records a reindex run and forwards reindex-catalog to product-worker,
  which re-publishes every matching product as product-updated with all fields (SKU and
  variants included), in one transaction, with message ids derived from the run and product.
"""

from __future__ import annotations

from acme.runtime import SystemApp
from acme.systems.product_catalog.handlers import ProductWorker
from acme.systems.product_catalog.http import ProductApi

__all__ = ["create"]


def create(app: SystemApp) -> None:
    app.serve("product-api", ProductApi(app))
    app.handle("product-worker", ProductWorker(app))
