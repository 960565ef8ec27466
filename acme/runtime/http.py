"""The HTTP side of a system process: one FastAPI app with the generated routers of every
served service, inbound webhooks, health, introspection (``/_introspection``, and FastStream's
AsyncAPI document at ``/_asyncapi``), and uniform problem+json errors
(RFC 9457): ApiError -> its status, bad input -> 422 with field locations, body too large ->
413, anything unexpected -> 500 (logged; handlers must not let that happen).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from acme.runtime.consumer import Outcome
from acme.runtime.errors import WebhookRejected
from generator.contracts import ApiError

if TYPE_CHECKING:
    from acme.runtime.app import SystemApp

__all__ = ["BodySizeLimit", "build_http_app", "problem"]

PROBLEM_JSON = "application/problem+json"
_PATH_SAFE = "/!$&'()*+,;=:@-._~"  # RFC 3986 pchar and "/", left as they are
logger = logging.getLogger("acme.http")


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "code": code,
        "detail": detail,
    }
    if instance:
        # The request path, percent-encoded again (Starlette hands it over decoded): the
        # documents promise a URI reference, and a path may carry any character.
        body["instance"] = quote(instance, safe=_PATH_SAFE)
    body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


class _TooLarge(StarletteHTTPException):
    """Raised from `receive` while a body streams in. An HTTPException, because FastAPI turns
    any other error met while reading the body into a 400."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"request body larger than {max_bytes} bytes")


class BodySizeLimit:
    """Reject request bodies over `max_bytes` with 413, by Content-Length when announced and
    by counting when streamed (chunked), before any handler buffers them."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    announced = int(value)
                except ValueError:
                    await self._reject(scope, receive, send, 400, "invalid Content-Length")
                    return
                if announced > self.max_bytes:
                    await self._reject(scope, receive, send, 413, self._too_large())
                    return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if started:
                raise
            await self._reject(scope, receive, send, 413, self._too_large())

    def _too_large(self) -> str:
        return f"request body larger than {self.max_bytes} bytes"

    async def _reject(
        self, scope: Scope, receive: Receive, send: Send, status: int, detail: str
    ) -> None:
        code = "payload-too-large" if status == 413 else "bad-request"
        response = problem(status, code, detail, instance=scope.get("path"))
        await response(scope, receive, send)


def _install_error_handlers(api: FastAPI) -> None:
    @api.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return problem(
            exc.status,
            exc.code,
            exc.message,
            instance=request.url.path,
            headers=getattr(exc, "headers", None) or None,
        )

    @api.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation_problem(request, exc.errors())

    @api.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and isinstance(exc.__cause__, ValueError | RecursionError):
            # FastAPI answers a body json.loads cannot even start on (not UTF-8, nested too
            # deep) with a bare 400; it is malformed JSON like any other: 422 naming the body.
            reason = f"the body is not valid JSON: {type(exc.__cause__).__name__}"
            return _validation_problem(
                request, [{"loc": ("body",), "msg": reason, "type": "json_invalid"}]
            )
        code = {404: "not-found", 405: "method-not-allowed", 413: "payload-too-large"}.get(
            exc.status_code, "http-error"
        )
        return problem(
            exc.status_code,
            code,
            str(exc.detail),
            instance=request.url.path,
            headers=dict(exc.headers) if exc.headers else None,
        )

    @api.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return problem(500, "internal-error", "internal error", instance=request.url.path)


def _validation_problem(request: Request, found: Sequence[Any]) -> JSONResponse:
    """422 listing each invalid field. Every entry has `loc`/`msg`/`type` and the same as
    `location` (dotted) and `message`: the catalog's OpenAPI documents describe `errors`
    items with either pair of names, and this app serves all of them."""
    errors = []
    for err in found:
        loc = [p if isinstance(p, int) else str(p) for p in err.get("loc", ())]
        msg = str(err.get("msg", ""))
        location = ".".join(str(p) for p in loc)
        errors.append(
            {
                "loc": loc,
                "msg": msg,
                "type": err.get("type", ""),
                "location": location,
                "message": msg,
            }
        )
    where = ", ".join(e["location"] for e in errors[:5])
    return problem(
        422,
        "validation-error",
        f"invalid request: {where}",
        instance=request.url.path,
        errors=errors,
    )


def build_http_app(app: SystemApp) -> FastAPI:
    api = FastAPI(
        title=f"{app.id} API",
        description=f"HTTP APIs hosted by {app.id}: "
        + ", ".join(b.id for b in app.host.services if b.build_router is not None),
        version="1.0.0",
    )
    _install_error_handlers(api)
    api.add_middleware(BodySizeLimit, max_bytes=app.settings.max_body_bytes)
    for binding in app.host.services:
        impl = app._http.get(binding.id)
        if impl is None or binding.build_router is None:
            continue
        api.include_router(binding.build_router(impl, app.authorizer))
    for channel_id, decoder in app.webhooks.items():
        _mount_webhook(api, app, channel_id, decoder)

    @api.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "system": app.id}

    @api.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        transport = app.transport
        broker_ok = transport is not None and transport.started and await transport.ping(1.0)
        ready = app.started and broker_ok
        return JSONResponse(
            {"ready": ready, "system": app.id, "broker": bool(broker_ok)},
            status_code=200 if ready else 503,
        )

    @api.get("/_introspection", include_in_schema=False)
    async def introspection() -> dict[str, Any]:
        return introspect(app)

    @api.get("/_asyncapi", include_in_schema=False)
    async def asyncapi(request: Request) -> JSONResponse:
        """FastStream's AsyncAPI 3.0 document of this process's live subscribers and
        publishers (what `acme conformance` compares with the catalog's export)."""
        from acme.runtime.conformance import faststream_document

        if app.transport is None or not app.started:
            return problem(
                503, "not-started", f"{app.id} is not started", instance=request.url.path
            )
        return JSONResponse(faststream_document(app))

    return api


def introspect(app: SystemApp) -> dict[str, Any]:
    """What this process actually does, for checks against the catalog (issue 9)."""
    live = app.transport.subscriptions() if app.transport is not None else []
    services = []
    for binding in app.host.services:
        spec = binding.spec
        services.append(
            {
                "id": spec.id,
                "subscribes": [
                    {"subject": s.subject, "kind": s.kind, "running": s.running}
                    for s in live
                    if s.group == spec.id
                ],
                "publishes": [
                    {
                        "channel": o.channel.channel_id,
                        "address": o.channel.address,
                        "protocol": o.channel.protocol,
                        "message": o.message.id,
                        "version": o.message.version,
                    }
                    for o in spec.sends
                ],
                "webhooks": sorted(
                    {
                        app.webhook_address(i.channel.channel_id)
                        for i in spec.receives
                        if not i.channel.is_broker and i.channel.channel_id in app.webhooks
                    }
                ),
                "http": binding.build_router is not None and spec.id in app._http,
            }
        )
    return {
        "system": app.id,
        "broker": app.transport.kind if app.transport is not None else None,
        "stores": list(app.stores.opened),
        "services": services,
    }


def _mount_webhook(
    api: FastAPI,
    app: SystemApp,
    channel_id: str,
    decoder: Callable[[Request], Any],
) -> None:
    address = app.webhook_address(channel_id)

    async def receive_webhook(request: Request) -> JSONResponse:
        try:
            decoded: Any = decoder(request)
            if inspect.isawaitable(decoded):
                decoded = await decoded
        except ApiError:
            raise
        except StarletteHTTPException:
            raise
        except WebhookRejected as exc:
            return problem(400, "webhook-rejected", str(exc) or "rejected", instance=address)
        except Exception as exc:
            logger.warning("webhook %s: decoder rejected the request: %s", address, exc)
            return problem(
                400, "webhook-rejected", f"{type(exc).__name__}: {exc}", instance=address
            )
        counts = {o.value: 0 for o in Outcome}
        for item in _items(decoded, address):
            incoming, payload, message_id = item[0], item[1], str(item[2])
            headers = item[3] if len(item) > 3 else None
            targets = app.webhook_targets(incoming)
            if not targets:
                return problem(
                    500, "no-receiver", f"no service of {app.id} handles {incoming.message.id}"
                )
            for consumer in targets:
                outcome = await consumer.deliver_decoded(
                    incoming, payload, message_id, headers, address
                )
                counts[outcome.value] += 1
        return JSONResponse({"received": sum(counts.values()), **counts})

    api.add_api_route(
        address,
        receive_webhook,
        methods=["POST"],
        include_in_schema=False,
        name=f"webhook:{channel_id}",
    )


def _items(decoded: Any, address: str) -> Sequence[Sequence[Any]]:
    if decoded is None:
        return ()
    items = list(decoded)
    for item in items:
        if not isinstance(item, tuple) or len(item) < 3:
            raise TypeError(
                f"webhook decoder of {address} must return (incoming, payload, message_id"
                f"[, headers]) tuples, got {type(item).__name__}"
            )
    return items
