"""HTTP operations of product-api (generated `ProductApiHttpHandlers`)."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from sqlalchemy.exc import IntegrityError

from acme.runtime import SystemApp
from acme.systems.product_catalog import store
from acme.systems.product_catalog.domain import (
    CatalogRuleError,
    Product,
    Variant,
    apply_changes,
    check_variant_skus,
    diff_product,
    merge_variants,
    reindex_matches,
    visible,
)
from acme.systems.product_catalog.handlers import (
    product_created,
    product_deleted,
    product_events_publisher,
    product_updated,
)
from generated.messages.create_product import CreateProduct
from generated.messages.get_product import GetProductResponse
from generated.messages.reindex_catalog import ReindexCatalog
from generated.messages.update_product import UpdateProduct
from generated.services import product_api, product_search_publisher
from generated.services.product_api import ProductApiPublisher
from generator.contracts import ApiError, RequestContext

__all__ = ["PRODUCT_DATABASE", "ProductApi", "response"]

PRODUCT_DATABASE = "product-database"
MAX_PRICE = 2_147_483_647  # PostgreSQL's largest INTEGER, the type of every price column
# Product writes run as the service that owns the product events (see the ProductAPI page).
EVENTS_SERVICE = product_search_publisher.SERVICE.id


def response(product: Product) -> GetProductResponse:
    return GetProductResponse.model_validate(
        {
            "productId": product.product_id,
            **{k: v for k, v in product.fields().items() if v is not None},
        }
    )


def _canonical(product_id: str) -> str:
    # The path pattern admits upper-case hex; ids are stored and published lower-case.
    return str(uuid.UUID(product_id))


def _not_found(product_id: str) -> ApiError:
    return ApiError(404, "not_found", f"product {product_id} does not exist")


def _check_price(price: int | None) -> None:
    # The catalog sets no maximum, but the price columns here and in every system that keeps
    # product prices are INTEGER: a larger price would fail in the database (a 500) or later
    # in a consumer. Refused like a schema violation.
    if price is not None and price > MAX_PRICE:
        raise ApiError(
            422,
            "validation-error",
            f"invalid request: body.price must be at most {MAX_PRICE} (got {price})",
        )


def _sku_conflict(taken: list[str]) -> ApiError:
    return ApiError(409, "sku_taken", "SKU already used in the catalog: " + ", ".join(taken))


class ProductApi:
    """Implements `ProductApiHttpHandlers`."""

    def __init__(self, app: SystemApp) -> None:
        self.app = app

    async def create_product(
        self, body: CreateProduct, request: RequestContext
    ) -> GetProductResponse:
        _check_price(body.price)
        requested = [(v.sku, dict(v.attributes)) for v in body.variants or []]
        try:
            check_variant_skus(body.sku, [sku for sku, _ in requested])
        except CatalogRuleError as exc:
            raise ApiError(400, "bad_request", str(exc)) from None
        product = Product(
            product_id=str(uuid.uuid4()),
            sku=body.sku,
            name=body.name,
            description=body.description,
            price=body.price,
            currency=body.currency,
            category=body.category,
            status=body.status or "DRAFT",
            variants=merge_variants((), requested),
        )
        try:
            async with self.app.transaction(
                EVENTS_SERVICE, correlation_id=request.correlation_id
            ) as tx:
                taken = await store.skus_in_use(tx.conn, product.skus)
                if taken:
                    raise _sku_conflict(taken)
                await store.insert_product(tx.conn, product, tx.now())
                await product_events_publisher(tx).product_created(
                    product_created(product, tx.now())
                )
        except IntegrityError:
            # A concurrent create took the SKU between the check and the insert.
            raise _sku_conflict(list(product.skus)) from None
        return response(product)

    async def get_product(self, product_id: str, request: RequestContext) -> GetProductResponse:
        product_id = _canonical(product_id)
        async with self.app.store(PRODUCT_DATABASE).connect() as conn:
            product = await store.get_product(conn, product_id)
        if product is None or not visible(product.status, staff=request.is_admin):
            raise _not_found(product_id)
        return response(product)

    async def update_product(
        self, product_id: str, body: UpdateProduct, request: RequestContext
    ) -> GetProductResponse:
        product_id = _canonical(product_id)
        if str(body.product_id) != product_id:
            raise ApiError(
                400,
                "id_mismatch",
                f"body productId {body.product_id} differs from the path's {product_id}",
            )
        _check_price(body.price)
        requested: dict[str, Any] = {
            "name": body.name,
            "description": body.description,
            "price": body.price,
            "currency": body.currency,
            "category": body.category,
            "status": body.status,
        }
        try:
            async with self.app.transaction(
                EVENTS_SERVICE, correlation_id=request.correlation_id
            ) as tx:
                current = await store.get_product(tx.conn, product_id, for_update=True)
                if current is None:
                    raise _not_found(product_id)
                variants: tuple[Variant, ...] | None = None
                if body.variants is not None:
                    wanted = [(v.sku, dict(v.attributes)) for v in body.variants]
                    try:
                        check_variant_skus(current.sku, [sku for sku, _ in wanted])
                    except CatalogRuleError as exc:
                        raise ApiError(400, "bad_request", str(exc)) from None
                    variants = merge_variants(current.variants, wanted)
                changes = diff_product(current, requested, variants)
                if not changes:
                    return response(current)  # nothing changed: no write, no event
                if "variants" in changes:
                    taken = await store.skus_in_use(
                        tx.conn, [v.sku for v in changes["variants"]], except_product=product_id
                    )
                    if taken:
                        raise _sku_conflict(taken)
                now = tx.now()  # taken after the row lock: later than any write before it
                await store.update_product(tx.conn, product_id, changes, now)
                await product_events_publisher(tx).product_updated(
                    product_updated(product_id, changes, now)
                )
                updated = apply_changes(current, changes)
        except IntegrityError:
            raise ApiError(
                409, "sku_taken", "a variant SKU was taken concurrently; retry"
            ) from None
        return response(updated)

    async def delete_product(
        self,
        product_id: str,
        reason: Literal["DISCONTINUED", "DUPLICATE", "MERCHANT_REQUEST", "OTHER"] | None,
        request: RequestContext,
    ) -> None:
        product_id = _canonical(product_id)
        async with self.app.transaction(
            EVENTS_SERVICE, correlation_id=request.correlation_id
        ) as tx:
            if not await store.delete_product(tx.conn, product_id):
                raise _not_found(product_id)
            await product_events_publisher(tx).product_deleted(
                product_deleted(product_id, reason, tx.now())
            )

    async def reindex_catalog(
        self, body: ReindexCatalog, request: RequestContext
    ) -> ReindexCatalog:
        if body.statuses is not None and len(set(body.statuses)) != len(body.statuses):
            # The schema says uniqueItems; the generated model does not check it.
            raise ApiError(
                422, "validation-error", "invalid request: body.statuses lists a status twice"
            )
        reindex_id = str(body.reindex_id)
        async with self.app.transaction(
            product_api.SERVICE.id, correlation_id=request.correlation_id
        ) as tx:
            run = await store.get_run(tx.conn, reindex_id)
            if run is not None:
                if not reindex_matches(
                    run.statuses, run.requested_at, body.statuses, body.requested_at
                ):
                    raise ApiError(
                        409,
                        "reindex_conflict",
                        f"reindex {reindex_id} was already accepted with a different body",
                    )
                return _accepted(reindex_id, run.statuses, run.requested_by, run.requested_at)
            requested_by = request.subject or body.requested_by
            await store.insert_run(
                tx.conn,
                reindex_id,
                statuses=body.statuses,
                requested_by=requested_by,
                requested_at=body.requested_at,
            )
            command = _accepted(reindex_id, body.statuses, requested_by, body.requested_at)
            await tx.publisher(ProductApiPublisher).reindex_catalog(command, key=reindex_id)
        return command


def _accepted(
    reindex_id: str, statuses: Any, requested_by: str | None, requested_at: Any
) -> ReindexCatalog:
    return ReindexCatalog.model_validate(
        {
            "reindexId": reindex_id,
            "requestedAt": requested_at,
            **({"requestedBy": requested_by[:200]} if requested_by else {}),
            **({"statuses": list(statuses)} if statuses else {}),
        }
    )
