"""Customer rules without I/O: who may see or change a profile, what an update changes,
which saved address is the default, and password hashing (argon2id)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from argon2 import PasswordHasher

__all__ = [
    "Access",
    "CustomerStatus",
    "Profile",
    "check_access",
    "check_update",
    "default_after_adding",
    "hash_password",
    "normalise_email",
    "profile_changes",
]

CustomerStatus = Literal["ACTIVE", "SUSPENDED", "CLOSED"]

# argon2-cffi's defaults are argon2id with the RFC 9106 "low memory" parameters.
_HASHER = PasswordHasher()


def hash_password(password: str) -> str:
    """argon2id hash in PHC string format (CPU-heavy: call it off the event loop)."""
    return _HASHER.hash(password)


def normalise_email(email: str) -> str:
    """Emails are unique case-insensitively, so they are stored lower-cased."""
    return email.strip().lower()


@dataclass(frozen=True)
class Profile:
    customer_id: str
    email: str
    name: str | None
    status: CustomerStatus
    registered_at: datetime


class Access(Exception):
    """The caller may not do this (-> 403)."""


def check_access(customer_id: str, *, subject: str | None, admin: bool) -> None:
    """A shopper acts on their own data only; staff on anyone's."""
    if admin:
        return
    if subject is None or subject.lower() != customer_id.lower():
        raise Access("a customer may only access their own data")


def profile_changes(current: Profile, requested: Mapping[str, Any]) -> dict[str, Any]:
    """The requested fields whose value differs (None = not given; emails compared normalised)."""
    changes: dict[str, Any] = {}
    email = requested.get("email")
    if email is not None and normalise_email(email) != current.email:
        changes["email"] = normalise_email(email)
    for field in ("name", "status"):
        value = requested.get(field)
        if value is not None and value != getattr(current, field):
            changes[field] = value
    return changes


def check_update(current: Profile, requested: Mapping[str, Any], *, admin: bool) -> None:
    """Only staff change a status, and only staff change a customer who is not ACTIVE."""
    if admin:
        return
    if requested.get("status") is not None:
        raise Access("only staff may change a customer's status")
    if current.status != "ACTIVE":
        raise Access(f"the account is {current.status}; only staff may change it")


def default_after_adding(*, is_first: bool, requested_default: bool | None) -> bool:
    """The first saved address is the default; a later one only when asked for."""
    return is_first or bool(requested_default)
