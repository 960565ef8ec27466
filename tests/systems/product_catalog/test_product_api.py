"""product-catalog-system over HTTP and the broker: product CRUD, product events, reindex."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.systems.harness import Captured, SystemHarness, running_system

DB = "product-database"


@pytest.fixture
async def system(tmp_path: Path, nats_url: str) -> AsyncIterator[SystemHarness]:
    async with running_system("product-catalog-system", data_dir=tmp_path, nats_url=nats_url) as h:
        yield h


async def eventually(
    probe: Callable[[], Awaitable[list[dict[str, Any]]]],
    check: Callable[[list[dict[str, Any]]], bool],
    timeout: float = 10.0,
) -> list[dict[str, Any]]:
    """Poll `probe()` until `check` holds (state written by a message handler)."""
    async with asyncio.timeout(timeout):
        while not check(value := await probe()):
            await asyncio.sleep(0.05)
    return value


def product_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sku": f"SKU-{uuid.uuid4().hex[:8]}",
        "name": "Trail running shoe",
        "description": "Light shoe with a grippy sole",
        "price": 8999,
        "currency": "EUR",
        "category": "shoes",
        "status": "ACTIVE",
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


async def create(h: SystemHarness, **changes: Any) -> dict[str, Any]:
    response = await h.client.post(
        "/products", json=product_body(**changes), headers=h.auth(admin=True)
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def distinct(captured: list[Captured]) -> list[Captured]:
    """One entry per message id: the harness also sees a message our worker pulls from JetStream."""
    by_id = {c.headers["message-id"]: c for c in captured}
    return list(by_id.values())


def present(values: dict[str, Any]) -> dict[str, Any]:
    """The fields a payload carries (the runtime writes absent optional fields as null)."""
    return {k: v for k, v in values.items() if v is not None}


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    return body


# -- create ------------------------------------------------------------------------------
async def test_create_stores_the_product_and_publishes_product_created(
    system: SystemHarness,
) -> None:
    body = product_body(
        status=None,
        variants=[
            {"sku": "TR-42", "attributes": {"size": "42"}},
            {"sku": "TR-43", "attributes": {"size": "43", "colour": "red"}},
        ],
    )
    response = await system.client.post("/products", json=body, headers=system.auth(admin=True))
    assert response.status_code == 201, response.text
    product = response.json()
    assert product["status"] == "DRAFT"  # no status given
    assert [v["sku"] for v in product["variants"]] == ["TR-42", "TR-43"]
    assert all(uuid.UUID(v["variantId"]) for v in product["variants"])

    [event] = await system.published("product-created")
    assert event.subject == "catalog.product-events"
    assert present(event.body["product"]) == product
    assert event.body["product"]["productId"] == product["productId"]
    assert event.body["product"]["variants"][1]["attributes"] == {"size": "43", "colour": "red"}

    rows = await system.rows(DB, "SELECT sku, price_cents, status FROM products")
    assert rows == [{"sku": body["sku"], "price_cents": 8999, "status": "DRAFT"}]
    variants = await system.rows(DB, "SELECT sku, position FROM product_variants ORDER BY position")
    assert variants == [{"sku": "TR-42", "position": 0}, {"sku": "TR-43", "position": 1}]


async def test_create_needs_a_staff_token(system: SystemHarness) -> None:
    body = product_body()
    assert problem(await system.client.post("/products", json=body), 401)["status"] == 401
    shopper = await system.client.post("/products", json=body, headers=system.auth())
    assert "admin" in problem(shopper, 403)["detail"]
    assert await system.rows(DB, "SELECT sku FROM products") == []


@pytest.mark.parametrize(
    "change",
    [
        {"price": -1},
        {"currency": "euro"},
        {"name": ""},
        {"status": "SOLD"},
        {"colour": "red"},  # unknown field
        {"variants": [{"sku": "V1"}]},  # attributes missing
    ],
)
async def test_create_rejects_bodies_that_break_the_schema(
    system: SystemHarness, change: dict[str, Any]
) -> None:
    response = await system.client.post(
        "/products", json=product_body(**change), headers=system.auth(admin=True)
    )
    assert problem(response, 422)["errors"]


async def test_create_answers_409_when_a_sku_is_taken_anywhere(system: SystemHarness) -> None:
    first = await create(system, sku="SHOE-1", variants=[{"sku": "SHOE-1-XL", "attributes": {}}])
    admin = system.auth(admin=True)
    same_sku = await system.client.post("/products", json=product_body(sku="SHOE-1"), headers=admin)
    assert "SHOE-1" in problem(same_sku, 409)["detail"]
    # A product SKU may not reuse a variant SKU, nor a variant SKU a product SKU.
    as_product = await system.client.post(
        "/products", json=product_body(sku="SHOE-1-XL"), headers=admin
    )
    problem(as_product, 409)
    as_variant = await system.client.post(
        "/products",
        json=product_body(variants=[{"sku": "SHOE-1", "attributes": {"size": "L"}}]),
        headers=admin,
    )
    problem(as_variant, 409)
    rows = await system.rows(DB, "SELECT product_id FROM products")
    assert len(rows) == 1
    await system.quiet(0.3)
    assert [e.body["product"]["productId"] for e in system.seen("product-created")] == [
        first["productId"]
    ]


async def test_create_answers_400_for_a_sku_repeated_in_the_request(system: SystemHarness) -> None:
    admin = system.auth(admin=True)
    twice = product_body(variants=[{"sku": "A", "attributes": {}}, {"sku": "A", "attributes": {}}])
    assert (
        "variants[1].sku"
        in problem(await system.client.post("/products", json=twice, headers=admin), 400)["detail"]
    )
    own = product_body(sku="P-1", variants=[{"sku": "P-1", "attributes": {}}])
    assert (
        "product SKU"
        in problem(await system.client.post("/products", json=own, headers=admin), 400)["detail"]
    )


# -- read --------------------------------------------------------------------------------
async def test_get_is_public_for_active_products_and_drafts_are_for_staff(
    system: SystemHarness,
) -> None:
    active = await create(system)
    draft = await create(system, status="DRAFT")
    public = await system.client.get(f"/products/{active['productId']}")
    assert public.status_code == 200 and public.json() == active
    assert (await system.client.get(f"/products/{draft['productId']}")).status_code == 404
    shopper = await system.client.get(f"/products/{draft['productId']}", headers=system.auth())
    assert shopper.status_code == 404
    staff = await system.client.get(
        f"/products/{draft['productId']}", headers=system.auth(admin=True)
    )
    assert staff.status_code == 200 and staff.json()["status"] == "DRAFT"


async def test_get_answers_404_for_unknown_and_422_for_malformed_ids(system: SystemHarness) -> None:
    problem(await system.client.get(f"/products/{uuid.uuid4()}"), 404)
    problem(await system.client.get("/products/not-a-uuid"), 422)


# -- update ------------------------------------------------------------------------------
async def test_update_publishes_only_the_changed_fields(system: SystemHarness) -> None:
    product = await create(system, variants=[{"sku": "V-S", "attributes": {"size": "S"}}])
    pid = product["productId"]
    response = await system.client.patch(
        f"/products/{pid}",
        json={"productId": pid, "price": 7999, "name": product["name"], "status": "ARCHIVED"},
        headers=system.auth(admin=True),
    )
    assert response.status_code == 200, response.text
    assert response.json()["price"] == 7999 and response.json()["status"] == "ARCHIVED"
    [event] = await system.published("product-updated")
    assert event.body["productId"] == pid
    assert present(event.body["changes"]) == {
        "price": 7999,
        "status": "ARCHIVED",
    }  # name did not change
    rows = await system.rows(DB, "SELECT price_cents, status FROM products")
    assert rows == [{"price_cents": 7999, "status": "ARCHIVED"}]


async def test_update_that_changes_nothing_publishes_nothing(system: SystemHarness) -> None:
    product = await create(system)
    pid = product["productId"]
    response = await system.client.patch(
        f"/products/{pid}",
        json={"productId": pid, "price": product["price"]},
        headers=system.auth(admin=True),
    )
    assert response.status_code == 200 and response.json() == product
    await system.published("product-created")
    await system.quiet(0.4)
    assert system.seen("product-updated") == []


async def test_update_replaces_variants_keeping_ids_of_listed_skus(system: SystemHarness) -> None:
    product = await create(
        system,
        variants=[
            {"sku": "V-S", "attributes": {"size": "S"}},
            {"sku": "V-M", "attributes": {"size": "M"}},
        ],
    )
    pid = product["productId"]
    ids = {v["sku"]: v["variantId"] for v in product["variants"]}
    response = await system.client.patch(
        f"/products/{pid}",
        json={
            "productId": pid,
            "variants": [
                {"sku": "V-M", "attributes": {"size": "M", "fit": "slim"}},
                {"sku": "V-L", "attributes": {"size": "L"}},
            ],
        },
        headers=system.auth(admin=True),
    )
    assert response.status_code == 200, response.text
    variants = response.json()["variants"]
    assert [v["sku"] for v in variants] == ["V-M", "V-L"]
    assert variants[0]["variantId"] == ids["V-M"]
    assert variants[1]["variantId"] not in ids.values()
    [event] = await system.published("product-updated")
    assert present(event.body["changes"]) == {"variants": variants}
    skus = await system.rows(DB, "SELECT sku FROM product_variants ORDER BY position")
    assert [r["sku"] for r in skus] == ["V-M", "V-L"]


async def test_update_errors(system: SystemHarness) -> None:
    one = await create(system, sku="ONE")
    two = await create(system, sku="TWO")
    pid = two["productId"]
    admin = system.auth(admin=True)
    mismatch = await system.client.patch(
        f"/products/{pid}", json={"productId": one["productId"], "price": 1}, headers=admin
    )
    assert problem(mismatch, 400)["code"] == "id_mismatch"
    unknown = str(uuid.uuid4())
    problem(
        await system.client.patch(
            f"/products/{unknown}", json={"productId": unknown}, headers=admin
        ),
        404,
    )
    taken = await system.client.patch(
        f"/products/{pid}",
        json={"productId": pid, "variants": [{"sku": "ONE", "attributes": {}}]},
        headers=admin,
    )
    problem(taken, 409)
    problem(
        await system.client.patch(
            f"/products/{pid}", json={"productId": pid, "price": -5}, headers=admin
        ),
        422,
    )
    problem(await system.client.patch(f"/products/{pid}", json={"productId": pid, "price": 5}), 401)
    problem(
        await system.client.patch(
            f"/products/{pid}", json={"productId": pid, "price": 5}, headers=system.auth()
        ),
        403,
    )
    assert (await system.rows(DB, "SELECT price_cents FROM products WHERE sku = 'TWO'")) == [
        {"price_cents": 8999}
    ]


# -- delete ------------------------------------------------------------------------------
async def test_delete_removes_the_product_and_publishes_product_deleted(
    system: SystemHarness,
) -> None:
    product = await create(system, variants=[{"sku": "DEL-V", "attributes": {}}])
    pid = product["productId"]
    admin = system.auth(admin=True)
    response = await system.client.delete(f"/products/{pid}?reason=DISCONTINUED", headers=admin)
    assert response.status_code == 204
    [event] = await system.published("product-deleted")
    assert event.body["productId"] == pid and event.body["reason"] == "DISCONTINUED"
    assert await system.rows(DB, "SELECT sku FROM products") == []
    assert await system.rows(DB, "SELECT sku FROM product_variants") == []
    problem(await system.client.delete(f"/products/{pid}", headers=admin), 404)  # already gone
    problem(await system.client.get(f"/products/{pid}"), 404)
    # Its SKUs are free again.
    await create(system, sku=product["sku"], variants=[{"sku": "DEL-V", "attributes": {}}])


async def test_delete_errors(system: SystemHarness) -> None:
    product = await create(system)
    pid = product["productId"]
    problem(await system.client.delete(f"/products/{pid}"), 401)
    problem(await system.client.delete(f"/products/{pid}", headers=system.auth()), 403)
    problem(
        await system.client.delete(
            f"/products/{pid}?reason=BORED", headers=system.auth(admin=True)
        ),
        422,
    )
    assert len(await system.rows(DB, "SELECT sku FROM products")) == 1


# -- reindex -----------------------------------------------------------------------------
def reindex_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "reindexId": str(uuid.uuid4()),
        "requestedAt": datetime(2030, 1, 1, tzinfo=UTC).isoformat(),
    }
    body.update(changes)
    return body


async def test_reindex_republishes_every_product_with_all_fields(system: SystemHarness) -> None:
    shoe = await create(system, variants=[{"sku": "RX-1", "attributes": {"size": "1"}}])
    draft = await create(system, status="DRAFT", description=None, category=None)
    staff = str(uuid.uuid4())
    body = reindex_body()
    response = await system.client.post(
        "/products/reindex", json=body, headers=system.auth(staff, admin=True)
    )
    assert response.status_code == 202, response.text
    assert response.json()["requestedBy"] == staff  # filled in from the token

    [command] = distinct(await system.published("reindex-catalog"))
    assert command.subject == "catalog.commands.reindex-catalog"
    events = await system.published("product-updated", count=2)
    by_id = {e.body["productId"]: present(e.body["changes"]) for e in events}
    expected_shoe = {k: v for k, v in shoe.items() if k != "productId"}
    assert by_id[shoe["productId"]] == expected_shoe
    assert by_id[draft["productId"]]["sku"] == draft["sku"]
    assert "description" not in by_id[draft["productId"]]
    runs = await eventually(
        lambda: system.rows(
            DB, "SELECT status, products_published, requested_by FROM reindex_runs"
        ),
        lambda rows: bool(rows) and rows[0]["status"] == "COMPLETED",
    )
    assert runs == [{"status": "COMPLETED", "products_published": 2, "requested_by": staff}]


async def test_reindex_is_idempotent_on_its_id(system: SystemHarness) -> None:
    await create(system)
    admin = system.auth(admin=True)
    body = reindex_body(statuses=["ACTIVE"])
    assert (
        await system.client.post("/products/reindex", json=body, headers=admin)
    ).status_code == 202
    again = await system.client.post("/products/reindex", json=body, headers=admin)
    assert again.status_code == 202 and again.json()["reindexId"] == body["reindexId"]
    other = await system.client.post(
        "/products/reindex", json={**body, "statuses": ["DRAFT"]}, headers=admin
    )
    assert problem(other, 409)["code"] == "reindex_conflict"
    await system.published("product-updated")
    await system.quiet(0.4)
    assert len(distinct(system.seen("reindex-catalog"))) == 1
    assert len(system.seen("product-updated")) == 1


async def test_reindex_errors(system: SystemHarness) -> None:
    problem(await system.client.post("/products/reindex", json=reindex_body()), 401)
    problem(
        await system.client.post("/products/reindex", json=reindex_body(), headers=system.auth()),
        403,
    )
    problem(
        await system.client.post(
            "/products/reindex", json=reindex_body(statuses=[]), headers=system.auth(admin=True)
        ),
        422,
    )
    assert await system.rows(DB, "SELECT reindex_id FROM reindex_runs") == []


async def test_worker_handles_reindex_catalog_received_on_the_broker(system: SystemHarness) -> None:
    active = await create(system)
    await create(system, status="DRAFT")
    reindex_id = str(uuid.uuid4())
    command = {
        "reindexId": reindex_id,
        "requestedAt": datetime(2030, 1, 2, tzinfo=UTC).isoformat(),
        "statuses": ["ACTIVE"],
    }
    wire_id = await system.deliver("reindex-catalog", command)
    [event] = await system.published("product-updated")
    assert event.body["productId"] == active["productId"]
    assert event.body["changes"]["status"] == "ACTIVE"
    # Redelivery (same message id) and a second command of the finished run change nothing.
    await system.deliver("reindex-catalog", command, id=wire_id)
    await system.deliver("reindex-catalog", command)
    await system.quiet(0.5)
    assert len(system.seen("product-updated")) == 1
    assert await system.rows(DB, "SELECT status, products_published FROM reindex_runs") == [
        {"status": "COMPLETED", "products_published": 1}
    ]
