"""Systems that serve the HTTP APIs, each in-process on its own embedded NATS (so one system's
messages never reach another and a test sees only what it caused), started on first use and
kept until `aclose` (the harness's `running_system`, one data dir per host).

Systems stay up between tests: restarting one on the same broker would leave its durable
consumers' pull requests behind. Argon2 runs with its cheapest parameters (same code path):
the real ones cost about a second per hash on a busy machine.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher, profiles

from acme.runtime.auth import issue_token
from acme.runtime.embedded_nats import EmbeddedNats
from acme.runtime.settings import Settings
from tests.systems.harness import SystemHarness, running_system, settings_for_tests

__all__ = ["Platform", "cheap_argon2"]


@contextlib.contextmanager
def cheap_argon2() -> Iterator[None]:
    from acme.systems.customer_management import domain as customer_domain
    from acme.systems.identity_provider import domain as identity_domain

    hasher = PasswordHasher.from_parameters(profiles.CHEAPEST)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(customer_domain, "_HASHER", hasher)
        patch.setattr(identity_domain, "_HASHER", hasher)
        patch.setattr(identity_domain, "_DUMMY_HASH", hasher.hash("no account has this password"))
        yield


class Platform:
    """Hosts by id, each a started `SystemHarness`."""

    def __init__(self, data_dir: Path, **settings: Any) -> None:
        self.data_dir = data_dir
        self.settings = settings
        self._stack = contextlib.AsyncExitStack()
        self._systems: dict[str, SystemHarness] = {}
        self._lock = asyncio.Lock()

    async def system(self, host_id: str) -> SystemHarness:
        async with self._lock:
            if host_id not in self._systems:
                home = self.data_dir / host_id
                broker = await self._stack.enter_async_context(EmbeddedNats(home / "nats"))
                self._systems[host_id] = await self._stack.enter_async_context(
                    running_system(
                        host_id, data_dir=home / "data", nats_url=broker.url, **self.settings
                    )
                )
            return self._systems[host_id]

    async def aclose(self) -> None:
        await self._stack.aclose()
        self._systems.clear()

    @property
    def auth_settings(self) -> Settings:
        """The settings tokens are signed and checked with (the harness's test secret)."""
        return settings_for_tests(self.data_dir, "nats://unused", **self.settings)

    def token(self, subject: str, *roles: str, **changes: Any) -> str:
        """A token every system of this platform accepts."""
        return issue_token(subject, roles, settings=self.auth_settings, **changes)
