"""HTTP face of the Stripe sandbox: Stripe's v1 wire format plus the `/_sandbox` admin API.

Every `/v1` call goes through `Sandbox.call`, which does what Stripe's edge does around an
endpoint: API key check, injected faults, form decoding, and Idempotency-Key handling (the first
answer of an endpoint that ran is saved per API key and key, replayed with `Idempotent-Replayed:
true` for the same parameters, refused with an `idempotency_error` for different ones; one lock
per key makes a concurrent duplicate wait for the first and then get its answer).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import logging
import re
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator
from starlette.requests import ClientDisconnect

from acme.simulators.stripe.engine import Call, Engine, new_id
from acme.simulators.stripe.errors import StripeApiError, invalid
from acme.simulators.stripe.faults import FaultConfig, Faults
from acme.simulators.stripe.forms import MAX_BODY_BYTES, Params, decode_form
from acme.simulators.stripe.settings import SandboxSettings, parse_event_types
from acme.simulators.stripe.store import IdempotencyRecord, JsonObject, SandboxStore
from acme.simulators.stripe.webhooks import WebhookSender

log = logging.getLogger("acme.simulators.stripe")

# Used in events when the caller sends no Stripe-Version header (the SDK always sends one).
DEFAULT_API_VERSION = "2026-10-28.endive"
_TEST_KEY = re.compile(r"^sk_test_[A-Za-z0-9_]{1,247}$")
MAX_IDEMPOTENCY_KEY = 255

Op = Callable[[Call, Params], JsonObject]


class KeyedLocks:
    """One asyncio lock per key, dropped again when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: tuple[str, str]) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class Sandbox:
    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self.store = SandboxStore(None if settings.in_memory else settings.db_path)
        initial = FaultConfig.model_validate_json(settings.faults) if settings.faults else None
        self.faults = Faults(initial)
        self.webhooks = WebhookSender(self.store, settings, self.faults)
        self.engine = Engine(self.store, self.webhooks.wants)
        self.locks = KeyedLocks()
        self.stats: Counter[str] = Counter()

    async def call(self, request: Request, op: Op, *, mutating: bool) -> Response:
        request_id = new_id("req_", 14)
        headers = {"Request-Id": request_id}
        version = request.headers.get("stripe-version") or DEFAULT_API_VERSION
        headers["Stripe-Version"] = version
        try:
            api_key = _api_key(request)
        except StripeApiError as exc:
            return _json(exc.status, exc.body(), headers)

        try:
            # Read the whole request first: a slow sandbox has received it, like a slow Stripe.
            params = await _params(request, mutating=mutating)
            key = request.headers.get("idempotency-key") if mutating else None
            if key is not None and not 0 < len(key) <= MAX_IDEMPOTENCY_KEY:
                raise invalid(
                    f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters long.",
                    param="Idempotency-Key",
                )
        except StripeApiError as exc:
            return _json(exc.status, exc.body(), headers)
        except ClientDisconnect:
            return _json(400, invalid("The client went away mid-request.").body(), headers)

        fault = self.faults.for_call()
        if fault.delay_s:
            self.stats["delayed"] += 1
            await asyncio.sleep(fault.delay_s)
        if fault.error == "before":
            self.stats["faults_before"] += 1
            return _injected_500(headers)

        call = Call(api_version=version, request_id=request_id, idempotency_key=key)
        if key is None:
            status, body = self._execute(call, op, params, None)
        else:
            headers["Idempotency-Key"] = key
            scope = (hashlib.sha256(api_key.encode()).hexdigest()[:32], key)
            fingerprint = _fingerprint(request.method, request.url.path, params)
            async with self.locks.hold(scope):
                saved = self.store.get_idempotency(*scope)
                if saved is None:
                    status, body = self._execute(call, op, params, (scope, fingerprint))
                elif saved.fingerprint != fingerprint:
                    self.stats["idempotency_conflicts"] += 1
                    error = StripeApiError(
                        400,
                        "Keys for idempotent requests can only be used with the same parameters "
                        "they were first used with. Try using a key other than "
                        f"'{key}' if you meant to execute a different request.",
                        type="idempotency_error",
                    )
                    status, body = error.status, json.dumps(error.body())
                else:
                    self.stats["replayed"] += 1
                    headers["Idempotent-Replayed"] = "true"
                    headers["Original-Request"] = saved.request_id
                    status, body = saved.status, saved.body

        if fault.error == "after":
            # The call ran and its answer is saved; only this response is lost.
            self.stats["faults_after"] += 1
            return _injected_500(headers)
        return Response(body, status_code=status, media_type="application/json", headers=headers)

    def _execute(
        self,
        call: Call,
        op: Op,
        params: Params,
        idempotency: tuple[tuple[str, str], str] | None,
    ) -> tuple[int, str]:
        """Run the operation; its state, its events and its saved answer commit together."""
        try:
            with self.store.transaction():
                try:
                    status, body = 200, json.dumps(op(call, params))
                except StripeApiError as exc:
                    if not exc.idempotent:
                        raise
                    status, body = exc.status, json.dumps(exc.body())
                if idempotency is not None:
                    (key_hash, key), fingerprint = idempotency
                    self.store.put_idempotency(
                        key_hash, key, IdempotencyRecord(fingerprint, status, body, call.request_id)
                    )
        except StripeApiError as exc:
            # Refused before the endpoint ran: nothing changed and nothing is saved.
            return exc.status, json.dumps(exc.body())
        except Exception:
            log.exception("sandbox bug while handling request %s", call.request_id)
            error = StripeApiError(
                500, f"Internal error of the Stripe sandbox ({call.request_id}).", type="api_error"
            )
            return 500, json.dumps(error.body())
        self.stats["executed"] += 1
        self.webhooks.submit(call.events)
        return status, body

    def state(self) -> JsonObject:
        events = self.store.events()
        by_status = Counter(event.status for event in events)
        intents = self.store.list_objects("payment_intent")
        counters = self.store.counters()
        return {
            "payment_intents": intents,
            "charges": self.store.list_objects("charge"),
            "refunds": self.store.list_objects("refund"),
            # Per intent: charge attempts, captures (must never exceed 1), refunds and amounts.
            "counts": {
                intent["id"]: {
                    name: counters.get(intent["id"], {}).get(name, 0) for name in _COUNTS
                }
                for intent in intents
            },
            "events": [
                {
                    "id": event.id,
                    "type": event.type,
                    "payment_intent": event.ordering_key,
                    "status": event.status,
                    "attempts": event.attempts,
                    "deliveries": event.deliveries,
                    "last_error": event.last_error,
                }
                for event in events
            ],
            "webhooks": {
                "url": self.webhooks.url,
                "enabled_events": list(self.webhooks.enabled_events),
                "posts": self.webhooks.posts,
                **{status: by_status.get(status, 0) for status in _EVENT_STATUSES},
            },
            "requests": {name: self.stats.get(name, 0) for name in _STATS},
            "faults": self.faults.current().model_dump(),
        }


_COUNTS = ("charges", "captures", "refunds", "amount_captured", "amount_refunded")
_EVENT_STATUSES = ("pending", "delivered", "failed", "no_endpoint", "not_enabled")
_STATS = (
    "executed",
    "replayed",
    "idempotency_conflicts",
    "delayed",
    "faults_before",
    "faults_after",
)


class WebhookEndpoint(BaseModel):
    """Body of POST /_sandbox/webhook."""

    model_config = ConfigDict(extra="forbid")

    url: AnyHttpUrl | None = Field(description="Where events are POSTed; null stops delivery.")
    secret: str | None = Field(
        default=None, min_length=1, description="Signing secret; unchanged when omitted."
    )
    enabled_events: list[str] | None = Field(
        default=None,
        min_length=1,
        description="Event types sent to the endpoint, ['*'] for all; unchanged when omitted.",
    )

    @field_validator("enabled_events")
    @classmethod
    def _check_events(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else list(parse_event_types(value))


def create_app(settings: SandboxSettings | None = None) -> FastAPI:
    """The sandbox as an ASGI app; webhook delivery runs while the app's lifespan is active."""
    sandbox = Sandbox(settings or SandboxSettings())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await sandbox.webhooks.start()
        try:
            yield
        finally:
            await sandbox.webhooks.stop()
            sandbox.store.close()

    app = FastAPI(
        title="Acme Stripe sandbox",
        description="Local stand-in for Stripe's v1 API (PaymentIntents, Refunds, webhooks).",
        lifespan=lifespan,
    )
    app.state.sandbox = sandbox
    engine = sandbox.engine

    def route(path: str, method: str, handler: Callable[..., JsonObject]) -> None:
        mutating = method == "POST"

        async def endpoint(request: Request) -> Response:
            path_args = dict(request.path_params)

            def op(call: Call, params: Params) -> JsonObject:
                return handler(call, params, **path_args)

            return await sandbox.call(request, op, mutating=mutating)

        app.add_api_route(
            path, endpoint, methods=[method], name=f"{method} {path}", tags=["stripe v1"]
        )

    route("/v1/payment_intents", "POST", engine.create_payment_intent)
    route("/v1/payment_intents", "GET", engine.list_payment_intents)
    route("/v1/payment_intents/{intent_id}", "GET", engine.retrieve_payment_intent)
    route("/v1/payment_intents/{intent_id}", "POST", engine.update_payment_intent)
    route("/v1/payment_intents/{intent_id}/confirm", "POST", engine.confirm_payment_intent)
    route("/v1/payment_intents/{intent_id}/capture", "POST", engine.capture_payment_intent)
    route("/v1/payment_intents/{intent_id}/cancel", "POST", engine.cancel_payment_intent)
    route("/v1/refunds", "POST", engine.create_refund)
    route("/v1/refunds", "GET", engine.list_refunds)
    route("/v1/refunds/{refund_id}", "GET", engine.retrieve_refund)
    route("/v1/refunds/{refund_id}", "POST", engine.update_refund)
    route("/v1/charges", "GET", engine.list_charges)
    route("/v1/charges/{charge_id}", "GET", engine.retrieve_charge)
    route("/v1/payment_methods/{pm_id}", "GET", engine.retrieve_payment_method)
    route("/v1/events", "GET", engine.list_events)
    route("/v1/events/{event_id}", "GET", engine.retrieve_event)

    @app.api_route(
        "/v1/{rest:path}",
        methods=["GET", "POST", "DELETE", "PUT", "PATCH"],
        include_in_schema=False,
    )
    async def unknown_endpoint(request: Request, rest: str) -> Response:
        error = StripeApiError(
            404,
            f"Unrecognized request URL ({request.method}: /v1/{rest}). "
            "The Acme sandbox implements PaymentIntents, Refunds, Charges (read), "
            "PaymentMethods (read) and Events (read).",
        )
        return _json(404, error.body(), {})

    @app.get("/_sandbox/health", tags=["sandbox"])
    async def health() -> dict[str, str]:
        return {"status": "ok", "system": "stripe"}

    @app.get("/_sandbox/faults", tags=["sandbox"])
    async def get_faults() -> FaultConfig:
        return sandbox.faults.current()

    @app.post("/_sandbox/faults", tags=["sandbox"])
    async def set_faults(config: FaultConfig) -> FaultConfig:
        sandbox.faults.configure(config)
        log.info("faults set to %s", config.model_dump_json())
        return sandbox.faults.current()

    @app.delete("/_sandbox/faults", tags=["sandbox"])
    async def clear_faults() -> FaultConfig:
        sandbox.faults.configure(FaultConfig())
        return sandbox.faults.current()

    @app.post("/_sandbox/webhook", tags=["sandbox"])
    async def set_webhook(endpoint: WebhookEndpoint) -> dict[str, str | list[str] | None]:
        sandbox.webhooks.configure(
            None if endpoint.url is None else str(endpoint.url),
            endpoint.secret,
            endpoint.enabled_events,
        )
        return {
            "url": sandbox.webhooks.url,
            "enabled_events": list(sandbox.webhooks.enabled_events),
        }

    @app.get("/_sandbox/state", tags=["sandbox"])
    async def state() -> dict[str, Any]:
        return sandbox.state()

    @app.post("/_sandbox/reset", tags=["sandbox"])
    async def reset() -> dict[str, str]:
        """Forget all objects, keys and events, clear faults and counters (for tests)."""
        sandbox.store.reset()
        sandbox.faults.configure(FaultConfig())
        sandbox.stats.clear()
        return {"status": "reset"}

    return app


def _api_key(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise StripeApiError(
            401,
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
            "YOUR_SECRET_KEY').",
        )
    scheme, _, credential = header.partition(" ")
    credential = credential.strip()
    if scheme.lower() == "basic":
        # curl -u sk_test_...: sends the key as the user name.
        try:
            credential = base64.b64decode(credential, validate=True).decode().partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            credential = ""
    elif scheme.lower() != "bearer":
        credential = ""
    if not _TEST_KEY.match(credential):
        shown = credential[:8] + "*" * 4 + credential[-4:] if len(credential) > 12 else "****"
        raise StripeApiError(
            401,
            f"Invalid API Key provided: {shown}. The sandbox accepts any test secret key "
            "(sk_test_...).",
        )
    return credential


async def _params(request: Request, *, mutating: bool) -> Params:
    if not mutating:
        return decode_form(request.url.query)
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise invalid(f"Request body is larger than {MAX_BODY_BYTES} bytes.")
    body = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if body and content_type != "application/x-www-form-urlencoded":
        raise invalid(
            "Invalid request: the body must be form-encoded "
            f"(Content-Type: application/x-www-form-urlencoded), got {content_type or 'none'}."
        )
    return decode_form(body)


def _fingerprint(method: str, path: str, params: Params) -> str:
    canonical = json.dumps([method, path, params], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _json(status: int, body: JsonObject, headers: dict[str, str]) -> Response:
    return Response(
        json.dumps(body), status_code=status, media_type="application/json", headers=headers
    )


def _injected_500(headers: dict[str, str]) -> Response:
    error = StripeApiError(
        500,
        "An error occurred with our connection to Stripe (fault injected by the Acme sandbox).",
        type="api_error",
    )
    return _json(500, error.body(), headers)
