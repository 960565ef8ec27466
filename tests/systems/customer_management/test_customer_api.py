"""customer-management-system over HTTP: registration, profiles, addresses, and its messages."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher

from acme.systems.customer_management import prune_password_hashes
from tests.systems.harness import SystemHarness, running_system

pytestmark = pytest.mark.usefixtures("cheap_argon2")

DB = "customer-database"


@pytest.fixture
async def system(tmp_path: Path, nats_url: str) -> AsyncIterator[SystemHarness]:
    async with running_system(
        "customer-management-system", data_dir=tmp_path, nats_url=nats_url
    ) as h:
        yield h


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


async def register(h: SystemHarness, email: str | None = None, **extra: Any) -> dict[str, Any]:
    body = {
        "email": email or f"shopper-{uuid.uuid4().hex[:8]}@example.com",
        "password": "correct horse",
        **extra,
    }
    response = await h.client.post("/customers", json=body)
    assert response.status_code == 201, response.text
    profile: dict[str, Any] = response.json()
    return profile


def address(customer_id: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customerId": customer_id,
        "recipientName": "Ada Lovelace",
        "line1": "1 Analytical Way",
        "city": "London",
        "postalCode": "N1 9GU",
        "countryCode": "GB",
    }
    body.update(changes)
    return body


# -- registration ------------------------------------------------------------------------
async def test_register_stores_the_profile_and_sends_credentials_and_the_event(
    system: SystemHarness,
) -> None:
    response = await system.client.post(
        "/customers",
        json={"email": "Ada@Example.COM", "name": "Ada", "password": "analytical engine"},
    )
    assert response.status_code == 201, response.text
    profile = response.json()
    assert profile["email"] == "ada@example.com" and profile["status"] == "ACTIVE"
    cid = profile["customerId"]

    [credentials] = await system.published("register-credentials")
    assert credentials.subject == "customer.commands.register-credentials"
    assert credentials.body["customerId"] == cid and credentials.body["email"] == "ada@example.com"
    password_hash = credentials.body["passwordHash"]
    assert password_hash.startswith("$argon2id$")
    assert PasswordHasher().verify(password_hash, "analytical engine")
    assert "analytical engine" not in str(credentials.body)

    [registered] = await system.published("customer-registered")
    assert registered.subject == "customer.events.customer-registered"
    assert registered.body["customer"] == {
        "customerId": cid,
        "email": "ada@example.com",
        "name": "Ada",
        "status": "ACTIVE",
    }
    assert await system.rows(DB, "SELECT email, name, status FROM customers") == [
        {"email": "ada@example.com", "name": "Ada", "status": "ACTIVE"}
    ]


async def test_register_answers_409_for_an_email_already_registered(system: SystemHarness) -> None:
    await register(system, "taken@example.com")
    again = await system.client.post(
        "/customers", json={"email": "TAKEN@example.com", "password": "another password"}
    )
    assert problem(again, 409)["code"] == "email_taken"
    assert len(await system.rows(DB, "SELECT customer_id FROM customers")) == 1
    await system.published("register-credentials")
    await system.quiet(0.3)
    assert len(system.seen("register-credentials")) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "password": "long enough"},
        {"email": "a@example.com", "password": "short"},
        {"email": "a@example.com"},
        {"email": "a@example.com", "password": "long enough", "role": "admin"},
    ],
)
async def test_register_rejects_invalid_bodies(system: SystemHarness, body: dict[str, Any]) -> None:
    problem(await system.client.post("/customers", json=body), 422)
    assert await system.rows(DB, "SELECT customer_id FROM customers") == []


async def test_published_password_hashes_are_pruned_from_the_outbox(system: SystemHarness) -> None:
    await register(system)
    await system.published("register-credentials")

    async def published_rows() -> list[dict[str, Any]]:
        return await system.rows(
            DB,
            "SELECT message_type FROM message_outbox WHERE published_at IS NOT NULL "
            "ORDER BY message_type",
        )

    async with asyncio.timeout(10):
        while len(await published_rows()) < 2:  # the relay marks rows a moment after sending
            await asyncio.sleep(0.05)
    assert await prune_password_hashes(system.app) == 1
    assert await published_rows() == [{"message_type": "customer-registered"}]


# -- profile -----------------------------------------------------------------------------
async def test_get_customer_self_or_staff_only(system: SystemHarness) -> None:
    ada = await register(system)
    cid = ada["customerId"]
    own = await system.client.get(f"/customers/{cid}", headers=system.auth(cid))
    assert own.status_code == 200 and own.json() == ada
    staff = await system.client.get(f"/customers/{cid}", headers=system.auth(admin=True))
    assert staff.status_code == 200
    problem(await system.client.get(f"/customers/{cid}"), 401)
    problem(await system.client.get(f"/customers/{cid}", headers=system.auth()), 403)
    unknown = str(uuid.uuid4())
    problem(await system.client.get(f"/customers/{unknown}", headers=system.auth(admin=True)), 404)
    problem(await system.client.get(f"/customers/{unknown}", headers=system.auth()), 403)
    problem(await system.client.get("/customers/42", headers=system.auth(admin=True)), 422)


async def test_update_publishes_the_changed_fields(system: SystemHarness) -> None:
    ada = await register(system, name="Ada")
    cid = ada["customerId"]
    response = await system.client.patch(
        f"/customers/{cid}",
        json={"customerId": cid, "name": "Ada L.", "email": ada["email"].upper()},
        headers=system.auth(cid),
    )
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Ada L." and response.json()["email"] == ada["email"]
    [event] = await system.published("customer-updated")
    assert event.subject == "customer.events.customer-updated"
    assert event.body["customerId"] == cid
    assert {k: v for k, v in event.body["changes"].items() if v is not None} == {"name": "Ada L."}

    same = await system.client.patch(
        f"/customers/{cid}", json={"customerId": cid, "name": "Ada L."}, headers=system.auth(cid)
    )
    assert same.status_code == 200
    await system.quiet(0.3)
    assert len(system.seen("customer-updated")) == 1  # nothing changed, nothing published


async def test_only_staff_change_a_status_and_suspended_customers(system: SystemHarness) -> None:
    ada = await register(system)
    cid = ada["customerId"]
    body = {"customerId": cid, "status": "SUSPENDED"}
    assert (
        "staff"
        in problem(
            await system.client.patch(f"/customers/{cid}", json=body, headers=system.auth(cid)), 403
        )["detail"]
    )
    staff = await system.client.patch(
        f"/customers/{cid}", json=body, headers=system.auth(admin=True)
    )
    assert staff.status_code == 200 and staff.json()["status"] == "SUSPENDED"
    [event] = await system.published("customer-updated")
    assert event.body["changes"]["status"] == "SUSPENDED"
    rename = {"customerId": cid, "name": "Still me"}
    problem(
        await system.client.patch(f"/customers/{cid}", json=rename, headers=system.auth(cid)), 403
    )
    assert (
        await system.client.get(f"/customers/{cid}", headers=system.auth(cid))
    ).status_code == 200


async def test_update_errors(system: SystemHarness) -> None:
    ada = await register(system)
    bob = await register(system)
    cid = ada["customerId"]
    mine = system.auth(cid)
    taken = await system.client.patch(
        f"/customers/{cid}", json={"customerId": cid, "email": bob["email"]}, headers=mine
    )
    assert problem(taken, 409)["code"] == "email_taken"
    mismatch = await system.client.patch(
        f"/customers/{cid}", json={"customerId": bob["customerId"], "name": "X"}, headers=mine
    )
    assert problem(mismatch, 400)["code"] == "id_mismatch"
    other = await system.client.patch(
        f"/customers/{bob['customerId']}",
        json={"customerId": bob["customerId"], "name": "X"},
        headers=mine,
    )
    problem(other, 403)
    problem(
        await system.client.patch(f"/customers/{cid}", json={"customerId": cid, "name": "X"}), 401
    )
    unknown = str(uuid.uuid4())
    problem(
        await system.client.patch(
            f"/customers/{unknown}",
            json={"customerId": unknown, "name": "X"},
            headers=system.auth(admin=True),
        ),
        404,
    )
    problem(
        await system.client.patch(
            f"/customers/{cid}", json={"customerId": cid, "email": "nope"}, headers=mine
        ),
        422,
    )
    await system.quiet(0.2)
    assert system.seen("customer-updated") == []


# -- addresses ---------------------------------------------------------------------------
async def test_addresses_first_is_default_and_a_new_default_takes_over(
    system: SystemHarness,
) -> None:
    ada = await register(system)
    cid = ada["customerId"]
    mine = system.auth(cid)
    first = await system.client.post(f"/customers/{cid}/addresses", json=address(cid), headers=mine)
    assert first.status_code == 201, first.text
    assert first.json()["isDefault"] is True
    second = await system.client.post(
        f"/customers/{cid}/addresses", json=address(cid, line1="2 Difference St"), headers=mine
    )
    assert second.json()["isDefault"] is False
    third = await system.client.post(
        f"/customers/{cid}/addresses",
        json=address(cid, line1="3 Engine Rd", isDefault=True, countryCode="FR"),
        headers=mine,
    )
    assert third.status_code == 201 and third.json()["isDefault"] is True
    listed = await system.client.get(f"/customers/{cid}/addresses", headers=mine)
    assert listed.status_code == 200
    body = listed.json()
    assert body["customerId"] == cid
    assert [a["line1"] for a in body["addresses"]] == [
        "3 Engine Rd",
        "1 Analytical Way",
        "2 Difference St",
    ]
    assert [a["isDefault"] for a in body["addresses"]] == [True, False, False]
    staff = await system.client.get(f"/customers/{cid}/addresses", headers=system.auth(admin=True))
    assert staff.json() == body


async def test_address_errors(system: SystemHarness) -> None:
    ada = await register(system)
    cid = ada["customerId"]
    mine = system.auth(cid)
    url = f"/customers/{cid}/addresses"
    problem(await system.client.post(url, json=address(cid)), 401)
    problem(await system.client.post(url, json=address(cid), headers=system.auth()), 403)
    problem(await system.client.get(url, headers=system.auth()), 403)
    problem(await system.client.post(url, json=address(str(uuid.uuid4())), headers=mine), 400)
    problem(await system.client.post(url, json=address(cid, countryCode="gb"), headers=mine), 422)
    problem(await system.client.post(url, json=address(cid, line1=""), headers=mine), 422)
    unknown = str(uuid.uuid4())
    staff = system.auth(admin=True)
    problem(
        await system.client.post(
            f"/customers/{unknown}/addresses", json=address(unknown), headers=staff
        ),
        404,
    )
    problem(await system.client.get(f"/customers/{unknown}/addresses", headers=staff), 404)
    assert (await system.client.get(url, headers=mine)).json()["addresses"] == []
