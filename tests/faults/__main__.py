"""`python -m tests.faults [pytest options]`: run the fault suite (the scenarios and the
tests of its checks), print its table.

The table (scenario, operations, one column per invariant, lost and duplicated counts) is
printed by the suite's pytest hook at the end of the run; the exit code is pytest's.
Set ACME_FAULTS_REPORT=<file> to also get the rows as JSON.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    return int(
        pytest.main(["-m", "faults or not e2e", "-p", "no:cacheprovider", "-q", str(here), *argv])
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
