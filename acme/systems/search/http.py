"""HTTP operation of search-api: GET /search/products (generated `SearchApiHttpHandlers`)."""

from __future__ import annotations

from typing import Literal

from acme.runtime import SystemApp
from acme.systems.search import store
from acme.systems.search.domain import (
    SearchRuleError,
    check_price_range,
    fts5_expression,
    parse_query,
    visible_statuses,
)
from generated.messages.search_products import SearchProductsResponse, SearchProductsResponseResult
from generator.contracts import ApiError, RequestContext

__all__ = ["SEARCH_INDEX", "SearchApi"]

SEARCH_INDEX = "search-index"
# price_cents is an INTEGER column: no stored price exceeds PostgreSQL's largest INTEGER, and a
# bound beyond it must not reach the database (SQLite and asyncpg reject such parameters).
MAX_PRICE = 2_147_483_647
MAX_OFFSET = 1_000_000  # deeper pages are empty; only the total is asked for


class SearchApi:
    """Implements `SearchApiHttpHandlers`."""

    def __init__(self, app: SystemApp) -> None:
        self.app = app
        self._fulltext_ready = False

    async def search_products(
        self,
        query: str,
        category: str | None,
        status: Literal["DRAFT", "ACTIVE", "ARCHIVED"] | None,
        min_price: int | None,
        max_price: int | None,
        page: int,
        page_size: int,
        request: RequestContext,
    ) -> SearchProductsResponse:
        try:
            check_price_range(min_price, max_price)
        except SearchRuleError as exc:
            raise ApiError(400, "bad_request", str(exc)) from None
        if not query.strip():
            raise ApiError(400, "bad_request", "query must contain a word to search for")
        if "\x00" in query or "\x00" in (category or ""):
            # Neither an FTS5 string nor a PostgreSQL text value can hold NUL.
            raise ApiError(400, "bad_request", "query and category must not contain NUL characters")
        statuses = visible_statuses(status, staff=request.is_admin)
        empty = SearchProductsResponse(total=0, page=page, page_size=page_size, results=[])
        if statuses == () or (min_price is not None and min_price > MAX_PRICE):
            return empty
        if max_price is not None and max_price > MAX_PRICE:
            max_price = None  # every stored price is below it
        offset = (page - 1) * page_size
        deep = offset > MAX_OFFSET
        engine = self.app.store(SEARCH_INDEX)
        if not self._fulltext_ready:
            # Nothing indexed yet in a fresh store: create the structure rather than fail.
            async with engine.begin() as conn:
                await store.ensure_fulltext(conn)
            self._fulltext_ready = True
        async with engine.connect() as conn:
            found = await store.search(
                conn,
                query=query,
                fts5_expression=fts5_expression(parse_query(query)),
                category=category,
                statuses=statuses,
                min_price=min_price,
                max_price=max_price,
                limit=0 if deep else page_size,
                offset=0 if deep else offset,
            )
        results = [
            SearchProductsResponseResult.model_validate(
                {
                    "productId": hit.product_id,
                    "sku": hit.sku,
                    "name": hit.name,
                    "category": hit.category,
                    "price": hit.price,
                    "currency": hit.currency,
                    "score": hit.score,
                    "averageRating": hit.average_rating,
                    "reviewCount": hit.review_count,
                }
            )
            for hit in found.hits
        ]
        return SearchProductsResponse(
            total=found.total, page=page, page_size=page_size, results=results
        )
