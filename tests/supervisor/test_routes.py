"""Route matching of the gateway: pure, no network."""

from __future__ import annotations

import pytest

from acme.runtime.gateway import RouteConflictError, RouteSpec, RouteTable


def table() -> RouteTable:
    return RouteTable(
        [
            RouteSpec("POST", "/carts/{cartId}/items", "cart-system", "cart-api", "addItemToCart"),
            RouteSpec("DELETE", "/carts/{cartId}/items/{productId}", "cart-system", "cart-api"),
            RouteSpec("POST", "/carts/{cartId}/checkout", "cart-system", "cart-api"),
            RouteSpec("POST", "/carts/{cartId}/{action}", "promotion-system", "promo-api"),
            RouteSpec("GET", "/products/{productId}", "product-catalog-system", "product-api"),
            RouteSpec("PATCH", "/products/{productId}", "product-catalog-system", "product-api"),
            RouteSpec("GET", "/products/{productId}/reviews", "reviews", "review-api"),
            RouteSpec("GET", "/products/featured", "search-system", "search-api"),
            RouteSpec("post", "/webhooks/stripe", "payment-processing-system", "payment-worker"),
        ]
    )


@pytest.mark.parametrize(
    ("method", "path", "system", "params"),
    [
        ("POST", "/carts/c1/items", "cart-system", {"cartId": "c1"}),
        ("DELETE", "/carts/c1/items/p9", "cart-system", {"cartId": "c1", "productId": "p9"}),
        # a literal segment beats a parameter in the same position
        ("POST", "/carts/c1/checkout", "cart-system", {"cartId": "c1"}),
        (
            "POST",
            "/carts/c1/apply-coupon",
            "promotion-system",
            {"cartId": "c1", "action": "apply-coupon"},
        ),
        ("GET", "/products/featured", "search-system", {}),
        ("GET", "/products/p1", "product-catalog-system", {"productId": "p1"}),
        # a parameter never spans '/': the longer template wins
        ("GET", "/products/p1/reviews", "reviews", {"productId": "p1"}),
        ("POST", "/webhooks/stripe", "payment-processing-system", {}),
        # encoded slash stays inside one segment because matching uses the raw path
        ("GET", "/products/a%2Fb", "product-catalog-system", {"productId": "a%2Fb"}),
        ("GET", "/products/p1/", "product-catalog-system", {"productId": "p1"}),
        ("HEAD", "/products/p1", "product-catalog-system", {"productId": "p1"}),
    ],
)
def test_match(method: str, path: str, system: str, params: dict[str, str]) -> None:
    found = table().match(method, path)
    assert found is not None
    assert found.route.system == system
    assert dict(found.params) == params


@pytest.mark.parametrize("path", ["/", "/carts", "/carts/c1", "/products/p1/reviews/r1", "/nope"])
def test_unknown_paths_do_not_match(path: str) -> None:
    t = table()
    assert t.match("GET", path) is None
    assert t.match("POST", path) is None
    assert t.allowed_methods(path) == []


def test_wrong_method_lists_allowed_methods() -> None:
    t = table()
    assert t.match("DELETE", "/products/p1") is None
    assert t.allowed_methods("/products/p1") == ["GET", "PATCH"]


def test_owner_ignores_parameter_names() -> None:
    t = table()
    assert t.owner("get", "/products/{id}") == "product-catalog-system"
    assert t.owner("GET", "/products/{id}/reviews") == "reviews"
    assert t.owner("PUT", "/products/{id}") is None


def test_same_route_from_two_systems_is_rejected_with_both_names() -> None:
    with pytest.raises(RouteConflictError, match="product-api.*other-api"):
        RouteTable(
            [
                RouteSpec("GET", "/products/{productId}", "product-catalog-system", "product-api"),
                RouteSpec("GET", "/products/{id}", "other-system", "other-api"),
            ]
        )


def test_duplicate_route_of_one_system_is_tolerated() -> None:
    t = RouteTable(
        [
            RouteSpec("GET", "/products/{productId}", "product-catalog-system"),
            RouteSpec("GET", "/products/{productId}", "product-catalog-system"),
        ]
    )
    assert len(t) == 1


@pytest.mark.parametrize("template", ["products", "/a/{x}/{x}", "/a/{not-an-id}"])
def test_bad_templates_are_rejected(template: str) -> None:
    with pytest.raises(ValueError, match="template"):
        RouteTable([RouteSpec("GET", template, "s")])
