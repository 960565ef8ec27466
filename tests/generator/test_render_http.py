"""http/: a FastAPI router per OpenAPI document, calling the service's HTTP handler contract."""

from __future__ import annotations

import ast
import copy
import dataclasses
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, get_type_hints

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from render_fixture import OPENAPI, imported, rendered, shop_catalog, write_package

from generator._render import render_catalog
from generator.contracts import OperationSpec, RequestContext

Load = Callable[[str], ModuleType]
ID = "3f1e4a52-8c4b-4f7e-9a51-0f9b3d2c1a00"


@pytest.fixture(scope="module")
def load(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Load]:
    parent = tmp_path_factory.mktemp("http")
    write_package(rendered(), parent)
    with imported(parent) as loader:
        yield loader


class RecordingAuthorizer:
    """Lets everyone in and remembers which operation each request was authorised for."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def dependency(self, operation: OperationSpec) -> Callable[..., Awaitable[RequestContext]]:
        async def authorise() -> RequestContext:
            self.seen.append(operation.operation_id)
            return RequestContext(operation=operation, subject="customer-1")

        return authorise


@pytest.fixture(scope="module")
def app(load: Load) -> tuple[TestClient, list[tuple[str, tuple[Any, ...]]], RecordingAuthorizer]:
    http = load("http.order_service")
    models = load("http.order_service_models")
    get_order = load("messages.get_order")
    calls: list[tuple[str, tuple[Any, ...]]] = []

    class Handlers:
        async def list_orders(self, status: Any, page_size: int, request: RequestContext) -> Any:
            calls.append(("list_orders", (status, page_size, request.subject)))
            return models.OrderPage(orders=[models.OrderRow(order_id=ID)])

        async def get_order(self, order_id: str, request: RequestContext) -> Any:
            calls.append(("get_order", (order_id,)))
            return get_order.GetOrderResponse(order_id=order_id, status="CREATED")

        async def delete_order(self, order_id: str, request: RequestContext) -> None:
            calls.append(("delete_order", (order_id,)))

        async def cancel_order(self, order_id: str, body: Any, request: RequestContext) -> Any:
            calls.append(("cancel_order", (order_id, body.reason)))
            return models.CancelOrderResponse(accepted=True)

    authorizer = RecordingAuthorizer()
    api = FastAPI()
    api.include_router(http.build_router(Handlers(), authorizer))
    return TestClient(api), calls, authorizer


def test_operation_specs_follow_the_document(load: Load) -> None:
    http = load("http.order_service")
    assert (
        OperationSpec(
            operation_id="getOrder",
            method="GET",
            path="/orders/{orderId}",
            summary="Get one order",
            message_id="get-order",
            security=("bearerAuth",),  # the document's global security
            roles=("customer", "admin"),  # x-roles
            status_codes=(200, 404),
        )
        == http.GET_ORDER
    )
    assert http.DELETE_ORDER.security == ()  # `security: []` makes it public
    assert http.CANCEL_ORDER.message_id == "cancel-order"  # by the message's `operation`
    assert http.LIST_ORDERS.message_id is None
    assert http.OPERATIONS == (
        http.LIST_ORDERS,
        http.GET_ORDER,
        http.DELETE_ORDER,
        http.CANCEL_ORDER,
    )


def test_bodies_use_message_models_and_other_schemas_get_models() -> None:
    files = rendered().files
    http_text = files["http/order_service.py"]
    assert "from shopgen.messages.get_order import GetOrderResponse" in http_text
    assert "from shopgen.messages.cancel_order import CancelOrder" in http_text
    models = [
        n.name
        for n in ast.parse(files["http/order_service_models.py"]).body
        if isinstance(n, ast.ClassDef)
    ]
    assert sorted(models) == ["CancelOrderResponse", "OrderPage", "OrderRow"]


def test_get_with_path_parameter_returns_the_message_response(app: Any) -> None:
    client, calls, authorizer = app
    response = client.get(f"/orders/{ID}")
    assert response.status_code == 200
    assert response.json()["orderId"] == ID  # camelCase on the wire
    assert calls[-1] == ("get_order", (ID,))
    assert authorizer.seen[-1] == "getOrder"


def test_uuid_path_parameters_are_checked(app: Any) -> None:
    client, _, _ = app
    assert client.get("/orders/not-a-uuid").status_code == 422


def test_query_parameters_have_defaults_limits_and_aliases(app: Any) -> None:
    client, calls, _ = app
    assert client.get("/orders").status_code == 200
    assert calls[-1] == ("list_orders", (None, 20, "customer-1"))
    assert client.get("/orders?status=CANCELLED&pageSize=5").json()["orders"][0]["orderId"] == ID
    assert calls[-1] == ("list_orders", ("CANCELLED", 5, "customer-1"))
    assert client.get("/orders?pageSize=101").status_code == 422
    assert client.get("/orders?status=LOST").status_code == 422


def test_body_is_validated_with_the_message_model(app: Any) -> None:
    client, calls, _ = app
    response = client.post(f"/orders/{ID}/cancel", json={"orderId": ID, "reason": "late"})
    assert response.status_code == 202
    assert response.json() == {"accepted": True}
    assert calls[-1] == ("cancel_order", (ID, "late"))
    assert client.post(f"/orders/{ID}/cancel", json={"orderId": ID, "extra": 1}).status_code == 422


def test_no_content_operations_return_nothing(app: Any) -> None:
    client, calls, _ = app
    response = client.delete(f"/orders/{ID}")
    assert response.status_code == 204 and response.content == b""
    assert calls[-1] == ("delete_order", (ID,))


def test_openapi_of_the_router_keeps_ids_and_error_responses(app: Any) -> None:
    client, _, _ = app
    paths = client.get("/openapi.json").json()["paths"]
    get = paths["/orders/{orderId}"]["get"]
    assert get["operationId"] == "getOrder"
    assert "404" in get["responses"]
    assert paths["/orders/{orderId}/cancel"]["post"]["responses"]["409"]["description"] == (
        "Cannot cancel"
    )


def test_handler_protocol_lists_parameters_in_route_order(load: Load) -> None:
    protocol = load("http.order_service").OrderServiceHttpHandlers
    hints = get_type_hints(protocol.cancel_order)
    assert list(hints) == ["order_id", "body", "request", "return"]
    assert hints["body"] is load("messages.cancel_order").CancelOrder
    assert hints["return"] is load("http.order_service_models").CancelOrderResponse
    assert get_type_hints(protocol.delete_order)["return"] is type(None)


def test_services_without_openapi_get_no_http_module() -> None:
    files = rendered().files
    assert sorted(p for p in files if p.startswith("http/")) == [
        "http/__init__.py",
        "http/order_service.py",
        "http/order_service_models.py",
    ]


def test_array_query_parameters_and_inline_names_clear_of_components(tmp_path: Path) -> None:
    document = copy.deepcopy(OPENAPI)
    list_orders = document["paths"]["/orders"]["get"]
    list_orders["operationId"] = "orderPage"  # its inline response would be "OrderPageResponse"
    list_orders["parameters"].append(
        {"name": "tag", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}}
    )
    document["components"]["schemas"]["OrderPageResponse"] = {"type": "object"}
    list_orders["responses"]["200"]["content"]["application/json"]["schema"] = {
        "type": "object",
        "properties": {"count": {"type": "integer"}},
    }
    catalog = shop_catalog()
    services = tuple(
        dataclasses.replace(
            s, specifications=(dataclasses.replace(s.specifications[0], document=document),)
        )
        if s.id == "order-service"
        else s
        for s in catalog.services
    )
    result = render_catalog(dataclasses.replace(catalog, services=services), package_name="arrgen")
    text = result.files["http/order_service.py"]
    assert "tag: Annotated[list[str] | None, Query()] = None" in text
    assert "-> OrderPageResponse2:" in text
    write_package(result, tmp_path, "arrgen")
    with imported(tmp_path, "arrgen") as load:
        http = load("http.order_service")
        seen: list[Any] = []

        class Handlers:
            async def order_page(self, status: Any, page_size: Any, tag: Any, request: Any) -> Any:
                seen.append(tag)
                return load("http.order_service_models").OrderPageResponse2(count=len(tag or []))

        api = FastAPI()
        api.include_router(http.build_router(Handlers(), RecordingAuthorizer()))
        response = TestClient(api).get("/orders?tag=a&tag=b")
        assert response.json() == {"count": 2}
        assert seen == [["a", "b"]]
