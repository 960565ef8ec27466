"""Customer Management System (catalog: domains/Customer/systems/customer-management-system).

Pages implemented: CustomerAPI (openapi.yml: register, read and change a profile, saved
addresses; events customer-registered and customer-updated; command register-credentials) and
the customer-database container.

- Registration is public: the email (stored lower-cased) must be new (409), the password is
  hashed with argon2id off the event loop, and the profile row, register-credentials (to the
  identity provider's oauth-api, carrying only the hash) and customer-registered commit in one
  transaction.
- A shopper reads and changes only their own profile and addresses (403 otherwise); staff
  (role admin) any, and only staff change a status or a customer who is not ACTIVE. An update
  publishes customer-updated with exactly the changed fields, or nothing.
- The first saved address, or one marked default, becomes the default.
- Published register-credentials rows are pruned from the outbox every 30 seconds, so password
  hashes do not sit there for the outbox's normal retention.
"""

from __future__ import annotations

from acme.runtime import SystemApp
from acme.systems.customer_management import store
from acme.systems.customer_management.http import CUSTOMER_DATABASE, CustomerApi

__all__ = ["create", "prune_password_hashes"]

PRUNE_INTERVAL = 30.0


def create(app: SystemApp) -> None:
    app.serve("customer-api", CustomerApi(app))

    async def prune() -> None:
        await prune_password_hashes(app)

    app.every(PRUNE_INTERVAL, prune, name="prune-register-credentials")


async def prune_password_hashes(app: SystemApp) -> int:
    """Delete the published register-credentials rows of the outbox; returns how many."""
    async with app.store(CUSTOMER_DATABASE).begin() as conn:
        removed = await store.prune_published(conn, "register-credentials")
    if removed:
        app.logger.debug("pruned %d published register-credentials row(s)", removed)
    return removed
