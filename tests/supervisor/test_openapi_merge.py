"""The gateway's merged OpenAPI document."""

from __future__ import annotations

from typing import Any

import httpx

from acme.runtime.gateway import RouteSpec, RouteTable, SystemStatus, create_gateway, merge_openapi

TABLE = RouteTable(
    [
        RouteSpec("POST", "/carts/{cartId}/items", "cart-system"),
        RouteSpec("GET", "/products/{productId}", "product-catalog-system"),
        RouteSpec("GET", "/products/{productId}/reviews", "reviews"),
    ]
)

MONEY_EUR = {"type": "object", "properties": {"cents": {"type": "integer"}}}
MONEY_STR = {"type": "string", "pattern": "^[0-9]+$"}
BEARER = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def body(name: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": ref(name)}}}


CART_DOC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "cart", "version": "1"},
    "paths": {
        "/carts/{cartId}/items": {
            "post": {
                "operationId": "addItemToCart",
                "requestBody": body("AddItem"),
                "responses": {"200": {"description": "ok", **body("Cart")}},
                "security": [{"bearerAuth": []}],
            }
        },
        "/healthz": {"get": {"responses": {"200": {"description": "ok"}}}},
    },
    "components": {
        "schemas": {
            "AddItem": {"type": "object", "properties": {"price": ref("Money")}},
            "Cart": {"type": "object", "properties": {"total": ref("Money")}},
            "Money": MONEY_EUR,
            "HTTPValidationError": {"type": "object"},
        },
        "securitySchemes": {"bearerAuth": BEARER},
    },
    "tags": [{"name": "Cart API"}],
}

PRODUCT_DOC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "product", "version": "1"},
    "paths": {
        "/products/{productId}": {
            "parameters": [{"name": "productId", "in": "path", "required": True}],
            "get": {
                "operationId": "getProduct",
                "responses": {"200": {"description": "ok", **body("Product")}},
                "security": [{"bearerAuth": []}],
            },
            # not routed to this system by the gateway: must not appear
            "delete": {"responses": {"204": {"description": "gone"}}},
        },
        "/products/{productId}/reviews": {"get": {"responses": {"200": {"description": "x"}}}},
        "/healthz": {"get": {"responses": {"200": {"description": "ok"}}}},
    },
    "components": {
        "schemas": {
            # same name, different definition -> renamed for this system
            "Money": MONEY_STR,
            # identical to the cart's copy, but refers to a Money that is renamed -> renamed too
            "Cart": {"type": "object", "properties": {"total": ref("Money")}},
            "Product": {"type": "object", "properties": {"price": ref("Money")}},
            "HTTPValidationError": {"type": "object"},  # identical -> shared
        },
        # same name, different scheme -> renamed, and security requirements follow
        "securitySchemes": {"bearerAuth": {"type": "apiKey", "in": "header", "name": "X-Key"}},
    },
    "tags": [{"name": "Product API"}, {"name": "Cart API"}],
}


def test_merge_keeps_routed_operations_and_prefixes_clashing_components() -> None:
    merged = merge_openapi({"product-catalog-system": PRODUCT_DOC, "cart-system": CART_DOC}, TABLE)
    assert sorted(merged["paths"]) == ["/carts/{cartId}/items", "/products/{productId}"]
    product_item = merged["paths"]["/products/{productId}"]
    assert sorted(product_item) == ["get", "parameters"]

    schemas = merged["components"]["schemas"]
    assert schemas["Money"] == MONEY_EUR
    assert schemas["ProductCatalogSystemMoney"] == MONEY_STR
    assert schemas["Cart"]["properties"]["total"] == ref("Money")
    assert schemas["ProductCatalogSystemCart"]["properties"]["total"] == ref(
        "ProductCatalogSystemMoney"
    )
    assert schemas["Product"]["properties"]["price"] == ref("ProductCatalogSystemMoney")
    assert "ProductCatalogSystemHTTPValidationError" not in schemas

    get_product = product_item["get"]
    assert get_product["responses"]["200"]["content"]["application/json"]["schema"] == ref(
        "Product"
    )
    assert get_product["security"] == [{"ProductCatalogSystemBearerAuth": []}]
    cart_op = merged["paths"]["/carts/{cartId}/items"]["post"]
    assert cart_op["security"] == [{"bearerAuth": []}]
    assert merged["components"]["securitySchemes"]["bearerAuth"] == BEARER
    assert [t["name"] for t in merged["tags"]] == ["Cart API", "Product API"]


def test_merge_does_not_mutate_inputs() -> None:
    before = repr(PRODUCT_DOC)
    merge_openapi({"cart-system": CART_DOC, "product-catalog-system": PRODUCT_DOC}, TABLE)
    assert repr(PRODUCT_DOC) == before


def test_merge_of_nothing_is_a_valid_empty_document() -> None:
    merged = merge_openapi({}, TABLE, title="T", version="9")
    assert merged == {"openapi": "3.1.0", "info": {"title": "T", "version": "9"}, "paths": {}}


async def test_gateway_serves_merged_document_and_names_missing_systems() -> None:
    docs = {"http://cart:1": CART_DOC, "http://product:2": PRODUCT_DOC}

    def upstream(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/openapi.json"
        base = f"http://{request.url.host}:{request.url.port}"
        return httpx.Response(200, json=docs[base])

    systems = {
        "cart-system": SystemStatus("cart-system", "ready", "http://cart:1"),
        "product-catalog-system": SystemStatus(
            "product-catalog-system", "ready", "http://product:2"
        ),
    }
    async with httpx.AsyncClient(transport=httpx.MockTransport(upstream)) as upstream_client:
        app = create_gateway(TABLE, lambda: systems, client=upstream_client, title="Acme")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            resp = await client.get("/openapi.json")
    assert resp.status_code == 200
    doc = resp.json()
    assert doc["info"]["title"] == "Acme"
    assert "/carts/{cartId}/items" in doc["paths"]
    assert "/products/{productId}" in doc["paths"]
    assert doc["x-acme-unavailable"] == {"reviews": "system is not started by this supervisor"}


async def test_broken_upstream_document_is_reported_not_fatal() -> None:
    def upstream(request: httpx.Request) -> httpx.Response:
        if request.url.host == "cart":
            return httpx.Response(500, text="boom")
        return httpx.Response(200, json=PRODUCT_DOC)

    systems = {
        "cart-system": SystemStatus("cart-system", "ready", "http://cart:1"),
        "product-catalog-system": SystemStatus(
            "product-catalog-system", "ready", "http://product:2"
        ),
        "reviews": SystemStatus("reviews", "starting"),
    }
    async with httpx.AsyncClient(transport=httpx.MockTransport(upstream)) as upstream_client:
        app = create_gateway(TABLE, lambda: systems, client=upstream_client)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            doc = (await client.get("/openapi.json")).json()
    assert list(doc["paths"]) == ["/products/{productId}"]
    assert "500" in doc["x-acme-unavailable"]["cart-system"]
    assert doc["x-acme-unavailable"]["reviews"] == "system is starting"
