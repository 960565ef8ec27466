"""One base URL for the whole platform: route each request to the system that serves it.

The route table is built from the catalog (every generated HTTP operation plus every inbound
webhook address), so the gateway never needs to be told about a new endpoint by hand. It
knows nothing about processes: it asks a `Directory` callable for each system's current
state and URL, which the supervisor provides (tests pass a plain dict).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.background import BackgroundTask
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = [
    "Directory",
    "RouteConflictError",
    "RouteMatch",
    "RouteSpec",
    "RouteTable",
    "SystemStatus",
    "create_gateway",
    "merge_openapi",
    "problem",
]

READY = "ready"
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SystemStatus:
    """What the gateway needs to know about one hosted system right now."""

    name: str
    state: str  # "starting" | "ready" | "backoff" | "stopping" | "stopped" | "failed"
    url: str | None = None
    pid: int | None = None
    restarts: int = 0
    since: float | None = None  # wall-clock time of the last (re)start that became ready


Directory = Callable[[], Mapping[str, SystemStatus]]


@dataclass(frozen=True)
class RouteSpec:
    """One (method, path template) served by one hosted system."""

    method: str
    template: str  # OpenAPI path template, e.g. /carts/{cartId}/items
    system: str  # host name: system id, or domain id for services without a system
    service: str = ""
    operation_id: str = ""


@dataclass(frozen=True)
class RouteMatch:
    route: RouteSpec
    params: Mapping[str, str]


class RouteConflictError(ValueError):
    """Two services claim the same method and path: the catalog must decide which one serves it."""


_PARAM = re.compile(r"\{([^{}/]+)\}")


def _segment_rank(segment: str) -> int:
    # Lower is more specific: literal < mixed ("{id}.json") < a whole-segment parameter.
    if not _PARAM.search(segment):
        return 0
    return 2 if _PARAM.fullmatch(segment) else 1


def _compile(template: str) -> re.Pattern[str]:
    if not template.startswith("/"):
        raise ValueError(f"path template {template!r} must start with '/'")
    parts: list[str] = []
    pos = 0
    names: set[str] = set()
    for m in _PARAM.finditer(template):
        parts.append(re.escape(template[pos : m.start()]))
        name = m.group(1)
        if not name.isidentifier() or name in names:
            raise ValueError(f"path template {template!r}: bad or repeated parameter {{{name}}}")
        names.add(name)
        # A parameter never spans a '/', so /products/{id} does not swallow /products/1/reviews.
        parts.append(f"(?P<{name}>[^/]+)")
        pos = m.end()
    parts.append(re.escape(template[pos:]))
    return re.compile("".join(parts))


def _shape(template: str) -> str:
    """The template with parameter names erased: /a/{x} and /a/{y} are the same route."""
    return _PARAM.sub("{}", template)


class RouteTable:
    """Match (method, path) to the system serving it; most specific template first."""

    def __init__(self, routes: Iterable[RouteSpec]) -> None:
        seen: dict[tuple[str, str], RouteSpec] = {}
        compiled: list[tuple[tuple[int, tuple[int, ...]], re.Pattern[str], RouteSpec]] = []
        for route in routes:
            method = route.method.upper()
            route = RouteSpec(
                method, route.template, route.system, route.service, route.operation_id
            )
            key = (method, _shape(route.template))
            other = seen.get(key)
            if other is not None:
                if other.system == route.system:
                    continue  # the same system may list an operation twice (e.g. webhook + API)
                raise RouteConflictError(
                    f"{method} {route.template} is served by both {other.service or other.system}"
                    f" ({other.system}) and {route.service or route.system} ({route.system})"
                )
            seen[key] = route
            segments = route.template.strip("/").split("/")
            ranks = tuple(_segment_rank(s) for s in segments)
            specificity = (-sum(1 for r in ranks if r == 0), ranks)
            compiled.append((specificity, _compile(route.template), route))
        compiled.sort(key=lambda item: (item[0], item[2].template, item[2].method))
        self._compiled = compiled
        self._owners = {key: spec.system for key, spec in seen.items()}

    def __iter__(self) -> Iterator[RouteSpec]:
        return (route for _, _, route in self._compiled)

    def __len__(self) -> int:
        return len(self._compiled)

    def _candidates(self, path: str) -> Iterator[tuple[RouteSpec, dict[str, str]]]:
        paths = [path]
        if len(path) > 1 and path.endswith("/"):
            paths.append(path.rstrip("/"))  # tolerate one trailing slash from clients
        for candidate in paths:
            for _, pattern, route in self._compiled:
                m = pattern.fullmatch(candidate)
                if m:
                    yield route, m.groupdict()

    def match(self, method: str, path: str) -> RouteMatch | None:
        """The route for this request, or None (see `allowed_methods` to tell 404 from 405)."""
        method = method.upper()
        for route, params in self._candidates(path):
            if route.method == method or (method == "HEAD" and route.method == "GET"):
                return RouteMatch(route, params)
        return None

    def allowed_methods(self, path: str) -> list[str]:
        return sorted({route.method for route, _ in self._candidates(path)})

    def owner(self, method: str, template: str) -> str | None:
        """The system serving exactly this operation (for filtering OpenAPI documents)."""
        return self._owners.get((method.upper(), _shape(template)))

    @property
    def systems(self) -> list[str]:
        return sorted({route.system for _, _, route in self._compiled})


def problem(
    status: int, title: str, detail: str, *, instance: str = "", **extra: Any
) -> JSONResponse:
    """An RFC 9457 problem document, the error shape every Acme system uses."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    body["detail"] = detail
    if instance:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


# Connection-level headers that describe one hop and must not be forwarded (RFC 9110 §7.6.1).
_HOP_BY_HOP = {
    b"connection",
    b"keep-alive",
    b"proxy-authenticate",
    b"proxy-authorization",
    b"proxy-connection",
    b"te",
    b"trailer",
    b"transfer-encoding",
    b"upgrade",
}
CORRELATION_HEADER = "x-correlation-id"
# Upstream answers of known length up to this size are relayed in one piece; larger ones and
# those without a length stream through.
_BUFFERED_MAX = 256 * 1024
_HTTP_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def _request_headers(request: Request, correlation_id: str) -> list[tuple[bytes, bytes]]:
    out: list[tuple[bytes, bytes]] = []
    forwarded_for = b""
    for name, value in request.headers.raw:
        lname = name.lower()
        if lname in _HOP_BY_HOP or lname == b"host":
            continue
        if lname == b"x-forwarded-for":
            forwarded_for = value
            continue
        if lname in (b"x-forwarded-host", b"x-forwarded-proto"):
            continue  # rewritten below from what this hop saw
        out.append((name, value))
    client = (request.client.host if request.client else "").encode()
    if client:
        forwarded_for = forwarded_for + b", " + client if forwarded_for else client
    if forwarded_for:
        out.append((b"x-forwarded-for", forwarded_for))
    host = request.headers.get("host")
    if host:
        out.append((b"x-forwarded-host", host.encode("latin-1")))
    out.append((b"x-forwarded-proto", request.url.scheme.encode()))
    if CORRELATION_HEADER not in request.headers:
        out.append((CORRELATION_HEADER.encode(), correlation_id.encode()))
    return out


def _response_headers(
    upstream: httpx.Response, correlation_id: str, *, drop_length: bool
) -> list[tuple[bytes, bytes]]:
    dropped = _HOP_BY_HOP | ({b"content-length"} if drop_length else set())
    raw = upstream.headers.raw
    out = [(name.lower(), value) for name, value in raw if name.lower() not in dropped]
    if not any(name == CORRELATION_HEADER.encode() for name, _ in out):
        out.append((CORRELATION_HEADER.encode(), correlation_id.encode()))
    return out


def _has_body(request: Request) -> bool:
    return "content-length" in request.headers or "transfer-encoding" in request.headers


# Idle upstream connections are dropped after this long: before the systems' servers drop
# them (uvicorn's keep-alive timeout, 5 s). With equal timeouts a request could go out on a
# connection the server was closing at that moment and fail with a ReadError (seen under load
# on PostgreSQL, where gaps between requests are longer).
UPSTREAM_KEEPALIVE_SECONDS = 2.0


# Generous read timeout: some operations wait on a saga step.
UPSTREAM_TIMEOUT = httpx.Timeout(30.0, connect=3.0, pool=5.0)
_TIMEOUT_EXTENSION = UPSTREAM_TIMEOUT.as_dict()
UPSTREAM_LIMITS = httpx.Limits(
    max_connections=200, max_keepalive_connections=50, keepalive_expiry=UPSTREAM_KEEPALIVE_SECONDS
)

# Sends one prepared request upstream and returns the response with its body unread.
Sender = Callable[[httpx.Request], Awaitable[httpx.Response]]


def default_client() -> httpx.AsyncClient:
    """A pooled client for the gateway's own calls (the systems' OpenAPI documents)."""
    return httpx.AsyncClient(
        timeout=UPSTREAM_TIMEOUT, limits=UPSTREAM_LIMITS, follow_redirects=False
    )


def upstream_transport() -> httpx.AsyncHTTPTransport:
    """The connection pool that forwarded requests to one system go through.

    Requests go straight to the transport: a proxy wants none of what `AsyncClient.send`
    adds around it (auth flows, redirects, a cookie jar filled from every answer)."""
    return httpx.AsyncHTTPTransport(limits=UPSTREAM_LIMITS)


def create_gateway(
    table: RouteTable,
    directory: Directory,
    *,
    client: httpx.AsyncClient | None = None,
    title: str = "Acme platform",
    version: str = "1.0.0",
    openapi_timeout: float = 5.0,
) -> FastAPI:
    """The gateway ASGI app. `client` is injectable so tests can use `httpx.MockTransport`."""
    http = client or default_client()
    owns_client = client is None
    # One pool per upstream system when the gateway owns its clients: httpcore checks every
    # pooled connection (a readability poll of each idle socket) on each request, so a shared
    # pool makes a request to one system pay for the connections kept to all the others.
    pools: dict[str, httpx.AsyncHTTPTransport] = {}

    async def send_injected(request: httpx.Request) -> httpx.Response:
        return await http.send(request, stream=True)

    def upstream(base_url: str) -> Sender:
        if not owns_client:
            return send_injected
        pool = pools.get(base_url)
        if pool is None:
            pool = pools[base_url] = upstream_transport()
        return pool.handle_async_request

    async def close_client() -> None:
        if owns_client:
            await http.aclose()
            for pool in list(pools.values()):
                await pool.aclose()
            pools.clear()

    app = FastAPI(
        title=title,
        version=version,
        openapi_url=None,  # our /openapi.json is the merged document of all systems
        docs_url=None,
        redoc_url=None,
        on_shutdown=[close_client],
    )

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        systems = directory()
        body = {
            name: {
                "state": s.state,
                "url": s.url,
                "pid": s.pid,
                "restarts": s.restarts,
                "since": s.since,
            }
            for name, s in sorted(systems.items())
        }
        ok = bool(systems) and all(s.state == READY for s in systems.values())
        return JSONResponse(
            {"status": "ok" if ok else "degraded", "systems": body}, status_code=200 if ok else 503
        )

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi() -> JSONResponse:
        docs, unavailable = await _fetch_documents(http, directory(), table, openapi_timeout)
        merged = merge_openapi(docs, table, title=title, version=version)
        if unavailable:
            merged["x-acme-unavailable"] = unavailable
        return JSONResponse(merged)

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{title} — API")

    app.add_middleware(_Forwarding, table=table, directory=directory, upstream=upstream)
    return app


# The gateway's own pages; every other request is forwarded.
_OWN_PAGES = frozenset({"/healthz", "/openapi.json", "/docs"})


class _Forwarding:
    """Forwards every request but the gateway's own pages, as plain ASGI.

    Forwarding needs none of FastAPI's routing, dependency solving or exception middleware,
    which added about a fifth to the CPU of forwarding a small request. An unexpected error
    is logged and answered with a problem document here, as FastAPI's error middleware
    would."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        table: RouteTable,
        directory: Directory,
        upstream: Callable[[str], Sender],
    ) -> None:
        self.app = app
        self.table = table
        self.directory = directory
        self.upstream = upstream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (
            scope["path"] in _OWN_PAGES and scope["method"] in ("GET", "HEAD")
        ):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            response = await _forward(request, self.table, self.directory, self.upstream)
        except Exception:
            _log.exception("gateway: forwarding %s %s failed", request.method, scope["path"])
            response = problem(
                500,
                "Internal Server Error",
                f"the gateway failed forwarding {request.method} {scope['path']}",
                instance=scope["path"],
            )
        await response(scope, receive, send)


async def _forward(
    request: Request,
    table: RouteTable,
    directory: Directory,
    upstreams: Callable[[str], Sender],
) -> Response:
    # Match on the raw (still percent-encoded) path so an encoded '/' stays inside one segment.
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    path = raw_path.decode("latin-1")
    instance = request.url.path
    found = table.match(request.method, path)
    if found is None:
        allowed = table.allowed_methods(path)
        if allowed:
            response = problem(
                405,
                "Method Not Allowed",
                f"{request.method} is not served on {instance}; allowed: {', '.join(allowed)}",
                instance=instance,
            )
            response.headers["allow"] = ", ".join(allowed)
            return response
        return problem(
            404, "Not Found", f"no system serves {request.method} {instance}", instance=instance
        )
    system = found.route.system
    status = directory().get(system)
    if status is None or status.state != READY or not status.url:
        state = "not started by this supervisor" if status is None else status.state
        response = problem(
            503,
            "Service Unavailable",
            f"{system} serves {found.route.method} {found.route.template} but is {state}",
            instance=instance,
            system=system,
        )
        response.headers["retry-after"] = "1"
        return response

    correlation_id = request.headers.get(CORRELATION_HEADER) or str(uuid.uuid4())
    send = upstreams(status.url)
    url = status.url.rstrip("/") + path
    query = request.scope.get("query_string", b"")
    if query:
        url += "?" + query.decode("latin-1")
    # Built directly rather than with http.build_request: the client's default headers
    # (Accept-Encoding in particular) must not be added to what the caller actually sent.
    upstream_request = httpx.Request(
        request.method,
        url,
        headers=_request_headers(request, correlation_id),
        content=request.stream() if _has_body(request) else None,
        extensions={"timeout": _TIMEOUT_EXTENSION},
    )
    try:
        upstream = await send(upstream_request)
    except httpx.TimeoutException as exc:
        return problem(
            504,
            "Gateway Timeout",
            f"{system} did not answer {request.method} {instance} in time ({type(exc).__name__})",
            instance=instance,
            system=system,
        )
    except httpx.TransportError as exc:
        response = problem(
            503,
            "Service Unavailable",
            f"{system} at {status.url} is unreachable: {type(exc).__name__}: {exc}",
            instance=instance,
            system=system,
        )
        response.headers["retry-after"] = "1"
        return response

    length = upstream.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) <= _BUFFERED_MAX:
        # A small body of known length (every JSON answer): read it and answer in one piece,
        # cheaper than relaying it as a stream of ASGI messages with a background close.
        try:
            # raw: a compressed answer passes through as the system encoded it
            body = b"".join([chunk async for chunk in upstream.aiter_raw()])
        except httpx.TransportError as exc:
            return problem(
                502,
                "Bad Gateway",
                f"{system} broke off its answer to {request.method} {instance}: "
                f"{type(exc).__name__}: {exc}",
                instance=instance,
                system=system,
            )
        finally:
            await upstream.aclose()
        buffered = Response(body, status_code=upstream.status_code)
        buffered.raw_headers = _response_headers(
            upstream, correlation_id, drop_length=request.method == "HEAD"
        )
        return buffered
    streamed = StreamingResponse(
        upstream.aiter_raw(),
        status_code=upstream.status_code,
        background=BackgroundTask(upstream.aclose),
    )
    streamed.raw_headers = _response_headers(
        upstream, correlation_id, drop_length=request.method == "HEAD"
    )
    return streamed


# ---------------------------------------------------------------------------------------------
# Merged OpenAPI document


async def _fetch_documents(
    http: httpx.AsyncClient,
    systems: Mapping[str, SystemStatus],
    table: RouteTable,
    timeout: float,
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    docs: dict[str, dict[str, Any]] = {}
    unavailable: dict[str, str] = {}

    async def fetch(name: str, status: SystemStatus) -> None:
        if status.state != READY or not status.url:
            unavailable[name] = f"system is {status.state}"
            return
        try:
            resp = await http.get(status.url.rstrip("/") + "/openapi.json", timeout=timeout)
            resp.raise_for_status()
            doc = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            unavailable[name] = f"GET /openapi.json failed: {type(exc).__name__}: {exc}"
            return
        if not isinstance(doc, dict):
            unavailable[name] = "GET /openapi.json did not return a JSON object"
            return
        docs[name] = doc

    wanted = set(table.systems)
    for name in wanted - set(systems):
        unavailable[name] = "system is not started by this supervisor"
    await asyncio.gather(*(fetch(n, s) for n, s in systems.items() if n in wanted))
    return docs, dict(sorted(unavailable.items()))


def _pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", name) if part)


def _refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        ref = value.get("$ref")
        if isinstance(ref, str):
            yield ref
        for item in value.values():
            yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)


def _rewrite_refs(value: Any, renames: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "$ref" and isinstance(item, str) and item in renames:
                out[key] = renames[item]
            else:
                out[key] = _rewrite_refs(item, renames)
        return out
    if isinstance(value, list):
        return [_rewrite_refs(item, renames) for item in value]
    return value


def _rename_security(requirements: Any, renames: Mapping[str, str]) -> Any:
    # Security requirements name schemes by key, not by $ref.
    if not isinstance(requirements, list):
        return requirements
    return [
        {renames.get(k, k): v for k, v in req.items()} if isinstance(req, dict) else req
        for req in requirements
    ]


def merge_openapi(
    docs: Mapping[str, Mapping[str, Any]],
    table: RouteTable,
    *,
    title: str = "Acme platform",
    version: str = "1.0.0",
) -> dict[str, Any]:
    """Merge each system's OpenAPI document into one, as seen through the gateway.

    Only operations the gateway routes to that system are kept (a system's /healthz is not a
    platform endpoint). Components with the same name and the same definition are shared;
    where definitions differ, the later system's copy is renamed `<SystemPascal><Name>` and
    its references are rewritten, so no system's schema silently replaces another's.
    """
    merged: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": {},
        "components": {},
    }
    tags: dict[str, Any] = {}
    versions: list[str] = []
    for system in sorted(docs):
        doc = copy.deepcopy(dict(docs[system]))
        if isinstance(doc.get("openapi"), str):
            versions.append(doc["openapi"])
        components = doc.get("components") if isinstance(doc.get("components"), dict) else {}
        assert isinstance(components, dict)
        renames = _component_renames(system, components, merged["components"])
        scheme_renames = {
            old.rsplit("/", 1)[1]: new.rsplit("/", 1)[1]
            for old, new in renames.items()
            if old.startswith("#/components/securitySchemes/")
        }
        doc = _rewrite_refs(doc, renames)
        for section, entries in (doc.get("components") or {}).items():
            if not isinstance(entries, dict):
                continue
            target = merged["components"].setdefault(section, {})
            for name, definition in entries.items():
                new_name = renames.get(f"#/components/{section}/{name}", "").rsplit("/", 1)[-1]
                target.setdefault(new_name or name, definition)
        for template, item in (doc.get("paths") or {}).items():
            if not isinstance(item, dict):
                continue
            kept = {
                key: value
                for key, value in item.items()
                if key.upper() not in _HTTP_METHODS + ["TRACE"]
                or table.owner(key, template) == system
            }
            operations = [k for k in kept if k.upper() in _HTTP_METHODS + ["TRACE"]]
            if not operations:
                continue
            for key in operations:
                op = kept[key]
                if isinstance(op, dict) and "security" in op:
                    op["security"] = _rename_security(op["security"], scheme_renames)
            target_item = merged["paths"].setdefault(template, {})
            for key, value in kept.items():
                target_item.setdefault(key, value)
        for tag in doc.get("tags") or []:
            if isinstance(tag, dict) and isinstance(tag.get("name"), str):
                tags.setdefault(tag["name"], tag)
        if "security" in doc and "security" not in merged:
            merged["security"] = _rename_security(doc["security"], scheme_renames)
    if versions:
        merged["openapi"] = max(versions)
    if tags:
        merged["tags"] = [tags[name] for name in sorted(tags)]
    merged["paths"] = dict(sorted(merged["paths"].items()))
    if not merged["components"]:
        del merged["components"]
    return merged


def _component_renames(
    system: str, components: Mapping[str, Any], existing: Mapping[str, Mapping[str, Any]]
) -> dict[str, str]:
    """$ref -> new $ref for every component of `system` that clashes with one already merged.

    A component also clashes when it refers to a renamed one: two identical `Order` schemas
    that point at different `Money` schemas are not the same `Order`.
    """
    prefix = _pascal(system)
    renamed: set[tuple[str, str]] = set()
    for section, entries in components.items():
        if not isinstance(entries, dict):
            continue
        for name, definition in entries.items():
            have = existing.get(section, {})
            if name in have and have[name] != definition:
                renamed.add((section, name))
    changed = True
    while changed:
        changed = False
        renamed_refs = {f"#/components/{s}/{n}" for s, n in renamed}
        for section, entries in components.items():
            if not isinstance(entries, dict):
                continue
            for name, definition in entries.items():
                if (section, name) in renamed or name not in existing.get(section, {}):
                    continue
                if any(ref in renamed_refs for ref in _refs(definition)):
                    renamed.add((section, name))
                    changed = True
    renames: dict[str, str] = {}
    for section, name in sorted(renamed):
        taken = set(existing.get(section, {})) | set(components.get(section, {}))
        base = prefix + name[:1].upper() + name[1:]
        new_name, n = base, 2
        while new_name in taken:
            new_name, n = f"{base}{n}", n + 1
        renames[f"#/components/{section}/{name}"] = f"#/components/{section}/{new_name}"
    return renames
