"""Search System (catalog: domains/Catalog/systems/search-system).

Pages implemented: SearchIndexer (product-created, product-updated, product-deleted from
`catalog.product-events`, rating-updated from `reviews.events`), SearchAPI (openapi.yml:
GET /search/products) and the search-index container.

- search-indexer keeps one search document per product (upsert keyed by product id). Each field
  remembers the occurredAt of the event that set it and only a newer event overwrites it, so
  redeliveries and reordering converge on the latest state; deletes leave a tombstone that
  makes later events for the product no-ops. Ratings are kept apart, newest wins.
- Full text: SQLite FTS5 (bm25) by default, PostgreSQL full text (weighted tsvector + GIN,
  websearch_to_tsquery, ts_rank) when the store URL is PostgreSQL; the structure is created
  by `store.ensure_fulltext` on first use, since portable schema.sql cannot declare it.
- search-api ranks by relevance, filters by category, status and price range, pages results
  (ties ordered by name, then id). Without a staff token only ACTIVE products are found.
"""

from __future__ import annotations

from acme.runtime import SystemApp
from acme.systems.search.handlers import SearchIndexer
from acme.systems.search.http import SearchApi

__all__ = ["create"]


def create(app: SystemApp) -> None:
    app.handle("search-indexer", SearchIndexer(app))
    app.serve("search-api", SearchApi(app))
