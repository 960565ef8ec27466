"""Message handlers of oauth-api: register-credentials and customer-updated."""

from __future__ import annotations

import logging
import uuid

from acme.runtime import PermanentFailure, SystemApp, current
from acme.systems.identity_provider import store
from acme.systems.identity_provider.domain import customer_update_values, normalise_email
from generated.messages.customer_updated import CustomerUpdated
from generated.messages.register_credentials import RegisterCredentials
from generator.contracts import MessageContext

__all__ = ["ACCOUNT_NAMESPACE", "CredentialHandlers", "NoAccountYet"]

logger = logging.getLogger("acme.identity")
# Account ids derive from the customer id, so a replayed registration names the same account.
ACCOUNT_NAMESPACE = uuid.UUID("0f9e3c52-7d41-4a8e-9b7c-2c51d8e4a6b3")


class NoAccountYet(RuntimeError):
    """customer-updated for a customer whose credentials have not arrived: retried."""


class CredentialHandlers:
    """Implements the generated `OauthApiHandlers` Protocol (oauth-api's messages)."""

    def __init__(self, app: SystemApp) -> None:
        self.app = app

    async def on_register_credentials(
        self, message: RegisterCredentials, context: MessageContext
    ) -> None:
        tx = current()
        customer_id = str(message.customer_id)
        email = normalise_email(message.email)
        if await store.get_by_customer(tx.conn, customer_id) is not None:
            logger.info("credentials of customer %s already exist; ignored", customer_id)
            return
        holder = await store.get_by_email(tx.conn, email)
        if holder is not None:
            raise PermanentFailure(
                f"register-credentials for customer {customer_id}: email {email} already belongs "
                f"to account {holder.account_id}"
            )
        await store.insert_account(
            tx.conn,
            account_id=str(uuid.uuid5(ACCOUNT_NAMESPACE, customer_id)),
            customer_id=customer_id,
            email=email,
            password_hash=message.password_hash,
            roles=("customer",),
            now=tx.now(),
        )

    async def on_customer_updated(self, message: CustomerUpdated, context: MessageContext) -> None:
        tx = current()
        customer_id = str(message.customer_id)
        account = await store.get_by_customer(tx.conn, customer_id, for_update=True)
        if account is None:
            raise NoAccountYet(f"no credentials for customer {customer_id} yet")
        changes = message.changes.model_dump(exclude_none=True)
        values = customer_update_values(account, changes, message.occurred_at)
        if not values:
            return  # nothing this directory keeps, or older than what it has
        if "email" in values and values["email"] != account.email:
            holder = await store.get_by_email(tx.conn, values["email"])
            if holder is not None and holder.account_id != account.account_id:
                # Usually another customer's email change that is still on its way: retry.
                raise RuntimeError(f"email {values['email']} is still used by another account")
        now = tx.now()
        await store.update_account(tx.conn, account.account_id, values, now)
        if values.get("status") == "DISABLED" and account.status != "DISABLED":
            revoked = await store.revoke_sessions(tx.conn, account.account_id, now)
            logger.info("account of %s disabled; %d session(s) revoked", customer_id, revoked)
