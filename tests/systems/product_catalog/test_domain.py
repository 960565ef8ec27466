"""Catalog rules without I/O: SKU namespace, variant merge, diffs, visibility, reindex ids."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

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

SHOE = Product(
    product_id="p1",
    sku="SHOE",
    name="Shoe",
    price=1000,
    currency="EUR",
    status="ACTIVE",
    category="shoes",
    variants=(Variant("v1", "SHOE-S", {"size": "S"}),),
)


def test_variant_skus_must_differ_from_each_other_and_from_the_product() -> None:
    check_variant_skus("SHOE", ["SHOE-S", "SHOE-M"])
    with pytest.raises(CatalogRuleError, match=r"variants\[1\].sku 'A' repeats another"):
        check_variant_skus("SHOE", ["A", "A"])
    with pytest.raises(CatalogRuleError, match=r"variants\[0\].sku 'SHOE' repeats the product SKU"):
        check_variant_skus("SHOE", ["SHOE"])


def test_merge_keeps_the_id_of_a_listed_sku_and_gives_new_skus_new_ids() -> None:
    ids = iter(["new-1", "new-2"])
    merged = merge_variants(
        SHOE.variants, [("SHOE-M", {}), ("SHOE-S", {"size": "small"})], lambda: next(ids)
    )
    assert merged == (Variant("new-1", "SHOE-M", {}), Variant("v1", "SHOE-S", {"size": "small"}))


def test_diff_lists_only_fields_whose_value_changes() -> None:
    requested = {"name": "Shoe", "price": 900, "description": None, "status": "ARCHIVED"}
    assert diff_product(SHOE, requested) == {"price": 900, "status": "ARCHIVED"}
    assert diff_product(SHOE, {"name": "Shoe"}, SHOE.variants) == {}
    other = (Variant("v1", "SHOE-S", {"size": "XS"}),)
    assert diff_product(SHOE, {}, other) == {"variants": other}
    assert apply_changes(SHOE, {"price": 900}).price == 900


def test_drafts_are_visible_to_staff_only() -> None:
    assert not visible("DRAFT", staff=False)
    assert visible("DRAFT", staff=True)
    assert visible("ARCHIVED", staff=False) and visible("ACTIVE", staff=False)


def test_a_repeated_reindex_is_the_same_run_only_with_the_same_body() -> None:
    at = datetime(2030, 1, 1, tzinfo=UTC)
    assert reindex_matches(None, at, ["DRAFT", "ACTIVE", "ARCHIVED"], at)  # all == all listed
    assert reindex_matches(("ACTIVE",), at, ["ACTIVE", "ACTIVE"], at)
    assert not reindex_matches(("ACTIVE",), at, ["DRAFT"], at)
    assert not reindex_matches(None, at, None, datetime(2030, 1, 2, tzinfo=UTC))
