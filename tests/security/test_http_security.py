"""Authorisation and input limits of every HTTP operation in the catalog, against the real
systems in-process (generated routers, JwtAuthorizer, the runtime's problem+json errors).

Every operation of every OpenAPI document (generated.catalog's HTTP_MODULES and each module's
OPERATIONS) is checked for: 401 without a token where security is declared, 401 for expired,
foreign-signed and otherwise broken tokens, 403 for a shopper on an `x-roles` route, 413 for a
body over the limit, 422 problem+json naming the field for malformed or schema-invalid input.
Operations on a shopper's own cart, checkout, order, payment, customer record or reviews are
attacked by another shopper (403 or 404, and the victim's data unchanged).
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
import pytest_asyncio

from tests.security.apis import Operation, operations
from tests.security.attacks import ATTACKER, ATTACKS, VICTIM, Attack, Victim, by_id
from tests.security.platform import Platform, cheap_argon2
from tests.security.samples import ADDRESS, Call, invalid_value, valid_call
from tests.systems.harness import JWT_SECRET

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

OPERATIONS = list(operations())
SECURED = [op for op in OPERATIONS if op.secured]
ADMIN_ONLY = [op for op in OPERATIONS if op.admin_only]
WITH_BODY = [op for op in OPERATIONS if op.body_schema() is not None]
PROBLEM_JSON = "application/problem+json"
ADMIN = str(uuid.uuid4())  # a staff member's subject
SHOPPER = str(uuid.uuid4())


def ids(op: Operation) -> str:
    return str(op)


def host(op: Operation) -> str:
    return op.api.host_id


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def platform(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Platform]:
    with cheap_argon2():
        running = Platform(tmp_path_factory.mktemp("security"))
        try:
            for api_host in sorted({host(op) for op in OPERATIONS}):
                await running.system(api_host)
            yield running
        finally:
            await running.aclose()


async def client(platform: Platform, op: Operation) -> httpx.AsyncClient:
    return (await platform.system(host(op))).client


def admin_token(platform: Platform) -> str:
    return platform.token(ADMIN, "admin")


def shopper_token(platform: Platform, subject: str = SHOPPER) -> str:
    return platform.token(subject, "customer")


def assert_problem(response: httpx.Response, *statuses: int) -> dict[str, Any]:
    """An RFC 9457 answer with one of `statuses`; returns its body."""
    where = f"{response.request.method} {response.request.url.path}"
    assert response.status_code in statuses, (
        f"{where}: expected {statuses}, got {response.status_code}: {response.text[:500]}"
    )
    assert response.headers["content-type"].startswith(PROBLEM_JSON), (
        f"{where}: {response.status_code} answered as {response.headers['content-type']}"
    )
    body: dict[str, Any] = response.json()
    assert body["status"] == response.status_code, body
    assert body["title"] and isinstance(body["detail"], str), body
    return body


def assert_names_field(problem: dict[str, Any], loc: list[str | int]) -> None:
    """The problem's `errors` hold an entry at `loc` and its detail names the field."""
    dotted = ".".join(str(p) for p in loc)
    errors = problem.get("errors", [])
    assert loc in [e["loc"] for e in errors], f"no error at {loc}: {problem}"
    assert dotted in [e["location"] for e in errors], f"no error at {dotted}: {problem}"
    assert dotted in problem["detail"], problem["detail"]


# -- authentication ---------------------------------------------------------------------


@pytest.mark.parametrize("op", OPERATIONS, ids=ids)
async def test_without_a_token(platform: Platform, op: Operation) -> None:
    http = await client(platform, op)
    anonymous = await valid_call(op, ADMIN).send(http)
    if not op.secured:
        # Public: a token changes nothing (POST /oauth/token answers bad credentials with
        # 401 either way, which is its documented answer, not a token check).
        signed_in = await valid_call(op, ADMIN).send(http, token=admin_token(platform))
        assert anonymous.status_code == signed_in.status_code, (anonymous.text, signed_in.text)
        assert anonymous.status_code != 403, anonymous.text
        return
    problem = assert_problem(anonymous, 401)
    assert anonymous.headers["www-authenticate"].startswith("Bearer"), anonymous.headers
    assert problem["code"] == "invalid_request", problem
    # The same request with a staff token passes the authorizer: the 401 was the token.
    signed_in = await valid_call(op, ADMIN).send(http, token=admin_token(platform))
    assert signed_in.status_code not in (401, 403), signed_in.text


def _encode(claims: dict[str, Any], secret: str = JWT_SECRET) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(platform: Platform, **changes: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": ADMIN,
        "roles": ["admin"],
        "iss": platform.auth_settings.jwt_issuer,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(hours=1)).timestamp()),
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _tampered(platform: Platform) -> str:
    """A shopper's genuine token whose payload was swapped for one with the admin role."""
    header, _, signature = _encode(_claims(platform, roles=["customer"])).split(".")
    return ".".join([header, _b64(_claims(platform)), signature])


# Each carries the admin role, so nothing but the token's defect can explain a 401.
BAD_CREDENTIALS: dict[str, Callable[[Platform], str]] = {
    "expired": lambda p: (
        "Bearer " + p.token(ADMIN, "admin", ttl=60, now=datetime.now(UTC) - timedelta(hours=2))
    ),
    "signed with another secret": lambda p: (
        "Bearer " + _encode(_claims(p), "another-secret-that-is-also-long-enough-32")
    ),
    "another issuer": lambda p: "Bearer " + _encode(_claims(p, iss="someone-else")),
    "no expiry": lambda p: "Bearer " + _encode(_claims(p, exp=None)),
    "no subject": lambda p: "Bearer " + _encode(_claims(p, sub=None)),
    "roles not a list": lambda p: "Bearer " + _encode(_claims(p, roles="admin")),
    "alg none": lambda p: (
        "Bearer " + _b64({"alg": "none", "typ": "JWT"}) + "." + _b64(_claims(p)) + "."
    ),
    "tampered payload": lambda p: "Bearer " + _tampered(p),
    "not a JWT": lambda p: "Bearer not-a-jwt",
    "basic scheme": lambda p: "Basic " + base64.b64encode(b"admin:admin").decode(),
}


@pytest.mark.parametrize("kind", BAD_CREDENTIALS)
@pytest.mark.parametrize("op", SECURED, ids=ids)
async def test_broken_tokens_are_401(platform: Platform, op: Operation, kind: str) -> None:
    value = BAD_CREDENTIALS[kind](platform)
    response = await valid_call(op, ADMIN).send(
        await client(platform, op), headers={"Authorization": value}
    )
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer"), response.headers


# -- roles ------------------------------------------------------------------------------


@pytest.mark.parametrize("op", ADMIN_ONLY, ids=ids)
async def test_shopper_on_a_staff_route_is_403(platform: Platform, op: Operation) -> None:
    http = await client(platform, op)
    problem = assert_problem(
        await valid_call(op, SHOPPER).send(http, token=shopper_token(platform)), 403
    )
    assert "admin" in problem["detail"], problem
    # A token without any role is no better than a shopper's.
    assert_problem(await valid_call(op, SHOPPER).send(http, token=platform.token(SHOPPER)), 403)
    staff = await valid_call(op, ADMIN).send(http, token=admin_token(platform))
    assert staff.status_code not in (401, 403), staff.text


# -- size and shape of the input -----------------------------------------------------------


@pytest.mark.parametrize("op", OPERATIONS, ids=ids)
async def test_body_over_the_limit_is_413(platform: Platform, op: Operation) -> None:
    system = await platform.system(host(op))
    limit = system.settings.max_body_bytes
    oversized = b'{"padding": "' + b"x" * limit + b'"}'
    response = await valid_call(op, ADMIN).send(
        system.client, token=admin_token(platform), content=oversized
    )
    problem = assert_problem(response, 413)
    assert str(limit) in problem["detail"], problem


@pytest.mark.parametrize("op", WITH_BODY, ids=ids)
async def test_streamed_body_over_the_limit_is_413(platform: Platform, op: Operation) -> None:
    """Without Content-Length (chunked), the limit is enforced while the body streams in."""
    system = await platform.system(host(op))
    limit = system.settings.max_body_bytes
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"padding": "'
        while sent <= limit:
            sent += 64 * 1024
            yield b"x" * (64 * 1024)
        yield b'"}'

    response = await valid_call(op, ADMIN).send(
        system.client, token=admin_token(platform), content=chunks()
    )
    assert "content-length" not in response.request.headers
    assert_problem(response, 413)


@pytest.mark.parametrize("op", WITH_BODY, ids=ids)
async def test_malformed_json_is_422(platform: Platform, op: Operation) -> None:
    response = await valid_call(op, ADMIN).send(
        await client(platform, op), token=admin_token(platform), content=b'{"cut": "short'
    )
    problem = assert_problem(response, 400, 422)
    assert "body" in problem["detail"], problem
    if response.status_code == 422:
        assert [e["loc"][0] for e in problem["errors"]] == ["body"], problem


def _wrong_type(schema: dict[str, Any]) -> Any:
    """A JSON value that the property's schema rejects by type alone."""
    kind = schema.get("type")
    if kind in ("integer", "number"):
        return "not a number"
    if kind == "boolean":
        return "not a boolean"
    if kind in ("object", "array"):
        return 12345
    return {"not": "a string"}


def _first_property(op: Operation) -> str:
    schema = op.body_schema()
    assert schema is not None
    return str((schema.get("required") or list(schema["properties"]))[0])


@pytest.mark.parametrize("op", WITH_BODY, ids=ids)
async def test_wrong_type_in_the_body_is_422_naming_the_field(
    platform: Platform, op: Operation
) -> None:
    call = valid_call(op, ADMIN)
    assert call.body is not None
    name = _first_property(op)
    schema = op.body_schema()
    assert schema is not None
    broken = {**call.body, name: _wrong_type(schema["properties"][name])}
    response = await call.with_body(broken).send(
        await client(platform, op), token=admin_token(platform)
    )
    assert_names_field(assert_problem(response, 422), ["body", name])


@pytest.mark.parametrize(
    "op", [op for op in WITH_BODY if (op.body_schema() or {}).get("required")], ids=ids
)
async def test_missing_required_field_is_422_naming_it(platform: Platform, op: Operation) -> None:
    call = valid_call(op, ADMIN)
    assert call.body is not None
    name = _first_property(op)
    broken = {k: v for k, v in call.body.items() if k != name}
    response = await call.with_body(broken).send(
        await client(platform, op), token=admin_token(platform)
    )
    assert_names_field(assert_problem(response, 422), ["body", name])


@pytest.mark.parametrize("op", WITH_BODY, ids=ids)
async def test_unknown_field_is_422_naming_it(platform: Platform, op: Operation) -> None:
    """The catalog's bodies are closed (additionalProperties: false)."""
    schema = op.body_schema()
    assert schema is not None and schema.get("additionalProperties") is False, schema
    call = valid_call(op, ADMIN)
    assert call.body is not None
    response = await call.with_body({**call.body, "isAdmin": True}).send(
        await client(platform, op), token=admin_token(platform)
    )
    assert_names_field(assert_problem(response, 422), ["body", "isAdmin"])


PARAMETERS = [
    (op, param["in"], param["name"])
    for op in OPERATIONS
    for param in (*op.parameters("path"), *op.parameters("query"))
    if invalid_value(param["schema"]) is not None
]


@pytest.mark.parametrize(
    ("op", "where", "name"), PARAMETERS, ids=[f"{op}.{name}" for op, _, name in PARAMETERS]
)
async def test_invalid_parameter_is_422_naming_it(
    platform: Platform, op: Operation, where: str, name: str
) -> None:
    [param] = [p for p in op.parameters(where) if p["name"] == name]
    value = invalid_value(param["schema"])
    assert value is not None
    call = valid_call(op, ADMIN)
    if where == "path":
        call = Call(op, {**call.path, name: value}, call.query, call.body)
    else:
        call = Call(op, call.path, {**call.query, name: value}, call.body)
    response = await call.send(await client(platform, op), token=admin_token(platform))
    assert_names_field(assert_problem(response, 422), [where, name])


# -- one shopper against another's data ----------------------------------------------------


async def until(probe: Callable[[], Awaitable[Any]], what: str, timeout: float = 15.0) -> Any:
    try:
        async with asyncio.timeout(timeout):
            while not (found := await probe()):
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None
    return found


async def _seed_cart(platform: Platform, victim: Victim) -> None:
    h = await platform.system("cart-system")
    victim.product_id = str(uuid.uuid4())
    await h.deliver(
        "product-created",
        {
            "eventId": str(uuid.uuid4()),
            "occurredAt": datetime.now(UTC).isoformat(),
            "product": {
                "productId": victim.product_id,
                "sku": "LAMP-1",
                "name": "Desk lamp",
                "price": 2500,
                "currency": "USD",
                "status": "ACTIVE",
            },
        },
    )
    token = shopper_token(platform, VICTIM)
    created = await valid_call(by_id("createCart"), VICTIM).send(h.client, token=token)
    assert created.status_code == 201, created.text
    victim.cart_id = created.json()["cartId"]
    add = valid_call(by_id("addItemToCart"), VICTIM, cartId=victim.cart_id)
    assert add.body is not None
    add = add.with_body({**add.body, "productId": victim.product_id})

    async def added() -> bool:  # the price list learns the product asynchronously
        return (await add.send(h.client, token=token)).status_code == 200

    await until(added, "the victim's cart line")

    async def cart() -> Any:
        return (await h.client.get(f"/carts/{victim.cart_id}", headers=h.auth(VICTIM))).json()

    victim.views["cart"] = cart


async def _seed_checkout(platform: Platform, victim: Victim) -> None:
    h = await platform.system("checkout-system")
    victim.checkout_id = str(uuid.uuid4())
    await h.deliver(
        "cart-checked-out",
        {
            "eventId": victim.checkout_id,
            "occurredAt": datetime.now(UTC).isoformat(),
            "cartId": str(uuid.uuid4()),
            "customerId": VICTIM,
            "items": [{"productId": str(uuid.uuid4()), "quantity": 1, "unitPrice": 2500}],
            "subtotal": 2500,
            "discount": 0,
            "total": 2500,
            "currency": "USD",
            "paymentMethod": "pm_card_visa",
            "deliveryAddress": ADDRESS,
        },
    )

    async def seen() -> bool:
        url = f"/checkouts/{victim.checkout_id}"
        return (await h.client.get(url, headers=h.auth(VICTIM))).status_code == 200

    await until(seen, "the victim's checkout")


async def _seed_order(platform: Platform, victim: Victim) -> None:
    h = await platform.system("order-management-system")
    victim.order_id = str(uuid.uuid4())
    await h.deliver(
        "create-order",
        {
            "orderId": victim.order_id,
            "cartId": str(uuid.uuid4()),
            "checkoutId": str(uuid.uuid4()),
            "customerId": VICTIM,
            "items": [{"productId": str(uuid.uuid4()), "quantity": 1, "unitPrice": 2500}],
            "total": 2500,
            "currency": "USD",
            "paymentAuthorizationId": "pi_security",
            "inventoryReservationId": str(uuid.uuid4()),
            "deliveryAddress": ADDRESS,
        },
    )

    async def order() -> Any:
        response = await h.client.get(f"/orders/{victim.order_id}", headers=h.auth(VICTIM))
        return response.json() if response.status_code == 200 else None

    # Created, confirmed, then awaiting fulfilment: wait for the last, stable status.
    await until(lambda: _awaiting(order), "the victim's order to await fulfilment", timeout=20.0)
    victim.views["order"] = order


async def _awaiting(order: Callable[[], Awaitable[Any]]) -> bool:
    body = await order()
    return bool(body) and body["status"] == "AWAITING_FULFILMENT"


async def _seed_payment(platform: Platform, victim: Victim) -> None:
    h = await platform.system("payment-processing-system")
    order_id = str(uuid.uuid4())
    await h.deliver(
        "authorize-payment",
        {
            "cartId": str(uuid.uuid4()),
            "checkoutId": str(uuid.uuid4()),
            "orderId": order_id,
            "customerId": VICTIM,
            "amount": 2500,
            "currency": "USD",
            "paymentMethod": "pm_card_visa",
        },
    )
    (requested,) = await h.published("payment-requested", where=lambda b: b["orderId"] == order_id)
    victim.payment_id = requested.body["paymentId"]

    async def seen() -> bool:
        url = f"/payments/{victim.payment_id}"
        return (await h.client.get(url, headers=h.auth(VICTIM))).status_code == 200

    await until(seen, "the victim's payment")


async def _seed_customer(platform: Platform, victim: Victim) -> None:
    h = await platform.system("customer-management-system")
    registered = await valid_call(by_id("registerCustomer"), VICTIM).send(h.client)
    assert registered.status_code == 201, registered.text
    victim.customer_id = registered.json()["customerId"]
    headers = h.auth(victim.customer_id)

    async def customer() -> Any:
        profile = await h.client.get(f"/customers/{victim.customer_id}", headers=headers)
        addresses = await h.client.get(
            f"/customers/{victim.customer_id}/addresses", headers=headers
        )
        assert profile.status_code == addresses.status_code == 200, profile.text
        return {"profile": profile.json(), "addresses": addresses.json()}

    victim.views["customer"] = customer


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def victim(platform: Platform) -> Victim:
    seeded = Victim()
    await _seed_cart(platform, seeded)
    await _seed_checkout(platform, seeded)
    await _seed_order(platform, seeded)
    await _seed_payment(platform, seeded)
    await _seed_customer(platform, seeded)
    return seeded


@pytest.mark.parametrize("attack", ATTACKS, ids=str)
async def test_another_shoppers_data_is_out_of_reach(
    platform: Platform, victim: Victim, attack: Attack
) -> None:
    target = by_id(attack.operation)
    call = attack.call(victim)
    before = await victim.views[attack.view]() if attack.view else None
    response = await call.send(
        await client(platform, target), token=shopper_token(platform, ATTACKER)
    )
    assert_problem(response, 403, 404)
    if attack.view:
        assert await victim.views[attack.view]() == before, f"{attack} changed the victim's data"


async def test_listing_orders_shows_only_ones_own(platform: Platform, victim: Victim) -> None:
    h = await platform.system("order-management-system")
    mine = await h.client.get("/orders", headers=h.auth(ATTACKER))
    assert mine.status_code == 200, mine.text
    assert victim.order_id not in {o["orderId"] for o in mine.json()["orders"]}
    theirs = await h.client.get("/orders", headers=h.auth(VICTIM))
    assert victim.order_id in {o["orderId"] for o in theirs.json()["orders"]}


async def test_staff_reach_every_shoppers_data(platform: Platform, victim: Victim) -> None:
    """The positive side of the owner checks: the victim's data exists and staff see it."""
    token = admin_token(platform)
    reads = [
        ("cart-system", f"/carts/{victim.cart_id}"),
        ("checkout-system", f"/checkouts/{victim.checkout_id}"),
        ("order-management-system", f"/orders/{victim.order_id}"),
        ("payment-processing-system", f"/payments/{victim.payment_id}"),
        ("customer-management-system", f"/customers/{victim.customer_id}"),
    ]
    for system, url in reads:
        h = await platform.system(system)
        response = await h.client.get(url, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, f"{url}: {response.text}"
