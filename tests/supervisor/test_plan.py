"""Reading hosts and gateway routes from a generated registry (built here from contracts)."""

from __future__ import annotations

import sys
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import BaseModel

from acme.runtime.supervisor import (
    HostPlan,
    PlatformError,
    child_specs,
    platform_from_catalog,
)
from generator.contracts import (
    ChannelBinding,
    Incoming,
    MessageSpec,
    OperationSpec,
    Outgoing,
    ServiceSpec,
)


class Payload(BaseModel):
    id: str


MSG = MessageSpec(id="thing-happened", version="1.0.0", kind="event", name="Thing", model=Payload)
NATS = ChannelBinding("ordering.events", "ordering.events.thing", "nats")
WEBHOOK = ChannelBinding("payments.outcomes", "/webhooks/stripe", "http")


def service(sid: str, system: str | None, domain: str | None, **kw: Any) -> SimpleNamespace:
    return SimpleNamespace(SERVICE=ServiceSpec(sid, sid, "1.0.0", system, domain, **kw))


def op(method: str, path: str, oid: str) -> OperationSpec:
    return OperationSpec(oid, method, path)


MODULES: dict[str, Any] = {
    "g.services.cart_api": service(
        "cart-api", "cart-system", "shopping", receives=(Incoming(MSG, NATS, "on_thing"),)
    ),
    "g.services.payment_worker": service(
        "payment-worker",
        "payment-processing-system",
        "payments",
        receives=(Incoming(MSG, WEBHOOK, "on_outcome"),),
    ),
    "g.services.stripe_api": service("stripe-payments-api", "stripe", "payments"),
    "g.services.review_api": service(
        "review-api", None, "reviews", sends=(Outgoing(MSG, NATS, "thing"),)
    ),
    # a client: sends only over http.gateway, so nothing is generated for it to run
    "g.services.storefront": service("storefront", "web-shop", "shopping"),
    # operations only in its http module still make a service hosted
    "g.services.search_api": service("search-api", "search-system", "catalog"),
    "g.http.search_api": SimpleNamespace(OPERATIONS=(op("GET", "/search/products", "search"),)),
    "g.http.cart_api": SimpleNamespace(
        OPERATIONS=(op("POST", "/carts/{cartId}/items", "addItemToCart"),)
    ),
    "g.http.review_api": SimpleNamespace(
        OPERATIONS=(op("GET", "/products/{productId}/reviews", "getProductReviews"),)
    ),
}

CATALOG = SimpleNamespace(
    __name__="g.catalog",
    SYSTEMS=(
        SimpleNamespace(id="web-shop"),
        SimpleNamespace(id="cart-system"),
        SimpleNamespace(id="payment-processing-system"),
        SimpleNamespace(id="stripe"),
    ),
    SERVICE_MODULES={
        "cart-api": "g.services.cart_api",
        "payment-worker": "g.services.payment_worker",
        "stripe-payments-api": "g.services.stripe_api",
        "review-api": "g.services.review_api",
        "storefront": "g.services.storefront",
        "search-api": "g.services.search_api",
    },
    HTTP_MODULES={
        "cart-api": "g.http.cart_api",
        "review-api": "g.http.review_api",
        "search-api": "g.http.search_api",
    },
)


def load(name: str) -> Any:
    try:
        return MODULES[name]
    except KeyError:
        raise ImportError(f"No module named {name!r}") from None


def test_hosts_follow_catalog_order_with_stripe_first_and_domains_last() -> None:
    platform = platform_from_catalog(CATALOG, import_module=load)
    assert platform.hosts == (
        HostPlan("stripe"),
        HostPlan("cart-system", ("cart-api",)),
        HostPlan("payment-processing-system", ("payment-worker",)),
        HostPlan("reviews", ("review-api",)),
        HostPlan("search-system", ("search-api",)),
    )


def test_routes_come_from_http_operations_and_webhook_channels() -> None:
    routes = {
        (r.method, r.template): (r.system, r.service)
        for r in platform_from_catalog(CATALOG, import_module=load).routes
    }
    assert routes == {
        ("POST", "/carts/{cartId}/items"): ("cart-system", "cart-api"),
        ("GET", "/products/{productId}/reviews"): ("reviews", "review-api"),
        ("GET", "/search/products"): ("search-system", "search-api"),
        ("POST", "/webhooks/stripe"): ("payment-processing-system", "payment-worker"),
    }


def test_only_selects_hosts_and_brings_the_stripe_sandbox_for_payments() -> None:
    platform = platform_from_catalog(CATALOG, import_module=load)
    assert platform.select(["cart-system"]).names == ["cart-system"]
    assert platform.select(["payment-processing-system"]).names == [
        "stripe",
        "payment-processing-system",
    ]
    assert platform.select([]).names == platform.names


def test_only_with_unknown_name_lists_the_known_ones() -> None:
    platform = platform_from_catalog(CATALOG, import_module=load)
    with pytest.raises(PlatformError, match="unknown system.*checkout-sys.*hosts: stripe, cart"):
        platform.select(["cart-system", "checkout-sys"])


def test_systems_as_mapping_keep_their_order() -> None:
    systems = {"stripe": {}, "payment-processing-system": {}, "cart-system": {}}
    catalog = SimpleNamespace(**{**vars(CATALOG), "SYSTEMS": systems})
    names = platform_from_catalog(catalog, import_module=load).names
    assert names[:3] == ["stripe", "payment-processing-system", "cart-system"]


def test_registry_without_service_modules_is_reported() -> None:
    catalog = SimpleNamespace(__name__="g.catalog", SYSTEMS=())
    with pytest.raises(PlatformError, match="g.catalog has no SERVICE_MODULES"):
        platform_from_catalog(catalog, import_module=load)


def test_missing_generated_module_names_the_module() -> None:
    catalog = SimpleNamespace(**{**vars(CATALOG), "SERVICE_MODULES": {"x": "g.services.gone"}})
    with pytest.raises(PlatformError, match="g.services.gone, which cannot be imported"):
        platform_from_catalog(catalog, import_module=load)


def test_http_module_of_unknown_service_is_reported() -> None:
    catalog = SimpleNamespace(**{**vars(CATALOG), "HTTP_MODULES": {"ghost": "g.http.cart_api"}})
    with pytest.raises(PlatformError, match="HTTP_MODULES lists ghost"):
        platform_from_catalog(catalog, import_module=load)


def test_child_commands() -> None:
    platform = platform_from_catalog(CATALOG, import_module=load)
    specs = {s.name: s for s in child_specs(platform, python="py")}
    stripe = specs["stripe"]
    assert stripe.argv == ("py", "-m", "acme.simulators.stripe", "--port", "{port}")
    assert stripe.export_url_as == "ACME_STRIPE_API_BASE" and stripe.stage == 0
    cart = specs["cart-system"]
    assert cart.argv == (
        "py", "-m", "acme.runtime.process", "--system", "cart-system", "--port", "{port}"
    )  # fmt: skip
    assert cart.stage == 1 and cart.export_url_as is None
    assert child_specs(platform)[0].argv[0] == sys.executable
