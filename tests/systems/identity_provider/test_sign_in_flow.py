"""Registration to token across systems: customer-api registers, oauth-api receives the
credentials over the broker, the shopper signs in, and other systems accept the token."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.systems.harness import SystemHarness, running_system

pytestmark = pytest.mark.usefixtures("cheap_argon2")


async def sign_in_when_ready(identity: SystemHarness, email: str, password: str) -> str:
    """Credentials appear a moment after registration (register-credentials in flight)."""
    async with asyncio.timeout(10):
        while True:
            response = await identity.client.post(
                "/oauth/token", json={"email": email, "password": password}
            )
            if response.status_code == 200:
                token: str = response.json()["accessToken"]
                return token
            assert response.status_code == 401, response.text
            await asyncio.sleep(0.05)


async def test_register_sign_in_and_use_the_token_elsewhere(tmp_path: Path, nats_url: str) -> None:
    async with (
        running_system(
            "customer-management-system", data_dir=tmp_path / "customers", nats_url=nats_url
        ) as customers,
        running_system(
            "identity-provider", data_dir=tmp_path / "identity", nats_url=nats_url
        ) as identity,
        running_system(
            "product-catalog-system", data_dir=tmp_path / "products", nats_url=nats_url
        ) as products,
    ):
        registered = await customers.client.post(
            "/customers",
            json={"email": "grace@example.com", "name": "Grace", "password": "cobol rules"},
        )
        assert registered.status_code == 201, registered.text
        customer_id = registered.json()["customerId"]

        token = await sign_in_when_ready(identity, "grace@example.com", "cobol rules")
        bearer = {"Authorization": f"Bearer {token}"}
        own = await customers.client.get(f"/customers/{customer_id}", headers=bearer)
        assert own.status_code == 200 and own.json()["email"] == "grace@example.com"
        other = await customers.client.get(
            f"/customers/{'0' * 8}-0000-4000-8000-{'0' * 12}", headers=bearer
        )
        assert other.status_code == 403
        shopper_write = await products.client.post(
            "/products",
            json={"sku": "G-1", "name": "Mug", "price": 900, "currency": "EUR"},
            headers=bearer,
        )
        assert shopper_write.status_code == 403

        # Staff sign in through the same endpoint and may write products.
        staff = await sign_in_when_ready(identity, "admin@acme.example", "acme-admin-dev")
        created = await products.client.post(
            "/products",
            json={"sku": "G-1", "name": "Mug", "price": 900, "currency": "EUR"},
            headers={"Authorization": f"Bearer {staff}"},
        )
        assert created.status_code == 201, created.text

        # A suspension made in customer-api reaches the identity provider and stops sign-in.
        suspended = await customers.client.patch(
            f"/customers/{customer_id}",
            json={"customerId": customer_id, "status": "SUSPENDED"},
            headers={"Authorization": f"Bearer {staff}"},
        )
        assert suspended.status_code == 200
        async with asyncio.timeout(10):
            while True:
                response = await identity.client.post(
                    "/oauth/token", json={"email": "grace@example.com", "password": "cobol rules"}
                )
                if response.status_code == 403:
                    break
                await asyncio.sleep(0.05)
