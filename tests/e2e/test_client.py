"""Unit tests of acme.client on a mock transport (no platform: these run in `make test-fast`)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest

from acme.client import AcmeClient, ApiError, CheckoutTimeout, ClientError, DeliveryAddress

BASE = "http://gateway.test"
ADDRESS = DeliveryAddress(
    line1="1 Main St", city="Springfield", postal_code="12345", country_code="US"
)
Handler = Callable[[httpx.Request], httpx.Response]


def client(handler: Handler, token: str | None = None) -> AcmeClient:
    http = httpx.AsyncClient(base_url=BASE, transport=httpx.MockTransport(handler))
    return AcmeClient(BASE, token=token, http=http)


def problem(status: int, code: str, detail: str) -> httpx.Response:
    body = {"type": "about:blank", "title": "x", "status": status, "code": code, "detail": detail}
    return httpx.Response(status, json=body, headers={"content-type": "application/problem+json"})


def checkout_body(checkout_id: str, status: str, **extra: object) -> dict[str, object]:
    now = datetime.now(UTC).isoformat()
    return {
        "checkoutId": checkout_id,
        "orderId": str(uuid.uuid4()),
        "cartId": str(uuid.uuid4()),
        "customerId": str(uuid.uuid4()),
        "status": status,
        "total": 100,
        "currency": "USD",
        "startedAt": now,
        "updatedAt": now,
        **extra,
    }


async def test_error_answers_raise_api_error_with_the_problem_document() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return problem(409, "conflict", "the cart is already being checked out")

    acme = client(handler)
    with pytest.raises(ApiError) as raised:
        await acme.get_cart(uuid.uuid4())
    error = raised.value
    assert (error.status, error.code) == (409, "conflict")
    assert error.problem["detail"] == "the cart is already being checked out"
    assert "409 conflict: the cart is already being checked out" in str(error)


async def test_field_errors_of_a_422_are_listed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = {
            "title": "Unprocessable Content",
            "status": 422,
            "errors": [{"location": "body.price", "message": "must be >= 0"}],
        }
        return httpx.Response(422, json=body)

    with pytest.raises(ApiError) as raised:
        await client(handler).get_product(uuid.uuid4())
    assert raised.value.errors == [{"location": "body.price", "message": "must be >= 0"}]
    assert "body.price: must be >= 0" in str(raised.value)


async def test_a_non_json_error_body_still_gives_a_problem() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="upstream broke")

    with pytest.raises(ApiError) as raised:
        await client(handler).get_order(uuid.uuid4())
    assert raised.value.status == 502
    assert raised.value.problem["detail"] == "upstream broke"


async def test_ids_that_are_not_uuids_are_refused_before_any_request() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"no request expected, got {request.url}")

    with pytest.raises(ClientError, match="order id '../admin' is not a UUID"):
        await client(handler).get_order("../admin")


async def test_invalid_arguments_name_the_field() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    acme = client(handler)
    with pytest.raises(ClientError, match=r"set_stock: invalid argument \(available:"):
        await acme.set_stock(uuid.uuid4(), -1)
    with pytest.raises(ClientError, match="payment_method"):
        await acme.checkout(
            uuid.uuid4(), uuid.uuid4(), payment_method="visa", delivery_address=ADDRESS
        )


async def test_requests_carry_the_token_and_the_body_by_alias() -> None:
    seen: list[httpx.Request] = []
    product_id = uuid.uuid4()

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200, json={"productId": str(product_id), "available": 7, "reserved": 0}
        )

    level = await client(handler, token="tok").set_stock(product_id, 7)
    assert (level.available, level.reserved) == (7, 0)
    [request] = seen
    assert (request.method, request.url.path) == ("PUT", f"/stock/{product_id}")
    assert request.headers["authorization"] == "Bearer tok"
    assert json.loads(request.content) == {"productId": str(product_id), "available": 7}


async def test_checkout_sends_the_correlation_id() -> None:
    seen: list[httpx.Request] = []
    cart_id = uuid.uuid4()

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return problem(404, "not_found", "no such cart")

    with pytest.raises(ApiError):
        await client(handler).checkout(
            cart_id, uuid.uuid4(), delivery_address=ADDRESS, correlation_id="corr-1"
        )
    assert seen[0].headers["x-correlation-id"] == "corr-1"
    assert json.loads(seen[0].content)["deliveryAddress"]["postalCode"] == "12345"


async def test_sign_in_waits_for_credentials_that_are_on_their_way() -> None:
    answers = iter([problem(401, "unauthorized", "bad credentials")] * 2)

    def handler(request: httpx.Request) -> httpx.Response:
        for answer in answers:
            return answer
        return httpx.Response(
            200, json={"accessToken": "t", "tokenType": "Bearer", "expiresIn": 60}
        )

    token = await client(handler).sign_in("a@example.com", "password1", wait=5.0)
    assert token.access_token == "t"


async def test_sign_in_without_wait_gives_up_at_the_first_401() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return problem(401, "unauthorized", "bad credentials")

    with pytest.raises(ApiError):
        await client(handler).sign_in("a@example.com", "password1")
    assert calls == 1


async def test_add_item_retries_only_while_the_product_is_unknown() -> None:
    product_id, cart_id = uuid.uuid4(), uuid.uuid4()
    calls = 0

    def product_late(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls < 3:
            return problem(404, "not_found", f"product {product_id} is not in the price list")
        return problem(409, "conflict", "cart closed")

    with pytest.raises(ApiError) as raised:
        await client(product_late).add_item(cart_id, product_id, 1, wait=5.0)
    assert (raised.value.status, calls) == (409, 3)

    calls = 0

    def cart_missing(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return problem(404, "not_found", f"cart {cart_id} does not exist")

    with pytest.raises(ApiError):
        await client(cart_missing).add_item(cart_id, product_id, 1, wait=5.0)
    assert calls == 1


async def test_wait_for_checkout_polls_until_a_terminal_status() -> None:
    checkout_id = str(uuid.uuid4())
    answers = iter(
        [
            problem(404, "not_found", "not yet"),
            httpx.Response(200, json=checkout_body(checkout_id, "RESERVING_INVENTORY")),
        ]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        for answer in answers:
            return answer
        body = checkout_body(checkout_id, "FAILED", failureReason="OUT_OF_STOCK")
        return httpx.Response(200, json=body)

    result = await client(handler).wait_for_checkout(checkout_id, timeout=10.0, interval=0.01)
    assert (result.status, result.failure_reason) == ("FAILED", "OUT_OF_STOCK")


async def test_wait_for_checkout_gives_up_at_the_deadline_with_the_last_state() -> None:
    checkout_id = str(uuid.uuid4())

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=checkout_body(checkout_id, "AUTHORIZING_PAYMENT"))

    with pytest.raises(CheckoutTimeout) as raised:
        await client(handler).wait_for_checkout(checkout_id, timeout=0.2, interval=0.01)
    assert raised.value.last is not None
    assert raised.value.last.status == "AUTHORIZING_PAYMENT"
    assert "still AUTHORIZING_PAYMENT" in str(raised.value)


async def test_an_answer_that_breaks_the_contract_is_a_client_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"cartId": "not-a-uuid"})

    with pytest.raises(ClientError, match="does not match GetCartResponse"):
        await client(handler).get_cart(uuid.uuid4())


async def test_connection_failures_name_the_request() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(ClientError, match=r"GET http://gateway.test/orders/.*ConnectError"):
        await client(handler).get_order(uuid.uuid4())


def test_the_base_url_must_be_http() -> None:
    with pytest.raises(ClientError, match="must start with http"):
        AcmeClient("gateway:8080")
