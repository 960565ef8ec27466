"""catalog.py: the registry of the catalog, as frozen dataclass literals."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from types import ModuleType

import pytest
from render_fixture import imported, rendered, shop_catalog, write_package

from generator._render._view import CatalogView
from generator._render.registry import records
from generator.registry_types import FlowStepInfo, MessageRoute


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    parent = tmp_path_factory.mktemp("registry")
    write_package(rendered(), parent)
    with imported(parent) as load:
        yield load("catalog")


def test_hosts_group_services_by_system_then_domain_without_clients(registry: ModuleType) -> None:
    assert registry.HOSTS == {
        "oms": ("order-auditor", "order-service"),
        "shopping": ("idle-service", "legacy-service", "promotion-service"),
        "stripe": ("stripe-webhooks",),
    }
    assert registry.SERVICES["storefront"].client is True
    assert registry.SERVICES["storefront"].host is None
    assert registry.SERVICES["stripe-webhooks"].external is True


def test_service_routes_record_channels_and_addresses(registry: ModuleType) -> None:
    service = registry.SERVICES["order-service"]
    assert service.sends[0] == MessageRoute(
        "order-created", "1.0.0", "ordering.events", "ordering.events.order-created"
    )
    # The registry keeps every receive, HTTP ones included (the gateway routes by them).
    assert ("cancel-order", "http.gateway") in {(r.message, r.channel) for r in service.receives}


def test_modules_point_at_generated_code(registry: ModuleType) -> None:
    assert registry.SERVICE_MODULES["order-service"] == "shopgen.services.order_service"
    assert registry.HTTP_MODULES == {"order-service": "shopgen.http.order_service"}
    assert registry.DATASTORE_MODULES == {"order-database": "shopgen.datastores.order_database"}
    assert registry.MESSAGE_MODULES["order-created@0.6.0"] == (
        "shopgen.messages.versions.order_created_v0_6_0"
    )


def test_messages_channels_containers_and_systems(registry: ModuleType) -> None:
    created = registry.MESSAGES["order-created"]
    assert (created.version, created.versions, created.kind) == (
        "1.0.0",
        ("1.0.0", "0.6.0"),
        "event",
    )
    assert registry.MESSAGES["get-order"].exchange is True
    assert registry.MESSAGES["get-order"].http == ("GET", "/orders/{orderId}")
    channel = registry.CHANNELS["ordering.events"]
    assert (channel.parameters, channel.routes) == (("message",), ("ordering.audit",))
    store = registry.CONTAINERS["order-database"]
    assert (store.system, store.tables, store.authoritative) == (
        "oms",
        ("orders", "message_inbox"),
        True,
    )
    assert registry.SYSTEMS["stripe"].scope == "external"
    assert registry.SYSTEMS["oms"].relationships[0].label == "charges through"
    assert registry.DOMAINS["shopping"].services == (
        "promotion-service",
        "legacy-service",
        "idle-service",
    )


def test_flows_keep_step_kinds_links_and_labels(registry: ModuleType) -> None:
    steps = registry.FLOWS["place-order"].steps
    assert steps[0] == FlowStepInfo(
        "start", "Shopper checks out", "actor", "Shopper", ("create",), ("",)
    )
    assert (steps[1].kind, steps[1].ref, steps[1].next, steps[1].labels) == (
        "message",
        "create-order",
        ("created", "end"),
        ("ok", "rejected"),
    )
    assert steps[3].kind == "step"


def test_records_are_frozen(registry: ModuleType) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        registry.SERVICES["order-service"].name = "x"  # type: ignore[misc]


def test_external_webhook_sender_is_hosted_not_a_client() -> None:
    catalog = shop_catalog()
    channels = tuple(
        dataclasses.replace(c, protocols=("http",)) if c.id == "payments.outcomes" else c
        for c in catalog.channels
    )
    view = CatalogView(dataclasses.replace(catalog, channels=channels))
    tables = records(view)
    services = tables["SERVICES"]
    assert isinstance(services, dict)
    assert services["stripe-webhooks"].client is False
    assert services["stripe-webhooks"].host == "stripe"
    assert services["storefront"].client is True
