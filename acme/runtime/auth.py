"""Bearer tokens: HS256 JWTs issued by the identity provider, checked on every secured route.

Claims: `sub` (customer or staff id), `roles` (list of strings), `iss` (acme-identity),
`iat`, `exp`, `jti`. Operations with a security requirement need a valid token (401);
operations with `x-roles` also need one of those roles (403).
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from acme.runtime.settings import Settings
from generator.contracts import ApiError, OperationSpec, RequestContext

__all__ = [
    "AuthError",
    "Claims",
    "JwtAuthorizer",
    "issue_token",
    "jwt_secret",
    "verify_token",
]

SECRET_FILE = "jwt-secret"
CORRELATION_HEADER = "x-correlation-id"
IDEMPOTENCY_HEADER = "idempotency-key"
ALGORITHM = "HS256"

_bearer = HTTPBearer(auto_error=False, scheme_name="bearerAuth")


class AuthError(ApiError):
    """401/403 with the headers RFC 6750 asks for."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(status, code, message)
        self.headers = {"WWW-Authenticate": f'Bearer error="{code}"'} if status == 401 else {}


@dataclass(frozen=True)
class Claims:
    subject: str
    roles: frozenset[str]
    expires_at: datetime
    token_id: str | None = None


def jwt_secret(settings: Settings) -> str:
    """ACME_JWT_SECRET, else a random dev secret created once in the data directory."""
    if settings.jwt_secret is not None:
        value = settings.jwt_secret.get_secret_value()
        if len(value) < 32:
            raise ValueError("ACME_JWT_SECRET must be at least 32 characters for HS256")
        return value
    path = settings.data_dir / SECRET_FILE
    try:
        return _read_secret(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{SECRET_FILE}.{os.getpid()}.{uuid.uuid4().hex}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secrets.token_urlsafe(48))
    try:
        # link() fails if another process won the race; everyone then reads the same file.
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return _read_secret(path)


def _read_secret(path: Path) -> str:
    value = path.read_text(encoding="utf-8").strip()
    if not value:
        raise ValueError(f"{path} is empty; delete it to generate a new dev secret")
    return value


def issue_token(
    subject: str,
    roles: Iterable[str] = (),
    ttl: float | timedelta | None = None,
    *,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> str:
    """A signed access token for `subject` with `roles`, valid for `ttl` (default: setting)."""
    settings = settings or Settings()
    if not subject:
        raise ValueError("a token needs a subject")
    issued = now or datetime.now(UTC)
    if ttl is None:
        ttl = settings.jwt_ttl_seconds
    lifetime = ttl if isinstance(ttl, timedelta) else timedelta(seconds=ttl)
    if lifetime.total_seconds() <= 0:
        raise ValueError("token ttl must be positive")
    claims = {
        "sub": subject,
        "roles": sorted(set(roles)),
        "iss": settings.jwt_issuer,
        "iat": int(issued.timestamp()),
        "exp": int((issued + lifetime).timestamp()),
        "jti": str(uuid.uuid4()),
    }
    return jwt.encode(claims, jwt_secret(settings), algorithm=ALGORITHM)


def verify_token(token: str, *, secret: str, issuer: str) -> Claims:
    """Claims of a valid token; raises AuthError(401) naming why it is not valid."""
    try:
        data = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=issuer,
            options={"require": ["sub", "exp", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise AuthError(401, "invalid_token", "the access token has expired") from None
    except jwt.InvalidTokenError as exc:
        raise AuthError(401, "invalid_token", f"the access token is not valid: {exc}") from None
    roles = data.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise AuthError(401, "invalid_token", "the token's roles claim must be a list of strings")
    return Claims(
        subject=str(data["sub"]),
        roles=frozenset(roles),
        expires_at=datetime.fromtimestamp(int(data["exp"]), UTC),
        token_id=data.get("jti"),
    )


class JwtAuthorizer:
    """The `generator.contracts.Authorizer` of every system's HTTP API."""

    def __init__(self, secret: str, *, issuer: str = "acme-identity") -> None:
        self._secret = secret
        self.issuer = issuer

    @classmethod
    def from_settings(cls, settings: Settings) -> JwtAuthorizer:
        return cls(jwt_secret(settings), issuer=settings.jwt_issuer)

    def verify(self, token: str) -> Claims:
        return verify_token(token, secret=self._secret, issuer=self.issuer)

    def dependency(self, operation: OperationSpec) -> Callable[..., Awaitable[RequestContext]]:
        if operation.security:

            async def secured(
                request: Request,
                credentials: HTTPAuthorizationCredentials | None = Security(_bearer),  # noqa: B008
            ) -> RequestContext:
                if credentials is None or credentials.scheme.lower() != "bearer":
                    raise AuthError(401, "invalid_request", "a bearer token is required")
                claims = self.verify(credentials.credentials)
                if operation.roles and not claims.roles.intersection(operation.roles):
                    raise AuthError(
                        403,
                        "forbidden",
                        f"{operation.operation_id} requires role "
                        + " or ".join(repr(r) for r in operation.roles),
                    )
                return _context(operation, request, claims)

            return secured

        async def public(request: Request) -> RequestContext:
            # A public route still knows the caller when a valid token comes along.
            claims = None
            header = request.headers.get("authorization", "")
            if header.lower().startswith("bearer "):
                try:
                    claims = self.verify(header[7:].strip())
                except AuthError:
                    claims = None
            return _context(operation, request, claims)

        return public


def _context(operation: OperationSpec, request: Request, claims: Claims | None) -> RequestContext:
    correlation = request.headers.get(CORRELATION_HEADER) or str(uuid.uuid4())
    return RequestContext(
        operation=operation,
        subject=claims.subject if claims else None,
        roles=claims.roles if claims else frozenset(),
        correlation_id=correlation[:200],
        idempotency_key=(request.headers.get(IDEMPOTENCY_HEADER) or None),
    )
