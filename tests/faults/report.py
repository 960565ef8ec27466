"""The fault suite's table: one row per scenario, filled in as the scenarios finish.

Scenarios call `record(...)` with their verdict before asserting it, so a failing scenario
still shows up in the table with what failed; the pytest hook in conftest.py prints it.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from tests.faults.invariants import CHECK_NAMES, Verdict, describe_outcomes

__all__ = ["RESULTS", "ScenarioResult", "record", "render"]

# ACME_FAULTS_REPORT=<file>: the rows are also written there as JSON (for CI artefacts).
REPORT_ENV = "ACME_FAULTS_REPORT"


@dataclass(frozen=True)
class ScenarioResult:
    scenario: str
    operations: str
    outcomes: str
    checks: dict[str, bool]
    failures: list[str]
    lost: int
    duplicated: int

    @property
    def ok(self) -> bool:
        return all(self.checks.values()) and self.lost == 0 and self.duplicated == 0


RESULTS: list[ScenarioResult] = []


def record(scenario: str, operations: str, verdict: Verdict) -> ScenarioResult:
    result = ScenarioResult(
        scenario=scenario,
        operations=operations,
        outcomes=describe_outcomes(verdict.outcomes),
        checks={name: verdict.checks[name].ok for name in CHECK_NAMES if name in verdict.checks},
        failures=[f"{c.name}: {c.detail}" for c in verdict.failures()],
        lost=verdict.lost,
        duplicated=verdict.duplicated,
    )
    RESULTS.append(result)
    target = os.environ.get(REPORT_ENV)
    if target:
        Path(target).write_text(
            json.dumps([asdict(r) for r in RESULTS], indent=2) + "\n", encoding="utf-8"
        )
    return result


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return [line(headers), "-+-".join("-" * w for w in widths), *(line(r) for r in rows)]


def render(results: list[ScenarioResult]) -> str:
    """Plain text, fixed width: scenario, operations, one column per invariant, lost, dup."""
    if not results:
        return "no fault scenario ran"
    headers = ["scenario", "operations", *CHECK_NAMES, "lost", "duplicated", "outcomes"]
    rows = [
        [
            r.scenario,
            r.operations,
            *(
                "ok" if r.checks.get(name) else ("FAIL" if name in r.checks else "-")
                for name in CHECK_NAMES
            ),
            str(r.lost),
            str(r.duplicated),
            r.outcomes,
        ]
        for r in results
    ]
    lines = _table(headers, rows)
    for r in results:
        for failure in r.failures:
            lines.append(f"  {r.scenario}: {failure}")
    passed = sum(1 for r in results if r.ok)
    lines.append(f"{passed}/{len(results)} scenario(s) hold every invariant")
    return "\n".join(lines)
