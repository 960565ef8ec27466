"""Input at the edges of what the catalog allows, for every operation, and regression tests for
what the fuzzing found (each answered 500 before its fix):

- integers the catalog leaves unbounded overflowed the database (search minPrice, maxPrice
  and page, review page, product price);
- a NUL character in a search query broke the FTS5 expression;
- a body that is not UTF-8 got an undocumented 400 instead of the 422 of malformed JSON;
- `errors` items lacked the `location`/`message` names that six OpenAPI documents promise,
  and `instance` was not a URI reference for paths with non-ASCII characters;
- POST /products/reindex accepted and echoed a status listed twice (uniqueItems).
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.security.apis import Operation, operations
from tests.security.platform import Platform, cheap_argon2
from tests.security.samples import Call, valid_call
from tests.systems.search.helpers import index, product

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

OPERATIONS = list(operations())
ADMIN = str(uuid.uuid4())
HUGE = [2**31, 2**63, 10**20]  # past PostgreSQL INTEGER, past SQLite INTEGER, far past both
INT_MAX = 2**31 - 1


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def platform(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Platform]:
    with cheap_argon2():
        running = Platform(tmp_path_factory.mktemp("edges"))
        try:
            yield running
        finally:
            await running.aclose()


async def send(platform: Platform, call: Call, **options: Any) -> httpx.Response:
    system = await platform.system(call.operation.api.host_id)
    token = platform.token(ADMIN, "admin")
    return await call.send(system.client, token=token, **options)


def _fields(
    schema: Mapping[str, Any], kind: str, trail: tuple[str, ...] = ()
) -> Iterator[tuple[str, ...]]:
    """Paths to the body properties of JSON type `kind` (objects nested in objects only)."""
    for name, prop in schema.get("properties", {}).items():
        if prop.get("type") == kind and "enum" not in prop and prop.get("format") is None:
            yield (*trail, name)
        if prop.get("type") == "object":
            yield from _fields(prop, kind, (*trail, name))


def _targets(kind: str) -> list[tuple[Operation, str, tuple[str, ...]]]:
    found: list[tuple[Operation, str, tuple[str, ...]]] = []
    for op in OPERATIONS:
        for param in op.parameters("query"):
            schema = param["schema"]
            if schema.get("type") == kind and "enum" not in schema and "format" not in schema:
                found.append((op, "query", (param["name"],)))
        found += [(op, "body", path) for path in _fields(op.body_schema() or {}, kind)]
    return found


def _with(call: Call, where: str, path: tuple[str, ...], value: Any) -> Call:
    if where == "query":
        return Call(call.operation, call.path, {**call.query, path[0]: value}, call.body)
    body = copy.deepcopy(call.body) or {}
    node = body
    for name in path[:-1]:
        node = node.setdefault(name, {})
    node[path[-1]] = value
    return call.with_body(body)


INTEGERS = _targets("integer")
STRINGS = _targets("string")


@pytest.mark.parametrize("value", HUGE, ids=["2^31", "2^63", "10^20"])
@pytest.mark.parametrize(
    ("op", "where", "path"), INTEGERS, ids=[f"{o}.{'.'.join(p)}" for o, _, p in INTEGERS]
)
async def test_huge_integers_never_fail_the_server(
    platform: Platform, op: Operation, where: str, path: tuple[str, ...], value: int
) -> None:
    response = await send(platform, _with(valid_call(op, ADMIN), where, path, value))
    assert response.status_code < 500, response.text


@pytest.mark.parametrize(
    ("op", "where", "path"), STRINGS, ids=[f"{o}.{'.'.join(p)}" for o, _, p in STRINGS]
)
async def test_nul_characters_never_fail_the_server(
    platform: Platform, op: Operation, where: str, path: tuple[str, ...]
) -> None:
    response = await send(platform, _with(valid_call(op, ADMIN), where, path, "lamp\x00shade"))
    assert response.status_code < 500, response.text


def _op(operation_id: str) -> Operation:
    [found] = [op for op in OPERATIONS if op.id == operation_id]
    return found


async def test_product_price_is_capped_at_the_column_range(platform: Platform) -> None:
    create = valid_call(_op("createProduct"), ADMIN)
    largest = await send(platform, _with(create, "body", ("price",), INT_MAX))
    assert largest.status_code == 201, largest.text
    for operation, call in [
        ("createProduct", valid_call(_op("createProduct"), ADMIN)),
        (
            "updateProduct",
            valid_call(_op("updateProduct"), ADMIN, productId=largest.json()["productId"]),
        ),
    ]:
        response = await send(platform, _with(call, "body", ("price",), INT_MAX + 1))
        assert response.status_code == 422, f"{operation}: {response.text}"
        assert "body.price" in response.json()["detail"]


async def test_search_price_bounds_beyond_the_column_range(platform: Platform) -> None:
    h = await platform.system("search-system")
    lamp = product(name="Brass lamp", price=INT_MAX)
    await index(h, lamp)
    search = valid_call(_op("searchProducts"), ADMIN)
    search = Call(search.operation, {}, {"query": "brass"})
    above = await send(platform, _with(search, "query", ("maxPrice",), 10**20))
    assert [r["productId"] for r in above.json()["results"]] == [lamp["productId"]]
    below = await send(platform, _with(search, "query", ("minPrice",), 10**20))
    assert below.status_code == 200 and below.json()["total"] == 0, below.text


@pytest.mark.parametrize("operation", ["searchProducts", "getProductReviews"])
async def test_a_page_far_past_the_end_is_empty(platform: Platform, operation: str) -> None:
    call = valid_call(_op(operation), ADMIN)
    response = await send(platform, _with(call, "query", ("page",), 10**20))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["page"] == 10**20
    assert body.get("results", body.get("reviews")) == []


async def test_nul_in_a_search_query_is_a_bad_request(platform: Platform) -> None:
    call = Call(_op("searchProducts"), {}, {"query": "lamp\x00"})
    response = await send(platform, call)
    assert response.status_code == 400
    assert "NUL" in response.json()["detail"]


@pytest.mark.parametrize(
    "content",
    [b'{"name": "\xff\xfe"}', b"[" * 100_000],
    ids=["not UTF-8", "nested too deep"],
)
@pytest.mark.parametrize("op", [op for op in OPERATIONS if op.body_schema() is not None], ids=str)
async def test_undecodable_body_is_422_naming_the_body(
    platform: Platform, op: Operation, content: bytes
) -> None:
    response = await send(platform, valid_call(op, ADMIN), content=content)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert [e["loc"] for e in problem["errors"]] == [["body"]], problem
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_validation_errors_carry_both_documented_shapes(platform: Platform) -> None:
    """cart-api's document names the fields loc/msg, product-api's location/message."""
    call = valid_call(_op("createProduct"), ADMIN)
    response = await send(platform, _with(call, "body", ("price",), -1))
    [error] = response.json()["errors"]
    assert error["loc"] == ["body", "price"] and error["location"] == "body.price"
    assert error["msg"] == error["message"] and error["message"]


async def test_problem_instance_is_a_uri_reference(platform: Platform) -> None:
    h = await platform.system("customer-management-system")
    response = await h.client.get("/customers/caf\u00e9 %", headers=h.auth(ADMIN, admin=True))
    assert response.status_code == 422
    assert response.json()["instance"] == "/customers/caf%C3%A9%20%25"


async def test_reindex_refuses_a_status_listed_twice(platform: Platform) -> None:
    call = valid_call(_op("reindexCatalog"), ADMIN)
    response = await send(platform, _with(call, "body", ("statuses",), ["DRAFT", "DRAFT"]))
    assert response.status_code == 422, response.text
    assert "statuses" in response.json()["detail"]
