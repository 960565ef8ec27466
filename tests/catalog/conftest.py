"""The real catalog, loaded once for every test of this folder."""

from __future__ import annotations

import pytest
from facts_notation import REPO

from generator import Catalog, load_catalog


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog(REPO / "catalog")
