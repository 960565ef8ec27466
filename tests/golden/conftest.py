"""``--update-golden``: rewrite tests/golden/<case>/expected from what the generator produces now.

The option is registered here, so pass it with this folder on the command line:
``pytest tests/golden --update-golden`` (``UPDATE_GOLDEN=1`` works from anywhere).
"""

from __future__ import annotations

import os

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite the expected output of every golden case instead of comparing",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    try:
        option = bool(request.config.getoption("--update-golden"))
    except ValueError:  # the option is unknown when this conftest was loaded late
        option = False
    return option or os.environ.get("UPDATE_GOLDEN") == "1"
