"""Fixtures of these tests: cheap argon2 parameters."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher, profiles


@pytest.fixture
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> PasswordHasher:
    """argon2id with the cheapest parameters: the real ones cost about a second per hash on a
    busy machine, which tests that sign in dozens of times cannot afford. Same code paths."""
    from acme.systems.customer_management import domain as customer_domain
    from acme.systems.identity_provider import domain as identity_domain

    hasher = PasswordHasher.from_parameters(profiles.CHEAPEST)
    monkeypatch.setattr(customer_domain, "_HASHER", hasher)
    monkeypatch.setattr(identity_domain, "_HASHER", hasher)
    monkeypatch.setattr(identity_domain, "_DUMMY_HASH", hasher.hash("no account has this password"))
    return hasher
