"""identity-provider: register-credentials, customer-updated, POST /oauth/token with lockout,
sessions and customer-authenticated, and the seeded staff account."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher, profiles

from tests.systems.harness import SystemHarness, running_system

pytestmark = pytest.mark.usefixtures("cheap_argon2")

DB = "user-directory"
# Customer accounts only: the staff account is seeded at the first sign-in.
CUSTOMERS = "SELECT {} FROM credentials WHERE roles = 'customer'"
HASHER = PasswordHasher.from_parameters(profiles.CHEAPEST)


class Clock:
    """Stands still until a test moves it (lock times are stored from the system's clock)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def system(
    tmp_path: Path, nats_url: str, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[SystemHarness]:
    monkeypatch.delenv("ACME_ADMIN_EMAIL", raising=False)
    monkeypatch.delenv("ACME_ADMIN_PASSWORD", raising=False)
    async with running_system(
        "identity-provider",
        data_dir=tmp_path,
        nats_url=nats_url,
        clock=clock,
        max_attempts=8,
        retry_base_delay=0.1,
        retry_max_delay=0.5,
    ) as h:
        yield h


async def wait_rows(h: SystemHarness, sql: str, expected: Any, **params: Any) -> None:
    rows: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(10):
            while (rows := await h.rows(DB, sql, **params)) != expected:
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"{sql!r} returned {rows!r}, expected {expected!r}") from None


async def give_credentials(
    h: SystemHarness, email: str | None = None, password: str = "correct horse"
) -> tuple[str, str]:
    customer_id = str(uuid.uuid4())
    email = email or f"c-{customer_id[:8]}@example.com"
    await h.deliver(
        "register-credentials",
        {"customerId": customer_id, "email": email, "passwordHash": HASHER.hash(password)},
    )
    stored = email.lower()
    await wait_rows(
        h, "SELECT email FROM credentials WHERE email = :email", [{"email": stored}], email=stored
    )
    return customer_id, email


def customer_updated(customer_id: str, seconds: float, **changes: Any) -> dict[str, Any]:
    when = datetime(2030, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    return {
        "eventId": str(uuid.uuid4()),
        "occurredAt": when.isoformat(),
        "customerId": customer_id,
        "changes": changes,
    }


async def sign_in(h: SystemHarness, email: str, password: str = "correct horse") -> httpx.Response:
    return await h.client.post("/oauth/token", json={"email": email, "password": password})


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


# -- register-credentials and sign-in ----------------------------------------------------
async def test_register_credentials_then_sign_in_issues_a_token(system: SystemHarness) -> None:
    customer_id, email = await give_credentials(system, "Ada@Example.com")
    response = await sign_in(system, "ADA@example.com")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["tokenType"] == "Bearer" and body["expiresIn"] == 3600
    claims = system.app.authorizer.verify(body["accessToken"])
    assert claims.subject == customer_id and claims.roles == {"customer"}

    [event] = await system.published("customer-authenticated")
    assert event.subject == "customer.events.customer-authenticated"
    assert event.body["customerId"] == customer_id and event.body["method"] == "PASSWORD"
    sessions = await system.rows(DB, "SELECT method, revoked_at FROM sessions")
    assert sessions == [{"method": "PASSWORD", "revoked_at": None}]
    rows = await system.rows(DB, CUSTOMERS.format("email, roles, status"))
    assert rows == [{"email": "ada@example.com", "roles": "customer", "status": "ACTIVE"}]


async def test_a_repeated_register_credentials_is_ignored(system: SystemHarness) -> None:
    customer_id, email = await give_credentials(system)
    await system.deliver(
        "register-credentials",
        {"customerId": customer_id, "email": email, "passwordHash": HASHER.hash("other password")},
    )
    await system.quiet(0.4)
    assert (await sign_in(system, email)).status_code == 200  # the first hash still holds
    assert len(await system.rows(DB, CUSTOMERS.format("account_id"))) == 1


async def test_register_credentials_for_a_taken_email_is_dead_lettered(
    system: SystemHarness,
) -> None:
    _, email = await give_credentials(system)
    other = str(uuid.uuid4())
    await system.deliver(
        "register-credentials",
        {"customerId": other, "email": email, "passwordHash": HASHER.hash("x" * 10)},
    )
    async with asyncio.timeout(10):
        while not (
            dead := await system.rows("runtime", "SELECT message_type, error FROM dead_letters")
        ):
            await asyncio.sleep(0.05)
    assert dead[0]["message_type"] == "register-credentials" and email in dead[0]["error"]
    assert len(await system.rows(DB, "SELECT account_id FROM credentials")) == 1


async def test_sign_in_errors(system: SystemHarness) -> None:
    _, email = await give_credentials(system)
    wrong = problem(await sign_in(system, email, "wrong password"), 401)
    unknown = problem(await sign_in(system, "nobody@example.com"), 401)
    assert wrong["detail"] == unknown["detail"]  # no way to probe which emails exist
    assert (
        "password"
        in problem(await system.client.post("/oauth/token", json={"email": email}), 400)["detail"]
    )
    problem(await system.client.post("/oauth/token", json={"email": "nope", "password": "x"}), 422)
    problem(
        await system.client.post(
            "/oauth/token", json={"email": email, "password": "x", "grant_type": "password"}
        ),
        422,
    )
    await system.quiet(0.2)
    assert system.seen("customer-authenticated") == []


async def test_five_failures_lock_the_account_for_fifteen_minutes(
    system: SystemHarness, clock: Clock
) -> None:
    _, email = await give_credentials(system)
    for _ in range(5):
        problem(await sign_in(system, email, "guess"), 401)
    locked = problem(await sign_in(system, email), 403)  # even the right password
    assert locked["code"] == "account_locked"
    clock.now += timedelta(minutes=14)
    problem(await sign_in(system, email), 403)
    clock.now += timedelta(minutes=1, seconds=1)
    assert (await sign_in(system, email)).status_code == 200
    rows = await system.rows(DB, CUSTOMERS.format("failed_attempts"))
    assert rows == [{"failed_attempts": 0}]


async def test_a_success_resets_the_failure_count(system: SystemHarness) -> None:
    _, email = await give_credentials(system)
    for _ in range(4):
        problem(await sign_in(system, email, "guess"), 401)
    assert (await sign_in(system, email)).status_code == 200
    for _ in range(4):
        problem(await sign_in(system, email, "guess"), 401)
    assert (await sign_in(system, email)).status_code == 200  # still not locked


# -- customer-updated --------------------------------------------------------------------
async def test_customer_updated_follows_email_changes_in_event_order(system: SystemHarness) -> None:
    customer_id, email = await give_credentials(system)
    await system.deliver(
        "customer-updated", customer_updated(customer_id, 20, email="New@Example.com")
    )
    await wait_rows(system, CUSTOMERS.format("email"), [{"email": "new@example.com"}])
    problem(await sign_in(system, email), 401)
    assert (await sign_in(system, "new@example.com")).status_code == 200
    # An older change delivered late does not roll the email back.
    await system.deliver("customer-updated", customer_updated(customer_id, 10, email=email))
    await system.deliver("customer-updated", customer_updated(customer_id, 20, name="Only a name"))
    await system.quiet(0.4)
    assert await system.rows(DB, CUSTOMERS.format("email")) == [{"email": "new@example.com"}]


async def test_suspension_disables_sign_in_and_revokes_sessions(system: SystemHarness) -> None:
    customer_id, email = await give_credentials(system)
    assert (await sign_in(system, email)).status_code == 200
    await system.deliver("customer-updated", customer_updated(customer_id, 10, status="SUSPENDED"))
    await wait_rows(system, CUSTOMERS.format("status"), [{"status": "DISABLED"}])
    assert problem(await sign_in(system, email), 403)["code"] == "account_disabled"
    problem(await sign_in(system, email, "wrong"), 401)  # status is not told without the password
    sessions = await system.rows(DB, "SELECT revoked_at FROM sessions")
    assert len(sessions) == 1 and sessions[0]["revoked_at"] is not None
    await system.deliver(
        "customer-updated", customer_updated(customer_id, 5, status="ACTIVE")
    )  # older
    await system.deliver("customer-updated", customer_updated(customer_id, 30, status="ACTIVE"))
    await wait_rows(system, CUSTOMERS.format("status"), [{"status": "ACTIVE"}])
    assert (await sign_in(system, email)).status_code == 200


async def test_closing_an_account_disables_it(system: SystemHarness) -> None:
    customer_id, email = await give_credentials(system)
    await system.deliver("customer-updated", customer_updated(customer_id, 10, status="CLOSED"))
    await wait_rows(system, CUSTOMERS.format("status"), [{"status": "DISABLED"}])
    problem(await sign_in(system, email), 403)


async def test_customer_updated_before_the_credentials_waits_for_them(
    system: SystemHarness,
) -> None:
    customer_id = str(uuid.uuid4())
    await system.deliver("customer-updated", customer_updated(customer_id, 10, status="SUSPENDED"))
    await system.quiet(0.3)  # failing and retrying meanwhile
    await system.deliver(
        "register-credentials",
        {
            "customerId": customer_id,
            "email": "late@example.com",
            "passwordHash": HASHER.hash("pw-pw-pw-pw"),
        },
    )
    await wait_rows(system, CUSTOMERS.format("status"), [{"status": "DISABLED"}])


# -- staff account -----------------------------------------------------------------------
async def test_the_staff_account_is_seeded_from_the_dev_defaults(system: SystemHarness) -> None:
    response = await sign_in(system, "admin@acme.example", "acme-admin-dev")
    assert response.status_code == 200, response.text
    claims = system.app.authorizer.verify(response.json()["accessToken"])
    assert claims.roles == {"admin"}
    assert await system.rows(DB, "SELECT roles FROM credentials") == [{"roles": "admin"}]
    await system.quiet(0.3)
    assert system.seen("customer-authenticated") == []  # staff are not customers


async def test_the_staff_account_follows_the_settings(
    tmp_path: Path, nats_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACME_ADMIN_EMAIL", "ops@shop.example.com")
    monkeypatch.setenv("ACME_ADMIN_PASSWORD", "first secret")
    async with running_system("identity-provider", data_dir=tmp_path, nats_url=nats_url) as h:
        assert (await sign_in(h, "ops@shop.example.com", "first secret")).status_code == 200
        problem(await sign_in(h, "admin@acme.example", "acme-admin-dev"), 401)
    monkeypatch.setenv("ACME_ADMIN_PASSWORD", "second secret")  # restart with a new password
    async with running_system("identity-provider", data_dir=tmp_path, nats_url=nats_url) as h:
        problem(await sign_in(h, "ops@shop.example.com", "first secret"), 401)
        assert (await sign_in(h, "ops@shop.example.com", "second secret")).status_code == 200
        assert len(await h.rows(DB, "SELECT account_id FROM credentials")) == 1


async def test_a_customer_with_the_staff_email_is_never_promoted(system: SystemHarness) -> None:
    customer_id, _ = await give_credentials(system, "admin@acme.example", "customer password")
    problem(await sign_in(system, "admin@acme.example", "acme-admin-dev"), 401)
    response = await sign_in(system, "admin@acme.example", "customer password")
    assert response.status_code == 200
    claims = system.app.authorizer.verify(response.json()["accessToken"])
    assert claims.subject == customer_id and claims.roles == {"customer"}
