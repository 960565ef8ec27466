"""The registry: hosts, services, contracts and data stores read from a generated catalog."""

from __future__ import annotations

import pytest

from acme.runtime.errors import ConfigurationError, RegistryError
from acme.runtime.process import load_implementation
from acme.runtime.registry import implementation_module, list_hosts, load_host, pascal

CATALOG = "fake_system.catalog"


def test_load_host_finds_services_contracts_and_ddl() -> None:
    host = load_host("fake-system", CATALOG)
    (echo,) = host.services
    assert echo.id == "echo-service"
    assert echo.handlers is not None and echo.handlers.__name__ == "EchoServiceHandlers"
    assert echo.http_handlers is not None
    assert echo.http_handlers.__name__ == "EchoServiceHttpHandlers"
    assert echo.build_router is not None
    assert host.containers == ("echo-database",)
    assert host.primary_store("echo-service") == "echo-database"
    assert host.datastores["echo-database"].ddl[0].startswith("CREATE TABLE pings")


def test_client_only_services_start_no_process() -> None:
    assert list_hosts(CATALOG) == ["fake-system"]


def test_unknown_host_names_the_known_ones() -> None:
    with pytest.raises(RegistryError, match=r"no services are hosted by 'x'; known hosts: fake"):
        load_host("x", CATALOG)


def test_missing_generated_catalog_says_how_to_make_it() -> None:
    with pytest.raises(RegistryError, match=r"no_such\.catalog is missing: generate it"):
        load_host("fake-system", "no_such.catalog")


def test_unknown_service_of_a_host() -> None:
    host = load_host("fake-system", CATALOG)
    with pytest.raises(RegistryError, match="hosts no service 'cart-service'.*echo-service"):
        host.service("cart-service")


@pytest.mark.parametrize(
    ("host", "module"),
    [
        ("order-management-system", "order_management"),
        ("identity-provider-system", "identity_provider"),
        ("reviews", "reviews"),
        ("stripe", "stripe"),
    ],
)
def test_implementation_module_names(host: str, module: str) -> None:
    assert implementation_module(host) == module


def test_pascal_matches_the_generator() -> None:
    assert pascal("order-service") == "OrderService"
    assert pascal("product-api") == "ProductApi"


def test_implementation_is_searched_in_order() -> None:
    module = load_implementation("fake-system", ["nowhere.at_all", "fake_system.impl"])
    assert module.__name__ == "fake_system.impl.fake"
    with pytest.raises(ConfigurationError, match="tried nowhere.fake"):
        load_implementation("fake-system", ["nowhere"])
