"""Fixtures of these tests: a NATS server per test (a stopped system's pending JetStream pull
request, 5 s expiry, would otherwise take the next test's first command and hold it for the ack
wait) and cheap argon2 parameters."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher, profiles

from acme.runtime.embedded_nats import EmbeddedNats


@pytest.fixture
def nats_url(tmp_path: Path) -> Iterator[str]:
    server = EmbeddedNats(tmp_path / "nats")
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


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
