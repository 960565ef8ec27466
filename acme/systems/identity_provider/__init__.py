"""Identity Provider (catalog: domains/Customer/systems/identity-provider).

Pages implemented: OAuthAPI (openapi.yml: POST /oauth/token; receives register-credentials and
customer-updated; sends customer-authenticated) and the user-directory container.

- register-credentials creates the customer's account (role `customer`) with the argon2id hash
  computed by the customer API; a repeat is ignored.
- customer-updated follows email changes and disables the account on SUSPENDED/CLOSED (sessions
  revoked) or enables it on ACTIVE; each field only moves forward in event time.
- POST /oauth/token verifies the password off the event loop, locks an account for 15 minutes
  after five failures in a row, records a session and answers a JWT from
  `acme.runtime.auth.issue_token` (subject = customer id, roles from the account) that every
  other system's authorizer accepts. Answers carry `Cache-Control: no-store`.
- A staff account (role `admin`) is seeded from ACME_ADMIN_EMAIL / ACME_ADMIN_PASSWORD
  (development defaults admin@acme.example / acme-admin-dev) before the first sign-in.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request, Response

from acme.runtime import SystemApp
from acme.systems.identity_provider.handlers import CredentialHandlers
from acme.systems.identity_provider.http import OauthApi

__all__ = ["create"]

TOKEN_PATH = "/oauth/token"


def create(app: SystemApp) -> None:
    app.handle("oauth-api", CredentialHandlers(app))
    app.serve("oauth-api", OauthApi(app))

    # Token answers must never be cached (RFC 6749 section 5.1). Generated handlers return
    # models, so the header is added by a middleware on the system's HTTP app.
    @app.http_app.middleware("http")
    async def no_store(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        if request.url.path == TOKEN_PATH:
            response.headers["Cache-Control"] = "no-store"
            response.headers["Pragma"] = "no-cache"
        return response
