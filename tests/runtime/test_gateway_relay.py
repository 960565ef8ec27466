"""How the gateway relays an upstream answer: small bodies of known length in one piece (raw
bytes, encoding untouched), the others as a stream; HEAD keeps no length."""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator, Callable

import httpx

from acme.runtime.gateway import RouteSpec, RouteTable, SystemStatus, create_gateway

CART = "http://127.0.0.1:7001"


async def _body(*chunks: bytes) -> AsyncIterator[bytes]:
    # as from a socket: httpx treats a body given as bytes as already read
    for chunk in chunks:
        yield chunk


TABLE = RouteTable([RouteSpec("GET", "/carts/{cartId}", "cart-system", "cart-api")])


async def _through_gateway(
    answer: Callable[[httpx.Request], httpx.Response], method: str = "GET"
) -> httpx.Response:
    upstream = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    systems = {"cart-system": SystemStatus("cart-system", "ready", CART)}
    app = create_gateway(TABLE, lambda: systems, client=upstream)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://acme.test") as client:
            return await client.request(method, "/carts/c1", headers={"accept-encoding": "gzip"})
    finally:
        await upstream.aclose()


async def test_a_compressed_answer_of_known_length_passes_through_as_encoded() -> None:
    document = json.dumps({"cartId": "c1", "items": [{"sku": "s"}] * 50}).encode()
    packed = gzip.compress(document)

    def answer(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            content=_body(packed[:10], packed[10:]),
            headers={
                "content-type": "application/json",
                "content-encoding": "gzip",
                "content-length": str(len(packed)),
            },
        )

    response = await _through_gateway(answer)
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["content-length"] == str(len(packed))
    assert response.json() == json.loads(document)  # the client decodes what was relayed
    assert response.headers["x-correlation-id"]


async def test_an_answer_without_a_length_streams_through() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"cartId": '
        yield b'"c1"}'

    def answer(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=chunks(), headers={"content-type": "application/json"})

    response = await _through_gateway(answer)
    assert response.status_code == 200
    assert response.json() == {"cartId": "c1"}
    assert "content-length" not in response.headers


async def test_head_answers_carry_no_length_and_no_body() -> None:
    def answer(_request: httpx.Request) -> httpx.Response:
        # the length of what GET would send, and no body
        headers = {"content-type": "application/json", "content-length": "42"}
        return httpx.Response(200, headers=headers, content=_body())

    response = await _through_gateway(answer, method="HEAD")
    assert response.status_code == 200
    assert response.content == b""
    assert "content-length" not in response.headers
