"""HTTP operation of oauth-api: POST /oauth/token (generated `OauthApiHttpHandlers`), and the
seeding of the staff account it signs in."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta

from sqlalchemy.exc import IntegrityError

from acme.runtime import SystemApp, issue_token
from acme.systems.identity_provider import store
from acme.systems.identity_provider.domain import (
    AdminSettings,
    hash_password,
    is_locked,
    needs_rehash,
    normalise_email,
    verify_password,
)
from generated.messages.authenticate_customer import (
    AuthenticateCustomerRequest,
    AuthenticateCustomerResponse,
)
from generated.messages.customer_authenticated import CustomerAuthenticated
from generated.services.oauth_api import SERVICE, OauthApiPublisher
from generator.contracts import ApiError, RequestContext

__all__ = ["USER_DIRECTORY", "AdminSeeder", "OauthApi"]

USER_DIRECTORY = "user-directory"
STAFF_NAMESPACE = uuid.UUID("5b2a9d0e-3c64-4f1b-8e27-91d4c0a7f6e5")
logger = logging.getLogger("acme.identity")

_INVALID = "the email or password is not correct"


class AdminSeeder:
    """Makes sure the staff account of the settings exists, once per process, before the first
    sign-in is checked (the runtime has no start-up hook)."""

    def __init__(self, app: SystemApp, settings: AdminSettings | None = None) -> None:
        self.app = app
        self.settings = settings
        self.done = False
        self._lock = asyncio.Lock()

    async def ensure(self) -> None:
        if self.done:
            return
        async with self._lock:
            if not self.done:
                await self._seed()
                self.done = True

    async def _seed(self) -> None:
        settings = self.settings or AdminSettings()
        email = normalise_email(settings.email)
        password = settings.password.get_secret_value()
        if settings.uses_defaults:
            logger.warning(
                "staff account %s uses a development default: set ACME_ADMIN_EMAIL and "
                "ACME_ADMIN_PASSWORD outside development",
                email,
            )
        async with self.app.store(USER_DIRECTORY).connect() as conn:
            existing = await store.get_by_email(conn, email)
        if existing is not None and "admin" not in existing.roles:
            logger.error("not seeding staff account %s: a customer account uses that email", email)
            return
        if existing is not None and await asyncio.to_thread(
            verify_password, existing.password_hash, password
        ):
            return
        password_hash = await asyncio.to_thread(hash_password, password)
        async with self.app.transaction(SERVICE.id) as tx:
            if existing is None:
                staff_id = str(uuid.uuid5(STAFF_NAMESPACE, email))
                try:
                    async with tx.conn.begin_nested():
                        await store.insert_account(
                            tx.conn,
                            account_id=staff_id,
                            customer_id=staff_id,
                            email=email,
                            password_hash=password_hash,
                            roles=("admin",),
                            now=tx.now(),
                        )
                except IntegrityError:
                    return  # another process seeded it meanwhile
                logger.info("seeded staff account %s", email)
            else:
                await store.update_account(
                    tx.conn, existing.account_id, {"password_hash": password_hash}, tx.now()
                )
                logger.info("staff account %s: password re-hashed from the settings", email)


class OauthApi:
    """Implements `OauthApiHttpHandlers`."""

    def __init__(self, app: SystemApp, seeder: AdminSeeder | None = None) -> None:
        self.app = app
        self.seeder = seeder or AdminSeeder(app)

    async def authenticate_customer(
        self, body: AuthenticateCustomerRequest, request: RequestContext
    ) -> AuthenticateCustomerResponse:
        if body.email is None or body.password is None:
            missing = " and ".join(n for n in ("email", "password") if getattr(body, n) is None)
            raise ApiError(400, "invalid_request", f"{missing} required")
        await self.seeder.ensure()
        email = normalise_email(body.email)
        async with self.app.store(USER_DIRECTORY).connect() as conn:
            account = await store.get_by_email(conn, email)
        if account is None:
            await asyncio.to_thread(verify_password, None, body.password)  # same cost as a miss
            raise ApiError(401, "invalid_grant", _INVALID)
        now = self.app.clock()
        if is_locked(account.locked_until, now):
            raise ApiError(
                403,
                "account_locked",
                "too many failed sign-ins; try again after "
                f"{account.locked_until:%Y-%m-%dT%H:%M:%SZ}",
            )
        if not await asyncio.to_thread(verify_password, account.password_hash, body.password):
            async with self.app.transaction(
                SERVICE.id, correlation_id=request.correlation_id
            ) as tx:
                await store.record_failure(tx.conn, account.account_id, tx.now())
            raise ApiError(401, "invalid_grant", _INVALID)
        if account.status != "ACTIVE":
            raise ApiError(403, "account_disabled", "this account is disabled")
        new_hash = None
        if needs_rehash(account.password_hash):
            new_hash = await asyncio.to_thread(hash_password, body.password)
        ttl = self.app.settings.jwt_ttl_seconds
        async with self.app.transaction(SERVICE.id, correlation_id=request.correlation_id) as tx:
            now = tx.now()
            await store.record_success(tx.conn, account.account_id, new_hash=new_hash, now=now)
            await store.insert_session(
                tx.conn,
                session_id=str(uuid.uuid4()),
                account_id=account.account_id,
                authenticated_at=now,
                expires_at=now + timedelta(seconds=ttl),
            )
            if "customer" in account.roles:
                await tx.publisher(OauthApiPublisher).customer_authenticated(
                    CustomerAuthenticated.model_validate(
                        {
                            "eventId": str(uuid.uuid4()),
                            "occurredAt": now,
                            "customerId": account.customer_id,
                            "method": "PASSWORD",
                        }
                    )
                )
        token = issue_token(account.customer_id, account.roles, ttl, settings=self.app.settings)
        return AuthenticateCustomerResponse.model_validate(
            {"accessToken": token, "tokenType": "Bearer", "expiresIn": ttl}
        )
