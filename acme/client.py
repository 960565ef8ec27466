"""A small typed client of Acme's public HTTP API, spoken through the gateway.

Paths and bodies follow the catalog's OpenAPI documents (catalog/**/openapi.yml); bodies and
answers are the generated message models, so a contract change shows up here as a type error.

    async with AcmeClient("http://127.0.0.1:8080") as acme:
        admin = acme.as_user(await acme.sign_in_admin())
        product = await admin.create_product(sku="MUG-1", name="Mug", price=1200)
        await admin.set_stock(product.product_id, 10)
        shopper = await acme.register_shopper("ann@example.com", "correct horse")
        me = acme.as_user(shopper.token)
        cart = await me.create_cart(shopper.customer_id)
        await me.add_item(cart.cart_id, product.product_id, 2, wait=5)
        checkout = await me.wait_for_checkout((await me.checkout(cart.cart_id, ...)).checkout_id)

Every answer outside 2xx raises `ApiError`, which carries the problem+json document.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar
from uuid import UUID

import httpx
from pydantic import BaseModel, ValidationError

from generated.http.review_api_models import ProductReviewsPage
from generated.messages.add_item_to_cart import AddItemToCart
from generated.messages.authenticate_customer import (
    AuthenticateCustomerRequest,
    AuthenticateCustomerResponse,
)
from generated.messages.cancel_order import CancelOrder
from generated.messages.checkout_cart import CheckoutCart, CheckoutCartDeliveryAddress
from generated.messages.create_cart import CreateCart
from generated.messages.create_product import CreateProduct
from generated.messages.flag_review import FlagReview
from generated.messages.get_cart import GetCartResponse
from generated.messages.get_checkout import GetCheckoutResponse
from generated.messages.get_customer import GetCustomerResponse
from generated.messages.get_order import GetOrderResponse
from generated.messages.get_payment import GetPaymentResponse
from generated.messages.get_product import GetProductResponse
from generated.messages.get_stock_level import GetStockLevelResponse
from generated.messages.list_orders import ListOrdersResponse
from generated.messages.register_customer import RegisterCustomer
from generated.messages.review_flagged import ReviewFlagged
from generated.messages.review_helpful_voted import ReviewHelpfulVoted
from generated.messages.review_submitted import ReviewSubmitted
from generated.messages.search_products import SearchProductsResponse
from generated.messages.set_stock_level import SetStockLevel
from generated.messages.submit_review import SubmitReview
from generated.messages.update_product import UpdateProduct
from generated.messages.vote_review_helpful import VoteReviewHelpful

__all__ = [
    "DEFAULT_ADMIN_EMAIL",
    "DEFAULT_ADMIN_PASSWORD",
    "TERMINAL_CHECKOUT_STATUSES",
    "AcmeClient",
    "ApiError",
    "CheckoutTimeout",
    "ClientError",
    "DeleteReason",
    "DeliveryAddress",
    "FlagReason",
    "ReviewSort",
    "Shopper",
]

# The identity provider seeds this staff account (OAuthAPI page); same variables, same defaults.
DEFAULT_ADMIN_EMAIL = "admin@acme.example"
DEFAULT_ADMIN_PASSWORD = "acme-admin-dev"
TERMINAL_CHECKOUT_STATUSES = frozenset({"COMPLETED", "FAILED"})
CORRELATION_HEADER = "X-Correlation-Id"

DeliveryAddress = CheckoutCartDeliveryAddress
CancellationReason = Literal["CUSTOMER_REQUESTED", "PAYMENT_FAILED", "OUT_OF_STOCK", "FRAUD"]
ProductStatus = Literal["DRAFT", "ACTIVE", "ARCHIVED"]
DeleteReason = Literal["DISCONTINUED", "DUPLICATE", "MERCHANT_REQUEST", "OTHER"]
FlagReason = Literal["spam", "abuse", "off_topic", "inappropriate", "other"]
ReviewSort = Literal["newest", "highest", "lowest", "most_helpful"]
Id = UUID | str

M = TypeVar("M", bound=BaseModel)


class ClientError(Exception):
    """The client could not get a usable answer (bad URL, unreadable answer, deadline)."""


class ApiError(ClientError):
    """The platform answered with an error status; `problem` is its problem+json body."""

    def __init__(self, method: str, path: str, status: int, problem: Mapping[str, Any]) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.problem = dict(problem)
        super().__init__(self._describe())

    @property
    def code(self) -> str | None:
        code = self.problem.get("code")
        return code if isinstance(code, str) else None

    @property
    def detail(self) -> str:
        detail = self.problem.get("detail") or self.problem.get("title") or ""
        return str(detail)

    @property
    def errors(self) -> list[dict[str, Any]]:
        """Field-level problems of a 422 (location + message)."""
        errors = self.problem.get("errors")
        return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []

    def _describe(self) -> str:
        text = f"{self.method} {self.path} -> {self.status}"
        if self.code:
            text += f" {self.code}"
        if self.detail:
            text += f": {self.detail}"
        for error in self.errors[:5]:
            text += f"; {error.get('location')}: {error.get('message')}"
        return text


class CheckoutTimeout(ClientError, TimeoutError):
    """The checkout did not reach COMPLETED or FAILED before the deadline."""

    def __init__(self, checkout_id: str, timeout: float, last: GetCheckoutResponse | None) -> None:
        self.checkout_id = checkout_id
        self.last = last
        status = last.status if last is not None else "unknown (never read)"
        super().__init__(
            f"checkout {checkout_id} still {status} after {timeout:g}s "
            "(is every system of the saga running? see `acme status`)"
        )


@dataclass(frozen=True)
class Shopper:
    """A registered and signed-in customer."""

    customer_id: UUID
    email: str
    token: str


def _id(value: Id, what: str) -> str:
    """A path segment from an id, refusing anything that is not a UUID (no path injection)."""
    try:
        return str(value if isinstance(value, UUID) else UUID(str(value)))
    except ValueError:
        raise ClientError(f"{what} {value!r} is not a UUID") from None


def _build(model: type[M], what: str, **fields: Any) -> M:
    """A request body, or a ClientError naming each invalid argument."""
    try:
        return model(**fields)
    except ValidationError as exc:
        raise _invalid(what, exc) from None


def _invalid(what: str, exc: ValidationError) -> ClientError:
    """A one-line error naming each bad argument, instead of pydantic's multi-line report."""
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in exc.errors()
    )
    return ClientError(f"{what}: invalid argument ({problems})")


def _problem_of(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        return body
    text = response.text.strip()
    return {
        "title": response.reason_phrase or "Error",
        "status": response.status_code,
        "detail": text[:500] if text else "(empty body)",
    }


class AcmeClient:
    """Async client of the gateway. One instance per base URL; `as_user` shares its pool."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 15.0,
        http: httpx.AsyncClient | None = None,
        max_connections: int = 100,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ClientError(f"base URL {base_url!r} must start with http:// or https://")
        self.base_url = base_url.rstrip("/")
        self.token = token
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(
            base_url=self.base_url,
            timeout=timeout,
            # Idle connections are dropped before the gateway drops them (uvicorn, 5 s): with
            # equal timeouts a request can leave on a connection being closed (ReadError).
            limits=httpx.Limits(
                max_connections=max_connections,
                max_keepalive_connections=max_connections,
                keepalive_expiry=2.0,
            ),
        )

    async def __aenter__(self) -> AcmeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    def as_user(self, token: str | None) -> AcmeClient:
        """The same connection pool, acting as another caller (None: anonymous)."""
        return AcmeClient(self.base_url, token=token, http=self._http)

    # -- plumbing

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: BaseModel | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One call; raises ApiError for any status >= 400."""
        sent: dict[str, str] = dict(headers or {})
        if self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        content = None
        if body is not None:
            content = body.model_dump_json(by_alias=True, exclude_none=True)
            sent["Content-Type"] = "application/json"
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = await self._http.request(
                method, path, content=content, params=query, headers=sent
            )
        except httpx.HTTPError as exc:
            raise ClientError(
                f"{method} {self.base_url}{path}: {type(exc).__name__}: {exc}"
            ) from exc
        if response.status_code >= 400:
            raise ApiError(method, path, response.status_code, _problem_of(response))
        return response

    async def _call(
        self,
        model: type[M],
        method: str,
        path: str,
        *,
        body: BaseModel | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> M:
        response = await self.request(method, path, body=body, params=params, headers=headers)
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            raise ClientError(
                f"{method} {path}: the answer does not match {model.__name__}: {exc}"
            ) from exc

    # -- customers and sign-in

    async def register_customer(
        self, email: str, password: str, name: str | None = None
    ) -> GetCustomerResponse:
        """POST /customers (no token needed)."""
        body = _build(
            RegisterCustomer, "register_customer", email=email, password=password, name=name
        )
        return await self._call(GetCustomerResponse, "POST", "/customers", body=body)

    async def sign_in(
        self, email: str, password: str, *, wait: float = 0.0
    ) -> AuthenticateCustomerResponse:
        """POST /oauth/token. With `wait`, a 401 is retried for that long: a customer who
        registered a moment ago has no credentials until register-credentials arrives."""
        body = _build(AuthenticateCustomerRequest, "sign_in", email=email, password=password)
        deadline = time.monotonic() + wait
        delay = 0.02
        while True:
            try:
                token = await self._call(
                    AuthenticateCustomerResponse, "POST", "/oauth/token", body=body
                )
            except ApiError as exc:
                if exc.status != 401 or time.monotonic() + delay > deadline:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.5)
                continue
            if not token.access_token:
                raise ClientError("POST /oauth/token answered without an accessToken")
            return token

    async def sign_in_admin(
        self, email: str | None = None, password: str | None = None, *, wait: float = 0.0
    ) -> str:
        """The seeded staff account's token (ACME_ADMIN_EMAIL / ACME_ADMIN_PASSWORD)."""
        email = email or os.environ.get("ACME_ADMIN_EMAIL") or DEFAULT_ADMIN_EMAIL
        password = password or os.environ.get("ACME_ADMIN_PASSWORD") or DEFAULT_ADMIN_PASSWORD
        token = await self.sign_in(email, password, wait=wait)
        assert token.access_token is not None  # checked by sign_in
        return token.access_token

    async def register_shopper(
        self, email: str, password: str, name: str | None = None, *, wait: float = 10.0
    ) -> Shopper:
        """Register, then sign in (waiting up to `wait` for the credentials to arrive)."""
        customer = await self.register_customer(email, password, name)
        if customer.customer_id is None:
            raise ClientError("POST /customers answered without a customerId")
        token = await self.sign_in(email, password, wait=wait)
        assert token.access_token is not None
        return Shopper(customer.customer_id, email, token.access_token)

    async def get_customer(self, customer_id: Id) -> GetCustomerResponse:
        path = f"/customers/{_id(customer_id, 'customer id')}"
        return await self._call(GetCustomerResponse, "GET", path)

    # -- products and stock (staff)

    async def create_product(
        self,
        *,
        sku: str,
        name: str,
        price: int,
        currency: str = "USD",
        description: str | None = None,
        category: str | None = None,
        status: ProductStatus | None = "ACTIVE",
        variants: Sequence[Mapping[str, Any]] | None = None,
    ) -> GetProductResponse:
        """POST /products (role admin). Prices are integer minor units; each variant is
        `{"sku": ..., "attributes": {"size": "M"}}`."""
        body = _build(
            CreateProduct,
            "create_product",
            sku=sku,
            name=name,
            price=price,
            currency=currency,
            description=description,
            category=category,
            status=status,
            variants=list(variants) if variants is not None else None,
        )
        return await self._call(GetProductResponse, "POST", "/products", body=body)

    async def get_product(self, product_id: Id) -> GetProductResponse:
        path = f"/products/{_id(product_id, 'product id')}"
        return await self._call(GetProductResponse, "GET", path)

    async def update_product(
        self,
        product_id: Id,
        *,
        name: str | None = None,
        description: str | None = None,
        price: int | None = None,
        currency: str | None = None,
        category: str | None = None,
        status: ProductStatus | None = None,
    ) -> GetProductResponse:
        """PATCH /products/{productId} (role admin): only the fields given change."""
        pid = _id(product_id, "product id")
        body = _build(
            UpdateProduct,
            "update_product",
            product_id=UUID(pid),
            name=name,
            description=description,
            price=price,
            currency=currency,
            category=category,
            status=status,
        )
        return await self._call(GetProductResponse, "PATCH", f"/products/{pid}", body=body)

    async def delete_product(self, product_id: Id, reason: DeleteReason | None = None) -> None:
        """DELETE /products/{productId} (role admin)."""
        pid = _id(product_id, "product id")
        await self.request("DELETE", f"/products/{pid}", params={"reason": reason})

    async def set_stock(self, product_id: Id, available: int) -> GetStockLevelResponse:
        """PUT /stock/{productId} (role admin): units free to sell."""
        pid = _id(product_id, "product id")
        body = _build(SetStockLevel, "set_stock", product_id=UUID(pid), available=available)
        return await self._call(GetStockLevelResponse, "PUT", f"/stock/{pid}", body=body)

    async def get_stock(self, product_id: Id) -> GetStockLevelResponse:
        path = f"/stock/{_id(product_id, 'product id')}"
        return await self._call(GetStockLevelResponse, "GET", path)

    # -- carts and checkout (shopper)

    async def create_cart(self, customer_id: Id, currency: str = "USD") -> GetCartResponse:
        cust = UUID(_id(customer_id, "customer id"))
        body = _build(CreateCart, "create_cart", customer_id=cust, currency=currency)
        return await self._call(GetCartResponse, "POST", "/carts", body=body)

    async def get_cart(self, cart_id: Id) -> GetCartResponse:
        return await self._call(GetCartResponse, "GET", f"/carts/{_id(cart_id, 'cart id')}")

    async def add_item(
        self, cart_id: Id, product_id: Id, quantity: int = 1, *, wait: float = 0.0
    ) -> GetCartResponse:
        """POST /carts/{cartId}/items. With `wait`, a 404 for the product is retried for that
        long: the cart learns prices from product events, a moment after the product exists."""
        cid = _id(cart_id, "cart id")
        pid = _id(product_id, "product id")
        if quantity < 1:
            raise ClientError(f"add_item: quantity must be at least 1, got {quantity}")
        body = AddItemToCart(cart_id=UUID(cid), product_id=UUID(pid), quantity=quantity)
        deadline = time.monotonic() + wait
        delay = 0.02
        while True:
            try:
                return await self._call(GetCartResponse, "POST", f"/carts/{cid}/items", body=body)
            except ApiError as exc:
                # Only the product may be missing: a missing cart is a real 404.
                product_missing = exc.status == 404 and pid in exc.detail
                if not product_missing or time.monotonic() + delay > deadline:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.25)

    async def checkout(
        self,
        cart_id: Id,
        customer_id: Id,
        *,
        delivery_address: DeliveryAddress,
        payment_method: str = "pm_card_visa",
        promotion_code: str | None = None,
        correlation_id: str | None = None,
    ) -> GetCartResponse:
        """POST /carts/{cartId}/checkout; the answer carries the checkoutId to follow.

        The delivery address is required (checkout-cart 2.0.0): the warehouse cannot ship an
        order without one. `correlation_id` (X-Correlation-Id) is carried by every message the
        checkout causes, so its traces, outbox rows and dead letters can be found afterwards."""
        cid = _id(cart_id, "cart id")
        body = _build(
            CheckoutCart,
            "checkout",
            cart_id=UUID(cid),
            customer_id=UUID(_id(customer_id, "customer id")),
            payment_method=payment_method,
            delivery_address=delivery_address,
            promotion_code=promotion_code,
        )
        headers = {CORRELATION_HEADER: correlation_id} if correlation_id else None
        return await self._call(
            GetCartResponse, "POST", f"/carts/{cid}/checkout", body=body, headers=headers
        )

    async def get_checkout(self, checkout_id: Id) -> GetCheckoutResponse:
        path = f"/checkouts/{_id(checkout_id, 'checkout id')}"
        return await self._call(GetCheckoutResponse, "GET", path)

    async def wait_for_checkout(
        self, checkout_id: Id, *, timeout: float = 30.0, interval: float = 0.05
    ) -> GetCheckoutResponse:
        """Poll GET /checkouts/{id} until COMPLETED or FAILED; CheckoutTimeout after `timeout`.

        The session is written when checkout-api receives cart-checked-out, so a 404 right
        after the checkout call means "not there yet" and is polled through as well.
        """
        cid = _id(checkout_id, "checkout id")
        deadline = time.monotonic() + timeout
        last: GetCheckoutResponse | None = None
        delay = min(interval, 0.02)
        while True:
            try:
                last = await self.get_checkout(cid)
            except ApiError as exc:
                if exc.status != 404:
                    raise
            if last is not None and last.status in TERMINAL_CHECKOUT_STATUSES:
                return last
            if time.monotonic() >= deadline:
                raise CheckoutTimeout(cid, timeout, last)
            await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 1.5, max(interval, 0.02) * 10)

    # -- orders and payments

    async def get_order(self, order_id: Id) -> GetOrderResponse:
        return await self._call(GetOrderResponse, "GET", f"/orders/{_id(order_id, 'order id')}")

    async def list_orders(
        self,
        *,
        customer_id: Id | None = None,
        status: str | None = None,
        page: int = 1,
        page_size: int = 20,
    ) -> ListOrdersResponse:
        params = {
            "customerId": _id(customer_id, "customer id") if customer_id else None,
            "status": status,
            "page": page,
            "pageSize": page_size,
        }
        return await self._call(ListOrdersResponse, "GET", "/orders", params=params)

    async def cancel_order(
        self, order_id: Id, reason: CancellationReason = "CUSTOMER_REQUESTED"
    ) -> GetOrderResponse:
        oid = _id(order_id, "order id")
        body = _build(CancelOrder, "cancel_order", order_id=UUID(oid), reason=reason)
        return await self._call(GetOrderResponse, "POST", f"/orders/{oid}/cancel", body=body)

    async def get_payment(self, payment_id: Id) -> GetPaymentResponse:
        path = f"/payments/{_id(payment_id, 'payment id')}"
        return await self._call(GetPaymentResponse, "GET", path)

    # -- reviews

    async def submit_review(
        self,
        product_id: Id,
        customer_id: Id,
        *,
        rating: int,
        body: str,
        title: str | None = None,
        review_id: Id | None = None,
    ) -> ReviewSubmitted:
        """POST /products/{productId}/reviews as the signed-in customer; accepted (202) for
        moderation. The same `review_id` sent again is the same submission."""
        pid = _id(product_id, "product id")
        request = _build(
            SubmitReview,
            "submit_review",
            review_id=UUID(_id(review_id, "review id")) if review_id else uuid.uuid4(),
            product_id=UUID(pid),
            customer_id=UUID(_id(customer_id, "customer id")),
            rating=rating,
            title=title,
            body=body,
            submitted_at=datetime.now(UTC),
        )
        path = f"/products/{pid}/reviews"
        return await self._call(ReviewSubmitted, "POST", path, body=request)

    async def flag_review(
        self, review_id: Id, flagged_by: str, reason: FlagReason, notes: str | None = None
    ) -> ReviewFlagged:
        """POST /reviews/{reviewId}/flags; `flagged_by` is the caller's id (token subject)."""
        rid = _id(review_id, "review id")
        request = _build(
            FlagReview,
            "flag_review",
            review_id=UUID(rid),
            flagged_by=flagged_by,
            reason=reason,
            notes=notes,
            flagged_at=datetime.now(UTC),
        )
        return await self._call(ReviewFlagged, "POST", f"/reviews/{rid}/flags", body=request)

    async def vote_review_helpful(
        self, review_id: Id, customer_id: Id, *, remove: bool = False
    ) -> ReviewHelpfulVoted:
        """POST /reviews/{reviewId}/helpful: add (or with `remove`, withdraw) a helpful vote."""
        rid = _id(review_id, "review id")
        request = _build(
            VoteReviewHelpful,
            "vote_review_helpful",
            review_id=UUID(rid),
            customer_id=UUID(_id(customer_id, "customer id")),
            vote="remove" if remove else "helpful",
            voted_at=datetime.now(UTC),
        )
        path = f"/reviews/{rid}/helpful"
        return await self._call(ReviewHelpfulVoted, "POST", path, body=request)

    async def product_reviews(
        self, product_id: Id, *, page: int = 1, page_size: int = 20, sort: ReviewSort = "newest"
    ) -> ProductReviewsPage:
        """GET /products/{productId}/reviews (public): published reviews and the rating."""
        path = f"/products/{_id(product_id, 'product id')}/reviews"
        params = {"page": page, "pageSize": page_size, "sort": sort}
        return await self._call(ProductReviewsPage, "GET", path, params=params)

    # -- search

    async def search(
        self,
        query: str,
        *,
        category: str | None = None,
        status: ProductStatus | None = None,
        min_price: int | None = None,
        max_price: int | None = None,
        page: int = 1,
        page_size: int = 20,
    ) -> SearchProductsResponse:
        """GET /search/products (public)."""
        if not query.strip():
            raise ClientError("search: the query must not be empty")
        params = {
            "query": query,
            "category": category,
            "status": status,
            "minPrice": min_price,
            "maxPrice": max_price,
            "page": page,
            "pageSize": page_size,
        }
        return await self._call(SearchProductsResponse, "GET", "/search/products", params=params)
