"""Forwarding through the gateway app, with upstream systems faked by httpx.MockTransport."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from acme.runtime.gateway import RouteSpec, RouteTable, SystemStatus, create_gateway

CART = "http://127.0.0.1:7001"
PRODUCT = "http://127.0.0.1:7002"

TABLE = RouteTable(
    [
        RouteSpec("POST", "/carts/{cartId}/items", "cart-system", "cart-api"),
        RouteSpec("GET", "/products/{productId}", "product-catalog-system", "product-api"),
        RouteSpec("POST", "/webhooks/stripe", "payment-processing-system", "payment-worker"),
    ]
)


def streamed(status: int, body: object, headers: list[tuple[str, str]]) -> httpx.Response:
    """A response whose body arrives as a stream, as from a real socket."""

    async def chunks() -> AsyncIterator[bytes]:
        yield json.dumps(body).encode()

    return httpx.Response(
        status, content=chunks(), headers=[("content-type", "application/json"), *headers]
    )


class Upstreams:
    """Fake systems keyed by base URL; records every request they receive."""

    def __init__(self) -> None:
        self.seen: list[httpx.Request] = []
        self.bodies: list[bytes] = []
        self.down: set[str] = set()

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        base = f"{request.url.scheme}://{request.url.host}:{request.url.port}"
        if base in self.down:
            raise httpx.ConnectError("connection refused", request=request)
        self.seen.append(request)
        self.bodies.append(await request.aread())
        if base == CART:
            return streamed(
                201,
                {"cart": request.url.path, "query": request.url.query.decode()},
                [("set-cookie", "a=1"), ("set-cookie", "b=2"), ("connection", "close")],
            )
        if base == PRODUCT:
            return streamed(404, {"title": "Not Found"}, [("x-upstream", "product")])
        return httpx.Response(500)


def directory(**states: str) -> dict[str, SystemStatus]:
    urls = {"cart-system": CART, "product-catalog-system": PRODUCT}
    out = {name: SystemStatus(name, "ready", url, pid=1) for name, url in urls.items()}
    for name, state in states.items():
        out[name.replace("_", "-")] = SystemStatus(name.replace("_", "-"), state, None)
    return out


@pytest.fixture
def upstreams() -> Upstreams:
    return Upstreams()


@pytest.fixture
async def gateway(upstreams: Upstreams) -> AsyncIterator[httpx.AsyncClient]:
    upstream_client = httpx.AsyncClient(transport=httpx.MockTransport(upstreams))
    systems = directory(payment_processing_system="backoff")
    app = create_gateway(TABLE, lambda: systems, client=upstream_client)
    transport = httpx.ASGITransport(app=app, client=("10.0.0.7", 5555))
    async with httpx.AsyncClient(transport=transport, base_url="http://acme.test") as client:
        yield client
    await upstream_client.aclose()


async def test_forwards_method_path_query_body_and_headers(
    gateway: httpx.AsyncClient, upstreams: Upstreams
) -> None:
    resp = await gateway.post(
        "/carts/c-1/items?expand=lines&x=%2F",
        content=b'{"productId": "p1", "quantity": 2}',
        headers={
            "content-type": "application/json",
            "authorization": "Bearer token-1",
            "idempotency-key": "idem-1",
            "x-forwarded-for": "192.0.2.1",
            "connection": "keep-alive",
            "accept-encoding": "identity",
        },
    )
    assert resp.status_code == 201
    assert resp.json() == {"cart": "/carts/c-1/items", "query": "expand=lines&x=%2F"}
    # repeated headers survive, hop-by-hop ones do not
    assert resp.headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert "connection" not in resp.headers
    (sent,) = upstreams.seen
    assert str(sent.url).startswith(CART + "/carts/c-1/items?")
    assert sent.method == "POST"
    assert upstreams.bodies == [b'{"productId": "p1", "quantity": 2}']
    assert sent.headers["authorization"] == "Bearer token-1"
    assert sent.headers["idempotency-key"] == "idem-1"
    assert sent.headers["x-forwarded-for"] == "192.0.2.1, 10.0.0.7"
    assert sent.headers["x-forwarded-host"] == "acme.test"
    assert sent.headers["x-forwarded-proto"] == "http"
    assert sent.headers["host"] == "127.0.0.1:7001"
    # only what the client sent: no hop-by-hop headers, no defaults added by the gateway's client
    assert "connection" not in sent.headers
    assert sent.headers.get_list("accept-encoding") == ["identity"]
    # a correlation id is invented when the client sent none, and echoed to the client
    correlation = sent.headers["x-correlation-id"]
    assert len(correlation) == 36
    assert resp.headers["x-correlation-id"] == correlation


async def test_keeps_client_correlation_id(
    gateway: httpx.AsyncClient, upstreams: Upstreams
) -> None:
    resp = await gateway.get("/products/p1", headers={"X-Correlation-Id": "corr-42"})
    assert resp.status_code == 404  # the upstream's own answer passes through untouched
    assert resp.headers["x-upstream"] == "product"
    assert resp.json() == {"title": "Not Found"}
    assert upstreams.seen[0].headers.get_list("x-correlation-id") == ["corr-42"]
    assert resp.headers["x-correlation-id"] == "corr-42"
    assert upstreams.bodies == [b""]


async def test_unknown_route_is_404_problem(
    gateway: httpx.AsyncClient, upstreams: Upstreams
) -> None:
    resp = await gateway.get("/nowhere/1")
    assert resp.status_code == 404
    assert resp.headers["content-type"] == "application/problem+json"
    body = resp.json()
    assert body["status"] == 404 and "GET /nowhere/1" in body["detail"]
    assert upstreams.seen == []


async def test_wrong_method_is_405_with_allow(gateway: httpx.AsyncClient) -> None:
    resp = await gateway.delete("/carts/c-1/items")
    assert resp.status_code == 405
    assert resp.headers["allow"] == "POST"
    assert resp.headers["content-type"] == "application/problem+json"


async def test_system_not_ready_is_503(gateway: httpx.AsyncClient, upstreams: Upstreams) -> None:
    resp = await gateway.post("/webhooks/stripe", content=b"{}")
    assert resp.status_code == 503
    body = resp.json()
    assert body["system"] == "payment-processing-system"
    assert "backoff" in body["detail"]
    assert resp.headers["retry-after"] == "1"
    assert upstreams.seen == []


async def test_unreachable_system_is_503(gateway: httpx.AsyncClient, upstreams: Upstreams) -> None:
    upstreams.down.add(PRODUCT)
    resp = await gateway.get("/products/p1")
    assert resp.status_code == 503
    assert resp.json()["system"] == "product-catalog-system"
    assert "unreachable" in resp.json()["detail"]


async def test_timeout_is_504(upstreams: Upstreams) -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("too slow", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(slow)) as upstream_client:
        app = create_gateway(TABLE, directory, client=upstream_client)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            resp = await client.get("/products/p1")
    assert resp.status_code == 504
    assert "did not answer" in resp.json()["detail"]


async def test_system_not_started_is_503() -> None:
    app = create_gateway(TABLE, lambda: {})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as c:
        resp = await c.get("/products/p1")
    assert resp.status_code == 503
    assert "not started" in resp.json()["detail"]


async def test_healthz_reports_every_system(gateway: httpx.AsyncClient) -> None:
    resp = await gateway.get("/healthz")
    assert resp.status_code == 503  # one system is in back-off
    body = resp.json()
    assert body["status"] == "degraded"
    assert body["systems"]["cart-system"]["state"] == "ready"
    assert body["systems"]["cart-system"]["url"] == CART
    assert body["systems"]["payment-processing-system"]["state"] == "backoff"


async def test_healthz_ok_when_all_ready() -> None:
    app = create_gateway(TABLE, directory)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as c:
        resp = await c.get("/healthz")
    assert resp.status_code == 200
    assert resp.json()["status"] == "ok"


async def test_docs_page_points_at_merged_document(gateway: httpx.AsyncClient) -> None:
    resp = await gateway.get("/docs")
    assert resp.status_code == 200
    assert "/openapi.json" in resp.text
    assert "swagger" in resp.text.lower()


async def test_streams_large_request_body(gateway: httpx.AsyncClient, upstreams: Upstreams) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(64):
            yield json.dumps({"chunk": i}).encode() + b"\n"

    resp = await gateway.post("/carts/c-2/items", content=chunks())
    assert resp.status_code == 201
    assert upstreams.bodies[0].count(b"\n") == 64


async def test_clients_drop_idle_connections_before_the_servers_do() -> None:
    """Otherwise a request can leave on a connection the server is closing (ReadError): the
    gateway towards the systems, and the platform's client towards the gateway."""
    import uvicorn

    from acme.client import AcmeClient
    from acme.runtime.gateway import default_client, upstream_transport

    server_keepalive = uvicorn.Config(app=None).timeout_keep_alive  # as every server here
    gateway = default_client()
    forwarding = upstream_transport()
    shopper = AcmeClient("http://127.0.0.1:1")
    try:
        for transport in (gateway._transport, forwarding, shopper._http._transport):
            pool = transport._pool  # type: ignore[attr-defined]
            assert pool._keepalive_expiry < server_keepalive
    finally:
        await gateway.aclose()
        await forwarding.aclose()
        await shopper.__aexit__()


async def test_an_unexpected_error_while_forwarding_is_a_problem_document() -> None:
    def broken_directory() -> dict[str, SystemStatus]:
        raise RuntimeError("the supervisor's table is gone")

    app = create_gateway(TABLE, broken_directory)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as c:
        resp = await c.get("/products/p1")
        assert resp.status_code == 500
        assert resp.headers["content-type"] == "application/problem+json"
        assert "forwarding GET /products/p1" in resp.json()["detail"]
        docs = await c.get("/docs")  # the gateway's own pages do not go through forwarding
        assert docs.status_code == 200
