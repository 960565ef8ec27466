"""Customer rules without I/O: access, update diffs and permissions, default address, hashing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from argon2 import PasswordHasher

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

ADA = Profile("c-1", "ada@example.com", "Ada", "ACTIVE", datetime(2030, 1, 1, tzinfo=UTC))


def test_emails_are_compared_lower_cased() -> None:
    assert normalise_email("  Ada@Example.COM ") == "ada@example.com"


def test_a_shopper_accesses_only_their_own_data() -> None:
    check_access("C-1", subject="c-1", admin=False)
    check_access("c-1", subject=None, admin=True)
    with pytest.raises(Access):
        check_access("c-1", subject="c-2", admin=False)
    with pytest.raises(Access):
        check_access("c-1", subject=None, admin=False)


def test_profile_changes_lists_only_real_changes() -> None:
    assert profile_changes(ADA, {"email": "ADA@example.com", "name": "Ada", "status": None}) == {}
    assert profile_changes(ADA, {"email": "New@Example.com", "status": "CLOSED"}) == {
        "email": "new@example.com",
        "status": "CLOSED",
    }


def test_only_staff_change_status_or_a_customer_who_is_not_active() -> None:
    check_update(ADA, {"name": "A"}, admin=False)
    check_update(ADA, {"status": "SUSPENDED"}, admin=True)
    with pytest.raises(Access, match="status"):
        check_update(ADA, {"status": "CLOSED"}, admin=False)
    suspended = Profile("c-1", "a@example.com", None, "SUSPENDED", ADA.registered_at)
    with pytest.raises(Access, match="SUSPENDED"):
        check_update(suspended, {"name": "A"}, admin=False)
    check_update(suspended, {"status": "ACTIVE"}, admin=True)


def test_the_first_address_or_one_asked_for_is_the_default() -> None:
    assert default_after_adding(is_first=True, requested_default=False)
    assert default_after_adding(is_first=False, requested_default=True)
    assert not default_after_adding(is_first=False, requested_default=None)


def test_passwords_are_hashed_with_argon2id() -> None:
    password_hash = hash_password("correct horse")
    assert password_hash.startswith("$argon2id$")
    assert PasswordHasher().verify(password_hash, "correct horse")
    assert hash_password("correct horse") != password_hash  # salted
