"""The plan read from real generator output: the generator's small shop catalog, rendered here."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from acme.runtime.gateway import RouteTable
from acme.runtime.supervisor import child_specs, platform_from_catalog

FIXTURE = Path(__file__).parents[1] / "generator" / "render_fixture.py"
PACKAGE = "acme_supervisor_shopgen"


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> object:
    if not FIXTURE.exists():
        pytest.skip("generator render fixture not available")
    sys.path.insert(0, str(FIXTURE.parent))
    try:
        render_fixture = importlib.import_module("render_fixture")
    finally:
        sys.path.remove(str(FIXTURE.parent))
    from generator._render import render_catalog

    result = render_catalog(render_fixture.shop_catalog(), package_name=PACKAGE)
    root = tmp_path_factory.mktemp("generated")
    for relative, text in result.files.items():
        target = root / PACKAGE / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    sys.path.insert(0, str(root))
    try:
        return importlib.import_module(f"{PACKAGE}.catalog")
    finally:
        sys.path.remove(str(root))


def test_hosts_from_generated_registry(catalog: object) -> None:
    platform = platform_from_catalog(catalog)
    hosts = {h.name: h.services for h in platform.hosts}
    assert platform.names[0] == "stripe"  # the sandbox starts first
    assert hosts["oms"] == ("order-auditor", "order-service")
    # the domain hosts its system-less services; one with nothing to run is left out
    assert "promotion-service" in hosts["shopping"]
    assert "idle-service" not in hosts["shopping"]
    # a client (storefront) is hosted nowhere
    assert not any("storefront" in services for services in hosts.values())
    assert [s.stage for s in child_specs(platform)][:2] == [0, 1]


def test_routes_from_generated_http_module_and_webhook(catalog: object) -> None:
    table = RouteTable(platform_from_catalog(catalog).routes)
    found = table.match("GET", "/orders/0b5e")
    assert found is not None and found.route.system == "oms"
    assert found.route.operation_id == "getOrder"
    cancel = table.match("POST", "/orders/0b5e/cancel")
    assert cancel is not None and cancel.route.operation_id == "cancelOrder"
    hook = table.match("POST", "/webhooks/stripe")
    assert hook is not None and hook.route.system == "oms"
    assert table.match("GET", "/webhooks/stripe") is None
