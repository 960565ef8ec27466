"""Business rules of the Product Catalog System, free of I/O.

A product is its row plus an ordered list of variants. SKUs share one namespace across the
catalog: a variant SKU may equal neither its product's SKU nor any other SKU. Updates are
diffs: only fields whose value really changes are written and announced.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

__all__ = [
    "PRODUCT_STATUSES",
    "SCALAR_FIELDS",
    "CatalogRuleError",
    "Product",
    "ProductStatus",
    "Variant",
    "apply_changes",
    "check_variant_skus",
    "diff_product",
    "merge_variants",
    "reindex_matches",
    "visible",
]

ProductStatus = Literal["DRAFT", "ACTIVE", "ARCHIVED"]
PRODUCT_STATUSES: tuple[ProductStatus, ...] = ("DRAFT", "ACTIVE", "ARCHIVED")
# Fields an update may change (the SKU never changes), in event order.
SCALAR_FIELDS = ("name", "description", "price", "currency", "category", "status")


class CatalogRuleError(ValueError):
    """A request breaks a catalog rule that the schema cannot express (-> 400)."""


@dataclass(frozen=True)
class Variant:
    variant_id: str
    sku: str
    attributes: Mapping[str, str]

    def as_dict(self) -> dict[str, Any]:
        return {"variantId": self.variant_id, "sku": self.sku, "attributes": dict(self.attributes)}


@dataclass(frozen=True)
class Product:
    product_id: str
    sku: str
    name: str
    price: int
    currency: str
    status: ProductStatus = "DRAFT"
    description: str | None = None
    category: str | None = None
    variants: tuple[Variant, ...] = field(default=())

    @property
    def skus(self) -> tuple[str, ...]:
        return (self.sku, *(v.sku for v in self.variants))

    def fields(self) -> dict[str, Any]:
        """Every field as product events carry it (camelCase names, variants as dicts)."""
        return {
            "sku": self.sku,
            "name": self.name,
            "description": self.description,
            "price": self.price,
            "currency": self.currency,
            "category": self.category,
            "status": self.status,
            "variants": [v.as_dict() for v in self.variants],
        }


def check_variant_skus(product_sku: str, variant_skus: Sequence[str]) -> None:
    """A request may not list one SKU twice, nor repeat the product's own SKU for a variant."""
    seen: set[str] = {product_sku}
    for index, sku in enumerate(variant_skus):
        if sku in seen:
            what = "the product SKU" if sku == product_sku else "another variant's SKU"
            raise CatalogRuleError(f"variants[{index}].sku {sku!r} repeats {what}")
        seen.add(sku)


def merge_variants(
    existing: Sequence[Variant],
    requested: Sequence[tuple[str, Mapping[str, str]]],
    new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
) -> tuple[Variant, ...]:
    """The new variant list: a SKU listed before keeps its variant id; new SKUs get a new one."""
    by_sku = {v.sku: v for v in existing}
    merged = []
    for sku, attributes in requested:
        old = by_sku.get(sku)
        merged.append(Variant(old.variant_id if old else new_id(), sku, dict(attributes)))
    return tuple(merged)


def diff_product(
    current: Product,
    requested: Mapping[str, Any],
    variants: tuple[Variant, ...] | None = None,
) -> dict[str, Any]:
    """The fields of `requested` (and `variants`) that differ from `current`.

    `requested` holds scalar fields by event name; None means "not given" (a PATCH cannot
    clear a field: the events have no way to say so).
    """
    changes: dict[str, Any] = {}
    for name in SCALAR_FIELDS:
        value = requested.get(name)
        if value is not None and value != getattr(current, name):
            changes[name] = value
    if variants is not None and variants != current.variants:
        changes["variants"] = variants
    return changes


def apply_changes(current: Product, changes: Mapping[str, Any]) -> Product:
    return replace(current, **changes)


def visible(status: str, *, staff: bool) -> bool:
    """Drafts are for staff only; active and archived products are public."""
    return staff or status != "DRAFT"


def reindex_matches(
    stored_statuses: Sequence[str] | None,
    stored_requested_at: Any,
    statuses: Sequence[str] | None,
    requested_at: Any,
) -> bool:
    """A repeated reindex request is the same run when its body says the same thing."""
    return _status_set(stored_statuses) == _status_set(statuses) and (
        stored_requested_at == requested_at
    )


def _status_set(statuses: Sequence[str] | None) -> frozenset[str]:
    # "All statuses" and an explicit list of all of them select the same products.
    if not statuses:
        return frozenset(PRODUCT_STATUSES)
    return frozenset(statuses)
