"""Sign-in rules without I/O: password checks (argon2id), the lockout policy, how customer
changes map onto an account, and the staff account's settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "DEFAULT_ADMIN_EMAIL",
    "DEFAULT_ADMIN_PASSWORD",
    "LOCK_AFTER_FAILURES",
    "LOCK_DURATION",
    "Account",
    "AccountStatus",
    "AdminSettings",
    "account_status_for",
    "after_failure",
    "customer_update_values",
    "hash_password",
    "is_locked",
    "needs_rehash",
    "normalise_email",
    "parse_roles",
    "verify_password",
]

AccountStatus = Literal["ACTIVE", "DISABLED"]
LOCK_AFTER_FAILURES = 5
LOCK_DURATION = timedelta(minutes=15)
DEFAULT_ADMIN_EMAIL = "admin@acme.example"
DEFAULT_ADMIN_PASSWORD = "acme-admin-dev"

_HASHER = PasswordHasher()  # argon2id, RFC 9106 low-memory parameters
# Verified when the email is unknown, so that an unknown email costs as much as a wrong password.
_DUMMY_HASH = _HASHER.hash("no account has this password")


@dataclass(frozen=True)
class Account:
    account_id: str
    customer_id: str
    email: str
    password_hash: str
    roles: tuple[str, ...]
    status: AccountStatus
    failed_attempts: int
    locked_until: datetime | None
    email_event_at: datetime | None
    status_event_at: datetime | None


class AdminSettings(BaseSettings):
    """The staff account seeded by the identity provider (ACME_ADMIN_EMAIL, ACME_ADMIN_PASSWORD)."""

    model_config = SettingsConfigDict(env_prefix="ACME_ADMIN_", env_file=".env", extra="ignore")

    email: str = DEFAULT_ADMIN_EMAIL
    password: SecretStr = SecretStr(DEFAULT_ADMIN_PASSWORD)

    @property
    def uses_defaults(self) -> bool:
        return (
            self.email == DEFAULT_ADMIN_EMAIL
            or self.password.get_secret_value() == DEFAULT_ADMIN_PASSWORD
        )


def normalise_email(email: str) -> str:
    return email.strip().lower()


def parse_roles(value: str) -> tuple[str, ...]:
    return tuple(sorted(set(value.split())))


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; CPU-heavy, call it off the event loop. A missing or
    malformed hash never matches (and costs the same as a real check)."""
    try:
        return _HASHER.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """The hash was made with weaker parameters than today's."""
    try:
        return _HASHER.check_needs_rehash(password_hash)
    except (InvalidHashError, ValueError):
        return False


def is_locked(locked_until: datetime | None, now: datetime) -> bool:
    return locked_until is not None and locked_until > now


def after_failure(failures: int, now: datetime) -> tuple[int, datetime | None]:
    """(failed-attempt counter, lock end) after the `failures`-th failure in a row: the fifth
    locks the account and starts the count again."""
    if failures >= LOCK_AFTER_FAILURES:
        return 0, now + LOCK_DURATION
    return failures, None


def account_status_for(customer_status: str) -> AccountStatus:
    """SUSPENDED and CLOSED customers cannot sign in."""
    return "ACTIVE" if customer_status == "ACTIVE" else "DISABLED"


def customer_update_values(
    account: Account, changes: dict[str, Any], occurred_at: datetime
) -> dict[str, Any]:
    """Column values a customer-updated event sets: each field only when the event is newer
    than the last one applied to it (None/absent fields are not changes)."""
    values: dict[str, Any] = {}
    email = changes.get("email")
    if email is not None and _newer(occurred_at, account.email_event_at):
        values["email"] = normalise_email(email)
        values["email_event_at"] = occurred_at
    status = changes.get("status")
    if status is not None and _newer(occurred_at, account.status_event_at):
        values["status"] = account_status_for(status)
        values["status_event_at"] = occurred_at
    return values


def _newer(occurred_at: datetime, last: datetime | None) -> bool:
    return last is None or occurred_at > last
