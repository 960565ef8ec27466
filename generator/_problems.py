"""Problems found while loading or linting a catalog, and how they are printed."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Problem:
    """One finding: where (path relative to the catalog root, 1-based line, column), what, how bad.

    Field order is the sort order: path, then line, then column.
    """

    path: str
    line: int
    column: int
    severity: Severity
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.severity} {self.rule}: {self.message}"

    def to_dict(self) -> dict[str, str | int]:
        """The JSON form used by ``lint --format json``."""
        return asdict(self)


def sort_problems(problems: Iterable[Problem]) -> list[Problem]:
    """Sorted by path, line and column, duplicates removed (a shared file is reported once)."""
    return sorted(set(problems))


def format_text(problems: Iterable[Problem]) -> str:
    """One ``path:line:col: severity rule-id: message`` line per problem."""
    return "".join(f"{problem}\n" for problem in problems)


def format_json(problems: Iterable[Problem]) -> str:
    """A JSON list of problem objects, 2-space indented, with a trailing newline."""
    return json.dumps([p.to_dict() for p in problems], indent=2) + "\n"


def count(problems: Iterable[Problem]) -> tuple[int, int]:
    """(errors, warnings)."""
    errors = warnings = 0
    for problem in problems:
        if problem.severity == "error":
            errors += 1
        else:
            warnings += 1
    return errors, warnings
