"""HTTP operations of customer-api (generated `CustomerApiHttpHandlers`)."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy.exc import IntegrityError

from acme.runtime import SystemApp
from acme.systems.customer_management import store
from acme.systems.customer_management.domain import (
    Access,
    Profile,
    check_access,
    check_update,
    default_after_adding,
    hash_password,
    normalise_email,
    profile_changes,
)
from generated.messages.add_customer_address import (
    AddCustomerAddressRequest,
    AddCustomerAddressResponse,
)
from generated.messages.customer_registered import CustomerRegistered
from generated.messages.customer_updated import CustomerUpdated
from generated.messages.get_customer import GetCustomerResponse
from generated.messages.list_customer_addresses import ListCustomerAddressesResponse
from generated.messages.register_credentials import RegisterCredentials
from generated.messages.register_customer import RegisterCustomer
from generated.messages.update_customer import UpdateCustomer
from generated.services.customer_api import SERVICE, CustomerApiPublisher
from generator.contracts import ApiError, RequestContext

__all__ = ["CUSTOMER_DATABASE", "CustomerApi"]

CUSTOMER_DATABASE = "customer-database"


def _canonical(customer_id: str) -> str:
    return str(uuid.UUID(customer_id))


def _response(profile: Profile) -> GetCustomerResponse:
    return GetCustomerResponse.model_validate(
        {
            "customerId": profile.customer_id,
            "email": profile.email,
            "name": profile.name,
            "status": profile.status,
            "registeredAt": profile.registered_at,
        }
    )


def _email_conflict(email: str) -> ApiError:
    return ApiError(409, "email_taken", f"{email} is already registered")


def _authorise(customer_id: str, request: RequestContext) -> None:
    try:
        check_access(customer_id, subject=request.subject, admin=request.is_admin)
    except Access as exc:
        raise ApiError(403, "forbidden", str(exc)) from None


def _not_found(customer_id: str) -> ApiError:
    return ApiError(404, "not_found", f"customer {customer_id} does not exist")


class CustomerApi:
    """Implements `CustomerApiHttpHandlers`."""

    def __init__(self, app: SystemApp) -> None:
        self.app = app

    async def register_customer(
        self, body: RegisterCustomer, request: RequestContext
    ) -> GetCustomerResponse:
        email = normalise_email(body.email)
        # Hash before the transaction: argon2 is slow on purpose and must not hold the write lock.
        password_hash = await asyncio.to_thread(hash_password, body.password)
        try:
            async with self.app.transaction(
                SERVICE.id, correlation_id=request.correlation_id
            ) as tx:
                if await store.email_taken(tx.conn, email):
                    raise _email_conflict(email)
                profile = Profile(
                    customer_id=str(uuid.uuid4()),
                    email=email,
                    name=body.name,
                    status="ACTIVE",
                    registered_at=tx.now(),
                )
                await store.insert_customer(tx.conn, profile)
                publisher = tx.publisher(CustomerApiPublisher)
                await publisher.register_credentials(
                    RegisterCredentials.model_validate(
                        {
                            "customerId": profile.customer_id,
                            "email": email,
                            "passwordHash": password_hash,
                        }
                    )
                )
                await publisher.customer_registered(
                    CustomerRegistered.model_validate(
                        {
                            "eventId": str(uuid.uuid4()),
                            "occurredAt": tx.now(),
                            "customer": {
                                "customerId": profile.customer_id,
                                "email": email,
                                "name": profile.name,
                                "status": profile.status,
                            },
                        }
                    )
                )
        except IntegrityError:
            raise _email_conflict(email) from None  # registered concurrently
        return _response(profile)

    async def get_customer(self, customer_id: str, request: RequestContext) -> GetCustomerResponse:
        customer_id = _canonical(customer_id)
        _authorise(customer_id, request)
        async with self.app.store(CUSTOMER_DATABASE).connect() as conn:
            profile = await store.get_profile(conn, customer_id)
        if profile is None:
            raise _not_found(customer_id)
        return _response(profile)

    async def update_customer(
        self, customer_id: str, body: UpdateCustomer, request: RequestContext
    ) -> GetCustomerResponse:
        customer_id = _canonical(customer_id)
        if str(body.customer_id) != customer_id:
            raise ApiError(
                400,
                "id_mismatch",
                f"body customerId {body.customer_id} differs from the path's {customer_id}",
            )
        _authorise(customer_id, request)
        requested = {"email": body.email, "name": body.name, "status": body.status}
        try:
            async with self.app.transaction(
                SERVICE.id, correlation_id=request.correlation_id
            ) as tx:
                current = await store.get_profile(tx.conn, customer_id, for_update=True)
                if current is None:
                    raise _not_found(customer_id)
                try:
                    check_update(current, requested, admin=request.is_admin)
                except Access as exc:
                    raise ApiError(403, "forbidden", str(exc)) from None
                changes = profile_changes(current, requested)
                if not changes:
                    return _response(current)  # nothing changed: nothing published
                if "email" in changes and await store.email_taken(
                    tx.conn, changes["email"], by_other_than=customer_id
                ):
                    raise _email_conflict(changes["email"])
                await store.update_customer(tx.conn, customer_id, changes, tx.now())
                await tx.publisher(CustomerApiPublisher).customer_updated(
                    CustomerUpdated.model_validate(
                        {
                            "eventId": str(uuid.uuid4()),
                            "occurredAt": tx.now(),
                            "customerId": customer_id,
                            "changes": changes,
                        }
                    )
                )
        except IntegrityError:
            raise _email_conflict(str(requested["email"])) from None
        return _response(
            Profile(
                customer_id=customer_id,
                email=changes.get("email", current.email),
                name=changes.get("name", current.name),
                status=changes.get("status", current.status),
                registered_at=current.registered_at,
            )
        )

    async def list_customer_addresses(
        self, customer_id: str, request: RequestContext
    ) -> ListCustomerAddressesResponse:
        customer_id = _canonical(customer_id)
        _authorise(customer_id, request)
        async with self.app.store(CUSTOMER_DATABASE).connect() as conn:
            if await store.get_profile(conn, customer_id) is None:
                raise _not_found(customer_id)
            addresses = await store.list_addresses(conn, customer_id)
        return ListCustomerAddressesResponse.model_validate(
            {"customerId": customer_id, "addresses": addresses}
        )

    async def add_customer_address(
        self, customer_id: str, body: AddCustomerAddressRequest, request: RequestContext
    ) -> AddCustomerAddressResponse:
        customer_id = _canonical(customer_id)
        if str(body.customer_id) != customer_id:
            raise ApiError(
                400,
                "id_mismatch",
                f"body customerId {body.customer_id} differs from the path's {customer_id}",
            )
        _authorise(customer_id, request)
        async with self.app.transaction(SERVICE.id, correlation_id=request.correlation_id) as tx:
            # Locking the customer serialises concurrent first addresses (one default only).
            if await store.get_profile(tx.conn, customer_id, for_update=True) is None:
                raise _not_found(customer_id)
            is_default = default_after_adding(
                is_first=not await store.has_addresses(tx.conn, customer_id),
                requested_default=body.is_default,
            )
            values = {
                "address_id": str(uuid.uuid4()),
                "customer_id": customer_id,
                "recipient_name": body.recipient_name,
                "line1": body.line1,
                "line2": body.line2,
                "city": body.city,
                "postal_code": body.postal_code,
                "country_code": body.country_code,
                "is_default": is_default,
                "created_at": tx.now(),
            }
            await store.add_address(tx.conn, values)
        return AddCustomerAddressResponse.model_validate(
            {
                "addressId": values["address_id"],
                "customerId": customer_id,
                "recipientName": body.recipient_name,
                "line1": body.line1,
                "line2": body.line2,
                "city": body.city,
                "postalCode": body.postal_code,
                "countryCode": body.country_code,
                "isDefault": is_default,
                "createdAt": values["created_at"],
            }
        )
