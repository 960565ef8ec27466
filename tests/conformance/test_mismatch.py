"""Each check fails when the catalog and the running code disagree, from either side.

The Promotion System runs in-process (it sends discount-calculated on shopping.events and
answers calculate-discount requests); the catalog it is checked against is a copy of the
repository's catalog with one deliberate change, or the code gets one rogue subscription.
"""

from __future__ import annotations

import importlib
import io
import json
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from acme.cli import main as acme_main
from acme.runtime import SystemApp
from acme.runtime.conformance import (
    HostReport,
    catalog_documents,
    check_app,
    check_remote,
)
from acme.runtime.registry import load_host
from acme.runtime.transport import Delivery, create_transport
from tests.conformance.conftest import CATALOG
from tests.systems import harness

HOST = "promotion-system"
EVENT_SCHEMA = (
    "domains/Shopping/systems/promotion-system/services/PromotionService/events/"
    "discount-calculated/schema.json"
)
SHOPPING_EVENTS = "channels/shopping.events/index.mdx"


@asynccontextmanager
async def promotion(
    tmp_path: Path, broker_url: str, before_start: Callable[[SystemApp], None] | None = None
) -> AsyncIterator[SystemApp]:
    settings = harness.settings_for_tests(tmp_path / "data", broker_url)
    app = SystemApp(load_host(HOST), settings)
    importlib.import_module("acme.systems.promotion").create(app)
    if before_start is not None:
        before_start(app)
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


def edited_catalog(tmp_path: Path, path: str, edit: Callable[[str], str]) -> Path:
    copy = tmp_path / "catalog"
    shutil.copytree(CATALOG, copy)
    target = copy / path
    before = target.read_text(encoding="utf-8")
    after = edit(before)
    assert after != before, f"the edit of {path} changed nothing"
    target.write_text(after, encoding="utf-8")
    return copy


def _messages(report: HostReport, check: str) -> list[str]:
    return [d.message if d.where == "runtime" else f"{d.where}: {d.message}"
            for d in report.differences if d.check == check]  # fmt: skip


async def test_the_unchanged_catalog_agrees(
    tmp_path: Path, broker_url: str, documents: dict[str, dict[str, Any]]
) -> None:
    async with promotion(tmp_path, broker_url) as app:
        report = check_app(app, documents)
    assert report.differences == []


async def test_a_payload_schema_change_fails_the_asyncapi_check(
    tmp_path: Path, broker_url: str
) -> None:
    def add_required_field(text: str) -> str:
        schema = json.loads(text)
        schema["properties"]["loyaltyPoints"] = {"type": "integer", "minimum": 0}
        schema["required"].append("loyaltyPoints")
        return json.dumps(schema, indent=2)

    documents = catalog_documents(edited_catalog(tmp_path, EVENT_SCHEMA, add_required_field))
    async with promotion(tmp_path, broker_url) as app:
        report = check_app(app, documents)
    (difference,) = report.differences
    assert difference.check == "asyncapi"
    assert difference.where == "send shopping.events.discount-calculated"
    assert "message discount-calculated: payload schema differs" in difference.message
    assert difference.payload is not None
    assert set(difference.payload[1]) == {"/properties/loyaltyPoints", "/required"}


async def test_a_channel_address_change_fails_both_checks(tmp_path: Path, broker_url: str) -> None:
    def move(text: str) -> str:
        return text.replace("address: shopping.events.{message}", "address: shop.events.{message}")

    documents = catalog_documents(edited_catalog(tmp_path, SHOPPING_EVENTS, move))
    async with promotion(tmp_path, broker_url) as app:
        report = check_app(app, documents)
    asyncapi = _messages(report, "asyncapi")
    assert any(
        m.startswith("send shop.events.discount-calculated: in the catalog") for m in asyncapi
    )
    assert any(
        m.startswith("send shopping.events.discount-calculated: in FastStream") for m in asyncapi
    )
    introspection = _messages(report, "introspection")
    assert (
        "promotion-service: does not publish shop.events.discount-calculated "
        "discount-calculated 1.0.0, which the catalog lists" in introspection
    )
    assert (
        "promotion-service: publishes shopping.events.discount-calculated "
        "discount-calculated 1.0.0, which the catalog does not list" in introspection
    )


async def test_a_subscription_the_catalog_does_not_list_fails_both_checks(
    tmp_path: Path, broker_url: str, documents: dict[str, dict[str, Any]]
) -> None:
    async def ignore(delivery: Delivery) -> None:
        await delivery.ack()

    def rogue(app: SystemApp) -> None:
        app.transport = create_transport(str(app.settings.broker_url), app.settings)
        app.transport.subscribe("shopping.events.rogue-thing", "promotion-service", ignore)

    async with promotion(tmp_path, broker_url, rogue) as app:
        report = check_app(app, documents)
    (asyncapi,) = _messages(report, "asyncapi")
    assert asyncapi.startswith("receive shopping.events.rogue-thing: in FastStream (")
    assert asyncapi.endswith("), not in the catalog")
    assert _messages(report, "introspection") == [
        "promotion-service: subscribes to shopping.events.rogue-thing events, "
        "which the catalog does not list"
    ]


async def test_remote_check_reads_introspection_and_asyncapi_over_http(
    tmp_path: Path, broker_url: str, documents: dict[str, dict[str, Any]]
) -> None:
    async with promotion(tmp_path, broker_url) as app:
        transport = httpx.ASGITransport(app=app.http_app)
        report = await check_remote(HOST, "http://test", documents, transport=transport)
    assert report.ok, report.differences
    assert report.skipped == {}
    assert report.status("introspection") == "ok"
    assert report.status("asyncapi") == "ok"


async def test_the_host_serves_faststreams_asyncapi_document(
    tmp_path: Path, broker_url: str
) -> None:
    async with (
        promotion(tmp_path, broker_url) as app,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app.http_app), base_url="http://test"
        ) as client,
    ):
        response = await client.get("/_asyncapi")
        schema = (await client.get("/openapi.json")).json()
    assert response.status_code == 200
    document = response.json()
    assert document["asyncapi"] == "3.0.0"
    assert document["info"]["title"] == HOST
    addresses = {channel["address"] for channel in document["channels"].values()}
    # what promotion-service sends, and the requests it answers (on the runtime's _rpc. prefix)
    assert "shopping.events.discount-calculated" in addresses
    assert any(a.startswith("_rpc.") for a in addresses)
    actions = {op["action"] for op in document["operations"].values()}
    assert actions == {"send", "receive"}
    assert "/_asyncapi" not in schema["paths"]  # a runtime route, not part of the API


async def test_asyncapi_of_a_host_not_started_is_unavailable(tmp_path: Path) -> None:
    settings = harness.settings_for_tests(tmp_path / "data", "nats://127.0.0.1:1")
    app = SystemApp(load_host(HOST), settings)
    importlib.import_module("acme.systems.promotion").create(app)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app.http_app), base_url="http://test"
    ) as client:
        response = await client.get("/_asyncapi")
    assert response.status_code == 503
    assert response.json()["code"] == "not-started"


async def test_remote_check_finds_a_payload_change_through_asyncapi(
    tmp_path: Path, broker_url: str
) -> None:
    def add_required_field(text: str) -> str:
        schema = json.loads(text)
        schema["properties"]["loyaltyPoints"] = {"type": "integer", "minimum": 0}
        schema["required"].append("loyaltyPoints")
        return json.dumps(schema, indent=2)

    documents = catalog_documents(edited_catalog(tmp_path, EVENT_SCHEMA, add_required_field))
    async with promotion(tmp_path, broker_url) as app:
        transport = httpx.ASGITransport(app=app.http_app)
        report = await check_remote(HOST, "http://test", documents, transport=transport)
    assert report.status("introspection") == "ok"
    (difference,) = report.differences
    assert difference.check == "asyncapi"
    assert difference.where == "send shopping.events.discount-calculated"
    assert difference.payload is not None
    assert set(difference.payload[1]) == {"/properties/loyaltyPoints", "/required"}


async def test_remote_check_skips_asyncapi_where_a_process_does_not_serve_it(
    tmp_path: Path, broker_url: str, documents: dict[str, dict[str, Any]]
) -> None:
    async with promotion(tmp_path, broker_url) as app:
        inner = httpx.ASGITransport(app=app.http_app)

        async def older_process(request: httpx.Request) -> httpx.Response:
            if request.url.path == "/_asyncapi":
                return httpx.Response(404, json={"detail": "Not Found"})
            return await inner.handle_async_request(request)

        transport = httpx.MockTransport(older_process)
        report = await check_remote(HOST, "http://test", documents, transport=transport)
    assert report.ok, report.differences
    assert report.skipped == {"asyncapi": "the process does not serve /_asyncapi"}
    assert report.status("asyncapi") == "skipped"


def test_cli_in_process_reports_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ACME_JWT_SECRET", harness.JWT_SECRET)
    out, err = io.StringIO(), io.StringIO()
    argv = ["conformance", "--in-process", "--only", HOST, "--catalog", str(CATALOG), "--json"]
    code = acme_main(argv, stdout=out, stderr=err)
    assert code == 0, out.getvalue() + err.getvalue()
    (report,) = json.loads(out.getvalue())
    assert report["host"] == HOST and report["ok"] is True
    assert report["checks"] == {"asyncapi": "ok", "introspection": "ok"}


def test_cli_without_a_running_platform_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACME_DATA_DIR", str(tmp_path))
    out, err = io.StringIO(), io.StringIO()
    assert acme_main(["conformance"], stdout=out, stderr=err) == 1
    assert "the platform is not running" in err.getvalue()
