"""Sign-in rules without I/O: lockout, password checks, customer changes, staff settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher, profiles

from acme.systems.identity_provider.domain import (
    DEFAULT_ADMIN_EMAIL,
    Account,
    AdminSettings,
    account_status_for,
    after_failure,
    customer_update_values,
    is_locked,
    needs_rehash,
    parse_roles,
    verify_password,
)

NOW = datetime(2030, 1, 1, tzinfo=UTC)
CHEAP = PasswordHasher.from_parameters(profiles.CHEAPEST)


def account(**changes: object) -> Account:
    values: dict[str, object] = {
        "account_id": "a",
        "customer_id": "c",
        "email": "ada@example.com",
        "password_hash": "x",
        "roles": ("customer",),
        "status": "ACTIVE",
        "failed_attempts": 0,
        "locked_until": None,
        "email_event_at": None,
        "status_event_at": None,
    }
    values.update(changes)
    return Account(**values)  # type: ignore[arg-type]


def test_the_fifth_failure_in_a_row_locks_for_fifteen_minutes() -> None:
    assert after_failure(4, NOW) == (4, None)
    assert after_failure(5, NOW) == (0, NOW + timedelta(minutes=15))
    assert is_locked(NOW + timedelta(seconds=1), NOW)
    assert not is_locked(NOW, NOW) and not is_locked(None, NOW)


def test_verify_password_never_raises() -> None:
    stored = CHEAP.hash("right")
    assert verify_password(stored, "right")
    assert not verify_password(stored, "wrong")
    assert not verify_password(None, "anything")
    assert not verify_password("not a hash", "right")


def test_weaker_hashes_are_rehashed() -> None:
    assert needs_rehash(CHEAP.hash("pw"))
    assert not needs_rehash(PasswordHasher().hash("pw"))
    assert not needs_rehash("garbage")


def test_customer_status_maps_to_sign_in() -> None:
    assert account_status_for("ACTIVE") == "ACTIVE"
    assert account_status_for("SUSPENDED") == "DISABLED"
    assert account_status_for("CLOSED") == "DISABLED"


def test_customer_updates_apply_per_field_and_only_forward_in_time() -> None:
    values = customer_update_values(account(), {"email": "New@Example.com", "name": "n"}, NOW)
    assert values == {"email": "new@example.com", "email_event_at": NOW}
    later = account(email_event_at=NOW)
    assert customer_update_values(later, {"email": "old@example.com"}, NOW) == {}
    assert customer_update_values(later, {"status": "CLOSED"}, NOW - timedelta(days=1)) == {
        "status": "DISABLED",
        "status_event_at": NOW - timedelta(days=1),
    }


def test_roles_are_a_space_separated_set() -> None:
    assert parse_roles("customer  admin customer") == ("admin", "customer")


def test_staff_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ACME_ADMIN_EMAIL", raising=False)
    monkeypatch.delenv("ACME_ADMIN_PASSWORD", raising=False)
    defaults = AdminSettings(_env_file=None)
    assert defaults.email == DEFAULT_ADMIN_EMAIL and defaults.uses_defaults
    monkeypatch.setenv("ACME_ADMIN_EMAIL", "ops@shop.example.com")
    monkeypatch.setenv("ACME_ADMIN_PASSWORD", "s3cret-enough")
    chosen = AdminSettings(_env_file=None)
    assert chosen.email == "ops@shop.example.com" and not chosen.uses_defaults
    assert chosen.password.get_secret_value() == "s3cret-enough"
