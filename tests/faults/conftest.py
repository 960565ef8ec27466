"""Fixtures of the fault suite: one platform for this folder, broken in turn by each scenario.

The suite starts real processes and takes minutes, so it runs only when asked for: `make
faults`, `python -m tests.faults`, `pytest -m faults` or ACME_FAULTS=1. Otherwise (`make
test`, a bare `pytest`) its tests are reported as skipped.

Shared servers instead, by configuration only (scripts/conformance.sh), as tests/e2e:
ACME_TEST_BROKER_URL puts the platform on that broker, ACME_TEST_DATABASE_URL (a template with
`{store}`) its stores on that database server.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from acme.client import AcmeClient
from tests.faults.platform import FaultPlatform, fault_platform
from tests.faults.report import RESULTS, render
from tests.faults.shop import Shop

HERE = Path(__file__).parent
_LOG_DIR: list[Path] = []


def _selected(config: pytest.Config) -> bool:
    marker_expr = str(config.getoption("-m") or "")
    return os.environ.get("ACME_FAULTS") == "1" or (
        "faults" in marker_expr and "not faults" not in marker_expr
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _selected(config):
        return
    skip = pytest.mark.skip(
        reason="fault suite: run it with `make faults`, `python -m tests.faults` or -m faults"
    )
    for item in items:
        # only what needs the platform; the suite's own unit tests always run
        if "faults" in getattr(item, "fixturenames", ()):
            item.add_marker(skip)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    report = outcome.get_result()
    if report.failed and _LOG_DIR and HERE in Path(str(item.fspath)).parents:
        report.sections.append(("platform logs", f"one file per process in {_LOG_DIR[0]}"))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if RESULTS:
        terminalreporter.section("fault scenarios")
        terminalreporter.write_line(render(RESULTS))


@pytest_asyncio.fixture(scope="package", loop_scope="session")
async def faults(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FaultPlatform]:
    data_dir = tmp_path_factory.mktemp("acme-faults")
    _LOG_DIR[:] = [data_dir / "logs"]
    async with fault_platform(
        data_dir,
        broker_url=os.environ.get("ACME_TEST_BROKER_URL") or None,
        database_url=os.environ.get("ACME_TEST_DATABASE_URL") or None,
    ) as platform:
        yield platform


@pytest_asyncio.fixture(scope="package", loop_scope="session")
async def shop(faults: FaultPlatform) -> AsyncIterator[Shop]:
    async with AcmeClient(faults.gateway_url, timeout=30.0, max_connections=200) as acme:
        token = await acme.sign_in_admin(
            faults.running.admin_email, faults.running.admin_password, wait=30.0
        )
        yield Shop(faults, acme, acme.as_user(token))
