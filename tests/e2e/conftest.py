"""End-to-end fixtures: the whole platform, started once for the tests in this folder.

`platform` starts every process of the catalog with the supervisor's runner (embedded NATS,
one SQLite file per store in a temporary data dir, the simulators, the gateway on a free port)
and stops it after the folder's last test, also after failures. Package scope, not session: a
later folder's platform (tests/faults) must not start while this one still holds its broker
consumers and, on a shared PostgreSQL, its connections. Every end-to-end module here sets
`pytestmark = E2E`: marked `e2e`, run on the session's event loop (where the platform lives).
test_client.py is the exception: unit tests of acme.client on a mock transport.

Run them with `pytest -m e2e tests/e2e`; `make test-fast` skips them.

Shared servers instead, by configuration only (scripts/conformance.sh), as tests/systems:
ACME_TEST_BROKER_URL (nats://, amqp://, redis://, kafka://) runs the platform on that broker,
ACME_TEST_DATABASE_URL (a template with `{store}`) puts every store on that database server, in
databases named after this run and dropped when the platform stops.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from acme.client import AcmeClient
from benchmarks.embedded import RunningPlatform, embedded_platform

from .helpers import CARRIER_ENV, ShopperSession, StripeSandbox, register_shopper

HERE = Path(__file__).parent
TEST_BROKER_URL = "ACME_TEST_BROKER_URL"
TEST_DATABASE_URL = "ACME_TEST_DATABASE_URL"
# Where the current session's platform writes its logs, shown next to a failing test.
_LOG_DIR: list[Path] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    report = outcome.get_result()
    if report.failed and _LOG_DIR and HERE in Path(str(item.fspath)).parents:
        report.sections.append(("platform logs", f"one file per process in {_LOG_DIR[0]}"))


@pytest_asyncio.fixture(scope="package", loop_scope="session")
async def platform(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningPlatform]:
    data_dir = tmp_path_factory.mktemp("acme-e2e")
    _LOG_DIR[:] = [data_dir / "logs"]
    # Picking takes 4-6 s here (default 1-3 s): an order stays cancellable long enough for
    # test_cancellation to cancel it before fulfilment starts, without racing the warehouse.
    # The carrier is seeded and quick (CARRIER_ENV, see helpers) so fulfilment ends in seconds.
    env = {
        "ACME_WAREHOUSE_PICKING_DELAY_MIN": "4",
        "ACME_WAREHOUSE_PICKING_DELAY_MAX": "6",
        **CARRIER_ENV,
    }
    async with embedded_platform(
        data_dir,
        env=env,
        broker_url=os.environ.get(TEST_BROKER_URL) or None,
        database_url=os.environ.get(TEST_DATABASE_URL) or None,
    ) as running:
        yield running


@pytest_asyncio.fixture(scope="package", loop_scope="session")
async def acme(platform: RunningPlatform) -> AsyncIterator[AcmeClient]:
    """An anonymous client of the gateway (one connection pool for these tests)."""
    async with AcmeClient(platform.gateway_url) as client:
        yield client


@pytest_asyncio.fixture(scope="package", loop_scope="session")
async def admin(acme: AcmeClient, platform: RunningPlatform) -> AcmeClient:
    """The client signed in as the seeded staff account."""
    token = await acme.sign_in_admin(platform.admin_email, platform.admin_password, wait=10.0)
    return acme.as_user(token)


@pytest_asyncio.fixture(loop_scope="session")
async def shopper(acme: AcmeClient) -> ShopperSession:
    """A freshly registered, signed-in shopper."""
    return await register_shopper(acme)


@pytest_asyncio.fixture(loop_scope="session")
async def other_shopper(acme: AcmeClient) -> ShopperSession:
    """A second shopper, for what one shopper must not do to another's orders."""
    return await register_shopper(acme)


@pytest.fixture(scope="package")
def stripe(platform: RunningPlatform) -> StripeSandbox:
    return StripeSandbox(platform.stripe_url)
